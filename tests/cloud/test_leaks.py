"""T-6.1 / T-6.3: a whole user journey, then a search for every secret it touched.

One user signs up through the dashboard, connects the WHOOP sandbox, creates a key,
calls every REST route and MCP tool, makes mistakes (wrong key, a key in the URL),
lives through a token refresh and a dead grant, exports and deletes the account. The
logs (DEBUG, every logger), every response (headers and body), the audit log and a
dump of every table are then searched for each secret: the password, the session
cookie, the CSRF token, the API key, the key ring, the pepper, the WHOOP client secret,
and every code, state and token the sandbox issued. None may appear. The database dump
must also hold none of the member's health data (record ids, profile name and email).
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import select

from tests.cloud.conftest import PUBLIC_URL, Cloud
from tests.cloud.data_support import new_tenant
from tests.cloud.oauth_support import CLAUDE, RESOURCE, pkce, query_of
from tests.cloud.test_dashboard import csrf_of, page, submit
from tests.cloud.test_mcp_endpoint import JSON_RPC, LIST
from wellpipe.cloud.db.tables import Base
from wellpipe.cloud.security import api_keys
from wellpipe.cloud.settings import CloudSettings
from wellpipe.mcp.tools import TOOLS

PASSWORD = f"CANARY-password-{secrets.token_hex(8)}"
CLIENT_SECRET = f"CANARY-client-secret-{secrets.token_hex(8)}"
EMAIL = "canary.person@example.com"
KEY_PATTERN = re.compile(r"wp_live_[A-Za-z0-9]+_[A-Za-z0-9]{20,}")


@pytest.fixture
def whoop_app_credentials(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    monkeypatch.setenv("WELLPIPE_WHOOP_CLIENT_ID", "cloud-client")
    monkeypatch.setenv("WELLPIPE_WHOOP_CLIENT_SECRET", CLIENT_SECRET)
    return "cloud-client", CLIENT_SECRET


@pytest.fixture(autouse=True)
def _cheap_key_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_keys, "BCRYPT_ROUNDS", 4)


class Recorder:
    """Everything the service said: response headers and bodies."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(self, response: httpx2.Response) -> None:
        await response.aread()
        # Set-Cookie is how the session reaches the browser: the one place it must appear.
        self.seen.extend(
            f"{k}: {v}" for k, v in response.headers.multi_items() if k.lower() != "set-cookie"
        )
        text = response.text
        if self.expect_key_once and KEY_PATTERN.search(text):
            self.expect_key_once = False  # the dashboard shows a new key exactly once
            text = KEY_PATTERN.sub("[the new key, shown once]", text)
        self.seen.append(text)

    expect_key_once = False
    tables_before_deletion = ""


@pytest.fixture
async def recorded(cloud: Cloud) -> Recorder:
    recorder = Recorder()
    cloud.client.event_hooks["response"].append(recorder)
    return recorder


def issued_by_sandbox(cloud: Cloud) -> set[str]:
    auth: Any = cloud.sandbox.auth
    return set(auth._access) | set(auth._refresh) | set(auth._codes)


async def dump_tables(cloud: Cloud) -> str:
    lines: list[str] = []
    async with cloud.ctx.db.sessions() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            lines.extend(f"{table.name}: {row!r}" for row in rows)
    return "\n".join(lines)


def key_material(settings: CloudSettings) -> set[str]:
    assert settings.encryption_keys is not None
    assert settings.api_key_pepper is not None
    ring = settings.encryption_keys.get_secret_value()
    materials = {entry.split(":", 1)[1] for entry in ring.split(",")}
    return materials | {settings.api_key_pepper.get_secret_value()}


