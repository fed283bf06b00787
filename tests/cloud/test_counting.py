"""The counting rule, as a table, over both faces: only data answered is counted.

Each row is an outcome a request can have (`wellpipe.cloud.services.gate.COUNTED`). It is
produced once through REST and once through an MCP ``tools/call`` (with an API key, and
with an assistant's OAuth token), and the month's count is read straight from the
database before and after. The README states the same table.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest

from tests.cloud.conftest import PUBLIC_URL, Cloud
from tests.cloud.data_support import Tenant, new_tenant
from tests.cloud.oauth_support import issue_token
from tests.cloud.test_mcp_endpoint import JSON_RPC
from wellpipe.cloud.services.audit import list_events
from wellpipe.cloud.services.authorization import list_grants
from wellpipe.cloud.services.gate import COUNTED, Outcome, outcome_of
from wellpipe.cloud.services.limits import usage_summary
from wellpipe.cloud.services.tokens import read_access_token
from wellpipe.core import reading
from wellpipe.core.errors import (
    InvalidRequest,
    NotFound,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderUnavailable,
    ReauthorizationRequired,
    ScopeNotGranted,
    UnsupportedDataKind,
)
from wellpipe.sandbox.faults import Fault

pytestmark = pytest.mark.timeout(60)

Setup = Callable[[Cloud, Tenant, pytest.MonkeyPatch], Awaitable[None]]


async def nothing(cloud: Cloud, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    return None


async def dead_grant(cloud: Cloud, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    token = await read_access_token(cloud.ctx, user_id=tenant.user_id, provider="whoop")
    grant = cloud.sandbox.auth.resolve(token or "")
    assert grant is not None
    cloud.sandbox.auth.revoke_grant(grant)


async def outage(cloud: Cloud, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    cloud.sandbox.inject(Fault(path_prefix="/developer/", status=503, times=1000))


async def busy(cloud: Cloud, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    cloud.sandbox.inject(
        Fault(path_prefix="/developer/", status=429, headers={"Retry-After": "120"}, times=50)
    )


async def garbled(cloud: Cloud, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    cloud.sandbox.inject(Fault(path_prefix="/developer/", body="not_json", times=50))


async def over_quota(cloud: Cloud, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    count = (await usage_summary(cloud.ctx, tenant.user_id)).month_count
    cloud.ctx.settings = cloud.ctx.settings.model_copy(update={"free_monthly_limit": count})


async def our_bug(cloud: Cloud, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(reading.Reader, "recent", broken)


@dataclass(frozen=True)
class Row:
    """One outcome: how to cause it, what each face asks, and whether it counts."""

    outcome: str
    setup: Setup
    rest: str
    tool: tuple[str, dict[str, Any]]
    counted: bool
    status: int
    connected: bool = True
    key: str | None = None  # a different credential than the tenant's


SLEEP = "/api/v1/health?type=sleep&days=2"
RECENT = ("get-recent-sleep", {"days": 2})

TABLE = [
    Row("data answered", nothing, SLEEP, RECENT, True, 200),
    Row("authentication failed", nothing, SLEEP, RECENT, False, 401, key="wp_live_nope"),
    Row(
        "invalid argument",
        nothing,
        "/api/v1/health?type=sleep&days=0",
        ("get-recent-sleep", {"days": 0}),
        False,
        422,
    ),
    Row(
        "unknown argument",
        nothing,
        SLEEP + "&colour=red",
        ("get-recent-sleep", {"days": 2, "colour": "red"}),
        False,
        422,
    ),
    Row(
        "range in the future",
        nothing,
        "/api/v1/sleep?start=2027-05-01&end=2027-05-02",
        ("get-range", {"kind": "sleep", "start": "2027-05-01", "end": "2027-05-02"}),
        False,
        422,
    ),
    Row(
        "kind not offered",
        nothing,
        "/api/v1/health?type=readiness&days=2",
        ("get-recent-readiness", {"days": 2}),
        False,
        409,
    ),
    Row("over the monthly quota", over_quota, SLEEP, RECENT, False, 429),
    Row("nothing connected", nothing, SLEEP, RECENT, False, 409, connected=False),
    Row("grant dead", dead_grant, SLEEP, RECENT, False, 409),
    Row("provider outage", outage, SLEEP, RECENT, False, 503),
    Row("provider busy", busy, SLEEP, RECENT, False, 503),
    Row("provider answer unusable", garbled, SLEEP, RECENT, False, 502),
    Row(
        "unknown record id",
        nothing,
        "/api/v1/records/sleep/00000000-0000-4000-8000-000000000000",
        ("get-record", {"kind": "sleep", "id": "00000000-0000-4000-8000-000000000000"}),
        False,
        404,
    ),
    Row("our own error", our_bug, SLEEP, RECENT, False, 500),
]


async def _month(cloud: Cloud, tenant: Tenant) -> int:
    return (await usage_summary(cloud.ctx, tenant.user_id)).month_count


async def _call_tool(cloud: Cloud, key: str, tool: tuple[str, dict[str, Any]]) -> Any:
    """One ``tools/call`` over HTTP, as a stateless client sends it."""
    name, arguments = tool
    message = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    response = await cloud.client.post(
        "/api/mcp",
        json=message,
        headers={
            **JSON_RPC,
            "Authorization": f"Bearer {key}",
            "MCP-Protocol-Version": "2025-11-25",
        },
    )
    if response.status_code != 200:
        return response.status_code
    body = response.text
    if body.startswith("event:") or "data:" in body:
        body = next(line[5:] for line in body.splitlines() if line.startswith("data:"))
    return json.loads(body)["result"]


ASSISTANT = "mcp with an assistant's token"
ASSISTANT_ROWS = {
    "data answered",
    "authentication failed",
    "over the monthly quota",
    "grant dead",
    "provider outage",
    "unknown record id",
    "our own error",
}
"""The rows an assistant's token also runs: after the credential, its path is the key's."""

CASES = [
    pytest.param(face, row, id=f"{row.outcome}-{face}")
    for row in TABLE
    for face in ("rest", "mcp", ASSISTANT)
    if face != ASSISTANT or row.outcome in ASSISTANT_ROWS
]


@pytest.mark.parametrize(("face", "row"), CASES)
async def test_only_data_answered_is_counted(
    cloud: Cloud, face: str, row: Row, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await new_tenant(cloud, connect=row.connected)
    warm = await cloud.client.get("/api/v1/health?type=cycle&days=1", headers=tenant.auth)
    assert warm.status_code == (200 if row.connected else 409)  # the key is now recalled
    await row.setup(cloud, tenant, monkeypatch)
    before = await _month(cloud, tenant)
    key = row.key or tenant.key
    if face == ASSISTANT:
        token = await issue_token(cloud.ctx, tenant.user_id)
        key = "wpat_" + "x" * 43 if row.key else token

    if face == "rest":
        # A crash of ours is a 500 answer here too, not an exception in the test.
        transport = httpx2.ASGITransport(app=cloud.app, raise_app_exceptions=False)
        async with httpx2.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
            response = await client.get(row.rest, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == row.status, row.outcome
        remaining = response.headers.get("x-ratelimit-remaining")
        if remaining is not None:  # settled: both header families say the same count
            assert f'"monthly";r={remaining};' in response.headers["ratelimit"]
    else:
        result = await _call_tool(cloud, key, row.tool)
        if row.status == 401:
            assert result == 401
        else:
            assert isinstance(result, dict), result
            assert result.get("isError", False) is (row.status != 200), result

    assert await _month(cloud, tenant) == before + (1 if row.counted else 0), row.outcome
    if face == ASSISTANT:  # the assistant's own count, in the dashboard
        [grant] = await list_grants(cloud.ctx, tenant.user_id)
        assert grant.requests_this_month == (1 if row.counted else 0), row.outcome
        assert (grant.last_used_at is not None) is row.counted
        reads = [
            e for e in await list_events(cloud.ctx, tenant.user_id) if e.event == "data.accessed"
        ]
        assert [e.detail.get("client") for e in reads if e.detail.get("key_id") is None] == (
            ["Claude"] if row.counted else []
        )


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (None, Outcome.ANSWERED),
        (InvalidRequest("x"), Outcome.REFUSED),
        (UnsupportedDataKind(provider="oura", kind="recovery", supported=[]), Outcome.REFUSED),
        (ReauthorizationRequired(provider="whoop", reason="r"), Outcome.PROVIDER_FAILED),
        (
            ScopeNotGranted(provider="oura", scope="heartrate", needed_for="heart rate"),
            Outcome.PROVIDER_FAILED,
        ),
        (ProviderUnavailable(provider="whoop", endpoint=None, detail="d"), Outcome.PROVIDER_FAILED),
        (
            ProviderRateLimited(provider="whoop", endpoint=None, retry_after=3),
            Outcome.PROVIDER_FAILED,
        ),
        (
            ProviderResponseError(provider="whoop", endpoint=None, problem="p"),
            Outcome.PROVIDER_FAILED,
        ),
        (NotFound(provider="whoop", endpoint=None, what="w"), Outcome.PROVIDER_FAILED),
        (RuntimeError("bug"), Outcome.INTERNAL_ERROR),
    ],
)
def test_each_outcome_class_and_whether_it_counts(
    error: BaseException | None, outcome: Outcome
) -> None:
    assert outcome_of(error) is outcome
    assert COUNTED[outcome] is (outcome is Outcome.ANSWERED)
