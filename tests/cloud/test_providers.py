"""WHOOP, Oura and Fitbit (Google Health) in the cloud, each through its own sandbox.

Connect (Oura with a scope unticked, Fitbit with PKCE checked by the sandbox), account
deletion revoking all three grants, the REST ``provider`` filter and the merged, labelled
summary, and the MCP endpoint reading every connected provider.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx2
import pytest
from sqlalchemy import select

from tests.cloud.conftest import FITBIT, OURA, PUBLIC_URL, Cloud, Trio
from tests.cloud.data_support import CLIENT_ID
from tests.cloud.limits_support import add_user
from tests.cloud.test_mcp_endpoint import mcp_client
from tests.conftest import ORIGIN
from wellpipe.cloud.db.tables import OAuthState
from wellpipe.cloud.services.accounts import create_user
from wellpipe.cloud.services.connect import begin_connect, complete_connect
from wellpipe.cloud.services.deletion import delete_account
from wellpipe.cloud.services.keys import create_key
from wellpipe.cloud.services.sessions import SessionInfo, open_session, resolve_session
from wellpipe.cloud.services.tokens import (
    DatabaseTokenProvider,
    connection_status,
    read_access_token,
    save_connection,
)
from wellpipe.cloud.settings import CloudSettings


async def signed_in(cloud: Cloud, email: str) -> SessionInfo:
    user = await create_user(cloud.ctx, email=email, password="correct horse battery staple")
    cookie, _ = await open_session(cloud.ctx, user.id)
    info = await resolve_session(cloud.ctx, cookie)
    assert info is not None
    return info


async def consent(app: Any, url: str, provider: str) -> dict[str, str]:
    """The member approves at the provider's sandbox; the query it sends back to us."""
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app)) as http:
        reply = await http.get(url)
    assert reply.status_code in {302, 303}, reply.text
    location = urlsplit(reply.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        f"{PUBLIC_URL}/callback/{provider}"
    )
    return dict(parse_qsl(location.query))


async def connect_all(trio: Trio, user_id: str) -> None:
    """Store a grant at each of the three sandboxes for ``user_id``."""
    ctx = trio.cloud.ctx
    grants = {
        "whoop": trio.whoop.issue_token_set(client_id=CLIENT_ID),
        "oura": trio.oura.issue_token_set(client_id="cloud-client"),
        "fitbit": trio.fitbit.issue_token_set(client_id="cloud-client"),
    }
    for provider, tokens in grants.items():
        await save_connection(
            ctx, user_id=user_id, provider=provider, tokens=tokens, provider_user_id=None
        )


# ------------------------------------------------------------------ connect
async def test_oura_connects_and_names_the_unticked_scope_and_missing_data(trio: Trio) -> None:
    cloud = trio.cloud
    me = await signed_in(cloud, "ring@example.com")
    trio.oura.auth.controls.drop_scopes = frozenset({"heartrate"})

    url = await begin_connect(cloud.ctx, session=me, provider="oura")
    assert url.startswith(f"{OURA}/oauth/authorize?")
    params = await consent(trio.oura, url, "oura")
    outcome = await complete_connect(cloud.ctx, session=me, provider="oura", params=params)

    assert outcome.ok, outcome.sentence
    assert "did not grant heartrate" in outcome.sentence
    assert "connect Oura again" in outcome.sentence
    [connection] = await connection_status(cloud.ctx, me.user_id)
    assert connection.provider == "oura"
    assert "heartrate" not in connection.scopes
    assert "daily" in connection.scopes

    page = await dashboard(cloud, me)
    assert "Not granted" in page
    assert page.split('data-testid="missing-oura"')[1].split("</dd>")[0] == ">Heart rate"


async def dashboard(cloud: Cloud, me: SessionInfo) -> str:
    from wellpipe.cloud.services import sessions

    cookie, _ = await sessions.open_session(cloud.ctx, me.user_id)
    name = sessions.COOKIE_NAME(cloud.ctx.settings)
    cloud.client.cookies.set(name, cookie)
    try:
        response = await cloud.client.get("/dashboard")
    finally:
        cloud.client.cookies.clear()
    assert response.status_code == 200
    return response.text


async def test_fitbit_connects_with_pkce_the_sandbox_checks(trio: Trio) -> None:
    cloud = trio.cloud
    me = await signed_in(cloud, "google@example.com")

    url = await begin_connect(cloud.ctx, session=me, provider="fitbit")
    query = dict(parse_qsl(urlsplit(url).query))
    assert url.startswith(f"{FITBIT}/o/oauth2/v2/auth?")
    assert query["code_challenge_method"] == "S256"
    assert (query["access_type"], query["prompt"]) == ("offline", "consent")
    async with cloud.ctx.db.sessions() as session:
        row = await session.scalar(select(OAuthState))
    assert row is not None
    assert row.sealed_verifier is not None
    assert row.code_verifier is None  # never in the clear
    assert query["code_challenge"].encode() not in row.sealed_verifier

    params = await consent(trio.fitbit, url, "fitbit")
    outcome = await complete_connect(cloud.ctx, session=me, provider="fitbit", params=params)

    assert outcome.ok, outcome.sentence
    assert outcome.sentence == "Fitbit (Google Health) is connected."
    [token_call] = [r for r in trio.fitbit.requests if r.path == "/token"]
    assert token_call.status == 200  # the sandbox checked the verifier against the challenge
    token = await read_access_token(cloud.ctx, user_id=me.user_id, provider="fitbit")
    assert token is not None
    assert trio.fitbit.auth.resolve(token)[0] is not None


