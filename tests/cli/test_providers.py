"""The CLI with several providers: configuration, sign-in, status, doctor, demo and sandboxes.

Tests of a provider that is not installed (its entry point not registered yet)
are skipped; everything else runs with whatever providers are installed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from anyio.from_thread import start_blocking_portal
from click.testing import CliRunner
from mcp import Client

from tests.cli.test_auth import Browser, Setup, free_port, said
from wellpipe.cli import main
from wellpipe.cli.auth_command import AuthHooks, scopes_from_callback
from wellpipe.cli.env_file import EnvFile
from wellpipe.cli.home import LocalPaths
from wellpipe.cli.local_config import AppKeys, LocalConfig, default_redirect_uri
from wellpipe.cli.local_server import _server
from wellpipe.cli.local_tools import NoProviderConnected, SharedProviders, demo_providers
from wellpipe.cli.provider_notes import lacking_kinds, notes_for
from wellpipe.cli.server_plan import ServerPlan
from wellpipe.cli.state import LocalState
from wellpipe.core import SystemClock
from wellpipe.core.errors import ConfigError
from wellpipe.core.models import DataKind
from wellpipe.mcp.server import ProviderNotConnected
from wellpipe.providers import available_providers, get_provider_info
from wellpipe.sandbox import DEFAULT_PORTS, load_sandbox
from wellpipe.sandbox.server import PortRouter, serve_in_background

INSTALLED = available_providers()


def needs(name: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(name not in INSTALLED, reason=f"{name} is not registered yet")


# ---------------------------------------------------------------------- configuration
def test_credentials_and_redirect_uri_per_provider(tmp_path: Path) -> None:
    paths = LocalPaths(home=tmp_path)
    config = LocalConfig(
        paths,
        file_values={"OURA_CLIENT_ID": "oid", "OURA_CLIENT_SECRET": "osecret"},
        environ={"FITBIT_CLIENT_ID": "fid", "FITBIT_CLIENT_SECRET": "fs", "FITBIT_REDIRECT_URI":
                 "http://127.0.0.1:9000/cb/fitbit"},
    )  # fmt: skip
    oura = config.credentials("oura")
    assert (oura.client_id, oura.client_secret) == ("oid", "osecret")
    assert (
        oura.redirect_uri == "http://127.0.0.1:8976/callback/oura" == default_redirect_uri("oura")
    )
    assert config.credentials("fitbit").redirect_uri == "http://127.0.0.1:9000/cb/fitbit"
    assert config.is_configured("oura")
    assert not config.is_configured("whoop")
    with pytest.raises(ConfigError, match="WHOOP_CLIENT_ID and WHOOP_CLIENT_SECRET are not set"):
        config.credentials("whoop")
    keys = AppKeys("oura")
    assert (keys.client_id, keys.redirect_uri, keys.base_url) == (
        "OURA_CLIENT_ID",
        "OURA_REDIRECT_URI",
        "WELLPIPE_OURA_BASE_URL",
    )


@pytest.mark.parametrize("name", INSTALLED)
def test_each_installed_provider_is_located_by_its_base_url(tmp_path: Path, name: str) -> None:
    key = AppKeys(name).base_url
    config = LocalConfig(
        LocalPaths(home=tmp_path), file_values={key: "http://127.0.0.1:9"}, environ={}
    )
    assert config.location(name).origin == "http://127.0.0.1:9"
    broken = LocalConfig(LocalPaths(home=tmp_path), file_values={key: "not a url"}, environ={})
    with pytest.raises(ConfigError, match=key):
        broken.location(name)


def test_the_redirect_names_the_granted_scopes() -> None:
    assert scopes_from_callback({"scope": "email daily  heartrate"}) == {
        "email",
        "daily",
        "heartrate",
    }
    assert scopes_from_callback({"scope": "a,b"}) == {"a", "b"}
    assert scopes_from_callback({}) == frozenset()


def test_lacking_kinds_follow_the_kind_scopes() -> None:
    whoop = get_provider_info("whoop")
    granted = frozenset(whoop.scopes) - {"read:workout"}
    assert lacking_kinds(whoop, granted) == [DataKind.WORKOUT]
    assert lacking_kinds(whoop, frozenset()) == []  # not recorded: nothing is claimed


# ---------------------------------------------------------------------- wellpipe auth
def _serve_setup(sandbox: Any, tmp_path: Path, name: str) -> Iterator[Setup]:
    with (
        start_blocking_portal(backend="asyncio") as portal,
        portal.wrap_async_context_manager(serve_in_background(sandbox)) as origin,
    ):
        setup = Setup(
            sandbox=sandbox,
            origin=origin,
            home=tmp_path / "home",
            redirect_uri=f"http://127.0.0.1:{free_port()}/callback/{name}",
        )
        result = setup.invoke(
            "init", "--yes", "--provider", name, "--client-id", "test-client",
            "--client-secret", "test-secret-0123456789", "--redirect-uri", setup.redirect_uri,
            "--base-url", origin,
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == f"wellpipe auth {name}"
        yield setup


@pytest.fixture
def oura(tmp_path: Path) -> Iterator[Setup]:
    from wellpipe.sandbox.oura import OuraSandbox

    yield from _serve_setup(OuraSandbox(clock=SystemClock(), days=60), tmp_path, "oura")


@pytest.fixture
def fitbit(tmp_path: Path) -> Iterator[Setup]:
    from wellpipe.sandbox.fitbit import FitbitSandbox

    yield from _serve_setup(FitbitSandbox(clock=SystemClock(), days=120), tmp_path, "fitbit")


@needs("oura")
def test_oura_unticked_scopes_are_stored_and_their_cost_explained(oura: Setup) -> None:
    oura.sandbox.auth.controls.drop_scopes = frozenset({"heartrate", "workout"})
    browser = Browser()
    result = oura.invoke("auth", "oura", hooks=AuthHooks(open_browser=browser))

    assert result.exit_code == 0, result.output
    assert "Connected Oura as" in result.stdout
    (url,) = browser.opened
    assert urlsplit(url).path == "/oauth/authorize"
    text = said(result)
    assert "Granted: Email address, Personal info, Daily summaries, Sessions" in text
    assert "without heartrate and workout, Wellpipe cannot read heart rate and workouts" in text
    assert "the rest of your data is readable" not in text
    assert "wellpipe auth oura" in text
    stored = oura.env()
    granted = stored["OURA_TOKEN_SCOPES"].split()
    assert "heartrate" not in granted
    assert "daily" in granted
    assert stored["OURA_REFRESH_TOKEN"]
    assert stored["OURA_GRANTED_AT"]
    for secret in (stored["OURA_ACCESS_TOKEN"], stored["OURA_REFRESH_TOKEN"]):
        assert secret not in result.output
    assert (oura.home / ".env").stat().st_mode & 0o777 == 0o600


@needs("fitbit")
def test_fitbit_sends_pkce_and_offline_access_and_no_testing_note_in_production(
    fitbit: Setup,
) -> None:
    browser = Browser()
    result = fitbit.invoke("auth", "fitbit", hooks=AuthHooks(open_browser=browser))

    assert result.exit_code == 0, result.output
    (url,) = browser.opened
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert query["access_type"] == ["offline"]
    assert fitbit.sandbox.auth.token_requests == 1  # the sandbox checked the verifier
    assert fitbit.env()["FITBIT_REFRESH_TOKEN"]
    text = said(result)
    assert "Granted: Sleep, Health metrics, Activity and fitness, Profile, Settings" in text
    assert "https://" not in text.split("Granted:", 1)[1]  # scopes by name, not URL
    assert "7 days" not in text  # a client "In production" keeps its refresh token
    assert "Testing" not in text


@pytest.fixture
def fitbit_testing(tmp_path: Path) -> Iterator[Setup]:
    from wellpipe.sandbox.fitbit import FitbitSandbox

    sandbox = FitbitSandbox(clock=SystemClock(), days=120, publishing_status="testing")
    yield from _serve_setup(sandbox, tmp_path, "fitbit")


@needs("fitbit")
def test_a_fitbit_client_in_testing_gets_the_testing_note(fitbit_testing: Setup) -> None:
    result = fitbit_testing.invoke("auth", "fitbit", hooks=AuthHooks(open_browser=Browser()))

    assert result.exit_code == 0, result.output
    text = said(result)
    assert "lasts about 7 days" in text
    assert "7 days" in text
    assert "In production" in text


# ---------------------------------------------------------------------- status and doctor
def test_status_has_one_section_per_installed_provider(tmp_path: Path) -> None:
    home = tmp_path / "home"
    paths = LocalPaths(home=home)
    paths.ensure_home()
    EnvFile(paths.env_file).update(
        {
            "WHOOP_CLIENT_ID": "c",
            "WHOOP_CLIENT_SECRET": "s",
            "WHOOP_ACCESS_TOKEN": "a-token-never-shown",
            "WHOOP_REFRESH_TOKEN": "r-token-never-shown",
            "WHOOP_TOKEN_SCOPES": "offline read:sleep",
        }
    )
    env = {"WELLPIPE_HOME": str(home), "WELLPIPE_CLAUDE_CONFIG": str(tmp_path / "c.json")}
    result = CliRunner().invoke(main, ["status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    providers = json.loads(result.stdout)["providers"]
    assert sorted(providers) == INSTALLED
    whoop = providers["whoop"]
    assert "read:workout" in whoop["missing_scopes"]
    assert "workouts" in whoop["lacking"]
    table = CliRunner().invoke(main, ["status"], env=env).stdout
    for name in INSTALLED:
        assert get_provider_info(name).display_name in table
    assert "Not granted" in table
    assert "never-shown" not in table


@needs("fitbit")
def test_doctor_names_the_testing_mode_expiry_of_an_old_refused_google_grant(
    tmp_path: Path,
) -> None:
    from wellpipe.cli.doctor_command import DoctorContext, check_grant

    paths = LocalPaths(home=tmp_path)
    paths.ensure_home()
    EnvFile(paths.env_file).update(
        {
            "FITBIT_CLIENT_ID": "c",
            "FITBIT_CLIENT_SECRET": "s",
            "FITBIT_ACCESS_TOKEN": "a",
            "FITBIT_REFRESH_TOKEN": "r",
            "FITBIT_GRANT_ERROR": "invalid_grant",
            "FITBIT_GRANTED_AT": (datetime.now(UTC) - timedelta(days=7, hours=2)).isoformat(),
        }
    )
    result = check_grant(DoctorContext(paths=paths, claude_config=tmp_path / "c"), "fitbit")
    assert result.failed
    assert "7 days" in result.detail
    assert "In production" in (result.fix or "")
    assert notes_for(get_provider_info("fitbit")).refresh_token_days == 7


def test_doctor_skips_providers_that_are_not_set_up(tmp_path: Path) -> None:
    from wellpipe.cli.doctor_command import DoctorContext, checks_for, run_checks

    paths = LocalPaths(home=tmp_path)
    paths.ensure_home()
    EnvFile(paths.env_file).update({"WHOOP_CLIENT_ID": "c", "WHOOP_CLIENT_SECRET": "s"})
    ctx = DoctorContext(paths=paths, claude_config=tmp_path / "c", offline=True, environ={})
    assert ctx.in_play == ["whoop"]
    results = {r.check: r for r in run_checks(ctx)}
    assert len(results) == len(checks_for(ctx))
    for name in INSTALLED:
        if name != "whoop":
            skipped = results[get_provider_info(name).display_name]
            assert "not set up" in skipped.detail
    assert "WHOOP app" in results


# ---------------------------------------------------------------------- the MCP server
class _Fake:
    def __init__(self, name: str) -> None:
        self.name = name


async def test_shared_providers_open_each_once_and_record_successes() -> None:
    opened: list[str] = []
    successes: list[str] = []
    connected = ["oura", "whoop"]

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def opener(name: str) -> Any:
        opened.append(name)
        yield _Fake(name)

    shared = SharedProviders(
        opener,
        lambda: list(connected),
        lambda: NoProviderConnected(["whoop"], []),
        successes.append,
    )
    async with shared.connect(None) as providers:
        assert [p.name for p in providers] == ["oura", "whoop"]  # type: ignore[attr-defined]
    async with shared.connect("whoop") as providers:
        assert len(providers) == 1
    assert opened == ["oura", "whoop"]
    assert successes == ["oura", "whoop", "whoop"]
    with pytest.raises(ProviderNotConnected):
        async with shared.connect("fitbit"):
            pass
    connected.clear()
    with pytest.raises(NoProviderConnected, match=r"`wellpipe init`.*`wellpipe auth whoop`"):
        async with shared.connect(None):
            pass
    await shared.aclose()


def test_no_provider_connected_lists_the_configured_ones() -> None:
    text = str(NoProviderConnected(["fitbit", "oura", "whoop"], ["oura", "whoop"]))
    assert "`wellpipe auth oura` or `wellpipe auth whoop`" in text
    assert "wellpipe init" not in text


async def test_the_demo_answers_from_every_provider_with_a_sandbox() -> None:
    names = demo_providers()
    assert "whoop" in names
    assert all(load_sandbox(name) is not None for name in names)
    plan = ServerPlan(demo=True, seed=42, transport="stdio", port=0)
    async with _server(plan) as server, Client(server) as client:
        result = await client.call_tool("get-daily-summary", {"days": 3})
        assert not result.is_error, result.content
        text = "".join(block.text for block in result.content if block.type == "text")
        for name in names:
            if len(names) > 1:
                assert name in text.lower() or get_provider_info(name).display_name in text


# ---------------------------------------------------------------------- wellpipe sandbox
def test_the_sandbox_command_serves_each_sandbox_and_prints_the_exports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served: list[tuple[Any, int]] = []

    def fake_serve(apps: Any, *, host: str, ready: Any, log_level: str = "info") -> None:
        served.extend(apps)
        ready([port for _, port in apps])

    monkeypatch.setattr("wellpipe.sandbox.server.serve_many_forever", fake_serve)
    result = CliRunner().invoke(main, ["sandbox"])
    assert result.exit_code == 0, result.output
    expected = [name for name in ("whoop", "oura", "fitbit") if load_sandbox(name) is not None]
    assert [port for _, port in served] == [DEFAULT_PORTS[name] for name in expected]
    for name in expected:
        line = f"export WELLPIPE_{name.upper()}_BASE_URL=http://127.0.0.1:{DEFAULT_PORTS[name]}"
        assert line in result.stderr

    served.clear()
    one = CliRunner().invoke(main, ["sandbox", "--provider", "whoop", "--port", "9100"])
    assert one.exit_code == 0, one.output
    assert [port for _, port in served] == [9100]
    assert "WELLPIPE_OURA_BASE_URL" not in one.stderr

    unknown = CliRunner().invoke(main, ["sandbox", "--provider", "garmin"])
    assert unknown.exit_code == 2
    assert "no sandbox for garmin" in unknown.output


async def test_the_port_router_hands_each_request_to_its_ports_app() -> None:
    seen: list[str] = []

    def app(label: str) -> Any:
        async def answer(scope: Any, receive: Any, send: Any) -> None:
            seen.append(label)
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        return answer

    router = PortRouter({1: app("one"), 2: app("two")})

    async def send(message: Any) -> None:
        pass

    async def receive() -> Any:
        return {"type": "http.request"}

    for port in (2, 1):
        await router({"type": "http", "server": ("127.0.0.1", port)}, receive, send)
    assert seen == ["two", "one"]


def test_record_success_is_per_provider(tmp_path: Path) -> None:
    state = LocalState(LocalPaths(home=tmp_path))
    now = datetime.now(UTC)
    state.record_success("oura", now)
    assert state.last_success("oura") == now
    assert state.last_success("whoop") is None