async def journey(cloud: Cloud, recorder: Recorder) -> dict[str, set[str]]:
    """The scripted journey; returns the secrets it handled, by kind."""
    token = csrf_of((await page(cloud, "/signup")).text)
    signed_up = await submit(cloud, "/signup", {"email": EMAIL, "password": PASSWORD}, token=token)
    assert signed_up.status_code == 303, signed_up.text
    cookies = {cookie.value for cookie in cloud.client.cookies.jar if cookie.value}
    csrf = csrf_of((await page(cloud, "/dashboard")).text)

    start = await submit(cloud, "/connect/whoop")
    authorize = start.headers["location"]
    async with httpx2.AsyncClient(transport=cloud.sandbox.transport()) as at_whoop:
        approved = await at_whoop.get(authorize)
    callback = approved.headers["location"]
    query = parse_qs(urlsplit(callback).query)
    code, state = query["code"][0], query["state"][0]
    back = await cloud.client.get(callback, headers={"Sec-Fetch-Site": "cross-site"})
    assert back.status_code == 303

    recorder.expect_key_once = True
    created = await submit(cloud, "/keys", {"name": "Claude"})
    assert created.status_code == 303
    found = KEY_PATTERN.search((await page(cloud, "/dashboard")).text)
    assert found is not None
    key = found.group(0)
    auth = {"Authorization": f"Bearer {key}"}

    for kind in ("summary", "sleep", "recovery", "workout", "cycle", "profile"):
        response = await cloud.client.get(f"/api/v1/health?type={kind}&days=7", headers=auth)
        assert response.status_code == 200, response.text
    for path in ("sleep", "recovery", "workouts", "cycles", "summary"):
        response = await cloud.client.get(
            f"/api/v1/{path}?start=2026-11-10&end=2026-11-20", headers=auth
        )
        assert response.status_code == 200, response.text
    assert (await cloud.client.get("/api/v1/usage", headers=auth)).status_code == 200
    # Mistakes: a wrong secret, a key in the URL, a malformed key.
    wrong = key[:-8] + "AAAAAAAA"
    assert (
        await cloud.client.get("/api/v1/profile", headers={"Authorization": f"Bearer {wrong}"})
    ).status_code == 401
    assert (await cloud.client.get(f"/api/v1/profile?api_key={key}")).status_code == 401
    assert (
        await cloud.client.get("/api/v1/profile", headers={"X-API-Key": "wp_live_nonsense"})
    ).status_code == 401

    transport = httpx2.ASGITransport(app=cloud.app)
    async with (
        httpx2.AsyncClient(
            transport=transport,
            headers=auth,
            base_url=PUBLIC_URL,
            event_hooks={"response": [recorder]},
        ) as http,
        Client(
            streamable_http_client(PUBLIC_URL + "/api/mcp", http_client=http), mode="legacy"
        ) as client,
    ):
        await client.list_tools()
        for tool in TOOLS:
            arguments: dict[str, Any] = {}
            if tool.name == "get-range":
                arguments = {"kind": "sleep", "start": "2026-11-14", "end": "2026-11-20"}
            elif tool.name == "get-record":
                arguments = {"kind": "sleep", "id": "00000000-0000-0000-0000-000000000000"}
            await client.call_tool(tool.name, arguments)
        # A refresh: the access token expires, the next call rotates the pair.
        cloud.clock.advance(2 * 3600)
        refreshed = await client.call_tool("get-profile", {})
        assert not refreshed.is_error
        # A dead grant: WHOOP revokes, the next call says to reconnect.
        grants: Any = cloud.sandbox.auth
        for issued in list(grants._access.values()):
            issued.grant.revoked = True
        cloud.clock.advance(2 * 3600)
        dead = await client.call_tool("get-profile", {})
        assert dead.is_error

    assistant = await connect_an_assistant(cloud)

    recorder.tables_before_deletion = await dump_tables(cloud)
    exported = await submit(cloud, "/account/export")
    assert exported.status_code == 200
    deleted = await submit(cloud, "/account/delete", {"confirm": EMAIL})
    assert deleted.status_code == 303

    return {
        "password": {PASSWORD},
        "session cookie": cookies,
        "csrf token": {csrf},
        "api key": {key, key.rsplit("_", 1)[1]},
        "authorization code": {code},
        # The state goes to the browser in the redirect to WHOOP (by design), never elsewhere.
        "oauth state": {state},
        "whoop client secret": {CLIENT_SECRET},
        **assistant,
    }


