"""Tokens in the ``.env``: refreshed once, written atomically, the file beats the environment."""

from __future__ import annotations

import logging
import os
import random
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
import anyio.lowlevel
import httpx2
import pytest
from anyio.streams.text import TextReceiveStream

from tests.cli.local_env import (
    CONFIG,
    TOKEN_PATH,
    connect_home,
    expire_in_file,
    issue,
    write_config,
)
from tests.fakes import FakeClock, FlakyNetwork
from wellpipe.cli.connection import open_local_whoop
from wellpipe.cli.env_file import EnvFile
from wellpipe.cli.env_tokens import EnvTokenProvider, store_tokens
from wellpipe.cli.home import LocalPaths
from wellpipe.core import (
    ProviderError,
    ProviderRateLimited,
    ProviderUnavailable,
    ReauthorizationRequired,
    TokenSet,
)
from wellpipe.core.clock import SystemClock
from wellpipe.core.provider_info import RateLimit
from wellpipe.providers.whoop import WhoopProvider
from wellpipe.sandbox import Fault, WhoopSandbox
from wellpipe.sandbox.server import serve_in_background
from wellpipe.sandbox.whoop import History

REPO = Path(__file__).resolve().parents[2]
ROUNDS_KILLED = 30


@pytest.fixture
def paths(tmp_path: Path) -> LocalPaths:
    return LocalPaths(tmp_path / "home")


@pytest.fixture
def network(sandbox: WhoopSandbox) -> FlakyNetwork:
    return FlakyNetwork(sandbox.transport())


@asynccontextmanager
async def local(
    paths: LocalPaths,
    clock: FakeClock,
    network: FlakyNetwork,
    environ: Mapping[str, str] | None = None,
) -> AsyncIterator[WhoopProvider]:
    async with open_local_whoop(
        paths, clock=clock, environ=environ or {}, transport=network
    ) as whoop:
        yield whoop


def stored(paths: LocalPaths) -> dict[str, str]:
    return EnvFile(paths.env_file).read()


def refresh_tokens_sent(network: FlakyNetwork) -> list[str]:
    """The refresh tokens presented at the token endpoint, in order."""
    sent = []
    for request in network.sent:
        if request.url.path == TOKEN_PATH:
            form = parse_qs(request.content.decode())
            sent += form.get("refresh_token", [])
    return sent


async def test_a_hundred_concurrent_reads_on_an_expired_token_refresh_exactly_once(
    paths: LocalPaths, sandbox: WhoopSandbox, clock: FakeClock, network: FlakyNetwork
) -> None:
    old = connect_home(paths, sandbox, clock, expired=True)
    names: list[str] = []
    async with local(paths, clock, network) as whoop:

        async def call() -> None:
            names.append((await whoop.profile()).display_name)

        async with anyio.create_task_group() as group:
            for _ in range(100):
                group.start_soon(call)
    assert names == ["Alex Rivera"] * 100
    assert sandbox.auth.token_requests == 1
    values = stored(paths)
    assert values["WHOOP_REFRESH_TOKEN"] != old.refresh_token
    assert refresh_tokens_sent(network) == [old.refresh_token]


async def test_a_refresh_rewrites_only_the_token_lines_and_keeps_the_file_0600(
    paths: LocalPaths, sandbox: WhoopSandbox, clock: FakeClock, network: FlakyNetwork
) -> None:
    old = connect_home(paths, sandbox, clock, expired=True)
    env = EnvFile(paths.env_file)
    env.path.write_text("# my notes\n\n" + env.read_text() + "# the end\n")
    async with local(paths, clock, network) as whoop:
        await whoop.profile()
    text = env.read_text()
    assert text.startswith("# my notes\n\nWHOOP_CLIENT_ID=")
    assert text.endswith("# the end\n")
    values = env.read()
    assert values["WHOOP_ACCESS_TOKEN"] != old.access_token
    expires_at = datetime.fromisoformat(values["WHOOP_TOKEN_EXPIRES_AT"])
    assert expires_at == clock.now() + timedelta(seconds=3600)
    assert expires_at.utcoffset() == timedelta(0)
    assert values["WHOOP_TOKEN_SCOPES"] == " ".join(sorted(old.scopes))
    assert "WHOOP_GRANT_ERROR" not in values
    assert env.mode() == 0o600


