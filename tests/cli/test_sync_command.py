"""``wellpipe sync``: backfill once on the demo sandboxes, then incremental; errors in words."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from wellpipe.cli.app import main
from wellpipe.cli.status_command import history_status
from wellpipe.cli.sync_command import SyncRun, _stopped
from wellpipe.core.sync import Progress


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WELLPIPE_HOME", str(tmp_path))
    return tmp_path


def test_sync_demo_backfills_whoop_then_only_refreshes(home: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["sync", "--demo", "--provider", "whoop"])
    assert first.exit_code == 0, first.output
    assert "whoop: backfilled" in first.output
    second = runner.invoke(main, ["sync", "--demo", "--provider", "whoop"])
    assert second.exit_code == 0, second.output
    assert "whoop: up to date; read" in second.output
    _, kept = history_status(home / "demo", ["whoop"])
    assert kept["whoop"].records > 1000
    assert kept["whoop"].backfill == {}


def test_sync_without_a_connection_says_what_to_run(home: Path) -> None:
    result = CliRunner().invoke(main, ["sync"])
    assert result.exit_code == 78
    assert "run `wellpipe auth <provider>`" in " ".join(result.output.split())


def test_ctrl_c_says_how_far_it_got_and_that_running_again_resumes() -> None:
    run = SyncRun()
    run.progress["whoop"] = Progress("whoop", "sleep", 250, 10, 10, None, 0, 4)
    text = _stopped(run, demo=False)
    assert "whoop 250 records in 10 pages" in text
    assert "run `wellpipe sync` again" in text
