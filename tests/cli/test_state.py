from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wellpipe.cli.home import LocalPaths
from wellpipe.cli.state import LocalState

AT = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)


@pytest.fixture
def paths(tmp_path: Path) -> LocalPaths:
    return LocalPaths(home=tmp_path / "home")


def test_nothing_recorded_reads_as_never(paths: LocalPaths) -> None:
    assert LocalState(paths).last_success("whoop") is None


def test_a_success_is_written_privately_and_read_back(paths: LocalPaths) -> None:
    LocalState(paths).record_success("whoop", AT)
    assert LocalState(paths).last_success("whoop") == AT
    assert stat.S_IMODE(paths.state_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.home.stat().st_mode) == 0o700
    assert json.loads(paths.state_file.read_text())["providers"]["whoop"] == {
        "last_success": AT.isoformat()
    }
    assert [p.name for p in paths.home.iterdir()] == ["state.json"]  # no temporary left behind


def test_a_success_within_a_minute_of_the_stored_one_is_not_written(paths: LocalPaths) -> None:
    state = LocalState(paths)
    state.record_success("whoop", AT)
    written = paths.state_file.stat().st_mtime_ns
    paths.state_file.write_text(paths.state_file.read_text())  # a marker we can see unchanged
    marker = paths.state_file.stat().st_mtime_ns
    state.record_success("whoop", AT + timedelta(seconds=59))
    assert paths.state_file.stat().st_mtime_ns == marker >= written
    assert state.last_success("whoop") == AT
    # Another process (a fresh LocalState) also skips: it reads the stored time.
    LocalState(paths).record_success("whoop", AT + timedelta(seconds=30))
    assert LocalState(paths).last_success("whoop") == AT


def test_a_success_a_minute_later_is_written(paths: LocalPaths) -> None:
    state = LocalState(paths)
    state.record_success("whoop", AT)
    state.record_success("whoop", AT + timedelta(seconds=60))
    assert LocalState(paths).last_success("whoop") == AT + timedelta(seconds=60)


def test_an_older_success_never_replaces_a_newer_one(paths: LocalPaths) -> None:
    LocalState(paths).record_success("whoop", AT)
    LocalState(paths).record_success("whoop", AT - timedelta(hours=1))
    assert LocalState(paths).last_success("whoop") == AT


def test_providers_are_kept_apart(paths: LocalPaths) -> None:
    state = LocalState(paths)
    state.record_success("whoop", AT)
    state.record_success("oura", AT + timedelta(seconds=5))
    assert state.last_success("whoop") == AT
    assert state.last_success("oura") == AT + timedelta(seconds=5)


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"providers": []}',
        '{"providers": {"whoop": "yesterday"}}',
        '{"providers": {"whoop": {"last_success": "not a time"}}}',
        '{"providers": {"whoop": {"last_success": "2026-11-21T15:30:00"}}}',  # naive
        "\xff\xfe",
    ],
)
def test_a_corrupt_file_reads_as_empty_and_is_repaired(paths: LocalPaths, content: str) -> None:
    paths.home.mkdir()
    paths.state_file.write_bytes(content.encode("latin-1"))
    state = LocalState(paths)
    assert state.last_success("whoop") is None
    state.record_success("whoop", AT)
    assert LocalState(paths).last_success("whoop") == AT


def test_a_failed_write_is_logged_not_raised(
    paths: LocalPaths, caplog: pytest.LogCaptureFixture
) -> None:
    paths.home.mkdir()
    paths.state_file.mkdir()  # a folder where the file should be: the rename fails
    LocalState(paths).record_success("whoop", AT)
    assert "could not write" in caplog.text
    assert [p.name for p in paths.home.iterdir()] == ["state.json"]
