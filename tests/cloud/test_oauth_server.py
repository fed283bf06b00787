"""The authorization server over real HTTP: discovery, registration, consent, tokens, refusals.

A `Connector` plays Claude (or ChatGPT) and a signed-up person's cookie jar plays the
browser; the service runs under uvicorn on a loopback port, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from sqlalchemy import func, select

from tests.cloud.conftest import PUBLIC_URL
from tests.cloud.oauth_support import (
    CHATGPT,
    CLAUDE,
    RESOURCE,
    TOOLS_LIST,
    Connector,
    DocumentHandler,
    browser,
    document_server,
    mcp_post,
    pkce,
    query_of,
)
from tests.cloud.served_support import Served, csrf_of, served
from tests.fakes import FakeClock
from wellpipe.cloud.app import create_app
from wellpipe.cloud.db.tables import AuthorizationCode, OAuthClient, OAuthToken
from wellpipe.cloud.security import api_keys
from wellpipe.cloud.services import accounts, authorization
from wellpipe.cloud.settings import CloudSettings
from wellpipe.sandbox import WhoopSandbox

pytestmark = pytest.mark.timeout(120)

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
"""For protocol checks that store nothing the two databases could treat differently."""


@pytest.fixture(autouse=True)
def _cheap_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_keys, "BCRYPT_ROUNDS", 4)


@pytest.fixture
async def service(
    cloud_settings: CloudSettings,
    clock: FakeClock,
    sandbox: WhoopSandbox,
    whoop_app_credentials: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[Served]:
    async with served(cloud_settings, clock, sandbox, caplog) as started:
        yield started


@pytest.fixture
async def person(service: Served) -> AsyncIterator[httpx2.AsyncClient]:
    """Ada's browser, signed up and signed in."""
    signed_in = await browser(service, "ada@example.com")
    try:
        yield signed_in
    finally:
        await signed_in.aclose()


# ---------------------------------------------------------------------- discovery
@SQLITE_ONLY
async def test_an_unauthenticated_mcp_request_points_to_the_metadata(service: Served) -> None:
    async with service.client() as http:
        for path in ("/api/mcp", "/mcp"):
            refused = await http.post(path, json=TOOLS_LIST)
            assert refused.status_code == 401
            challenge = refused.headers["www-authenticate"]
            assert challenge.startswith("Bearer ")
            url = f"{PUBLIC_URL}/.well-known/oauth-protected-resource{path}"
            assert f'resource_metadata="{url}"' in challenge
            assert 'scope="health:read"' in challenge

            prm = await http.get(f"/.well-known/oauth-protected-resource{path}")
            assert prm.status_code == 200
            assert prm.json()["resource"] == PUBLIC_URL + path
            assert prm.json()["authorization_servers"] == [PUBLIC_URL]

        root = await http.get("/.well-known/oauth-protected-resource")
        assert root.json()["resource"] == RESOURCE

        metadata = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["issuer"] == PUBLIC_URL
    assert metadata["authorization_endpoint"] == PUBLIC_URL + "/authorize"
    assert metadata["token_endpoint"] == PUBLIC_URL + "/token"
    assert metadata["registration_endpoint"] == PUBLIC_URL + "/register"
    assert metadata["revocation_endpoint"] == PUBLIC_URL + "/revoke"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "none",
        "client_secret_basic",
        "client_secret_post",
    }
    assert metadata["client_id_metadata_document_supported"] is True
    assert metadata["authorization_response_iss_parameter_supported"] is True


# ---------------------------------------------------------------------- the happy path
@pytest.mark.parametrize("method", ["none", "client_secret_basic", "client_secret_post"])
async def test_connect_call_refresh_revoke(
    service: Served, person: httpx2.AsyncClient, method: str
) -> None:
    connector = Connector(service, method=method)
    tokens = await connector.connect(person)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == "health:read"
    access, refresh = tokens["access_token"], tokens["refresh_token"]

    listed = await mcp_post(service, access, TOOLS_LIST)
    assert listed.status_code == 200, listed.text
    assert "get-daily-summary" in listed.text

    renewed = await connector.refresh(refresh)
    assert renewed.status_code == 200, renewed.text
    fresh = renewed.json()
    assert fresh["refresh_token"] != refresh
    assert (await mcp_post(service, fresh["access_token"], TOOLS_LIST)).status_code == 200

    assert (await connector.revoke(fresh["refresh_token"])).status_code == 200
    assert (await mcp_post(service, fresh["access_token"], TOOLS_LIST)).status_code == 401
    assert (await connector.refresh(fresh["refresh_token"])).status_code == 400


