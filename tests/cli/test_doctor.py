from __future__ import annotations

import json
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx2
import pytest
from click.testing import CliRunner

from tests.conftest import CREDENTIALS
from tests.fakes import FakeClock
from wellpipe.cli import main
from wellpipe.cli.doctor_command import (
    CHECKS,
    CheckResult,
    DoctorContext,
    Outcome,
    check_app_credentials,
    check_claude_entry,
    check_env_file,
    check_grant,
    check_home,
    check_no_tokens_in_claude,
    check_offline_scope,
    check_python,
    check_redirect_uri,
    check_tokens,
    check_whoop_call,
    checks_for,
    run_checks,
)
from wellpipe.cli.env_file import EnvFile
from wellpipe.cli.home import LocalPaths
from wellpipe.cli.state import LocalState
from wellpipe.providers.whoop import SCOPES
from wellpipe.sandbox import Fault, WhoopSandbox
from wellpipe.sandbox.server import serve_in_background


@pytest.fixture
def paths(tmp_path: Path) -> LocalPaths:
    paths = LocalPaths(home=tmp_path / "home")
    paths.ensure_home()
    return paths


def setup_env(
    paths: LocalPaths,
    sandbox: WhoopSandbox,
    clock: FakeClock,
    *,
    origin: str = "http://whoop.test",
    expires_in: timedelta | None = None,
    scopes: frozenset[str] = frozenset(SCOPES),
    **extra: str | None,
) -> dict[str, Any]:
    """A .env as `wellpipe init` and `wellpipe auth whoop` leave it (sandbox-issued tokens)."""
    issued = sandbox.issue_tokens(client_id=CREDENTIALS.client_id, scopes=scopes)
    expiry = expires_in if expires_in is not None else timedelta(seconds=issued["expires_in"])
    EnvFile(paths.env_file).update(
        {
            "WHOOP_CLIENT_ID": CREDENTIALS.client_id,
            "WHOOP_CLIENT_SECRET": CREDENTIALS.client_secret,
            "WHOOP_REDIRECT_URI": CREDENTIALS.redirect_uri,
            "WELLPIPE_WHOOP_BASE_URL": origin,
            "WHOOP_ACCESS_TOKEN": issued["access_token"],
            "WHOOP_REFRESH_TOKEN": issued.get("refresh_token"),
            "WHOOP_TOKEN_EXPIRES_AT": (clock.now() + expiry).isoformat(),
            "WHOOP_TOKEN_SCOPES": issued["scope"],
            **extra,
        }
    )
    return issued