async def test_a_response_without_a_refresh_token_keeps_the_stored_one(
    paths: LocalPaths, sandbox: WhoopSandbox, clock: FakeClock, network: FlakyNetwork
) -> None:
    old = connect_home(paths, sandbox, clock, expired=True)

    def drop_refresh_token(body: Any) -> Any:
        body.pop("refresh_token")
        return body

    sandbox.inject(Fault(path_prefix=TOKEN_PATH, mutate=drop_refresh_token))
    async with local(paths, clock, network) as whoop:
        await whoop.profile()
    values = stored(paths)
    assert values["WHOOP_ACCESS_TOKEN"] != old.access_token
    assert values["WHOOP_REFRESH_TOKEN"] == old.refresh_token


async def test_invalid_grant_marks_the_connection_dead_and_keeps_the_tokens(
    paths: LocalPaths, sandbox: WhoopSandbox, clock: FakeClock, network: FlakyNetwork
) -> None:
    old = connect_home(paths, sandbox, clock, expired=True)
    assert old.refresh_token is not None
    sandbox.auth.token(  # someone else spends the refresh token: WHOOP answers invalid_grant
        {
            "grant_type": "refresh_token",
            "refresh_token": old.refresh_token,
            "client_id": "test-client",
            "client_secret": "test-secret",
        },
        None,
    )
    async with local(paths, clock, network) as whoop:
        with pytest.raises(ReauthorizationRequired, match="run `wellpipe auth whoop`"):
            await whoop.profile()
        requests_so_far = sandbox.auth.token_requests
        with pytest.raises(ReauthorizationRequired):
            await whoop.profile()
        assert sandbox.auth.token_requests == requests_so_far  # a dead grant is not retried
    values = stored(paths)
    assert values["WHOOP_ACCESS_TOKEN"] == old.access_token
    assert values["WHOOP_REFRESH_TOKEN"] == old.refresh_token
    assert values["WHOOP_GRANT_ERROR"] == "the provider refused the refresh token"
    tokens = EnvTokenProvider(paths, clock=clock, environ={})
    assert tokens.reauthorization_reason == "the provider refused the refresh token"
    assert await tokens.get_refresh_token() is None

    store_tokens(paths, issue(sandbox, clock))  # `wellpipe auth whoop` connects again
    assert "WHOOP_GRANT_ERROR" not in stored(paths)
    assert EnvTokenProvider(paths, clock=clock, environ={}).reauthorization_reason is None
    async with local(paths, clock, network) as whoop:
        assert (await whoop.profile()).first_name == "Alex"


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault(path_prefix=TOKEN_PATH, status=500, times=10), ProviderUnavailable),
        (Fault(path_prefix=TOKEN_PATH, status=503, times=10), ProviderUnavailable),
        (Fault(path_prefix=TOKEN_PATH, status=429, times=10), ProviderRateLimited),
    ],
)
async def test_a_failed_refresh_leaves_the_file_untouched(
    paths: LocalPaths,
    sandbox: WhoopSandbox,
    clock: FakeClock,
    network: FlakyNetwork,
    fault: Fault,
    error: type[Exception],
) -> None:
    connect_home(paths, sandbox, clock, expired=True)
    before = paths.env_file.read_bytes()
    sandbox.inject(fault)
    async with local(paths, clock, network) as whoop:
        with pytest.raises(error):
            await whoop.profile()
    assert paths.env_file.read_bytes() == before


async def test_a_refresh_timeout_leaves_the_file_untouched(
    paths: LocalPaths, sandbox: WhoopSandbox, clock: FakeClock, network: FlakyNetwork
) -> None:
    connect_home(paths, sandbox, clock, expired=True)
    before = paths.env_file.read_bytes()
    network.fail(TOKEN_PATH, httpx2.ConnectTimeout, times=10)
    async with local(paths, clock, network) as whoop:
        with pytest.raises(ProviderUnavailable):
            await whoop.profile()
    assert paths.env_file.read_bytes() == before


