from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest

from tests.conftest import NOW
from tests.fakes import FakeClock
from wellpipe.sandbox.oura import History, OuraSandbox, generate_history

ORIGIN = "http://oura.test"


@pytest.fixture(scope="session")
def oura_history() -> History:
    """One generated history shared by every test's sandbox (nothing writes to it)."""
    return generate_history(now=NOW)


@pytest.fixture
def oura(clock: FakeClock, oura_history: History) -> OuraSandbox:
    return OuraSandbox(clock=clock, history=oura_history)


@pytest.fixture
async def http(oura: OuraSandbox) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(base_url=ORIGIN, transport=oura.transport()) as client:
        yield client


@pytest.fixture
def bearer(oura: OuraSandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {oura.issue_tokens()['access_token']}"}