async def test_the_redirect_carries_state_and_iss(
    service: Served, person: httpx2.AsyncClient
) -> None:
    connector = Connector(service)
    await connector.register()
    _, challenge = pkce()
    answer = await connector.allow(person, challenge)
    assert answer["state"] == "state-123"
    assert answer["iss"] == PUBLIC_URL
    assert answer["code"].startswith("wpac_")

    denied = await connector.allow(person, challenge, decision="deny")
    assert denied == {
        "error": "access_denied",
        "error_description": "The person declined.",
        "state": "state-123",
        "iss": PUBLIC_URL,
    }


@SQLITE_ONLY
async def test_a_signed_out_person_signs_in_and_comes_back_to_consent(
    service: Served, person: httpx2.AsyncClient
) -> None:
    """Ada (signed up in another browser) starts in a fresh one."""
    connector = Connector(service)
    await connector.register()
    _, challenge = pkce()
    async with service.client("127.0.0.9") as person:
        started = await connector.authorize(person, challenge)
        consent = started.headers["location"]
        assert consent.startswith("/authorize/consent?request=")
        bounced = await person.get(consent)
        assert bounced.status_code == 303
        assert bounced.headers["location"] == "/signin"
        page = await person.get("/signin")
        assert "Sign in to Wellpipe to let Claude read your data." in page.text
        signed_in = await person.post(
            "/signin",
            data={
                "csrf_token": csrf_of(page.text),
                "email": "ada@example.com",
                "password": "correct horse battery staple",
            },
        )
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == consent
        shown = await person.get(consent)
        assert shown.status_code == 200
        assert "Allow" in shown.text
        assert "claude.ai" in shown.text
        assert shown.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in shown.headers["content-security-policy"]


# ---------------------------------------------------------------------- refusals
@SQLITE_ONLY
async def test_authorization_requests_without_s256_pkce_are_refused(
    service: Served, person: httpx2.AsyncClient
) -> None:
    connector = Connector(service)
    await connector.register()
    verifier, challenge = pkce()
    cases: list[dict[str, Any]] = [
        {"code_challenge": None},
        {"code_challenge_method": "plain", "code_challenge": verifier},
        {"code_challenge_method": None},
        {"response_type": "token"},
        {"scope": "write:everything"},
        {"resource": "https://elsewhere.example/api/mcp"},
    ]
    for overrides in cases:
        refused = await connector.authorize(person, challenge, **overrides)
        assert refused.status_code == 302, (overrides, refused.text)
        answer = query_of(refused.headers["location"])
        assert answer["error"] in {
            "invalid_request",
            "unsupported_response_type",
            "invalid_scope",
            "invalid_target",
        }, answer
        assert answer["state"] == "state-123"
        assert answer["iss"] == PUBLIC_URL


@SQLITE_ONLY
async def test_unregistered_redirect_uris_are_never_redirected_to(
    service: Served, person: httpx2.AsyncClient
) -> None:
    connector = Connector(service)
    await connector.register()
    _, challenge = pkce()
    for wrong in (
        CLAUDE + "/",  # a trailing slash
        "https://claude.ai:8443/api/mcp/auth_callback",  # another port, not loopback
        "https://evil.example/api/mcp/auth_callback",
        CHATGPT,
    ):
        refused = await connector.authorize(person, challenge, redirect_uri=wrong)
        assert refused.status_code == 400, wrong
        assert "location" not in refused.headers
        assert "nothing was shared" in refused.text.lower()


