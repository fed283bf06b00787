"""The ``.env`` file: parsed like people write it, rewritten atomically without losing a byte."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.cli.env_crasher import VERSION_A, VERSION_B, render
from wellpipe.cli.env_file import EnvFile, format_value, parse_env
from wellpipe.cli.home import LocalPaths, wellpipe_home

REPO = Path(__file__).resolve().parents[2]

HANDWRITTEN = """\
# Wellpipe settings
export WHOOP_CLIENT_ID=abc123

WHOOP_CLIENT_SECRET = "s3cr\\"et\\nline"   # double quotes, escapes
WHOOP_REDIRECT_URI='http://127.0.0.1:8976/callback/whoop?a=$b'
   # an indented comment
EMPTY=
INLINE=value # trailing comment
HASH_INSIDE=a#b
MULTI="first
second"
this line is not an assignment
"""


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_handwritten_file_parses_like_a_shell_would() -> None:
    assert parse_env(HANDWRITTEN) == {
        "WHOOP_CLIENT_ID": "abc123",
        "WHOOP_CLIENT_SECRET": 's3cr"et\nline',
        "WHOOP_REDIRECT_URI": "http://127.0.0.1:8976/callback/whoop?a=$b",
        "EMPTY": "",
        "INLINE": "value",
        "HASH_INSIDE": "a#b",
        "MULTI": "first\nsecond",
    }


def test_a_missing_file_reads_as_empty_and_has_no_mode(tmp_path: Path) -> None:
    env = EnvFile(tmp_path / ".env")
    assert not env.exists()
    assert env.read() == {}
    assert env.mode() is None


def test_an_update_replaces_keys_in_place_and_keeps_every_other_line_byte_for_byte(
    tmp_path: Path,
) -> None:
    path = tmp_path / ".env"
    path.write_text(HANDWRITTEN)
    EnvFile(path).update({"INLINE": "new value", "EMPTY": None, "ADDED": "x"})
    expected = (
        HANDWRITTEN.replace("INLINE=value # trailing comment\n", "INLINE='new value'\n").replace(
            "EMPTY=\n", ""
        )
        + "ADDED=x\n"
    )
    assert path.read_text() == expected


def test_an_update_keeps_export_prefixes_crlf_endings_and_undecodable_bytes(
    tmp_path: Path,
) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"# caf\xe9 (latin-1)\r\nexport A=1\r\nB=2")
    EnvFile(path).update({"A": "3", "C": "4"})
    assert path.read_bytes() == b"# caf\xe9 (latin-1)\r\nexport A=3\r\nB=2\nC=4\n"


def test_a_duplicated_key_reads_its_last_value_and_an_update_leaves_one(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n# keep\nA=2\n")
    assert EnvFile(path).read() == {"A": "2"}
    EnvFile(path).update({"A": "3"})
    assert path.read_text() == "# keep\nA=3\n"


def test_an_invalid_key_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    with pytest.raises(ValueError, match=r"not a valid \.env key"):
        EnvFile(path).update({"BAD KEY": "x"})
    assert not path.exists()


@pytest.mark.usefixtures("umask_022")
def test_the_file_is_created_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    env = EnvFile(tmp_path / ".env")
    env.update({"A": "1"})
    assert env.mode() == 0o600


@pytest.mark.usefixtures("umask_022")
def test_an_update_tightens_a_loose_file_to_0600(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    path.chmod(0o644)
    env = EnvFile(path)
    env.update({"B": "2"})
    assert env.mode() == 0o600
    assert env.read() == {"A": "1", "B": "2"}


def test_an_update_through_a_symlink_rewrites_the_target_and_keeps_the_link(
    tmp_path: Path,
) -> None:
    target = tmp_path / "real.env"
    target.write_text("A=1\n")
    link = tmp_path / ".env"
    link.symlink_to(target)
    EnvFile(link).update({"A": "2"})
    assert link.is_symlink()
    assert target.read_text() == "A=2\n"


_PRINTABLE = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


@given(value=_PRINTABLE)
def test_any_value_survives_a_write_and_a_read(value: str) -> None:
    assert parse_env(f"KEY={format_value(value)}\n") == {"KEY": value}


@given(values=st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True), _PRINTABLE))
def test_any_set_of_values_round_trips_through_the_file(values: dict[str, str]) -> None:
    text = "".join(f"{key}={format_value(value)}\n" for key, value in values.items())
    assert parse_env("# header\n" + text) == values


@pytest.mark.parametrize(
    "value",
    ["plain", "has space", "it's", 'say "hi"', "#hash", "a=b", " lead", "trail ", "$HOME", "\\"],
)
def test_tricky_values_round_trip_through_update(tmp_path: Path, value: str) -> None:
    env = EnvFile(tmp_path / ".env")
    env.update({"K": value, "OTHER": "x"})
    assert env.read() == {"K": value, "OTHER": "x"}


def test_wellpipe_home_comes_from_the_environment_with_tilde_expanded() -> None:
    home = wellpipe_home({"WELLPIPE_HOME": "~/wp"})
    assert home == Path("~/wp").expanduser()
    paths = LocalPaths.from_environ({"WELLPIPE_HOME": "/x/y"})
    assert (paths.env_file, paths.lock_file, paths.state_file) == (
        Path("/x/y/.env"),
        Path("/x/y/.env.lock"),
        Path("/x/y/state.json"),
    )


@pytest.mark.usefixtures("umask_022")
def test_ensure_home_creates_the_folder_0700(tmp_path: Path) -> None:
    paths = LocalPaths(tmp_path / "a" / "b")
    paths.ensure_home()
    assert (paths.home.stat().st_mode & 0o777) == 0o700


def test_a_writer_killed_at_random_moments_always_leaves_one_complete_version(
    tmp_path: Path,
) -> None:
    """SIGKILL a process that keeps rewriting the file: it is always exactly A or B, 0600.

    A killed writer can leave its temp file behind: readers never see it, and the
    next update removes it (its writer is gone).
    """
    path = tmp_path / ".env"
    env = EnvFile(path)
    env.update(VERSION_A)
    text_a = path.read_text()
    env.update(VERSION_B)
    text_b = path.read_text()
    assert text_a == render(VERSION_A)
    assert text_b == render(VERSION_B)
    assert len(text_a) > 3000
    assert text_a != text_b

    rng = random.Random(1234)
    seen = {"A": 0, "B": 0}
    most_leftovers = 0
    mid_write_kills = 0
    with subprocess.Popen(
        [sys.executable, "-m", "tests.cli.env_crasher", str(path)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as crasher:
        assert crasher.stdin is not None
        assert crasher.stdout is not None
        for _ in range(100):
            writes, spin_us = rng.randrange(0, 6), rng.randrange(0, 3000)
            crasher.stdin.write(f"{writes} {spin_us}\n")
            crasher.stdin.flush()
            assert crasher.stdout.readline().strip() == "killed"
            text = path.read_text()
            assert text in (text_a, text_b)
            seen["A" if text == text_a else "B"] += 1
            assert env.mode() == 0o600
            leftovers = len(list(tmp_path.glob(".env.*.tmp")))
            mid_write_kills += leftovers > 0
            most_leftovers = max(most_leftovers, leftovers)
        crasher.stdin.close()
        assert crasher.wait(timeout=10) == 0
    assert seen["A"] > 0
    assert seen["B"] > 0
    assert mid_write_kills > 0  # some kills did land inside a write (about a third, measured)
    assert most_leftovers <= 3  # they do not pile up: each writer removes its dead predecessors'
    env.update({"AFTER": "1"})
    assert list(tmp_path.glob(".env.*.tmp")) == []
    assert env.read()["AFTER"] == "1"
