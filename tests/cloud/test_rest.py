"""REST /api/v1 end to end: a user with a key, connected to the WHOOP sandbox, on both databases.

Answers are compared with what the core WHOOP provider reads for the same member (the
data the MCP tools show); errors are problem details that say what to do, and only valid,
authenticated requests that reached the data are counted.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from sqlalchemy import func, select, update

from tests.cloud.conftest import Cloud
from tests.cloud.data_support import Tenant, data_requests, new_tenant, record_upstream
from tests.conftest import CREDENTIALS, ORIGIN, tokens_for
from tests.fakes import FlakyNetwork
from wellpipe.cloud.db.tables import ApiKey, UpstreamWindow, UsageCounter
from wellpipe.cloud.services import health
from wellpipe.cloud.services.accounts import set_plan
from wellpipe.cloud.services.audit import list_events
from wellpipe.cloud.services.cache import answer_cache
from wellpipe.cloud.services.keys import recall
from wellpipe.cloud.services.limits import burst_bucket
from wellpipe.cloud.services.tokens import connection_status, delete_connection, read_access_token
from wellpipe.core.models import DataKind, DayRange
from wellpipe.core.reading import read_recent
from wellpipe.providers.whoop import WhoopSettings, open_whoop
from wellpipe.sandbox.faults import Fault

PROBLEM = "application/problem+json"


@pytest.fixture
async def tenant(cloud: Cloud) -> Tenant:
    return await new_tenant(cloud)


async def month_count(cloud: Cloud, tenant: Tenant) -> int:
    response = await cloud.client.get("/api/v1/usage", headers=tenant.auth)
    assert response.status_code == 200
    count: int = response.json()["month_count"]
    return count


def assert_problem(response: Any, status: int, kind: str, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + kind)
    assert body["request_id"] == response.headers["x-request-id"]
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


async def direct_read(cloud: Cloud, member: int, kinds: set[DataKind], days: int) -> Any:
    """What the core WHOOP provider reads for the member (the local server's view)."""
    async with open_whoop(
        credentials=CREDENTIALS,
        tokens=tokens_for(cloud.sandbox, cloud.clock, member),
        settings=WhoopSettings.for_origin(ORIGIN),
        clock=cloud.clock,
        transport=cloud.sandbox.transport(),
    ) as provider:
        return await read_recent(provider, kinds, days, now=cloud.clock.now())


# ------------------------------------------------------------------ happy paths
KINDS = [
    ("sleep", DataKind.SLEEP),
    ("recovery", DataKind.RECOVERY),
    ("workout", DataKind.WORKOUT),
    ("cycle", DataKind.CYCLE),
]


def no_nulls(value: Any) -> Any:
    """``value`` without ``None`` anywhere (what a compact answer or a record carries)."""
    if isinstance(value, dict):
        return {k: no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [no_nulls(v) for v in value]
    return value


async def test_health_answers_the_same_records_as_the_core_provider(
    cloud: Cloud, tenant: Tenant
) -> None:
    assert tenant.member is not None
    for number, (kind, key) in enumerate(KINDS, start=1):
        response = await cloud.client.get(
            f"/api/v1/health?type={kind}&days=14&detail=full", headers=tenant.auth
        )

        assert response.status_code == 200, response.text
        body = response.json()
        days, records = await direct_read(cloud, tenant.member, {key}, 14)
        expected = sorted(
            (r for r in records.of_kind(key) if days.includes(r.day)),
            key=lambda r: (r.day, r.start),
        )
        assert (body["type"], body["detail"]) == (kind, "full")
        assert (body["first_day"], body["last_day"]) == (str(days.first), str(days.last))
        assert body["records"] == [r.model_dump(mode="json") for r in expected]
        assert body["count"] == len(expected) > 0
        assert response.headers["x-ratelimit-limit"] == "1000"
        assert response.headers["x-ratelimit-remaining"] == str(1000 - number)
        assert response.headers["x-ratelimit-reset"] == "2026-12-01T00:00:00Z"

    summary = await cloud.client.get("/api/v1/health?type=summary&days=5", headers=tenant.auth)
    assert summary.status_code == 200, summary.text
    body = summary.json()
    listed = [row["day"] for row in body["records"]]
    assert (body["type"], body["detail"]) == ("summary", "compact")
    assert len(listed) == 5
    assert listed == sorted(listed)
    assert listed[-1] == body["last_day"]
    today = cloud.clock.now().date()
    assert date.fromisoformat(body["last_day"]) in {today, today - timedelta(days=1)}
    assert sum(1 for row in body["records"] if "asleep_duration_min" in row) >= 4
    assert body == no_nulls(body)  # compact: no empty fields

    via_health = await cloud.client.get("/api/v1/health?type=profile&days=3", headers=tenant.auth)
    via_profile = await cloud.client.get("/api/v1/profile", headers=tenant.auth)
    assert via_health.status_code == via_profile.status_code == 200
    profile = via_health.json()
    assert profile == via_profile.json()
    member = cloud.sandbox.member(tenant.member)
    [whoop] = profile["sources"]
    assert whoop["email"] == member.profile["email"]
    assert whoop["max_heart_rate_bpm"] > 0
    full = await cloud.client.get("/api/v1/profile?detail=full", headers=tenant.auth)
    [source] = full.json()["sources"]
    assert source["profile"]["source_id"] == str(member.profile["user_id"])
    assert source["body_measurement"]["max_heart_rate_bpm"] == whoop["max_heart_rate_bpm"]
    assert full.headers["x-ratelimit-remaining"] == str(1000 - len(KINDS) - 4)


async def test_range_endpoints_keep_to_the_days_asked_and_are_audited(
    cloud: Cloud, tenant: Tenant
) -> None:
    for path, kind in [
        ("sleep", "sleep"),
        ("recovery", "recovery"),
        ("workouts", "workout"),
        ("cycles", "cycle"),
    ]:
        response = await cloud.client.get(
            f"/api/v1/{path}?start=2026-10-01&end=2026-10-31", headers=tenant.auth
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["type"] == kind
        assert (body["first_day"], body["last_day"]) == ("2026-10-01", "2026-10-31")
        days = [r["day"] for r in body["records"]]
        assert days
        assert days == sorted(days)
        assert all("2026-10-01" <= day <= "2026-10-31" for day in days)
        assert all(r["id"] for r in body["records"])
        assert body["count"] == len(days)

    summary = await cloud.client.get(
        "/api/v1/summary?start=2026-09-01&end=2026-11-29", headers=tenant.auth
    )
    assert summary.status_code == 200, summary.text
    listed = [row["day"] for row in summary.json()["records"]]
    days_asked = DayRange(first=date(2026, 9, 1), last=date(2026, 11, 29)).days()
    assert listed == [str(day) for day in days_asked]

    events = [e for e in await list_events(cloud.ctx, tenant.user_id) if e.event == "data.accessed"]
    assert len(events) == 5
    recovery = next(e for e in events if e.detail["endpoint"] == "rest:recovery")
    assert recovery.detail["kind"] == "recovery"
    assert recovery.detail["range"] == "2026-10-01..2026-10-31"
    assert recovery.detail["records"] > 20
    assert set(recovery.detail) == {
        "endpoint",
        "key_id",
        "kind",
        "providers",
        "range",
        "records",
        "upstream_calls",
    }
    assert recovery.detail["providers"] == "whoop"
    assert recovery.detail["key_id"] == tenant.key.split("_")[2]
    assert all(e.request_id for e in events)


async def test_a_record_by_the_id_of_a_listing(cloud: Cloud, tenant: Tenant) -> None:
    for kind, _ in KINDS:
        listing = await cloud.client.get(f"/api/v1/health?type={kind}&days=7", headers=tenant.auth)
        first = listing.json()["records"][0]
        full = await cloud.client.get(
            f"/api/v1/health?type={kind}&days=7&detail=full", headers=tenant.auth
        )
        [whole] = [r for r in full.json()["records"] if r["source_id"] == first["id"]]

        response = await cloud.client.get(
            f"/api/v1/records/{kind}/{first['id']}", headers=tenant.auth
        )

        assert response.status_code == 200, response.text
        assert response.json() == {"type": "record", "provider": "whoop", "record": no_nulls(whole)}

    before = await month_count(cloud, tenant)
    for missing in ("sleep/00000000-0000-4000-8000-000000000000", "cycle/12", "workout/x"):
        response = await cloud.client.get(f"/api/v1/records/{missing}", headers=tenant.auth)
        assert_problem(response, 404, "not-found", "check the id")
        assert response.headers["x-ratelimit-remaining"] == str(1000 - before)  # given back
    assert await month_count(cloud, tenant) == before  # no data answered: not counted


# ------------------------------------------------------------------ cache
async def test_a_repeated_question_is_answered_from_the_history(
    cloud: Cloud, tenant: Tenant
) -> None:
    network = record_upstream(cloud)
    url = "/api/v1/health?type=sleep&days=7"

    first = await cloud.client.get(url, headers=tenant.auth)
    sent = len(data_requests(network))
    second = await cloud.client.get(url, headers=tenant.auth)

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert sent >= 1
    assert len(data_requests(network)) == sent  # answered from the history
    assert second.headers["x-ratelimit-remaining"] == "998"  # still counted

    cloud.clock.advance(16 * 60)  # the newest days may have changed: read them again only
    await cloud.client.get(url, headers=tenant.auth)
    again = data_requests(network)[sent:]
    assert again
    assert all(r.url.params["start"] > data_requests(network)[0].url.params["start"] for r in again)

    before = len(data_requests(network))
    await cloud.client.get(url + "&fresh=true", headers=tenant.auth)  # every day, live
    assert data_requests(network)[before:][0].url.params["start"] == first_start(network)

    answer_cache(cloud.ctx).ttl_s = 0  # profiles are not kept: the short cache, off
    before = len(data_requests(network))
    await cloud.client.get("/api/v1/profile", headers=tenant.auth)
    await cloud.client.get("/api/v1/profile", headers=tenant.auth)
    assert len(data_requests(network)) == before + 4  # profile + body, twice


def first_start(network: FlakyNetwork) -> str:
    return str(data_requests(network)[0].url.params["start"])


# ------------------------------------------------------------------ invalid requests
async def test_invalid_requests_are_422_problems_and_not_counted(
    cloud: Cloud, tenant: Tenant
) -> None:
    network = record_upstream(cloud)
    cases = [
        ("/api/v1/health?type=sleep&days=0", "days"),
        ("/api/v1/health?type=sleep&days=3661", "days"),
        ("/api/v1/health?type=sleep&days=x", "days"),
        ("/api/v1/health?type=steps&days=7", "type"),
        ("/api/v1/health?days=7", "type"),
        ("/api/v1/sleep?start=2026-11-10&end=2026-11-01", "swap them"),
        ("/api/v1/cycles?start=2010-01-01&end=2025-12-31", "at most 3660"),
        ("/api/v1/summary?start=2027-01-01&end=2027-01-02", "in the future"),
        ("/api/v1/workouts?start=2026-13-01&end=2026-11-02", "start"),
        ("/api/v1/recovery?end=2026-11-02", "start"),
        ("/api/v1/records/steps/1", "kind"),
        (f"/api/v1/records/sleep/{'x' * 65}", "record_id"),
        ("/api/v1/health?type=sleep&days=7&fields=all", "Unknown parameter 'fields'"),
        ("/api/v1/sleep?start=2026-11-01&end=2026-11-02&day=1", "Unknown parameter 'day'"),
        ("/api/v1/health?type=sleep&detail=everything", "detail"),
    ]
    for url, words in cases:
        response = await cloud.client.get(url, headers=tenant.auth)
        assert_problem(response, 422, "invalid-request", words)
        assert "x-ratelimit-remaining" not in response.headers

    assert_problem(await cloud.client.get("/api/v1/steps", headers=tenant.auth), 404, "not-found")
    response = await cloud.client.post("/api/v1/sleep", headers=tenant.auth)
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert network.sent == []
    assert await month_count(cloud, tenant) == 0


async def test_missing_or_invalid_key_is_401_with_a_bearer_challenge(
    cloud: Cloud, tenant: Tenant
) -> None:
    cases = [
        {},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer wp_live_nope"},
        {"Authorization": f"Bearer {tenant.key[:-3]}xyz"},
        {"X-API-Key": "wp_live_nope"},
    ]
    for headers in cases:
        response = await cloud.client.get("/api/v1/health?type=sleep&days=x", headers=headers)
        assert_problem(response, 401, "unauthorized", "dashboard")
        assert response.headers["www-authenticate"].lower().startswith("bearer")
        assert "x-ratelimit-remaining" not in response.headers
        assert tenant.key not in response.text
    assert await month_count(cloud, tenant) == 0

    via_header = await cloud.client.get(
        "/api/v1/health?type=sleep&days=1", headers={"X-API-Key": tenant.key}
    )
    assert via_header.status_code == 200, via_header.text


async def test_a_key_in_the_url_is_refused_and_never_logged(
    cloud: Cloud, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    network = record_upstream(cloud)

    for query in (f"api_key={tenant.key}", f"key={tenant.key}", f"x={tenant.key}"):
        response = await cloud.client.get(
            f"/api/v1/health?type=sleep&days=1&{query}", headers=tenant.auth
        )
        assert_problem(response, 401, "unauthorized", "never accepted in the URL", "revoke")
        assert tenant.key not in response.text

    assert network.sent == []
    assert tenant.key not in caplog.text
    assert await month_count(cloud, tenant) == 0


# ------------------------------------------------------------------ connection trouble
async def test_without_a_connection_the_user_is_told_to_connect(cloud: Cloud) -> None:
    tenant = await new_tenant(cloud, connect=False)
    network = record_upstream(cloud)

    response = await cloud.client.get("/api/v1/health?type=sleep&days=3", headers=tenant.auth)

    assert_problem(
        response,
        409,
        "provider-not-connected",
        "No provider is connected",
        "WHOOP",
        "in the Wellpipe dashboard first",
    )
    named = await cloud.client.get(
        "/api/v1/health?type=sleep&days=3&provider=whoop", headers=tenant.auth
    )
    assert_problem(
        named, 409, "provider-not-connected", "connect WHOOP in the Wellpipe dashboard first"
    )
    assert network.sent == []
    assert await month_count(cloud, tenant) == 0


async def test_a_dead_grant_asks_to_reconnect_and_stops_calling_whoop(
    cloud: Cloud, tenant: Tenant
) -> None:
    token = await read_access_token(cloud.ctx, user_id=tenant.user_id, provider="whoop")
    assert token is not None
    grant = cloud.sandbox.auth.resolve(token)
    assert grant is not None
    cloud.sandbox.auth.revoke_grant(grant)  # the member revoked the app at WHOOP

    response = await cloud.client.get("/api/v1/health?type=sleep&days=3", headers=tenant.auth)

    assert_problem(response, 409, "reauthorization-required", "reconnect WHOOP in the dashboard")
    [status] = await connection_status(cloud.ctx, tenant.user_id)
    assert status.status == "needs_reauth"

    network = record_upstream(cloud)
    again = await cloud.client.get("/api/v1/health?type=sleep&days=3", headers=tenant.auth)
    assert_problem(again, 409, "reauthorization-required", "reconnect WHOOP")
    assert network.sent == []  # known dead: no call to WHOOP, no refresh attempt


async def test_whoop_failures_are_refunded_problems_and_keep_the_tokens(
    cloud: Cloud, tenant: Tenant
) -> None:
    before = await read_access_token(cloud.ctx, user_id=tenant.user_id, provider="whoop")
    url = "/api/v1/health?type=sleep&days=3"

    cloud.sandbox.inject(Fault(path_prefix="/developer/", status=503, times=1000))
    outage = await cloud.client.get(url, headers=tenant.auth)
    assert_problem(outage, 503, "provider-unavailable", "WHOOP is not responding", "try again")
    assert int(outage.headers["retry-after"]) > 0
    assert outage.headers["x-ratelimit-remaining"] == "1000"  # given back
    cloud.sandbox.faults.clear()

    cloud.sandbox.inject(Fault(path_prefix="/developer/", body="not_json", times=50))
    garbled = await cloud.client.get(url, headers=tenant.auth)
    assert_problem(garbled, 502, "provider-error", "cannot use")
    cloud.sandbox.faults.clear()

    cloud.sandbox.inject(
        Fault(path_prefix="/developer/", status=429, headers={"Retry-After": "120"}, times=5)
    )
    busy = await cloud.client.get(url, headers=tenant.auth)
    assert_problem(busy, 503, "provider-busy", "WHOOP asked Wellpipe to slow down; try again in")
    assert int(busy.headers["retry-after"]) >= 120

    assert await month_count(cloud, tenant) == 0
    assert await read_access_token(cloud.ctx, user_id=tenant.user_id, provider="whoop") == before
    [status] = await connection_status(cloud.ctx, tenant.user_id)
    assert status.status == "active"


# ------------------------------------------------------------------ quota
async def test_over_quota_is_429_with_headers_and_usage_is_free(
    cloud: Cloud, tenant: Tenant
) -> None:
    for _ in range(3):
        free = await cloud.client.get("/api/v1/usage", headers=tenant.auth)
        assert free.status_code == 200
        assert "x-ratelimit-remaining" not in free.headers
    assert free.json()["month_count"] == 0
    assert free.json()["plan"] == "FREE"

    cloud.ctx.settings = cloud.ctx.settings.model_copy(update={"free_monthly_limit": 2})
    url = "/api/v1/health?type=sleep&days=1"
    statuses = [(await cloud.client.get(url, headers=tenant.auth)).status_code for _ in range(2)]
    refused = await cloud.client.get(url, headers=tenant.auth)

    assert statuses == [200, 200]
    assert_problem(refused, 429, "quota-exceeded", "reset")
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["x-ratelimit-limit"] == "2"
    assert int(refused.headers["retry-after"]) > 0
    usage = (await cloud.client.get("/api/v1/usage", headers=tenant.auth)).json()
    assert usage["month_count"] == 2
    assert usage["limit"] == 2
    assert usage["remaining"] == 0
    assert usage["reset_at"].startswith("2026-12-01T00:00:00")


async def test_concurrent_accesses_share_one_audit_transaction(
    cloud: Cloud, tenant: Tenant
) -> None:
    log = cloud.ctx.state.access_log = cloud.ctx.state.access_log or health.AccessLog()
    written_before = log.batches

    async def one(number: int) -> None:
        await health.record_access(
            cloud.ctx, user_id=tenant.user_id, detail={"endpoint": f"e{number}"}, request_id=None
        )

    # The lock is released before the task group waits: as if another batch were being
    # written while these five requests finished.
    async with anyio.create_task_group() as group, log.lock:
        for number in range(5):
            group.start_soon(one, number)
        while len(log.open.entries) < 5:
            await anyio.lowlevel.checkpoint()

    events = [e for e in await list_events(cloud.ctx, tenant.user_id) if e.event == "data.accessed"]
    assert sorted(e.detail["endpoint"] for e in events) == [f"e{n}" for n in range(5)]
    assert log.batches == written_before + 1  # five rows, one transaction


async def test_a_disconnect_elsewhere_shows_within_seconds(cloud: Cloud, tenant: Tenant) -> None:
    url = "/api/v1/health?type=sleep&days=2"
    assert (await cloud.client.get(url, headers=tenant.auth)).status_code == 200
    await delete_connection(cloud.ctx, user_id=tenant.user_id, provider="whoop")  # another worker

    cloud.clock.advance(health.STATUS_TTL_S + 0.1)
    response = await cloud.client.get(url, headers=tenant.auth)

    assert_problem(response, 409, "provider-not-connected", "connect ", "WHOOP")


async def test_a_disconnect_on_this_worker_takes_effect_on_the_next_call(
    cloud: Cloud, tenant: Tenant
) -> None:
    from wellpipe.cloud.services.connect import disconnect

    first = await cloud.client.get("/api/v1/profile", headers=tenant.auth)
    assert first.status_code == 200  # the worker now remembers the connection as active
    await disconnect(cloud.ctx, user_id=tenant.user_id, provider="whoop")
    after = await cloud.client.get("/api/v1/profile", headers=tenant.auth)
    assert_problem(after, 409, "provider-not-connected", "connect ", "WHOOP")


# ------------------------------------------------------------------ the recalled-key path
async def _counters(cloud: Cloud, user_id: str) -> tuple[int, int]:
    """(monthly count, burst windows) straight from the database."""
    async with cloud.ctx.db.sessions() as session:
        month = await session.scalar(
            select(func.coalesce(func.sum(UsageCounter.count), 0)).where(
                UsageCounter.user_id == user_id
            )
        )
        burst = await session.scalar(
            select(func.coalesce(func.sum(UpstreamWindow.count), 0)).where(
                UpstreamWindow.provider == burst_bucket(user_id)
            )
        )
    return int(month or 0), int(burst or 0)


async def test_a_recalled_key_is_confirmed_where_it_is_counted(
    cloud: Cloud, tenant: Tenant
) -> None:
    first = await cloud.client.get("/api/v1/health?type=sleep&days=1", headers=tenant.auth)
    assert first.status_code == 200, first.text
    assert recall(cloud.ctx, tenant.key) is not None  # later requests take the one-step path
    second = await cloud.client.get("/api/v1/health?type=sleep&days=1", headers=tenant.auth)
    assert second.status_code == 200, second.text
    assert second.headers["x-ratelimit-remaining"] == str(
        int(first.headers["x-ratelimit-remaining"]) - 1
    )
    assert await _counters(cloud, tenant.user_id) == (2, 2)
    accessed = [
        e for e in await list_events(cloud.ctx, tenant.user_id) if e.event == "data.accessed"
    ]
    assert len(accessed) == 2

    await _revoke_elsewhere(cloud, tenant)  # this worker still recalls the key
    assert recall(cloud.ctx, tenant.key) is not None
    refused = await cloud.client.get("/api/v1/health?type=sleep&days=1", headers=tenant.auth)
    assert_problem(refused, 401, "unauthorized", "revoked")
    assert "x-ratelimit-remaining" not in refused.headers
    assert await _counters(cloud, tenant.user_id) == (2, 2)  # nothing counted, not even burst


async def _revoke_elsewhere(cloud: Cloud, tenant: Tenant) -> None:
    """Revoke the tenant's key as another worker would: in the database only."""
    async with cloud.ctx.db.transaction() as session:
        await session.execute(
            update(ApiKey)
            .where(ApiKey.user_id == tenant.user_id)
            .values(revoked_at=cloud.clock.now())
        )


async def test_a_recalled_key_follows_plan_changes_on_the_next_request(
    cloud: Cloud, tenant: Tenant
) -> None:
    free = await cloud.client.get("/api/v1/health?type=sleep&days=1", headers=tenant.auth)
    assert free.headers["x-ratelimit-limit"] == "1000"
    await set_plan(cloud.ctx, user_id=tenant.user_id, plan="PRO")
    pro = await cloud.client.get("/api/v1/health?type=sleep&days=1", headers=tenant.auth)
    assert pro.headers["x-ratelimit-limit"] == "60"  # PRO: the headers describe the burst
    assert pro.headers["ratelimit-policy"].startswith('"burst"')
    await set_plan(cloud.ctx, user_id=tenant.user_id, plan="FREE")
    again = await cloud.client.get("/api/v1/health?type=sleep&days=1", headers=tenant.auth)
    assert again.headers["x-ratelimit-limit"] == "1000"
    assert again.headers["x-ratelimit-remaining"] == "997"
    assert await _counters(cloud, tenant.user_id) == (3, 3)


async def test_a_revoked_recalled_key_learns_nothing_about_the_account(cloud: Cloud) -> None:
    tenant = await new_tenant(cloud, connect=False)
    told = await cloud.client.get("/api/v1/health?type=sleep&days=1", headers=tenant.auth)
    assert_problem(told, 409, "provider-not-connected")
    assert recall(cloud.ctx, tenant.key) is not None

    await _revoke_elsewhere(cloud, tenant)
    refused = await cloud.client.get("/api/v1/health?type=sleep&days=1", headers=tenant.auth)
    assert_problem(refused, 401, "unauthorized", "revoked")
    assert "WHOOP" not in refused.text
    assert await _counters(cloud, tenant.user_id) == (0, 0)


async def test_one_day_is_one_day_in_the_audit_and_the_chart(cloud: Cloud, tenant: Tenant) -> None:
    response = await cloud.client.get("/api/v1/health?type=sleep&days=1", headers=tenant.auth)
    assert response.status_code == 200, response.text
    events = [e for e in await list_events(cloud.ctx, tenant.user_id) if e.event == "data.accessed"]
    assert [e.detail["range"] for e in events] == ["last 1 day"]


def test_a_record_a_failed_provider_may_hold_is_a_retry_not_a_404() -> None:
    from wellpipe.cloud.api.deps import problem_for
    from wellpipe.core.errors import NotFoundAnywhere, ProviderRateLimited

    busy = ProviderRateLimited(provider="fitbit", endpoint=None, retry_after=42)
    unsure = problem_for(
        NotFoundAnywhere(what="sleep", missing=["whoop"], failed=[("fitbit", busy)])
    )
    assert (unsure.status, unsure.kind) == (503, "provider-unavailable")
    assert unsure.headers["Retry-After"] == "42"
    assert "could not be asked" in unsure.detail
    sure = problem_for(NotFoundAnywhere(what="sleep", missing=["whoop", "oura"]))
    assert (sure.status, sure.kind) == (404, "not-found")