@SQLITE_ONLY
async def test_loopback_redirects_may_use_any_port(
    service: Served, person: httpx2.AsyncClient
) -> None:
    connector = Connector(service, redirect_uri="http://127.0.0.1:33418/callback")
    await connector.register()
    verifier, challenge = pkce()
    connector.redirect_uri = "http://127.0.0.1:51999/callback"
    answer = await connector.allow(person, challenge)
    assert (await connector.exchange(answer["code"], verifier)).status_code == 200
    connector.redirect_uri = "http://127.0.0.1:51999/other"
    refused = await connector.authorize(person, challenge)
    assert refused.status_code == 400


async def test_codes_are_single_use_bound_and_short_lived(
    service: Served, person: httpx2.AsyncClient, clock: FakeClock
) -> None:
    connector = Connector(service)
    await connector.register()

    verifier, challenge = pkce()
    code = (await connector.allow(person, challenge))["code"]
    wrong = await connector.exchange(code, pkce()[0])
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    # A failed attempt spent the code too.
    assert (await connector.exchange(code, verifier)).json()["error"] == "invalid_grant"

    verifier, challenge = pkce()
    code = (await connector.allow(person, challenge))["code"]
    first = await connector.exchange(code, verifier)
    assert first.status_code == 200
    replay = await connector.exchange(code, verifier)
    assert replay.json()["error"] == "invalid_grant"
    # The replay revoked what the code had granted.
    assert (await mcp_post(service, first.json()["access_token"], TOOLS_LIST)).status_code == 401

    verifier, challenge = pkce()
    code = (await connector.allow(person, challenge))["code"]
    other = await connector.exchange(code, verifier, resource=PUBLIC_URL + "/mcp")
    assert other.json()["error"] == "invalid_target"

    verifier, challenge = pkce()
    code = (await connector.allow(person, challenge))["code"]
    clock.advance(120)
    assert (await connector.exchange(code, verifier)).json()["error"] == "invalid_grant"


async def test_a_token_works_only_at_its_resource(
    service: Served, person: httpx2.AsyncClient
) -> None:
    connector = Connector(service)
    tokens = await connector.connect(person)
    access = tokens["access_token"]
    assert (await mcp_post(service, access, TOOLS_LIST, path="/api/mcp")).status_code == 200
    elsewhere = await mcp_post(service, access, TOOLS_LIST, path="/mcp")
    assert elsewhere.status_code == 401
    assert 'error="invalid_token"' in elsewhere.headers["www-authenticate"]
    async with service.client() as http:
        rest = await http.get(
            "/api/v1/health",
            params={"type": "summary"},
            headers={"Authorization": f"Bearer {access}"},
        )
    assert rest.status_code == 401


async def test_a_spent_refresh_token_revokes_the_whole_grant(
    service: Served, person: httpx2.AsyncClient
) -> None:
    connector = Connector(service)
    tokens = await connector.connect(person)
    renewed = (await connector.refresh(tokens["refresh_token"])).json()
    stolen = await connector.refresh(tokens["refresh_token"])
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    assert (await mcp_post(service, renewed["access_token"], TOOLS_LIST)).status_code == 401
    assert (await connector.refresh(renewed["refresh_token"])).status_code == 400


async def test_unknown_or_wrongly_authenticated_clients_get_invalid_client(
    service: Served,
) -> None:
    connector = Connector(service, method="client_secret_basic")
    await connector.register()
    connector.client_secret = "wpcs_wrong"
    refused = await connector.token(grant_type="refresh_token", refresh_token="x")
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"

    stranger = Connector(service, client_id="never-registered")
    refused = await stranger.token(grant_type="refresh_token", refresh_token="x")
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"


@SQLITE_ONLY
async def test_registration_validates_redirect_uris_and_is_capped_per_source(
    service: Served,
) -> None:
    for bad in (
        "http://evil.example/callback",
        "javascript:alert(1)",
        "https://claude.ai/cb#fragment",
        "data:text/html,hi",
    ):
        refused = await Connector(service, redirect_uri=bad).register()
        assert refused.status_code == 400, bad
        assert refused.json()["error"] in {"invalid_redirect_uri", "invalid_client_metadata"}

    flood = Connector(service, address="127.0.0.77")
    for _ in range(20):
        assert (await flood.register()).status_code == 201
    stopped = await flood.register()
    assert stopped.status_code == 429
    assert stopped.headers["retry-after"] == "3600"
    # Another address is not affected.
    assert (await Connector(service, address="127.0.0.78").register()).status_code == 201