async def test_a_wrong_verifier_is_refused_by_the_provider(trio: Trio) -> None:
    cloud = trio.cloud
    me = await signed_in(cloud, "tamper@example.com")
    url = await begin_connect(cloud.ctx, session=me, provider="fitbit")
    params = await consent(trio.fitbit, url, "fitbit")
    other = await begin_connect(cloud.ctx, session=me, provider="fitbit")  # another verifier
    digest = hashlib.sha256(params["state"].encode()).hexdigest()
    other_digest = hashlib.sha256(dict(parse_qsl(urlsplit(other).query))["state"].encode())
    async with cloud.ctx.db.transaction() as session:
        mine = await session.get(OAuthState, digest)
        theirs = await session.get(OAuthState, other_digest.hexdigest())
        assert mine is not None
        assert theirs is not None
        mine.sealed_verifier = theirs.sealed_verifier  # bound to another state: unreadable

    outcome = await complete_connect(cloud.ctx, session=me, provider="fitbit", params=params)

    assert not outcome.ok
    assert "start connecting Fitbit (Google Health) again" in outcome.sentence
    assert not [r for r in trio.fitbit.requests if r.path == "/token"]
    assert await connection_status(cloud.ctx, me.user_id) == []


# ------------------------------------------------------------------ deletion
async def test_deleting_an_account_revokes_all_three_grants(trio: Trio) -> None:
    cloud = trio.cloud
    user_id = await add_user(cloud.ctx)
    await connect_all(trio, user_id)
    tokens = {
        provider: await read_access_token(cloud.ctx, user_id=user_id, provider=provider)
        for provider in ("whoop", "oura", "fitbit")
    }

    report = await delete_account(cloud.ctx, user_id=user_id)

    assert sorted(report.revoked) == ["fitbit", "oura", "whoop"]
    assert report.pending == []
    assert trio.whoop.auth.resolve(tokens["whoop"] or "") is None
    assert trio.oura.auth.resolve(tokens["oura"] or "") is None
    assert trio.fitbit.auth.resolve(tokens["fitbit"] or "")[0] is None


async def test_disconnecting_one_provider_revokes_only_its_grant(trio: Trio) -> None:
    from wellpipe.cloud.services.connect import disconnect

    cloud = trio.cloud
    user_id = await add_user(cloud.ctx)
    await connect_all(trio, user_id)
    oura_token = await read_access_token(cloud.ctx, user_id=user_id, provider="oura")
    whoop_token = await read_access_token(cloud.ctx, user_id=user_id, provider="whoop")

    outcome = await disconnect(cloud.ctx, user_id=user_id, provider="oura")

    assert outcome.ok
    assert "Oura is disconnected and its access revoked" in outcome.sentence
    assert trio.oura.auth.resolve(oura_token or "") is None
    assert trio.whoop.auth.resolve(whoop_token or "") is not None
    left = sorted(info.provider for info in await connection_status(cloud.ctx, user_id))
    assert left == ["fitbit", "whoop"]


# ------------------------------------------------------------------ REST
async def key_for(trio: Trio) -> dict[str, str]:
    user_id = await add_user(trio.cloud.ctx)
    await connect_all(trio, user_id)
    created = await create_key(trio.cloud.ctx, user_id=user_id, name="tests")
    return {"Authorization": f"Bearer {created.full_key}"}


