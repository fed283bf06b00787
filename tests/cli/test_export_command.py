"""``wellpipe export``: files from the local history, errors in the CLI's words."""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result

from tests.history.test_export import NOW, assert_holds, by_kind, sample
from wellpipe.cli import main
from wellpipe.cli.export_command import default_folder, parse_kinds
from wellpipe.core.models import DataKind, Record
from wellpipe.history.export import EXPORT_KINDS, ExportFormat, file_name
from wellpipe.history.local import LocalHistory, history_path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WELLPIPE_HOME", str(tmp_path / "home"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path / "home"


def keep(home: Path, found: Iterable[Record]) -> None:
    async def fill() -> None:
        async with LocalHistory(history_path(home)) as store:
            await store.put(list(found), now=NOW)

    anyio.run(fill)


def export(*args: str) -> Result:
    return CliRunner().invoke(main, ["export", *args])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_writes_one_file_per_kind_into_a_new_dated_folder(home: Path, fmt: str) -> None:
    found = sample()
    keep(home, found)

    result = export("--format", fmt)

    assert result.exit_code == 0, result.output
    [folder] = Path.cwd().glob("wellpipe-export-*")
    assert folder.name == f"wellpipe-export-{date.today().isoformat()}"
    paths = [Path(p) for p in shlex.split(result.stdout)]  # copy-paste ready, nothing else
    assert paths == [folder.resolve() / f"{kind.value}.{fmt}" for kind in EXPORT_KINDS]
    if os.name == "posix":
        assert mode(folder) == 0o700
        assert {mode(p) for p in paths} == {0o600}
    grouped = by_kind(found)
    for kind, path in zip(EXPORT_KINDS, paths, strict=True):
        assert_holds(path, kind, grouped[kind])
    assert f"Exported {len(found)} records to 7 files" in result.stderr
    assert "sleep" in result.stderr


def test_kind_since_and_out_narrow_it_and_paths_with_spaces_are_quoted(home: Path) -> None:
    found = sample()
    keep(home, found)
    out = Path.cwd() / "my exports" / "november"

    result = export(
        "--kind", "sleep,readiness", "--kind", "CYCLE", "--since", "2026-11-02", "--out", str(out)
    )

    assert result.exit_code == 0, result.output
    kinds = (DataKind.SLEEP, DataKind.CYCLE, DataKind.READINESS)
    assert result.stdout.splitlines() == [
        shlex.quote(str(out / file_name(kind, ExportFormat.CSV))) for kind in kinds
    ]
    [sleeps] = [Path(p) for p in shlex.split(result.stdout.splitlines()[0])]
    later = [r for r in by_kind(found)[DataKind.SLEEP] if r.day >= date(2026, 11, 2)]
    assert_holds(sleeps, DataKind.SLEEP, later)


def test_without_history_it_says_to_sync_first_and_creates_nothing(home: Path) -> None:
    result = export()

    assert result.exit_code == 1
    assert "run `wellpipe sync` first" in result.stderr
    assert "Traceback" not in result.output
    assert list(Path.cwd().iterdir()) == []
    assert not history_path(home).exists()  # looking did not create the store


def test_demo_exports_what_sync_demo_keeps_and_says_so_when_only_that_exists(
    home: Path,
) -> None:
    keep(home / "demo", sample())

    mine = export()  # the person's own history: none, and where the demo's went
    assert mine.exit_code == 1
    assert "`wellpipe export --demo` writes that one" in mine.stderr
    assert list(Path.cwd().iterdir()) == []

    demo = export("--demo", "--out", "demo-files")
    assert demo.exit_code == 0, demo.output
    written = sorted(p.name for p in (Path.cwd() / "demo-files").iterdir())
    assert written == sorted(file_name(k, ExportFormat.CSV) for k in by_kind(sample()))


def test_demo_without_a_demo_history_says_to_sync_the_demo_first(home: Path) -> None:
    result = export("--demo")

    assert result.exit_code == 1
    assert "run `wellpipe sync --demo` first, then `wellpipe export --demo` again" in (
        result.stderr
    )


def test_an_empty_history_says_to_sync_first(home: Path) -> None:
    keep(home, [])

    result = export("--format", "parquet")

    assert result.exit_code == 1
    assert "The history is empty: run `wellpipe sync` first" in result.stderr
    assert list(Path.cwd().iterdir()) == []


def test_a_kind_without_records_says_so(home: Path) -> None:
    keep(home, [r for r in sample() if r.provider == "whoop"])

    result = export("--kind", "readiness", "--since", "2026-11-01")

    assert result.exit_code == 1
    assert "no readiness records from 2026-11-01 on" in result.stderr
    assert list(Path.cwd().iterdir()) == []


def test_an_unknown_kind_lists_the_kinds(home: Path) -> None:
    result = export("--kind", "steps")

    assert result.exit_code == 2
    assert "there is no kind 'steps'" in result.stderr
    assert (
        "the kinds are sleep, recovery, workout, cycle, readiness, activity and vitals"
        in result.stderr
    )


@pytest.mark.parametrize("since", ["yesterday", "2026-13-01", "21/11/2026"])
def test_a_since_that_is_not_a_day_says_how_to_write_it(home: Path, since: str) -> None:
    result = export("--since", since)

    assert result.exit_code == 2
    assert "write it as YYYY-MM-DD" in result.stderr


def test_an_unknown_format_lists_the_formats(home: Path) -> None:
    result = export("--format", "xlsx")

    assert result.exit_code == 2
    assert "'csv', 'jsonl', 'parquet'" in result.stderr


def test_the_default_folder_is_new_each_time(tmp_path: Path) -> None:
    today = date(2026, 11, 21)
    first = default_folder(tmp_path, today)
    assert first == tmp_path / "wellpipe-export-2026-11-21"
    first.mkdir()
    second = default_folder(tmp_path, today)
    assert second == tmp_path / "wellpipe-export-2026-11-21-2"
    second.mkdir()
    assert default_folder(tmp_path, today).name == "wellpipe-export-2026-11-21-3"


def test_kinds_are_named_as_the_history_names_them() -> None:
    assert parse_kinds(()) is None
    assert parse_kinds(("Sleep, vitals", "")) == frozenset({DataKind.SLEEP, DataKind.VITALS})
    assert {k.value for k in EXPORT_KINDS} == {
        "sleep",
        "recovery",
        "workout",
        "cycle",
        "readiness",
        "activity",
        "vitals",
    }


def test_export_is_listed_in_the_help() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert "export" in result.output
    help_text = CliRunner().invoke(main, ["export", "--help"]).output
    for option in ("--format", "--kind", "--since", "--out"):
        assert option in help_text