async def test_clients_that_never_complete_a_grant_expire(
    service: Served, person: httpx2.AsyncClient, clock: FakeClock
) -> None:
    idle = Connector(service)
    await idle.register()
    used = Connector(service)
    await used.connect(person)
    clock.advance(25 * 3600)
    _, challenge = pkce()
    gone = await idle.authorize(person, challenge)
    assert gone.status_code == 400
    verifier, challenge = pkce()
    answer = await used.allow(person, challenge)
    assert (await used.exchange(answer["code"], verifier)).status_code == 200


@SQLITE_ONLY
async def test_client_names_are_untrusted_text(service: Served, person: httpx2.AsyncClient) -> None:
    connector = Connector(service)
    await connector.register(
        client_name='<img src="https://evil.example/x.png">\u202eClaude\x00',
        logo_uri="https://evil.example/logo.png",
    )
    _, challenge = pkce()
    started = await connector.authorize(person, challenge)
    page = await person.get(started.headers["location"])
    assert "<img" not in page.text
    assert "&lt;img" in page.text
    assert "evil.example/logo.png" not in page.text
    assert "\u202e" not in page.text


async def test_deleting_the_account_revokes_every_assistant(
    service: Served, person: httpx2.AsyncClient
) -> None:
    claude = await Connector(service).connect(person)
    chatgpt = await Connector(service, redirect_uri=CHATGPT).connect(person)
    dashboard = await person.get("/dashboard")
    deleted = await person.post(
        "/account/delete",
        data={"csrf_token": csrf_of(dashboard.text), "confirm": "ada@example.com"},
    )
    assert deleted.status_code == 303
    for tokens in (claude, chatgpt):
        assert (await mcp_post(service, tokens["access_token"], TOOLS_LIST)).status_code == 401


async def test_expired_tokens_codes_and_unused_registrations_are_forgotten(
    service: Served, person: httpx2.AsyncClient, clock: FakeClock
) -> None:
    ctx = service.cloud.ctx
    await Connector(service).register()  # never used
    connector = Connector(service)
    tokens = await connector.connect(person)
    renewed = (await connector.refresh(tokens["refresh_token"])).json()

    async def rows() -> dict[str, int]:
        counts: dict[str, int] = {}
        async with ctx.db.sessions() as session:
            for table in (OAuthClient, OAuthToken, AuthorizationCode):
                found = await session.scalar(select(func.count()).select_from(table))
                counts[table.__tablename__] = int(found or 0)
        return counts

    before = await rows()
    assert before == {"oauth_clients": 2, "oauth_tokens": 4, "oauth_codes": 1}
    clock.advance(15 * 24 * 3600)  # past the access tokens and the spent refresh token
    await authorization.forget_expired(ctx)
    assert await rows() == {"oauth_clients": 1, "oauth_tokens": 1, "oauth_codes": 0}
    # The live refresh token still works.
    assert (await connector.refresh(renewed["refresh_token"])).status_code == 200


