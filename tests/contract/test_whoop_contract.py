"""The sandbox and the client, held to WHOOP's official OpenAPI document."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import CREDENTIALS, NOW, ORIGIN, tokens_for
from tests.contract.spec import (
    OPERATIONS,
    SPEC_SHA256,
    check_parameter,
    operation_for,
    spec_digest,
    validator,
)
from tests.fakes import FakeClock
from wellpipe.core import TIMED_KINDS, TimeWindow
from wellpipe.net import build_http_client
from wellpipe.providers.whoop import WhoopProvider, WhoopSettings, open_whoop
from wellpipe.providers.whoop.client import WhoopClient
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.whoop import History
from wellpipe.sandbox.whoop.history import StoredRecord

API = "/developer/v2"
COLLECTIONS = {
    f"{API}/cycle": "PaginatedCycleResponse",
    f"{API}/recovery": "RecoveryCollection",
    f"{API}/activity/sleep": "PaginatedSleepResponse",
    f"{API}/activity/workout": "WorkoutCollection",
}


def test_the_vendored_spec_is_whoops_published_document() -> None:
    assert spec_digest() == SPEC_SHA256


def test_the_spec_checker_refuses_what_whoop_would_not_send() -> None:
    cycle = validator("Cycle")
    good: dict[str, Any] = {
        "id": 1,
        "user_id": 2,
        "created_at": "2026-11-21T05:15:30.998Z",
        "updated_at": "2026-11-21T05:15:30.998Z",
        "start": "2026-11-21T05:14:19.118Z",
        "timezone_offset": "-05:00",
        "score_state": "PENDING_SCORE",
    }
    assert cycle.is_valid(good)
    assert not cycle.is_valid({**good, "surprise": 1})  # closed: no unknown fields
    assert not cycle.is_valid({**good, "start": "yesterday"})  # date-time format
    assert not cycle.is_valid({**good, "score_state": "DONE"})
    assert not cycle.is_valid({k: v for k, v in good.items() if k != "user_id"})
    assert not cycle.is_valid({**good, "score": {"strain": 1}})  # score's required fields


async def _pages(
    http: httpx2.AsyncClient, path: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 25, "start": "2000-01-01T00:00:00.000Z"}
    while True:
        response = await http.get(path, params=params, headers=headers)
        assert response.status_code == 200
        pages.append(response.json())
        token = pages[-1].get("next_token")
        if not token:
            return pages
        params["nextToken"] = token


@pytest.mark.parametrize("user", [10129, 20458])
async def test_every_sandbox_record_validates_against_the_spec(
    clock: FakeClock, history: History, user: int
) -> None:
    sandbox = WhoopSandbox(clock=clock, history=history, rate_limits=())  # a sweep, not a rate test
    token = sandbox.issue_tokens(user, client_id=f"app-{user}")["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    member = sandbox.member(user)
    async with httpx2.AsyncClient(base_url=ORIGIN, transport=sandbox.transport()) as http:
        for path, schema in COLLECTIONS.items():
            check = validator(schema)
            pages = await _pages(http, path, headers)
            for page in pages:
                errors = [e.message for e in check.iter_errors(page)]
                assert not errors, (path, errors[:3])
            total = sum(len(p["records"]) for p in pages)
            expected = {
                "PaginatedCycleResponse": member.cycles,
                "RecoveryCollection": member.recoveries,
                "PaginatedSleepResponse": member.sleeps,
                "WorkoutCollection": member.workouts,
            }[schema]
            assert total == len(expected)

        singles: list[tuple[str, str]] = [
            (f"{API}/user/profile/basic", "UserBasicProfile"),
            (f"{API}/user/measurement/body", "UserBodyMeasurement"),
        ]
        for cycle in [*member.cycles[::9], member.cycles[0]]:
            cid = cycle.body["id"]
            singles.append((f"{API}/cycle/{cid}", "Cycle"))
            if cid in member.main_sleep_by_cycle:
                singles += [
                    (f"{API}/cycle/{cid}/sleep", "Sleep"),
                    (f"{API}/cycle/{cid}/recovery", "Recovery"),
                ]
        singles += [(f"{API}/activity/sleep/{s.body['id']}", "Sleep") for s in member.sleeps[::9]]
        singles += [
            (f"{API}/activity/workout/{w.body['id']}", "WorkoutV2") for w in member.workouts[::9]
        ]
        for path, schema in singles:
            response = await http.get(path, headers=headers)
            assert response.status_code == 200, path
            errors = [e.message for e in validator(schema).iter_errors(response.json())]
            assert not errors, (path, errors[:3])


async def test_every_sandbox_status_is_one_the_spec_lists(sandbox: WhoopSandbox) -> None:
    good = {"Authorization": f"Bearer {sandbox.issue_tokens()['access_token']}"}
    probes = [
        ("GET", f"{API}/cycle", {}, good),
        ("GET", f"{API}/cycle", {"limit": "99"}, good),
        ("GET", f"{API}/cycle", {}, {}),
        ("GET", f"{API}/cycle/1", {}, good),
        ("GET", f"{API}/cycle/x", {}, good),
        ("GET", f"{API}/recovery", {"nextToken": "%%"}, good),
        ("GET", f"{API}/activity/sleep/{'0' * 8}-0000-4000-8000-{'0' * 12}", {}, good),
        ("GET", f"{API}/activity/workout/bad", {}, good),
        ("GET", f"{API}/user/profile/basic", {}, {}),
        ("DELETE", f"{API}/user/access", {}, {}),
        ("DELETE", f"{API}/user/access", {}, good),
    ]
    async with httpx2.AsyncClient(base_url=ORIGIN, transport=sandbox.transport()) as http:
        for method, path, params, headers in probes:
            await http.request(method, path, params=params, headers=headers)
    for request in sandbox.requests:
        found = operation_for(request.method, request.path)
        assert found is not None, request.path
        assert request.status in found[0].responses, (request.method, request.path, request.status)


async def test_the_client_sends_only_what_the_spec_defines(
    whoop: WhoopProvider, sandbox: WhoopSandbox
) -> None:
    client = whoop.client
    member = sandbox.member()
    window = TimeWindow(start=NOW - timedelta(days=365), end=NOW)
    await whoop.read(TIMED_KINDS, window)
    [_ async for _ in client.cycles()]  # no window at all
    cid = member.cycles[3].body["id"]
    await client.get_cycle(cid)
    await client.get_sleep_for_cycle(cid)
    await client.get_recovery_for_cycle(cid)
    await client.get_sleep(__import__("uuid").UUID(member.sleeps[0].body["id"]))
    await client.get_workout(__import__("uuid").UUID(member.workouts[0].body["id"]))
    await whoop.profile()
    await whoop.body_measurement()
    await whoop.revoke()

    data_requests = [r for r in sandbox.requests if r.path.startswith("/developer/")]
    used = set()
    for request in data_requests:
        found = operation_for(request.method, request.path)
        assert found is not None, f"{request.method} {request.path} is not in the spec"
        operation, path_values = found
        used.add(operation.spec["operationId"])
        for name, raw in path_values.items():
            assert check_parameter(operation.parameters("path")[name]["schema"], raw), (name, raw)
        allowed = operation.parameters("query")
        for name, raw in request.query:
            assert name in allowed, f"{operation.spec['operationId']} has no parameter {name!r}"
            assert check_parameter(allowed[name]["schema"], raw), (name, raw)
    member_ops = {
        op.spec["operationId"]
        for op in OPERATIONS
        if op.template.startswith("/v2/") and "Partner" not in op.spec.get("tags", [])
    }
    assert used == member_ops  # and every member-data operation was exercised


# ------------------------------------------------------------------ pagination property
def _expected(records: list[StoredRecord], start: datetime, end: datetime) -> list[str]:
    """WHOOP's documented filter: start inclusive (in-progress records count), end exclusive."""
    return [
        r.key
        for r in records
        if r.start < end and (r.start >= start or r.end is None or r.end > start)
    ]


