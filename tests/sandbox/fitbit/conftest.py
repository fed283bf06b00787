from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest

from tests.conftest import NOW
from tests.fakes import FakeClock
from wellpipe.sandbox.fitbit import FitbitSandbox, History, generate_history

API = "/v4/users/me"


@pytest.fixture(scope="session")
def fitbit_history() -> History:
    """One generated history shared by every test's sandbox (nothing writes to it)."""
    return generate_history(now=NOW)


@pytest.fixture
def fitbit(clock: FakeClock, fitbit_history: History) -> FitbitSandbox:
    return FitbitSandbox(clock=clock, history=fitbit_history)


@pytest.fixture
async def http(fitbit: FitbitSandbox) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(
        base_url="http://google.test", transport=fitbit.transport()
    ) as client:
        yield client


@pytest.fixture
def bearer(fitbit: FitbitSandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {fitbit.issue_tokens()['access_token']}"}


def bearer_for(fitbit: FitbitSandbox, **kwargs: object) -> dict[str, str]:
    token = fitbit.issue_tokens(**kwargs)["access_token"]  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


def civil_date(year: int, month: int, day: int) -> dict[str, dict[str, int]]:
    return {"date": {"year": year, "month": month, "day": day}}
