"""MCP over HTTP at /api/mcp and /mcp: the SDK client in both protocol eras, with an API key.

The tools answer exactly what the local server answers for the same WHOOP member; only
``tools/call`` is counted; Host and Origin are pinned to the public URL; and WHOOP only
ever sees the stored token of the key's owner (T-5.3, T-5.4).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.transport_security import TransportSecuritySettings

from tests.cloud.conftest import PUBLIC_URL, Cloud
from tests.cloud.data_support import (
    Tenant,
    bearer_of,
    data_requests,
    new_tenant,
    record_upstream,
)
from tests.conftest import CREDENTIALS, ORIGIN, tokens_for
from wellpipe.cloud.app import create_app
from wellpipe.cloud.services.audit import list_events
from wellpipe.cloud.services.limits import usage_summary
from wellpipe.cloud.services.tokens import read_access_token
from wellpipe.cloud.settings import CloudSettings
from wellpipe.mcp.server import WellpipeServer, build_server, single_provider
from wellpipe.mcp.tools import TOOLS
from wellpipe.providers.whoop import WhoopSettings, open_whoop

MODERN = "2026-07-28"
MODES = pytest.mark.parametrize("mode", ["legacy", MODERN])
TOOL_NAMES = [tool.name for tool in TOOLS]
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
JSON_RPC = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture
async def tenant(cloud: Cloud) -> Tenant:
    return await new_tenant(cloud)


@asynccontextmanager
async def mcp_client(
    cloud: Cloud, headers: dict[str, str], mode: str, path: str = "/api/mcp"
) -> AsyncIterator[Client]:
    transport = httpx2.ASGITransport(app=cloud.app)
    async with (
        httpx2.AsyncClient(transport=transport, headers=headers, base_url=PUBLIC_URL) as http,
        Client(streamable_http_client(PUBLIC_URL + path, http_client=http), mode=mode) as client,
    ):
        yield client


async def post(cloud: Cloud, headers: dict[str, str], path: str = "/api/mcp") -> httpx2.Response:
    return await cloud.client.post(path, json=LIST, headers={**JSON_RPC, **headers})


async def counted(cloud: Cloud, tenant: Tenant) -> int:
    return (await usage_summary(cloud.ctx, tenant.user_id)).month_count


def text_of(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


@asynccontextmanager
async def local_server(cloud: Cloud, member: int) -> AsyncIterator[Client]:
    """The local (CLI) server on the same member, in memory: what the cloud must match."""
    tokens = tokens_for(cloud.sandbox, cloud.clock, member)

    def connect() -> Any:
        return open_whoop(
            credentials=CREDENTIALS,
            tokens=tokens,
            settings=WhoopSettings.for_origin(ORIGIN),
            clock=cloud.clock,
            transport=cloud.sandbox.transport(),
        )

    async with Client(build_server(connect=single_provider(connect), clock=cloud.clock)) as client:
        yield client


# ------------------------------------------------------------------ end to end
@pytest.mark.parametrize(("mode", "path"), [("legacy", "/api/mcp"), (MODERN, "/mcp")])
async def test_tools_answer_what_the_local_server_answers(
    cloud: Cloud, tenant: Tenant, mode: str, path: str
) -> None:
    assert tenant.member is not None
    calls: list[tuple[str, dict[str, Any]]] = [
        ("get-daily-summary", {"days": 3}),
        ("get-recent-sleep", {"days": 5}),
        ("get-range", {"kind": "workout", "start": "2026-10-01", "end": "2026-10-20"}),
        ("get-profile", {}),
    ]
    async with mcp_client(cloud, tenant.auth, mode, path) as client:
        listed = await client.list_tools()
        remote = [await client.call_tool(name, args) for name, args in calls]
    async with local_server(cloud, tenant.member) as local:
        expected = [await local.call_tool(name, args) for name, args in calls]

    assert [tool.name for tool in listed.tools] == TOOL_NAMES
    for got, want in zip(remote, expected, strict=True):
        assert not got.is_error, text_of(got)
        assert got.structured_content == want.structured_content
        assert text_of(got) == text_of(want)
    assert await counted(cloud, tenant) == len(calls)


@MODES
async def test_only_tool_calls_are_counted_and_audited(
    cloud: Cloud, tenant: Tenant, mode: str
) -> None:
    async with mcp_client(cloud, tenant.auth, mode) as client:
        for _ in range(3):
            await client.list_tools()
        assert await counted(cloud, tenant) == 0
        invalid = await client.call_tool("get-recent-sleep", {"days": 5000})
        unknown = await client.call_tool("get-steps", {})
        assert invalid.is_error
        assert "days must be between 1 and 3660" in text_of(invalid)
        assert unknown.is_error
        assert await counted(cloud, tenant) == 0
        ok = await client.call_tool("get-recent-recovery", {"days": 2})
        assert not ok.is_error

    usage = await usage_summary(cloud.ctx, tenant.user_id)
    assert usage.month_count == 1
    assert [(e.endpoint, e.count) for e in usage.endpoints] == [("mcp:get-recent-recovery", 1)]
    events = [e for e in await list_events(cloud.ctx, tenant.user_id) if e.event == "data.accessed"]
    assert len(events) == 1
    assert events[0].detail["endpoint"] == "mcp:get-recent-recovery"
    assert events[0].detail["kind"] == "recovery"
    assert events[0].detail["range"] == "last 2 days"


async def test_over_quota_a_tool_call_is_an_error_naming_the_reset(
    cloud: Cloud, tenant: Tenant
) -> None:
    mode = "legacy"  # what Claude and ChatGPT speak
    cloud.ctx.settings = cloud.ctx.settings.model_copy(update={"free_monthly_limit": 1})
    network = record_upstream(cloud)
    async with mcp_client(cloud, tenant.auth, mode) as client:
        first = await client.call_tool("get-profile", {})
        sent = len(data_requests(network))
        refused = await client.call_tool("get-recent-sleep", {"days": 3})
        still_listed = await client.list_tools()

    assert not first.is_error
    assert refused.is_error
    assert "1 December 2026 at 00:00 UTC" in text_of(refused)
    assert len(data_requests(network)) == sent  # refused before WHOOP was asked
    assert len(still_listed.tools) == len(TOOL_NAMES)
    assert await counted(cloud, tenant) == 1


async def test_connection_problems_are_tool_errors_with_the_next_step(cloud: Cloud) -> None:
    mode = MODERN
    unconnected = await new_tenant(cloud, connect=False)
    dead = await new_tenant(cloud)
    token = await read_access_token(cloud.ctx, user_id=dead.user_id, provider="whoop")
    grant = cloud.sandbox.auth.resolve(token or "")
    assert grant is not None
    cloud.sandbox.auth.revoke_grant(grant)

    async with mcp_client(cloud, unconnected.auth, mode) as client:
        missing = await client.call_tool("get-profile", {})
    async with mcp_client(cloud, dead.auth, mode) as client:
        revoked = await client.call_tool("get-profile", {})
        other = await client.call_tool("get-profile", {"provider": "oura"})
        unknown = await client.call_tool("get-profile", {"provider": "garmin"})

    assert missing.is_error
    assert "No provider is connected" in text_of(missing)
    assert "WHOOP in the Wellpipe dashboard first" in text_of(missing)
    assert revoked.is_error
    assert "reconnect WHOOP in the dashboard" in text_of(revoked)
    assert "connect Oura in the Wellpipe dashboard" in text_of(other)
    assert "garmin is not a provider Wellpipe has; it reads fitbit, oura, whoop" in text_of(unknown)
    for answer in (missing, revoked, other, unknown):
        assert answer.is_error
        assert "`wellpipe" not in text_of(answer)  # the cloud names no CLI command
    assert await counted(cloud, unconnected) == 0


# ------------------------------------------------------------------ authentication
async def test_requests_without_a_valid_key_are_401_and_x_api_key_works(
    cloud: Cloud, tenant: Tenant
) -> None:
    cases: list[tuple[dict[str, str], str]] = [
        ({}, "/api/mcp"),
        ({"Authorization": "Bearer wp_live_forged"}, "/api/mcp"),
        ({"Authorization": f"Token {tenant.key}"}, "/mcp"),
        (tenant.auth, f"/api/mcp?api_key={tenant.key}"),
    ]
    for headers, path in cases:
        response = await post(cloud, headers, path)
        assert response.status_code == 401, (headers, path)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert tenant.key not in response.text
    assert await counted(cloud, tenant) == 0

    response = await post(cloud, {"X-API-Key": tenant.key})
    assert response.status_code == 200, response.text


# ------------------------------------------------------------------ Host / Origin (T-5.3)
HOST_ORIGIN_MATRIX = [
    ({}, 200),
    ({"Origin": PUBLIC_URL}, 200),
    ({"Origin": "https://chatgpt.example"}, 200),  # WELLPIPE_EXTRA_ALLOWED_ORIGINS
    ({"Host": "wellpipe.test:8443"}, 200),
    ({"Host": "evil.example"}, 421),
    ({"Host": "wellpipe.test.evil.example"}, 421),
    ({"Host": "evil.example", "Origin": PUBLIC_URL}, 421),
    ({"Origin": "http://evil.example"}, 403),
    ({"Origin": "null"}, 403),
    ({"Origin": PUBLIC_URL + ".evil.example"}, 403),
    ({"Origin": "https://wellpipe.test"}, 403),
]


async def test_host_and_origin_are_pinned_to_the_public_url(cloud: Cloud) -> None:
    tenant = await new_tenant(cloud, connect=False)
    for path in ("/api/mcp", "/mcp"):
        for headers, status in HOST_ORIGIN_MATRIX:
            response = await post(cloud, {**tenant.auth, **headers}, path)
            assert response.status_code == status, (path, headers, response.text)
            if status == 200:
                assert [t["name"] for t in _jsonrpc_result(response)["tools"]] == TOOL_NAMES
            else:
                assert "tools" not in response.text


def _jsonrpc_result(response: httpx2.Response) -> dict[str, Any]:
    for line in response.text.splitlines():
        if line.startswith("data:"):
            result: dict[str, Any] = json.loads(line[5:])["result"]
            return result
    result = response.json()["result"]
    return result


@pytest.fixture
def cloud_settings(cloud_settings: CloudSettings) -> CloudSettings:
    return cloud_settings.model_copy(update={"extra_allowed_origins": ["https://chatgpt.example"]})


async def test_the_endpoint_is_built_with_explicit_transport_security(
    cloud_settings: CloudSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards against the SDK default, which turns the checks off for a public host."""
    seen: list[Any] = []
    original = WellpipeServer.streamable_http_app

    def spy(self: WellpipeServer, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return original(self, **kwargs)

    monkeypatch.setattr(WellpipeServer, "streamable_http_app", spy)
    create_app(cloud_settings)

    assert len(seen) == 1
    security = seen[0]["transport_security"]
    assert isinstance(security, TransportSecuritySettings)
    assert security.enable_dns_rebinding_protection is True
    assert set(security.allowed_hosts) == {"wellpipe.test", "wellpipe.test:*"}
    assert security.allowed_origins == [PUBLIC_URL, "https://chatgpt.example"]
    assert seen[0]["stateless_http"] is True
    assert seen[0]["json_response"] is False


# ------------------------------------------------------------------ no passthrough (T-5.4)
async def test_whoop_only_ever_sees_the_owners_stored_token(cloud: Cloud) -> None:
    first = await new_tenant(cloud, member=cloud.sandbox.member_ids[0])
    second = await new_tenant(cloud, member=cloud.sandbox.member_ids[1])
    network = record_upstream(cloud)
    forged = {"X-Whoop-Token": "forged-whoop-token", "X-Forwarded-Authorization": "Bearer forged"}

    by_user: dict[str, list[httpx2.Request]] = {}
    for tenant, mode in ((first, "legacy"), (second, MODERN)):
        mark = len(network.sent)
        async with mcp_client(cloud, {**tenant.auth, **forged}, mode) as client:
            smuggled = await client.call_tool(
                "get-recent-sleep", {"days": 2, "access_token": "forged-whoop-token"}
            )
            assert smuggled.is_error
            assert "unknown argument 'access_token'" in text_of(smuggled)
            assert not (await client.call_tool("get-recent-workouts", {"days": 2})).is_error
        rest = await cloud.client.get(
            "/api/v1/health?type=profile", headers={**tenant.auth, **forged}
        )
        assert rest.status_code == 200
        by_user[tenant.user_id] = [
            r for r in network.sent[mark:] if r.url.path.startswith("/developer/")
        ]

    for tenant in (first, second):
        stored = await read_access_token(cloud.ctx, user_id=tenant.user_id, provider="whoop")
        sent = by_user[tenant.user_id]
        assert sent, "the calls reached WHOOP"
        assert {bearer_of(r) for r in sent} == {stored}
    for request in network.sent:
        raw = json.dumps([list(request.headers.multi_items()), str(request.url)])
        for secret in (first.key, second.key, "forged"):
            assert secret not in raw
        assert request.method == "GET" or request.url.path == "/oauth/oauth2/token"
