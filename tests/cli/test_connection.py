"""Opening the local WHOOP connection: configuration from the .env and the environment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.cli.local_env import CONFIG, connect_home, issue, write_config
from tests.conftest import ORIGIN
from tests.fakes import FakeClock
from wellpipe.cli.connection import open_local_whoop
from wellpipe.cli.env_file import EnvFile
from wellpipe.cli.home import LocalPaths
from wellpipe.cli.local_config import DEFAULT_REDIRECT_URI, LocalConfig
from wellpipe.core import ConfigError, DataKind, ReauthorizationRequired, TimeWindow
from wellpipe.providers.whoop import WhoopSettings
from wellpipe.sandbox import WhoopSandbox


@pytest.fixture
def paths(tmp_path: Path) -> LocalPaths:
    return LocalPaths(tmp_path / "home")


async def test_a_connected_home_reads_whoop_data_without_refreshing(
    paths: LocalPaths, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    connect_home(paths, sandbox, clock)
    async with open_local_whoop(
        paths, clock=clock, environ={}, transport=sandbox.transport()
    ) as whoop:
        assert (await whoop.profile()).first_name == "Alex"
        window = TimeWindow(start=clock.now() - timedelta(days=2), end=clock.now())
        records = await whoop.read({DataKind.SLEEP, DataKind.RECOVERY}, window)
    assert records.sleeps
    assert sandbox.auth.token_requests == 0


async def test_an_empty_home_says_to_run_init(paths: LocalPaths, clock: FakeClock) -> None:
    with pytest.raises(ConfigError, match="run `wellpipe init`") as caught:
        async with open_local_whoop(paths, clock=clock, environ={}):
            pass
    assert "WHOOP_CLIENT_ID and WHOOP_CLIENT_SECRET are not set" in str(caught.value)


async def test_a_missing_secret_is_named(paths: LocalPaths, clock: FakeClock) -> None:
    paths.ensure_home()
    EnvFile(paths.env_file).update({"WHOOP_CLIENT_ID": "abc"})
    with pytest.raises(ConfigError, match=r"^WHOOP_CLIENT_SECRET is not set.*`wellpipe init`"):
        async with open_local_whoop(paths, clock=clock, environ={}):
            pass


async def test_configured_but_not_connected_says_to_run_auth(
    paths: LocalPaths, clock: FakeClock
) -> None:
    write_config(paths)
    with pytest.raises(ReauthorizationRequired, match="run `wellpipe auth whoop`") as caught:
        async with open_local_whoop(paths, clock=clock, environ={}):
            pass
    assert caught.value.provider == "whoop"


async def test_a_fresh_install_can_run_from_the_environment_alone(
    paths: LocalPaths, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    seed = issue(sandbox, clock)
    environ = {
        **CONFIG,
        "WELLPIPE_WHOOP_BASE_URL": ORIGIN,
        "WHOOP_ACCESS_TOKEN": seed.access_token,
        "WHOOP_REFRESH_TOKEN": seed.refresh_token or "",
    }
    async with open_local_whoop(
        paths, clock=clock, environ=environ, transport=sandbox.transport()
    ) as whoop:
        assert (await whoop.profile()).first_name == "Alex"
    assert not paths.env_file.exists()  # nothing to write until a refresh


def test_the_environment_beats_the_file_for_configuration(paths: LocalPaths) -> None:
    write_config(paths, origin="http://file.test")
    config = LocalConfig.load(
        paths, {"WHOOP_CLIENT_ID": "from-env", "WELLPIPE_WHOOP_BASE_URL": "http://env.test:8765"}
    )
    credentials = config.whoop_credentials()
    assert credentials.client_id == "from-env"
    assert credentials.client_secret == CONFIG["WHOOP_CLIENT_SECRET"]
    assert config.source_of("WHOOP_CLIENT_ID") == "environment"
    assert config.source_of("WHOOP_CLIENT_SECRET") == ".env"
    assert config.whoop_settings().origin == "http://env.test:8765"
    assert LocalConfig.load(paths, {}).whoop_settings().origin == "http://file.test"


def test_the_file_beats_the_environment_for_tokens(paths: LocalPaths) -> None:
    paths.ensure_home()
    EnvFile(paths.env_file).update({"WHOOP_REFRESH_TOKEN": "from-file"})
    config = LocalConfig.load(paths, {"WHOOP_REFRESH_TOKEN": "from-env"})
    assert config.get("WHOOP_REFRESH_TOKEN") == "from-file"
    assert config.source_of("WHOOP_REFRESH_TOKEN") == ".env"


def test_defaults_apply_when_nothing_is_set(paths: LocalPaths) -> None:
    paths.ensure_home()
    EnvFile(paths.env_file).update({"WHOOP_CLIENT_ID": "a", "WHOOP_CLIENT_SECRET": "b"})
    config = LocalConfig.load(paths, {})
    assert config.whoop_credentials().redirect_uri == DEFAULT_REDIRECT_URI
    assert config.whoop_settings() == WhoopSettings()
    assert config.get("NOT_SET") is None


def test_a_base_url_that_is_not_an_origin_is_a_config_error(paths: LocalPaths) -> None:
    config = LocalConfig.load(paths, {"WELLPIPE_WHOOP_BASE_URL": "not a url"})
    with pytest.raises(ConfigError, match="WELLPIPE_WHOOP_BASE_URL"):
        config.whoop_settings()