async def connect_an_assistant(cloud: Cloud) -> dict[str, set[str]]:
    """Register a confidential client, allow it, call a tool, refresh, revoke, fail once."""
    registered = await cloud.client.post(
        "/register",
        json={
            "client_name": "Claude",
            "redirect_uris": [CLAUDE],
            "token_endpoint_auth_method": "client_secret_post",
        },
    )
    assert registered.status_code == 201, registered.text
    client = registered.json()
    creds = {"client_id": client["client_id"], "client_secret": client["client_secret"]}
    verifier, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": CLAUDE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "s",
        "resource": RESOURCE,
    }
    started = await cloud.client.get("/authorize", params=params)
    consent = await page(cloud, started.headers["location"])
    handle = re.search(r'name="request" value="([^"]+)"', consent.text)
    assert handle is not None
    allowed = await submit(
        cloud, "/authorize/consent", {"request": handle.group(1), "decision": "allow"}
    )
    code = query_of(allowed.headers["location"])["code"]
    wrong = await cloud.client.post(
        "/token",
        data={
            **creds,
            "grant_type": "authorization_code",
            "code": code + "x",
            "code_verifier": verifier,
            "redirect_uri": CLAUDE,
        },
    )
    assert wrong.status_code == 400
    tokens = (
        await cloud.client.post(
            "/token",
            data={
                **creds,
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": verifier,
                "redirect_uri": CLAUDE,
                "resource": RESOURCE,
            },
        )
    ).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}", **JSON_RPC}
    listed = await cloud.client.post("/api/mcp", json=LIST, headers=bearer)
    assert listed.status_code == 200, listed.text
    renewed = (
        await cloud.client.post(
            "/token",
            data={**creds, "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        )
    ).json()
    reused = await cloud.client.post(
        "/token",
        data={**creds, "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert reused.status_code == 400
    refused = await cloud.client.post("/api/mcp", json=LIST, headers=bearer)
    assert refused.status_code == 401
    return {
        "assistant client secret": {client["client_secret"]},
        "assistant authorization code": {code},
        "pkce verifier": {verifier},
        "assistant access tokens": {tokens["access_token"], renewed["access_token"]},
        "assistant refresh tokens": {tokens["refresh_token"], renewed["refresh_token"]},
    }


async def test_no_secret_reaches_logs_responses_or_tables(
    cloud: Cloud, recorded: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    handled = await journey(cloud, recorded)
    handled["sandbox tokens and codes"] = issued_by_sandbox(cloud)
    handled["key ring and pepper"] = key_material(cloud.ctx.settings)
    assert all(handled.values()), {k: len(v) for k, v in handled.items()}

    logs = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    responses = "\n".join(recorded.seen)
    tables = recorded.tables_before_deletion + "\n" + await dump_tables(cloud)
    assert "connections:" in tables  # the dump saw the stored (encrypted) tokens
    places = {"logs": logs, "responses": responses, "tables": tables}

    # Where a value must appear, by design: the CSRF token in forms and in its session row
    # (a synchronizer token, useless without the session cookie, which is stored hashed);
    # the state in the redirect to WHOOP's consent page.
    # An assistant's client secret, code and tokens reach it in the answers made for that
    # (registration, the redirect back, the token responses), never a log or a table.
    by_design = {
        ("csrf token", "responses"),
        ("csrf token", "tables"),
        ("oauth state", "responses"),
        ("assistant client secret", "responses"),
        ("assistant authorization code", "responses"),
        ("assistant access tokens", "responses"),
        ("assistant refresh tokens", "responses"),
    }
    leaks = [
        (kind, where)
        for kind, values in handled.items()
        for value in values
        for where, text in places.items()
        if len(value) >= 8 and value in text and (kind, where) not in by_design
    ]
    assert leaks == []
    assert EMAIL not in logs  # no email addresses in logs (user ids instead)
    assert len(caplog.records) > 0  # the scan looked at something


async def test_no_health_data_is_written_to_the_database(cloud: Cloud, recorded: Recorder) -> None:
    tenant = await new_tenant(cloud)
    for kind in ("summary", "sleep", "recovery", "workout", "cycle", "profile"):
        response = await cloud.client.get(
            f"/api/v1/health?type={kind}&days=14", headers=tenant.auth
        )
        assert response.status_code == 200
    assert tenant.member is not None
    member = cloud.sandbox.member(tenant.member)
    served = "\n".join(recorded.seen)
    tables = await dump_tables(cloud)
    sentinels = {str(member.profile["email"]), str(member.profile["last_name"])}
    sentinels |= {str(r.body["id"]) for r in member.sleeps[:5]}
    assert [s for s in sentinels if s not in served] == []  # they were served...
    assert [s for s in sentinels if s in tables] == []  # ...and never stored