def context(
    paths: LocalPaths, tmp_path: Path, sandbox: WhoopSandbox | None = None, **kwargs: Any
) -> DoctorContext:
    return DoctorContext(
        paths=paths,
        claude_config=tmp_path / "claude_desktop_config.json",
        environ={},
        transport=sandbox.transport() if sandbox else None,
        **kwargs,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def install_claude(tmp_path: Path, paths: LocalPaths, *extra: str) -> Path:
    config = tmp_path / "claude_desktop_config.json"
    result = CliRunner().invoke(
        main,
        ["claude", "install", "--config", str(config), *extra],
        env={"WELLPIPE_HOME": str(paths.home)},
    )
    assert result.exit_code == 0, result.output
    return config


# ------------------------------------------------------------------ one check at a time
def test_python_passes_here() -> None:
    assert check_python(None).outcome is Outcome.OK  # type: ignore[arg-type]


def test_a_missing_home_fails_with_init(tmp_path: Path) -> None:
    result = check_home(context(LocalPaths(home=tmp_path / "nope"), tmp_path))
    assert result.outcome is Outcome.FAIL
    assert result.fix == "run `wellpipe init`"


def test_a_home_others_can_enter_fails_with_the_chmod(paths: LocalPaths, tmp_path: Path) -> None:
    paths.home.chmod(0o755)
    result = check_home(context(paths, tmp_path))
    assert result.outcome is Outcome.FAIL
    assert "0755" in result.detail
    assert result.fix == f"chmod 700 {paths.home}"


def test_a_readable_env_fails_with_chmod(
    paths: LocalPaths, tmp_path: Path, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    ctx = context(paths, tmp_path)
    assert check_env_file(ctx).outcome is Outcome.FAIL  # missing
    setup_env(paths, sandbox, clock)
    assert check_env_file(ctx).outcome is Outcome.OK
    paths.env_file.chmod(0o644)
    result = check_env_file(ctx)
    assert result.outcome is Outcome.FAIL
    assert "0644" in result.detail
    assert result.fix == f"chmod 600 {paths.env_file}"


def test_missing_app_credentials_fail_with_init(paths: LocalPaths, tmp_path: Path) -> None:
    result = check_app_credentials(context(paths, tmp_path))
    assert result.outcome is Outcome.FAIL
    assert result.fix == "run `wellpipe init`"


@pytest.mark.parametrize(
    ("uri", "outcome"),
    [
        ("http://127.0.0.1:8976/callback/whoop", Outcome.OK),
        ("http://localhost:3000/callback", Outcome.OK),
        ("http://[::1]:3000/cb", Outcome.OK),
        ("https://127.0.0.1:8976/callback", Outcome.FAIL),
        ("http://example.com:8976/callback", Outcome.FAIL),
        ("http://127.0.0.1/callback", Outcome.FAIL),
        ("http://127.0.0.1:99999/callback", Outcome.FAIL),
        ("whoop://callback", Outcome.FAIL),
    ],
)
def test_the_redirect_uri_must_be_a_loopback_url_with_a_port(
    paths: LocalPaths, tmp_path: Path, uri: str, outcome: Outcome
) -> None:
    EnvFile(paths.env_file).update({"WHOOP_REDIRECT_URI": uri})
    result = check_redirect_uri(context(paths, tmp_path))
    assert result.outcome is outcome, result
    if outcome is Outcome.FAIL:
        assert "WHOOP_REDIRECT_URI" in (result.fix or "")


def test_no_tokens_fail_with_auth(paths: LocalPaths, tmp_path: Path) -> None:
    ctx = context(paths, tmp_path)
    result = check_tokens(ctx)
    assert result.outcome is Outcome.FAIL
    assert result.fix == "run `wellpipe auth whoop`"
    assert check_grant(ctx).outcome is Outcome.SKIP
    assert check_offline_scope(ctx).outcome is Outcome.SKIP


def test_tokens_only_in_the_environment_are_a_warning(paths: LocalPaths, tmp_path: Path) -> None:
    ctx = DoctorContext(
        paths=paths,
        claude_config=tmp_path / "c.json",
        environ={"WHOOP_ACCESS_TOKEN": "a", "WHOOP_REFRESH_TOKEN": "r"},
    )
    result = check_tokens(ctx)
    assert result.outcome is Outcome.WARN
    assert "environment" in result.detail


def test_a_dead_grant_fails_with_auth(
    paths: LocalPaths, tmp_path: Path, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    setup_env(paths, sandbox, clock, WHOOP_GRANT_ERROR="refresh token revoked")
    ctx = context(paths, tmp_path, sandbox, clock=clock)
    results = {r.check: r for r in run_checks(ctx)}
    grant = results["WHOOP grant"]
    assert grant.outcome is Outcome.FAIL
    assert "refresh token revoked" in grant.detail
    assert grant.fix == "run `wellpipe auth whoop` to connect again"
    call = results["WHOOP call"]
    assert call.outcome is Outcome.SKIP
    assert "WHOOP grant" in call.detail


def test_without_offline_the_scopes_check_fails(
    paths: LocalPaths, tmp_path: Path, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    setup_env(paths, sandbox, clock, scopes=frozenset({"read:sleep"}))
    result = check_offline_scope(context(paths, tmp_path))
    assert result.outcome is Outcome.FAIL
    assert "offline" in result.detail


def test_missing_read_scopes_are_a_warning(
    paths: LocalPaths, tmp_path: Path, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    setup_env(paths, sandbox, clock, scopes=frozenset({"offline", "read:sleep"}))
    result = check_offline_scope(context(paths, tmp_path))
    assert result.outcome is Outcome.WARN
    assert "read:recovery" in result.detail


def test_the_whoop_call_reads_the_profile_and_records_the_success(
    paths: LocalPaths, tmp_path: Path, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    setup_env(paths, sandbox, clock)
    result = check_whoop_call(context(paths, tmp_path, sandbox, clock=clock))
    assert result.outcome is Outcome.OK, result
    assert sandbox.member().spec.first_name in result.detail
    assert LocalState(paths).last_success("whoop") == clock.now()


def test_an_expired_access_token_is_refreshed_by_the_call(
    paths: LocalPaths, tmp_path: Path, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    issued = setup_env(paths, sandbox, clock, expires_in=timedelta(hours=-1))
    result = check_whoop_call(context(paths, tmp_path, sandbox, clock=clock))
    assert result.outcome is Outcome.OK, result
    assert EnvFile(paths.env_file).read()["WHOOP_REFRESH_TOKEN"] != issued["refresh_token"]


def test_a_grant_whoop_refuses_fails_the_call_with_auth(
    paths: LocalPaths, tmp_path: Path, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    setup_env(
        paths, sandbox, clock, expires_in=timedelta(hours=-1), WHOOP_REFRESH_TOKEN="spent-token"
    )
    result = check_whoop_call(context(paths, tmp_path, sandbox, clock=clock))
    assert result.outcome is Outcome.FAIL
    assert "renewed" in result.detail
    assert result.fix == "run `wellpipe auth whoop` to connect again"
    # ...and the next doctor run sees the dead grant without calling WHOOP.
    assert check_grant(context(paths, tmp_path)).outcome is Outcome.FAIL


def test_an_unreachable_whoop_fails_the_call_with_what_to_check(
    paths: LocalPaths, tmp_path: Path, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    origin = "https://whoop.example"

    def unreachable(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("no route to host", request=request)

    setup_env(paths, sandbox, clock, origin=origin)
    ctx = context(
        paths, tmp_path, clock=clock, transports={"whoop": httpx2.MockTransport(unreachable)}
    )
    result = check_whoop_call(ctx)
    assert result.outcome is Outcome.FAIL
    assert "not responding" in result.detail
    assert result.fix is not None
    assert "internet connection" in result.fix
    assert origin in result.fix


def test_a_sandbox_that_is_not_running_says_to_start_it(
    paths: LocalPaths, tmp_path: Path, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    origin = f"http://127.0.0.1:{closed_port()}"
    setup_env(paths, sandbox, clock, origin=origin)
    result = check_whoop_call(context(paths, tmp_path, clock=clock))
    assert result.outcome is Outcome.FAIL
    assert f"the WHOOP sandbox at {origin} is not running" in result.detail
    assert result.fix is not None
    assert "start `wellpipe sandbox`" in result.fix
    assert "internet connection" not in result.fix


def test_after_a_lost_refresh_answer_doctor_and_status_say_the_token_was_spent(
    paths: LocalPaths, tmp_path: Path, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    setup_env(paths, sandbox, clock, expires_in=timedelta(hours=-1))
    # WHOOP rotates the refresh token, then the answer is lost on the way back.
    sandbox.inject(Fault(path_prefix="/oauth/oauth2/token", body="truncated"))
    first = check_whoop_call(context(paths, tmp_path, sandbox, clock=clock))
    assert first.outcome is Outcome.FAIL
    assert "may already be spent" in first.detail
    assert "nothing was lost" not in first.detail.lower()
    assert first.fix is not None
    assert "wellpipe auth whoop" in first.fix

    second = check_whoop_call(context(paths, tmp_path, sandbox, clock=clock))
    assert second.outcome is Outcome.FAIL
    assert "the refresh token was spent" in second.detail
    assert second.fix == "run `wellpipe auth whoop` to connect again"

    grant = check_grant(context(paths, tmp_path))
    assert grant.outcome is Outcome.FAIL
    assert "the refresh token was spent" in grant.detail
    assert "no refresh token" not in grant.detail

    shown = CliRunner().invoke(
        main,
        ["status", "--claude-config", str(tmp_path / "c.json")],
        env={"WELLPIPE_HOME": str(paths.home)},
    )
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.stdout.split())
    assert "the refresh token was spent" in text
    assert "without a refresh token" not in text
    assert "Refresh token yes" not in text


def test_offline_skips_the_call(paths: LocalPaths, tmp_path: Path) -> None:
    result = check_whoop_call(context(paths, tmp_path, offline=True))
    assert result.outcome is Outcome.SKIP


def test_the_claude_entry(paths: LocalPaths, tmp_path: Path) -> None:
    ctx = context(paths, tmp_path)
    missing = check_claude_entry(ctx)
    assert missing.outcome is Outcome.FAIL
    assert missing.fix == "run `wellpipe claude install`"
    config = install_claude(tmp_path, paths)
    assert check_claude_entry(ctx).outcome is Outcome.OK
    data = json.loads(config.read_text())
    data["mcpServers"]["wellpipe"]["command"] = str(tmp_path / "gone" / "wellpipe")
    config.write_text(json.dumps(data))
    gone = check_claude_entry(ctx)
    assert gone.outcome is Outcome.FAIL
    assert "does not exist" in gone.detail
    assert gone.fix == "run `wellpipe claude install`"


def test_a_claude_entry_for_another_home_fails(paths: LocalPaths, tmp_path: Path) -> None:
    install_claude(tmp_path, LocalPaths(home=tmp_path / "other"))
    result = check_claude_entry(context(paths, tmp_path))
    assert result.outcome is Outcome.FAIL
    assert str(tmp_path / "other") in result.detail
    assert result.fix is not None
    assert f"WELLPIPE_HOME={paths.home} wellpipe claude install" in result.fix


@pytest.mark.parametrize(
    ("args", "outcome"),
    [
        (["demo"], Outcome.FAIL),
        (["demo", "--port", "8000"], Outcome.FAIL),
        (["demo", "--transport", "http"], Outcome.FAIL),
        (["demo", "--transport", "stdio"], Outcome.WARN),
        (["serve", "--demo"], Outcome.WARN),
    ],
    ids=["demo", "demo-port", "demo-http", "demo-stdio", "serve-demo"],
)
def test_a_claude_entry_running_the_http_demo_fails(
    paths: LocalPaths, tmp_path: Path, args: list[str], outcome: Outcome
) -> None:
    install_claude(tmp_path, paths)  # a real command, and the right home
    config = tmp_path / "claude_desktop_config.json"
    data = json.loads(config.read_text())
    data["mcpServers"]["wellpipe"]["args"] = args
    config.write_text(json.dumps(data))
    result = check_claude_entry(context(paths, tmp_path))
    assert result.outcome is outcome, result
    if outcome is Outcome.FAIL:
        assert "serves HTTP" in result.detail
        assert result.fix is not None
        assert "wellpipe claude install --demo" in result.fix


def test_a_demo_entry_is_a_warning(paths: LocalPaths, tmp_path: Path) -> None:
    install_claude(tmp_path, paths, "--demo")
    assert check_claude_entry(context(paths, tmp_path)).outcome is Outcome.WARN


def test_tokens_in_claudes_config_fail(paths: LocalPaths, tmp_path: Path) -> None:
    config = tmp_path / "claude_desktop_config.json"
    config.write_text(
        json.dumps({"mcpServers": {"whoop": {"command": "x", "env": {"WHOOP_ACCESS_TOKEN": "t"}}}})
    )
    result = check_no_tokens_in_claude(context(paths, tmp_path))
    assert result.outcome is Outcome.FAIL
    assert "'whoop': WHOOP_ACCESS_TOKEN" in result.detail
    assert "wellpipe claude install" in (result.fix or "")
    config.write_text("{broken")
    assert check_no_tokens_in_claude(context(paths, tmp_path)).outcome is Outcome.SKIP
    assert check_claude_entry(context(paths, tmp_path)).outcome is Outcome.FAIL


def test_every_check_returns_a_result_on_an_empty_machine(tmp_path: Path) -> None:
    ctx = context(LocalPaths(home=tmp_path / "nothing"), tmp_path)
    results = run_checks(ctx)
    assert len(results) == len(checks_for(ctx))
    assert all(isinstance(r, CheckResult) for r in results)
    assert {r.check for r in results if r.failed} >= {".env file", "WHOOP app", "WHOOP tokens"}


# ------------------------------------------------------------------ the command
async def test_doctor_passes_against_a_sandbox_over_http(
    paths: LocalPaths, tmp_path: Path, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    async with serve_in_background(sandbox) as origin:
        setup_env(paths, sandbox, clock, origin=origin)
        config = install_claude(tmp_path, paths)
        result = await anyio.to_thread.run_sync(
            lambda: CliRunner().invoke(
                main,
                ["doctor", "--claude-config", str(config)],
                env={"WELLPIPE_HOME": str(paths.home)},
            )
        )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == "Everything checks out."
    assert sum(line.startswith("✓") for line in lines) == len(CHECKS)
    assert "✓ WHOOP call: WHOOP answered" in result.stdout
    stored = EnvFile(paths.env_file).read()
    for key in ("WHOOP_CLIENT_SECRET", "WHOOP_ACCESS_TOKEN", "WHOOP_REFRESH_TOKEN"):
        assert stored[key] not in result.output


def test_doctor_exits_1_and_prints_each_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["doctor", "--offline", "--claude-config", str(tmp_path / "c.json")],
        env={"WELLPIPE_HOME": str(tmp_path / "home")},
    )
    assert result.exit_code == 1
    assert "✗ .env file" in result.stdout
    assert "    fix: run `wellpipe init`" in result.stdout
    assert "- WHOOP call: skipped: --offline" in result.stdout
    assert "    fix: run `wellpipe claude install`" in result.stdout
    assert "problems: fix the first one" in result.stdout


def test_doctor_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["doctor", "--offline", "--json", "--claude-config", str(tmp_path / "c.json")],
        env={"WELLPIPE_HOME": str(tmp_path / "home")},
    )
    assert result.exit_code == 1
    checks = json.loads(result.stdout)
    assert [c["check"] for c in checks][:3] == ["Python", "Home folder", ".env file"]
    assert checks[0]["outcome"] == "ok"