def _key(record: Any) -> str:
    return str(getattr(record, "id", None) or record.cycle_id)


@settings(max_examples=60)
@given(
    kind=st.sampled_from(["cycles", "sleeps", "recoveries", "workouts"]),
    days_back=st.floats(min_value=0, max_value=420),
    span_days=st.floats(min_value=0.01, max_value=120),
    page_size=st.integers(min_value=1, max_value=25),
)
async def test_pagination_returns_every_record_of_a_window_exactly_once(
    history: History, kind: str, days_back: float, span_days: float, page_size: int
) -> None:
    clock = FakeClock(NOW)
    sandbox = WhoopSandbox(clock=clock, history=history, rate_limits=())
    start = NOW - timedelta(days=days_back)
    end = start + timedelta(days=span_days)
    tokens = tokens_for(sandbox, clock)
    async with build_http_client(base_url=ORIGIN, transport=sandbox.transport()) as http:
        client = WhoopClient(
            http,
            auth=_Bearer(await tokens.get_access_token() or ""),
            clock=clock,
            page_size=page_size,
        )
        got = [_key(r) async for r in getattr(client, kind)(start=start, end=end)]
    member = sandbox.member()
    expected = _expected(getattr(member, kind), start, end)
    assert got == expected
    assert len(set(got)) == len(got)
    pages = [r for r in sandbox.requests if r.path.startswith(API)]
    assert len(pages) == max(1, -(-len(expected) // page_size))


class _Bearer(httpx2.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx2.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def test_the_settings_point_every_url_at_the_configured_origin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WELLPIPE_WHOOP_BASE_URL", "http://127.0.0.1:8765")
    settings_ = WhoopSettings()
    assert settings_.origin == "http://127.0.0.1:8765"
    assert settings_.oauth_endpoints.authorize_url == "http://127.0.0.1:8765/oauth/oauth2/auth"
    assert settings_.oauth_endpoints.token_url == "http://127.0.0.1:8765/oauth/oauth2/token"
    monkeypatch.delenv("WELLPIPE_WHOOP_BASE_URL")
    assert WhoopSettings().origin == "https://api.prod.whoop.com"
    assert CREDENTIALS.client_secret not in repr(CREDENTIALS)
    assert open_whoop is not None