async def test_the_test_mode_approves_for_the_test_user_without_a_browser(
    cloud_settings: CloudSettings,
    clock: FakeClock,
    sandbox: WhoopSandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = cloud_settings.model_copy(
        update={"sandbox": True, "oauth_test_user": "conformance@example.com"}
    )
    async with served(settings, clock, sandbox, caplog) as test_service:
        connector = Connector(test_service, redirect_uri="http://127.0.0.1:3000/callback")
        await connector.register()
        verifier, challenge = pkce()
        async with test_service.client() as automated:
            approved = await connector.authorize(automated, challenge)
        assert approved.status_code == 302
        answer = query_of(approved.headers["location"])
        assert answer["iss"] == PUBLIC_URL
        tokens = await connector.exchange(answer["code"], verifier)
        assert tokens.status_code == 200
        [grant] = await authorization.list_grants(
            test_service.cloud.ctx,
            (await accounts.find_user(test_service.cloud.ctx, "conformance@example.com")).id,  # type: ignore[union-attr]
        )
        assert grant.client_name == "Claude"


@SQLITE_ONLY
def test_the_test_mode_refuses_to_run_with_a_real_provider(
    cloud_settings: CloudSettings, whoop_app_credentials: tuple[str, str]
) -> None:
    settings = cloud_settings.model_copy(update={"sandbox": None, "oauth_test_mode": True})
    with pytest.raises(ValueError, match="only runs with every provider on its sandbox"):
        create_app(settings)


@SQLITE_ONLY
async def test_client_metadata_documents_are_refused_when_unsafe_or_inconsistent(
    service: Served,
    person: httpx2.AsyncClient,
    cloud_settings: CloudSettings,
    clock: FakeClock,
    sandbox: WhoopSandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, challenge = pkce()
    # Production mode: an https client_id naming this machine or a private network is never
    # fetched, and the person is not sent anywhere.
    for url in (
        "https://127.0.0.1/client.json",
        "https://10.1.2.3/oauth/client.json",
        "https://[::1]/client.json",
        "https://169.254.169.254/latest/meta-data",
    ):
        connector = Connector(service, client_id=url)
        refused = await connector.authorize(person, challenge)
        assert refused.status_code == 400, url
        assert "location" not in refused.headers
        assert "nothing was shared" in refused.text.lower()

    # Test mode, a plain-http loopback document whose client_id is not its own URL.
    with document_server() as origin:
        url = f"{origin}/client.json"
        DocumentHandler.body = json.dumps(
            {
                "client_id": f"{origin}/other.json",
                "client_name": "Impostor",
                "redirect_uris": [CLAUDE],
            }
        ).encode()
        settings = cloud_settings.model_copy(update={"sandbox": True, "oauth_test_mode": True})
        async with served(settings, clock, sandbox, caplog) as testing:
            browser_in_test = await browser(testing, "bo@example.com")
            try:
                connector = Connector(testing, client_id=url)
                refused = await connector.authorize(browser_in_test, challenge)
                assert refused.status_code == 400
                assert "location" not in refused.headers
                assert DocumentHandler.fetched == 1
                DocumentHandler.body = json.dumps(
                    {"client_id": url, "client_name": "Real", "redirect_uris": [CLAUDE]}
                ).encode()
                started = await connector.authorize(browser_in_test, challenge)
                assert started.status_code == 303  # now it is consistent
            finally:
                await browser_in_test.aclose()


async def test_the_operator_can_revoke_a_client_and_all_its_grants(
    service: Served, person: httpx2.AsyncClient
) -> None:
    connector = Connector(service)
    tokens = await connector.connect(person)
    other = await Connector(service).connect(person)  # another client: untouched

    assert await authorization.revoke_client(service.cloud.ctx, connector.client_id) == 1
    assert (await mcp_post(service, tokens["access_token"], TOOLS_LIST)).status_code == 401
    refused = await connector.refresh(tokens["refresh_token"])
    assert refused.status_code == 401
    assert refused.json()["error"] == "invalid_client"
    _, challenge = pkce()
    assert (await connector.authorize(person, challenge)).status_code == 400
    assert (await mcp_post(service, other["access_token"], TOOLS_LIST)).status_code == 200

    # A metadata document's URL can be revoked before it is ever used.
    url = "https://assistant.example/oauth/client.json"
    assert await authorization.revoke_client(service.cloud.ctx, url) == 0
    blocked = await Connector(service, client_id=url).authorize(person, challenge)
    assert blocked.status_code == 400
    assert "operator revoked" in blocked.text


@SQLITE_ONLY
async def test_an_expired_request_sends_a_signed_in_person_to_the_dashboard(
    service: Served, person: httpx2.AsyncClient, clock: FakeClock
) -> None:
    connector = Connector(service)
    await connector.register()
    _, challenge = pkce()
    started = await connector.authorize(person, challenge)
    clock.advance(11 * 60)
    late = await person.get(started.headers["location"])
    assert late.status_code == 303
    assert late.headers["location"] == "/dashboard"
    dashboard = await person.get("/dashboard")
    assert "has expired; start connecting from the assistant again" in dashboard.text