async def test_the_file_wins_over_tokens_in_the_environment_once_it_holds_some(
    paths: LocalPaths, sandbox: WhoopSandbox, clock: FakeClock, network: FlakyNetwork
) -> None:
    """T-1.14: env R0, refresh to R1, restart with env R0 -> R1 is used, R0 never again."""
    write_config(paths)
    seed = issue(sandbox, clock, expired=True)
    environ = {
        "WHOOP_ACCESS_TOKEN": seed.access_token,
        "WHOOP_REFRESH_TOKEN": seed.refresh_token or "",
        "WHOOP_TOKEN_EXPIRES_AT": (clock.now() - timedelta(seconds=1)).isoformat(),
    }
    tokens = EnvTokenProvider(paths, clock=clock, environ=environ)
    assert tokens.from_environment
    current = await tokens.current()
    assert current is not None
    assert (current.access_token, current.refresh_token) == (seed.access_token, seed.refresh_token)

    async with local(paths, clock, network, environ) as whoop:
        await whoop.profile()  # refreshes R0 -> R1, persisted to the file
    r1 = stored(paths)["WHOOP_REFRESH_TOKEN"]
    assert r1 != seed.refresh_token
    assert not EnvTokenProvider(paths, clock=clock, environ=environ).from_environment

    presented_before_restart = len(refresh_tokens_sent(network))
    async with local(paths, clock, network, environ) as whoop:  # "restart", same environment
        await whoop.profile()
        expire_in_file(paths, clock)
        await whoop.profile()
    after_restart = refresh_tokens_sent(network)[presented_before_restart:]
    assert after_restart == [r1]
    assert seed.refresh_token not in after_restart
    assert sandbox.auth.refreshes == 2


async def test_no_tokens_anywhere_means_connect_first(
    paths: LocalPaths, clock: FakeClock, network: FlakyNetwork
) -> None:
    write_config(paths)
    tokens = EnvTokenProvider(paths, clock=clock, environ={})
    assert await tokens.current() is None
    assert await tokens.get_access_token() is None
    assert not await tokens.is_expired()
    with pytest.raises(ReauthorizationRequired, match="run `wellpipe auth whoop`"):
        async with local(paths, clock, network):
            pass


