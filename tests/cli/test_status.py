from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from wellpipe.cli import main
from wellpipe.cli.env_file import EnvFile
from wellpipe.cli.home import LocalPaths
from wellpipe.cli.state import LocalState
from wellpipe.cli.status_command import collect_status, describe_expiry, relative_time

NOW = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)
ACCESS = "access-value-never-shown-1234"
REFRESH = "refresh-value-never-shown-5678"
SECRET = "client-secret-never-shown"


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalPaths:
    monkeypatch.setenv("WELLPIPE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WELLPIPE_CLAUDE_CONFIG", str(tmp_path / "claude.json"))
    paths = LocalPaths(home=tmp_path / "home")
    paths.ensure_home()
    return paths


def connect(paths: LocalPaths, *, expires_at: datetime, **extra: str) -> None:
    EnvFile(paths.env_file).update(
        {
            "WHOOP_CLIENT_ID": "client",
            "WHOOP_CLIENT_SECRET": SECRET,
            "WHOOP_ACCESS_TOKEN": ACCESS,
            "WHOOP_REFRESH_TOKEN": REFRESH,
            "WHOOP_TOKEN_EXPIRES_AT": expires_at.isoformat(),
            "WHOOP_TOKEN_SCOPES": "offline read:sleep read:profile",
            **extra,
        }
    )


def status(*args: str) -> Any:
    result = CliRunner().invoke(main, ["status", *args])
    assert result.exit_code == 0, result.output
    for secret in (ACCESS, REFRESH, SECRET, ACCESS[-4:], REFRESH[-4:]):
        assert secret not in result.output
    return result


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=20), "under a minute"),
        (timedelta(minutes=37, seconds=30), "37 min"),
        (timedelta(hours=2, minutes=5), "2 h 5 min"),
        (timedelta(hours=-2), "2 h"),
        (timedelta(hours=30), "30 h"),
        (timedelta(days=9), "9 days"),
    ],
)
def test_relative_time(delta: timedelta, text: str) -> None:
    assert relative_time(delta) == text


def test_expiry_in_words() -> None:
    soon = NOW + timedelta(minutes=37, seconds=10)
    assert describe_expiry(soon, NOW, refreshable=True) == "expires in 37 min"
    past = NOW - timedelta(hours=2)
    assert describe_expiry(past, NOW, refreshable=True).startswith(
        "expired 2 h ago; that's fine, it refreshes automatically"
    )
    assert "run `wellpipe auth whoop`" in describe_expiry(past, NOW, refreshable=False)
    assert describe_expiry(None, NOW, refreshable=True).startswith("expiry unknown")


def test_nothing_set_up_yet(paths: LocalPaths) -> None:
    report = json.loads(status("--json").stdout)
    assert report["home"] == str(paths.home)
    assert report["env_file_exists"] is False
    assert report["providers"]["whoop"]["configured"] is False
    assert "wellpipe init" in report["providers"]["whoop"]["problem"]
    assert report["providers"]["whoop"]["access_token"] is False
    assert report["claude"]["exists"] is False
    assert report["claude"]["entries"] == []
    table = status().stdout
    assert "Not connected: run `wellpipe auth whoop`" in table
    assert "wellpipe claude install" in table


def test_a_connected_account_with_an_expired_access_token(paths: LocalPaths) -> None:
    connect(paths, expires_at=datetime.now(UTC) - timedelta(hours=2, minutes=1))
    LocalState(paths).record_success("whoop", datetime.now(UTC) - timedelta(minutes=5))
    whoop = json.loads(status("--json").stdout)["providers"]["whoop"]
    assert whoop["configured"] is True
    assert whoop["access_token"] is whoop["refresh_token"] is True
    assert whoop["tokens_from"] == ".env"
    assert whoop["scopes"] == ["offline", "read:profile", "read:sleep"]
    assert whoop["offline_granted"] is True
    assert whoop["grant_error"] is None
    assert whoop["expires_in_seconds"] < 0
    assert whoop["expiry"].startswith(
        "expired 2 h 1 min ago; that's fine, it refreshes automatically"
    )
    assert whoop["last_success_ago"] == "5 min ago"
    table = status().stdout
    assert "refreshes automatically" in table
    assert "5 min ago" in table
    assert "offline granted" in table


def said(result: Any) -> str:
    """Stdout with rich's table wrapping undone."""
    return " ".join(result.stdout.split())


def test_a_dead_grant_is_shown_with_the_next_step(paths: LocalPaths) -> None:
    connect(paths, expires_at=datetime.now(UTC), WHOOP_GRANT_ERROR="refresh token revoked")
    whoop = json.loads(status("--json").stdout)["providers"]["whoop"]
    assert whoop["grant_error"] == "refresh token revoked"
    assert "run `wellpipe auth whoop`" in whoop["expiry"]  # it cannot refresh any more
    assert "dead (refresh token revoked)" in said(status())