async def test_rest_merges_every_provider_into_one_labelled_summary(trio: Trio) -> None:
    auth = await key_for(trio)
    response = await trio.cloud.client.get(
        "/api/v1/summary?start=2026-11-08&end=2026-11-14", headers=auth
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["provider"] == "all"
    assert body["sources"] == ["fitbit", "oura", "whoop"]
    by_day: dict[str, set[str]] = {}
    for row in body["records"]:
        by_day.setdefault(row["day"], set()).add(row["source"])
        if row["source"] == "whoop":
            assert "readiness_score_pct" not in row
        if row["source"] == "oura":
            assert "recovery_score_pct" not in row
    assert len(by_day) == 7
    assert all(sources == {"fitbit", "oura", "whoop"} for sources in by_day.values()), by_day
    rows = body["records"]
    assert any("readiness_score_pct" in row for row in rows if row["source"] == "oura")
    assert any("recovery_score_pct" in row for row in rows if row["source"] == "whoop")

    full = await trio.cloud.client.get(
        "/api/v1/summary?start=2026-11-08&end=2026-11-14&detail=full", headers=auth
    )
    days = full.json()["days"]
    assert [(d["day"], d["provider"]) for d in days] == [(r["day"], r["source"]) for r in rows]
    assert all(d["readiness"] is None for d in days if d["provider"] == "whoop")


async def test_rest_provider_filter_reads_just_that_one(trio: Trio) -> None:
    auth = await key_for(trio)
    client = trio.cloud.client
    url = "/api/v1/sleep?start=2026-11-08&end=2026-11-14"

    merged = (await client.get(url, headers=auth)).json()
    only_oura = (await client.get(url + "&provider=oura", headers=auth)).json()

    assert {r["source"] for r in merged["records"]} == {"fitbit", "oura", "whoop"}
    assert [r["day"] for r in merged["records"]] == sorted(r["day"] for r in merged["records"])
    assert only_oura["provider"] == "oura"
    assert only_oura["sources"] == ["oura"]
    assert only_oura["count"] > 0
    assert all("source" not in r for r in only_oura["records"])  # one provider: no label
    full = (await client.get(url + "&provider=oura&detail=full", headers=auth)).json()
    assert {r["provider"] for r in full["records"]} == {"oura"}
    assert [r["source_id"] for r in full["records"]] == [r["id"] for r in only_oura["records"]]
    readiness = await client.get("/api/v1/health?type=readiness&days=7", headers=auth)
    assert readiness.status_code == 200, readiness.text
    assert readiness.json()["sources"] == ["oura"]  # only Oura offers readiness
    unknown = await client.get(url + "&provider=garmin", headers=auth)
    assert unknown.status_code == 422
    assert "whoop" in unknown.json()["detail"]


# ------------------------------------------------------------------ MCP
async def test_mcp_reads_every_connected_provider_or_the_named_one(trio: Trio) -> None:
    auth = await key_for(trio)
    async with mcp_client(trio.cloud, auth, "legacy") as client:
        merged = await client.call_tool("get-recent-sleep", {"days": 7})
        named = await client.call_tool("get-recent-sleep", {"days": 7, "provider": "fitbit"})

    assert merged.is_error is False, merged.content
    answer: dict[str, Any] = merged.structured_content
    sources = {row[answer["columns"].index("source")] for row in answer["rows"]}
    assert sources == {"fitbit", "oura", "whoop"}
    assert named.is_error is False, named.content
    only: dict[str, Any] = named.structured_content
    assert "source" not in only["columns"] or {
        row[only["columns"].index("source")] for row in only["rows"]
    } == {"fitbit"}


async def test_mcp_answers_from_the_others_and_says_which_grant_to_renew(trio: Trio) -> None:
    user_id = await add_user(trio.cloud.ctx)
    await connect_all(trio, user_id)
    dead = DatabaseTokenProvider(trio.cloud.ctx, user_id=user_id, provider="oura")
    await dead.mark_reauthorization_required("the provider refused the refresh token")
    created = await create_key(trio.cloud.ctx, user_id=user_id, name="tests")
    auth = {"Authorization": f"Bearer {created.full_key}"}
    async with mcp_client(trio.cloud, auth, "legacy") as client:
        merged = await client.call_tool("get-recent-sleep", {"days": 7})

    assert merged.is_error is False, merged.content
    answer: dict[str, Any] = merged.structured_content
    sources = {row[answer["columns"].index("source")] for row in answer["rows"]}
    assert sources == {"fitbit", "whoop"}
    assert any("Oura" in note and "reconnect Oura" in note for note in answer["notes"])
    text = getattr(merged.content[0], "text", "")
    assert "reconnect Oura" in text


# ------------------------------------------------------------------ settings
def test_each_provider_without_a_developer_app_uses_its_sandbox(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from wellpipe.cloud.settings import SANDBOX_CLIENT

    monkeypatch.setenv("WELLPIPE_OURA_CLIENT_ID", "real-oura")
    monkeypatch.setenv("WELLPIPE_OURA_CLIENT_SECRET", "real-secret")
    monkeypatch.delenv("WELLPIPE_FITBIT_CLIENT_ID", raising=False)
    monkeypatch.delenv("WELLPIPE_WHOOP_CLIENT_ID", raising=False)
    settings = CloudSettings(home=tmp_path)

    assert not settings.uses_sandbox("oura")
    assert settings.credentials_for("oura") == ("real-oura", "real-secret")
    assert settings.uses_sandbox("fitbit")
    assert settings.credentials_for("fitbit") == SANDBOX_CLIENT
    assert settings.uses_sandbox("whoop")
    forced = CloudSettings(home=tmp_path, sandbox=True)
    assert forced.credentials_for("oura") == SANDBOX_CLIENT
    off = CloudSettings(home=tmp_path, sandbox=False)
    assert off.credentials_for("fitbit") is None


def test_sandbox_origins_reach_the_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from wellpipe.cloud.app import create_app

    monkeypatch.setenv("WELLPIPE_SANDBOX_ORIGINS", '{"oura": "http://127.0.0.1:9999"}')
    settings = CloudSettings(home=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    app = create_app(settings, provider_base_urls={"whoop": ORIGIN}, migrate=False)
    assert app.state.ctx.provider_base_urls == {
        "oura": "http://127.0.0.1:9999",
        "whoop": ORIGIN,
    }
