"""An in-process Oura sandbox and an `OuraProvider` talking to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import httpx2
import pytest

from tests.conftest import CREDENTIALS, NOW
from tests.fakes import FakeClock
from wellpipe.core import MemoryTokenProvider
from wellpipe.net import RetryPolicy
from wellpipe.providers.oura import OuraProvider, OuraSettings, open_oura
from wellpipe.sandbox.oura import History, OuraSandbox, generate_history

ORIGIN = "http://oura.test"


@pytest.fixture(scope="session")
def oura_history() -> History:
    """One generated Oura history shared by every test's sandbox (nothing writes to it)."""
    return generate_history(now=NOW)


@pytest.fixture
def oura_sandbox(clock: FakeClock, oura_history: History) -> OuraSandbox:
    return OuraSandbox(clock=clock, history=oura_history)


def oura_tokens(
    sandbox: OuraSandbox,
    clock: FakeClock,
    user_id: str | None = None,
    scopes: frozenset[str] | None = None,
) -> MemoryTokenProvider:
    """Tokens of a member who authorized the test app (every scope unless ``scopes``)."""
    issued = sandbox.issue_token_set(user_id, client_id=CREDENTIALS.client_id, scopes=scopes)
    return MemoryTokenProvider(issued, clock=clock)


@pytest.fixture
def tokens(oura_sandbox: OuraSandbox, clock: FakeClock) -> MemoryTokenProvider:
    return oura_tokens(oura_sandbox, clock)


def connect_oura(
    sandbox: OuraSandbox,
    clock: FakeClock,
    *,
    tokens: MemoryTokenProvider | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    retry: RetryPolicy = RetryPolicy(),
    reconnect_action: str | None = None,
) -> AbstractAsyncContextManager[OuraProvider]:
    """An `OuraProvider` for the test app, talking to ``sandbox`` (or through ``transport``)."""
    return open_oura(
        credentials=CREDENTIALS,
        tokens=tokens or oura_tokens(sandbox, clock),
        settings=OuraSettings.for_origin(ORIGIN),
        clock=clock,
        transport=transport or sandbox.transport(),
        retry=retry,
        reconnect_action=reconnect_action,
    )


@pytest.fixture
async def oura(
    oura_sandbox: OuraSandbox, clock: FakeClock, tokens: MemoryTokenProvider
) -> AsyncIterator[OuraProvider]:
    async with connect_oura(oura_sandbox, clock, tokens=tokens) as provider:
        yield provider