def test_a_dead_grant_with_a_stored_refresh_token_never_says_there_is_none(
    paths: LocalPaths,
) -> None:
    connect(
        paths,
        expires_at=datetime.now(UTC) - timedelta(hours=1),
        WHOOP_GRANT_ERROR="the provider refused the refresh token",
    )
    whoop = json.loads(status("--json").stdout)["providers"]["whoop"]
    assert whoop["refresh_token"] is True
    assert "without a refresh token" not in whoop["expiry"]
    assert "refused" in whoop["expiry"]
    text = said(status())
    assert "Refresh token yes" not in text
    assert "without a refresh token" not in text
    assert "Refresh token stored, but refused" in text


def test_without_a_refresh_token_status_says_so_once_and_consistently(paths: LocalPaths) -> None:
    connect(paths, expires_at=datetime.now(UTC) - timedelta(hours=1), WHOOP_REFRESH_TOKEN="")
    text = said(status())
    assert "Refresh token no" in text
    assert "without a refresh token" in text


def test_right_after_sign_in_the_last_call_is_not_used_yet(paths: LocalPaths) -> None:
    connect(paths, expires_at=datetime.now(UTC) + timedelta(hours=1))
    whoop = json.loads(status("--json").stdout)["providers"]["whoop"]
    assert whoop["last_success"] is None
    text = said(status())
    assert "Last successful call not used yet" in text
    assert "never" not in text


def test_scopes_are_shown_by_name_and_an_unticked_one_by_what_it_costs(
    paths: LocalPaths,
) -> None:
    from wellpipe.providers import available_providers, get_provider_info

    if not {"oura", "fitbit"} <= set(available_providers()):
        pytest.skip("needs the Oura and Fitbit providers")
    fitbit = get_provider_info("fitbit")
    oura = get_provider_info("oura")
    EnvFile(paths.env_file).update(
        {
            "FITBIT_CLIENT_ID": "f",
            "FITBIT_CLIENT_SECRET": SECRET,
            "FITBIT_ACCESS_TOKEN": ACCESS,
            "FITBIT_REFRESH_TOKEN": REFRESH,
            "FITBIT_TOKEN_SCOPES": " ".join(fitbit.scopes),
            "OURA_CLIENT_ID": "o",
            "OURA_CLIENT_SECRET": SECRET,
            "OURA_ACCESS_TOKEN": ACCESS,
            "OURA_REFRESH_TOKEN": REFRESH,
            "OURA_TOKEN_SCOPES": " ".join(set(oura.scopes) - {"heartrate", "spo2Daily"}),
        }
    )
    text = said(status())
    assert "https://" not in text
    assert "Sleep, Health metrics, Activity and fitness, Profile, Settings" in text
    assert (
        "without heartrate and spo2Daily, Wellpipe cannot read heart rate and blood oxygen "
        "(SpO2)" in text
    )


def test_collect_status_in_a_fixed_present(paths: LocalPaths, tmp_path: Path) -> None:
    connect(paths, expires_at=NOW + timedelta(minutes=37, seconds=5))
    report = collect_status(paths, claude_config=tmp_path / "none.json", environ={}, now=NOW)
    assert report.whoop.expiry == "expires in 37 min"
    assert report.whoop.expires_in_seconds == 37 * 60 + 5
    assert report.env_file_mode == "0600"


def test_the_claude_entry_and_tokens_in_it_are_reported(paths: LocalPaths, tmp_path: Path) -> None:
    (tmp_path / "claude.json").write_text(
        json.dumps(
            {
                "mcpServers": {
                    "wellpipe": {"command": "/bin/wellpipe", "args": ["serve", "--demo"]},
                    "old": {"command": "node", "env": {"WHOOP_REFRESH_TOKEN": REFRESH}},
                }
            }
        )
    )
    claude = json.loads(status("--json").stdout)["claude"]
    assert claude["entries"] == ["wellpipe"]
    assert claude["command"] == "/bin/wellpipe serve --demo"
    assert claude["demo"] is True
    assert claude["entries_with_tokens"] == {"old": ["WHOOP_REFRESH_TOKEN"]}
    table = status().stdout
    assert "serves the sandbox" in table
    assert "'old' holds WHOOP_REFRESH_TOKEN" in table


def test_an_invalid_claude_config_is_a_line_not_a_crash(paths: LocalPaths, tmp_path: Path) -> None:
    (tmp_path / "claude.json").write_text("{oops")
    claude = json.loads(status("--json").stdout)["claude"]
    assert "not valid JSON" in claude["problem"]
