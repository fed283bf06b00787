from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import httpx2
import pytest

from tests.conftest import CREDENTIALS, NOW
from tests.fakes import FakeClock
from wellpipe.core import MemoryTokenProvider
from wellpipe.net import RetryPolicy
from wellpipe.providers.fitbit import FitbitProvider, FitbitSettings, open_fitbit
from wellpipe.sandbox.fitbit import FitbitSandbox
from wellpipe.sandbox.fitbit.history import History, generate_history

ORIGIN = "http://fitbit.test"


@pytest.fixture(scope="session")
def google_history() -> History:
    """One generated Google Health history shared by every test's sandbox."""
    return generate_history(now=NOW)


@pytest.fixture
def google(clock: FakeClock, google_history: History) -> FitbitSandbox:
    return FitbitSandbox(clock=clock, history=google_history)


def tokens_for(
    sandbox: FitbitSandbox, clock: FakeClock, scopes: frozenset[str] | None = None
) -> MemoryTokenProvider:
    issued = sandbox.issue_token_set(client_id=CREDENTIALS.client_id, scopes=scopes)
    return MemoryTokenProvider(issued, clock=clock)


@pytest.fixture
def google_tokens(google: FitbitSandbox, clock: FakeClock) -> MemoryTokenProvider:
    return tokens_for(google, clock)


def connect(
    sandbox: FitbitSandbox,
    clock: FakeClock,
    *,
    tokens: MemoryTokenProvider | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    retry: RetryPolicy = RetryPolicy(),
    reconnect_action: str | None = None,
) -> AbstractAsyncContextManager[FitbitProvider]:
    """A `FitbitProvider` for the test app, talking to ``sandbox`` (or through ``transport``)."""
    return open_fitbit(
        credentials=CREDENTIALS,
        tokens=tokens or tokens_for(sandbox, clock),
        settings=FitbitSettings.for_origin(ORIGIN),
        clock=clock,
        transport=transport or sandbox.transport(),
        retry=retry,
        reconnect_action=reconnect_action,
    )


@pytest.fixture
async def fitbit(
    google: FitbitSandbox, clock: FakeClock, google_tokens: MemoryTokenProvider
) -> AsyncIterator[FitbitProvider]:
    async with connect(google, clock, tokens=google_tokens) as provider:
        yield provider
