from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

import httpx2
import pytest
import stamina
from hypothesis import HealthCheck, settings

from tests.fakes import FakeClock
from wellpipe.core import MemoryTokenProvider
from wellpipe.net import RetryPolicy
from wellpipe.oauth import ClientCredentials
from wellpipe.providers.whoop import WhoopProvider, WhoopSettings, open_whoop
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.whoop import History, generate_history

settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")

NOW = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)
"""The sandbox's present in tests: a Saturday afternoon."""

ORIGIN = "http://whoop.test"
CREDENTIALS = ClientCredentials(
    client_id="test-client",
    client_secret="test-secret",
    redirect_uri="http://127.0.0.1:8976/callback",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("WELLPIPE_"):
            monkeypatch.delenv(name)
    with stamina.set_testing(True, attempts=10, cap=True):  # no backoff waits, real attempt counts
        yield


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW + timedelta(minutes=1))


@pytest.fixture(scope="session")
def history() -> History:
    """One generated history shared by every test's sandbox (nothing writes to it)."""
    return generate_history(now=NOW)


@pytest.fixture
def sandbox(clock: FakeClock, history: History) -> WhoopSandbox:
    return WhoopSandbox(clock=clock, history=history)


@pytest.fixture
def whoop_settings() -> WhoopSettings:
    return WhoopSettings.for_origin(ORIGIN)


def tokens_for(
    sandbox: WhoopSandbox, clock: FakeClock, user_id: int | None = None
) -> MemoryTokenProvider:
    return MemoryTokenProvider(
        sandbox.issue_token_set(user_id, client_id=CREDENTIALS.client_id), clock=clock
    )


@pytest.fixture
def tokens(sandbox: WhoopSandbox, clock: FakeClock) -> MemoryTokenProvider:
    return tokens_for(sandbox, clock)


def connect(
    sandbox: WhoopSandbox,
    clock: FakeClock,
    *,
    tokens: MemoryTokenProvider | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    retry: RetryPolicy = RetryPolicy(),
) -> AbstractAsyncContextManager[WhoopProvider]:
    """A `WhoopProvider` for the test app, talking to ``sandbox`` (or through ``transport``)."""
    return open_whoop(
        credentials=CREDENTIALS,
        tokens=tokens or tokens_for(sandbox, clock),
        settings=WhoopSettings.for_origin(ORIGIN),
        clock=clock,
        transport=transport or sandbox.transport(),
        retry=retry,
    )


@pytest.fixture
async def whoop(
    sandbox: WhoopSandbox, clock: FakeClock, tokens: MemoryTokenProvider
) -> AsyncIterator[WhoopProvider]:
    async with connect(sandbox, clock, tokens=tokens) as provider:
        yield provider