async def test_a_token_written_by_another_process_is_picked_up_without_a_refresh(
    paths: LocalPaths, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    connect_home(paths, sandbox, clock, expired=True)
    ours = EnvTokenProvider(paths, clock=clock, environ={})
    assert await ours.is_expired()
    fresh = issue(sandbox, clock)
    store_tokens(paths, fresh)  # as another process would
    assert await ours.get_access_token() == fresh.access_token
    assert not await ours.is_expired()


async def test_a_loose_home_and_file_still_work_and_the_next_write_tightens_the_file(
    paths: LocalPaths, sandbox: WhoopSandbox, clock: FakeClock, network: FlakyNetwork
) -> None:
    connect_home(paths, sandbox, clock, expired=True)
    paths.home.chmod(0o755)
    paths.env_file.chmod(0o644)
    async with local(paths, clock, network) as whoop:
        await whoop.profile()
    assert EnvFile(paths.env_file).mode() == 0o600
    assert paths.home.stat().st_mode & 0o777 == 0o700  # the folder the tokens live in, too


# ------------------------------------------------------------- a refresh answer lost
@pytest.mark.parametrize(
    "lose",
    ["read timeout after delivery", "connection reset after delivery", "unusable 200 body"],
)
async def test_a_lost_refresh_answer_is_remembered_and_explains_the_dead_grant(
    paths: LocalPaths,
    sandbox: WhoopSandbox,
    clock: FakeClock,
    network: FlakyNetwork,
    lose: str,
) -> None:
    connect_home(paths, sandbox, clock, expired=True)
    if lose == "read timeout after delivery":
        network.fail(TOKEN_PATH, httpx2.ReadTimeout, after_delivery=True)
    elif lose == "connection reset after delivery":
        network.fail(TOKEN_PATH, httpx2.ReadError, after_delivery=True)
    else:
        sandbox.inject(Fault(path_prefix=TOKEN_PATH, body="truncated"))
    async with local(paths, clock, network) as whoop:
        with pytest.raises(ProviderError):
            await whoop.profile()  # WHOOP rotated the refresh token; the answer never came
    assert stored(paths)["WHOOP_REFRESH_UNANSWERED_AT"]
    store = EnvTokenProvider(paths, clock=clock, environ={})
    assert store.refresh_unanswered_at == clock.now()

    async with local(paths, clock, network) as whoop:
        with pytest.raises(ReauthorizationRequired) as dead:
            await whoop.profile()  # the stored refresh token was spent: invalid_grant
        with pytest.raises(ReauthorizationRequired) as still:
            await whoop.profile()
    # What a tool answer says, at once and after: the token was spent, not missing.
    for said in (str(dead.value), str(still.value)):
        assert "the refresh token was spent" in said
        assert "no refresh token is stored" not in said
    reason = EnvTokenProvider(paths, clock=clock, environ={}).reauthorization_reason
    assert reason is not None
    assert "the refresh token was spent" in reason
    assert "replaces the refresh token at every refresh" in reason
    assert "no refresh token" not in reason
    assert "WHOOP_REFRESH_UNANSWERED_AT" not in stored(paths)

    store_tokens(paths, issue(sandbox, clock))  # `wellpipe auth whoop` again
    fresh = EnvTokenProvider(paths, clock=clock, environ={})
    assert fresh.reauthorization_reason is None
    assert fresh.refresh_unanswered_at is None


async def test_a_refresh_that_succeeds_after_a_lost_answer_clears_the_mark(
    paths: LocalPaths, sandbox: WhoopSandbox, clock: FakeClock, network: FlakyNetwork
) -> None:
    connect_home(paths, sandbox, clock, expired=True)
    network.fail(TOKEN_PATH, httpx2.ReadTimeout, after_delivery=False)  # lost on the way out
    async with local(paths, clock, network) as whoop:
        with pytest.raises(ProviderUnavailable):
            await whoop.profile()
        assert "WHOOP_REFRESH_UNANSWERED_AT" in stored(paths)  # we cannot know it was not sent
        assert (await whoop.profile()).first_name == "Alex"  # it was not: the token still works
    assert "WHOOP_REFRESH_UNANSWERED_AT" not in stored(paths)
    assert "WHOOP_GRANT_ERROR" not in stored(paths)


async def test_the_file_lock_excludes_another_holder_and_times_out_with_a_clear_error(
    paths: LocalPaths, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    connect_home(paths, sandbox, clock)
    holder = EnvTokenProvider(paths, clock=clock, environ={})
    waiter = EnvTokenProvider(paths, clock=clock, environ={}, lock_timeout_s=0.05)
    async with holder.refresh_lock():
        with pytest.raises(ProviderUnavailable, match=r"\.env\.lock"):
            async with waiter.refresh_lock():
                pass
    async with waiter.refresh_lock():  # released by the holder, and not leaked by the waiter
        pass
    assert paths.lock_file.stat().st_mode & 0o777 == 0o600


async def test_a_cancelled_waiter_does_not_keep_the_file_lock(
    paths: LocalPaths, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    connect_home(paths, sandbox, clock)
    holder = EnvTokenProvider(paths, clock=clock, environ={})
    waiter = EnvTokenProvider(paths, clock=clock, environ={})
    async with anyio.create_task_group() as group, holder.refresh_lock():

        async def wait_for_lock() -> None:
            async with waiter.refresh_lock():
                await anyio.sleep_forever()

        group.start_soon(wait_for_lock)
        for _ in range(10):  # the waiter waits in a thread; this loop keeps running
            await anyio.lowlevel.checkpoint()
        group.cancel_scope.cancel()
    with anyio.fail_after(5):
        async with holder.refresh_lock():
            pass


async def test_store_tokens_replaces_a_previous_grant_entirely(
    paths: LocalPaths, sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    connect_home(paths, sandbox, clock)
    store_tokens(paths, TokenSet(access_token="only-access"))
    values = stored(paths)
    assert values["WHOOP_ACCESS_TOKEN"] == "only-access"
    for gone in ("WHOOP_REFRESH_TOKEN", "WHOOP_TOKEN_EXPIRES_AT", "WHOOP_TOKEN_SCOPES"):
        assert gone not in values
    assert values["WHOOP_CLIENT_ID"] == "test-client"


async def test_a_process_killed_between_refresh_and_write_leaves_a_usable_file(
    tmp_path: Path, history: History
) -> None:
    """SIGKILL right after WHOOP answered a refresh: the .env holds the old set or the new one.

    Never a mix (a new access token with an old refresh token), never a torn file.
    A kill before the write loses that rotation (nothing can be atomic with WHOOP);
    the old set is then intact, and `wellpipe auth whoop` recovers.
    """
    clock = SystemClock()
    sandbox = WhoopSandbox(history=history, rate_limits=(RateLimit(1_000_000, 60),))
    paths = LocalPaths(tmp_path / "home")
    rng = random.Random(7)
    outcomes = {"old": 0, "new": 0}
    async with serve_in_background(sandbox) as origin:
        write_config(paths, origin=origin)
        crasher = await anyio.open_process(
            [sys.executable, "-m", "tests.cli.refresh_crasher"],
            cwd=REPO,
            env={**os.environ, "WELLPIPE_HOME": str(paths.home)},
            stderr=None,
        )
        assert crasher.stdin is not None
        assert crasher.stdout is not None
        lines = TextReceiveStream(crasher.stdout)
        try:
            for _ in range(ROUNDS_KILLED):
                old = issue(sandbox, clock)
                store_tokens(paths, old)
                # WHOOP's answer -> written .env takes 1-10 ms here; kill somewhere in it.
                await crasher.stdin.send(f"{rng.randrange(0, 10_000)}\n".encode())
                assert await lines.receive() == "killed\n"

                env = EnvFile(paths.env_file)
                values = env.read()
                assert env.mode() == 0o600
                assert {k: values[k] for k in CONFIG} == CONFIG
                stored_set = (
                    values["WHOOP_ACCESS_TOKEN"],
                    values["WHOOP_REFRESH_TOKEN"],
                    values["WHOOP_TOKEN_EXPIRES_AT"],
                )
                assert values["WHOOP_TOKEN_SCOPES"] == " ".join(sorted(old.scopes))
                assert old.expires_at is not None
                old_set = (old.access_token, old.refresh_token, old.expires_at.isoformat())
                if stored_set == old_set:
                    outcomes["old"] += 1
                    continue
                outcomes["new"] += 1
                assert all(new != before for new, before in zip(stored_set, old_set, strict=True))
                assert sandbox.auth.resolve(stored_set[0]) is not None  # the live access token
                proof = sandbox.auth.token(
                    {
                        "grant_type": "refresh_token",
                        "refresh_token": stored_set[1],
                        "client_id": CONFIG["WHOOP_CLIENT_ID"],
                        "client_secret": CONFIG["WHOOP_CLIENT_SECRET"],
                    },
                    None,
                )
                assert proof.status == 200  # the stored refresh token is the live one
        finally:
            await crasher.stdin.aclose()
            await crasher.wait()
            await crasher.aclose()
    assert outcomes["old"] + outcomes["new"] == ROUNDS_KILLED
    # Kills landed on both sides of the write (about 3 in 4 before it, measured).
    assert outcomes["old"] > 0
    assert outcomes["new"] > 0


async def test_no_token_value_reaches_the_logs(
    paths: LocalPaths,
    sandbox: WhoopSandbox,
    clock: FakeClock,
    network: FlakyNetwork,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    old = connect_home(paths, sandbox, clock, expired=True)
    async with local(paths, clock, network) as whoop:
        await whoop.profile()  # a refresh, written to the file
    values = stored(paths)
    grant = sandbox.auth.resolve(values["WHOOP_ACCESS_TOKEN"])
    assert grant is not None
    sandbox.auth.revoke_grant(grant)  # the member disconnects Wellpipe at WHOOP
    expire_in_file(paths, clock)
    async with local(paths, clock, network) as whoop:
        with pytest.raises(ReauthorizationRequired):
            await whoop.profile()
    canaries = {old.access_token, old.refresh_token, *(values[k] for k in values if "TOKEN" in k)}
    canaries.discard(None)
    assert any(r.name.startswith("wellpipe") for r in caplog.records)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert [c for c in canaries if c and c in logged] == []
