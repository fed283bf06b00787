"""The Fitbit client's requests, held to Google's discovery document: request bodies validate
against the method's request schema, and query parameters are the method's own."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import httpx2

from tests.conftest import NOW
from tests.contract.google_spec import method, validator
from tests.fakes import FakeClock
from tests.providers.fitbit.conftest import connect
from wellpipe.core import DataKind, DayRange
from wellpipe.sandbox.fitbit import FitbitSandbox, generate_history

RESOURCE = "users.dataTypes.dataPoints"
REQUEST_SCHEMAS = {
    "dailyRollUp": "DailyRollUpDataPointsRequest",
    "rollUp": "RollUpDataPointsRequest",
}


async def test_every_request_the_provider_sends_is_one_google_defines() -> None:
    clock = FakeClock(NOW + timedelta(minutes=1))
    sandbox = FitbitSandbox(clock=clock, history=generate_history(now=NOW, days=150))
    inner = sandbox.transport()
    seen: list[httpx2.Request] = []

    async def spy(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return await inner.handle_async_request(request)

    async with connect(sandbox, clock, transport=httpx2.MockTransport(spy)) as provider:
        kinds = {DataKind.SLEEP, DataKind.WORKOUT, DataKind.ACTIVITY, DataKind.VITALS}
        await provider.read(kinds, DayRange.ending(date(2026, 11, 20), days=100).query_window())
        await provider.profile()
        await provider.body_measurement()
        await provider.client.roll_up(
            "heart-rate", start=NOW - timedelta(days=20), end=NOW, window=timedelta(hours=1)
        )

    checked: set[str] = set()
    for request in seen:
        path = request.url.path
        if not path.startswith("/v4/users/me/dataTypes/"):
            continue
        name = path.rsplit(":", 1)[1] if ":" in path.rsplit("/", 1)[-1] else "list"
        declared = method(RESOURCE, name)
        assert declared["httpMethod"] == request.method, path
        query = {k for k, _ in request.url.params.multi_items()}
        assert query <= set(declared.get("parameters", {})) - {"parent"}, (path, query)
        if name in REQUEST_SCHEMAS:
            body: Any = json.loads(request.content)
            errors = [e.message for e in validator(REQUEST_SCHEMAS[name]).iter_errors(body)]
            assert errors == [], (path, body)
        checked.add(name)
    assert checked == {"list", "reconcile", "dailyRollUp", "rollUp"}
