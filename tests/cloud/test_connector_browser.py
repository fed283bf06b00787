"""A connector end to end: the official SDK's OAuth client, a real browser, the real service.

What Claude.ai or ChatGPT does when a person pastes ``<host>/api/mcp``: the ``mcp``
SDK's `OAuthClientProvider` discovers the metadata from the 401, registers (dynamic
registration, or a client metadata document served by this test from a plain-HTTP
loopback origin, which the service's OAuth test mode allows), sends the person's browser
to the consent page, where Chromium clicks Allow, trades the code, and calls a tool. The
access token is then refreshed, the assistant is revoked in the dashboard, and the next
request is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from pydantic import AnyUrl

from tests.cloud.browser_support import Service, browser_missing, free_port, serve, watched_page
from tests.cloud.conftest import require_service
from tests.cloud.oauth_support import DocumentHandler, document_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

PASSWORD = "correct horse battery staple"


class Storage:
    """Where the connector keeps its registration and tokens (in memory)."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@pytest.fixture
def document_origin() -> Iterator[str]:
    """A plain-HTTP loopback origin serving one client metadata document."""
    with document_server() as origin:
        yield origin


@pytest.fixture(params=["dcr", "cimd"])
def registration(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def service(tmp_path: Path, registration: str) -> Iterator[Service]:
    require_service(browser_missing())
    env = {"WELLPIPE_OAUTH_TEST_MODE": "1"} if registration == "cimd" else {}
    with serve(tmp_path / "home", env=env) as running:
        yield running


async def test_an_assistant_connects_calls_refreshes_and_is_revoked(
    service: Service, tmp_path: Path, registration: str, document_origin: str
) -> None:
    callback_port = free_port()
    redirect_uri = f"http://127.0.0.1:{callback_port}/callback"
    metadata = OAuthClientMetadata(
        client_name="Test Assistant",
        redirect_uris=[AnyUrl(redirect_uri)],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    document_url = f"{document_origin}/oauth/client.json"
    DocumentHandler.body = json.dumps(
        {
            "client_id": document_url,
            "client_name": "Test Assistant",
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
    ).encode()
    DocumentHandler.fetched = 0

    async with watched_page(tmp_path / "profile") as (page, problems):
        # The person has an account with WHOOP connected (the built-in sandbox).
        await page.goto(service.url + "/signup")
        await page.fill("#email", "ada@example.com")
        await page.fill("#password", PASSWORD)
        await page.click("button:has-text('Create account')")
        await page.wait_for_url("**/dashboard")
        await page.locator("[data-provider=whoop] button:has-text('Connect WHOOP')").click()
        await page.wait_for_url("**/dashboard")

        arrived: list[str] = []
        consent_text: list[str] = []
        came_back = anyio.Event()

        async def at_callback(route: Any) -> None:
            arrived.append(route.request.url)
            came_back.set()
            await route.fulfill(status=200, body="You can close this tab.")

        await page.route(f"http://127.0.0.1:{callback_port}/**", at_callback)

        async def redirect_handler(url: str) -> None:
            nonlocal came_back
            came_back = anyio.Event()
            await page.goto(url)
            await page.wait_for_selector("button:has-text('Allow')")
            consent_text.append(await page.inner_text("main"))
            await page.click("button:has-text('Allow')")
            with anyio.fail_after(20):
                await came_back.wait()

        async def callback_handler() -> AuthorizationCodeResult:
            query = httpx2.URL(arrived[-1]).params
            return AuthorizationCodeResult(
                code=query["code"], state=query.get("state"), iss=query.get("iss")
            )

        storage = Storage()

        def connector() -> OAuthClientProvider:
            provider = OAuthClientProvider(
                server_url=service.url + "/api/mcp",
                client_metadata=metadata,
                storage=storage,
                redirect_handler=redirect_handler,
                callback_handler=callback_handler,
                client_metadata_url=(
                    "https://placeholder.invalid/client.json" if registration == "cimd" else None
                ),
            )
            if registration == "cimd":
                # The SDK insists on https at construction; the service's test mode allows
                # a plain-HTTP loopback document, which is what this test can serve.
                provider.context.client_metadata_url = document_url
            return provider

        async def summary(provider: OAuthClientProvider) -> Any:
            async with (
                httpx2.AsyncClient(auth=provider, timeout=30) as http,
                Client(
                    streamable_http_client(service.url + "/api/mcp", http_client=http),
                    mode="legacy",
                ) as client,
            ):
                return await client.call_tool("get-daily-summary", {"days": 3})

        first = await summary(connector())
        assert not first.is_error, first
        assert storage.tokens is not None
        assert len(arrived) == 1
        assert "Test Assistant" in consent_text[0]
        assert "127.0.0.1" in consent_text[0]
        if registration == "cimd":
            assert storage.client is not None
            assert storage.client.client_id == document_url
            assert DocumentHandler.fetched >= 1
        issued = storage.tokens

        # An hour later: the connector refreshes (rotating the refresh token), no browser.
        later = connector()  # a restart: it loads the stored tokens
        later.context.token_expiry_time = 1.0  # as if the access token had expired
        second = await summary(later)
        assert not second.is_error, second
        assert len(arrived) == 1, "a refresh must not need the person again"
        assert storage.tokens.refresh_token != issued.refresh_token
        assert storage.tokens.access_token != issued.access_token

        # The dashboard lists the assistant; Revoke stops its next request.
        await page.goto(service.url + "/dashboard")
        row = page.locator("[data-grant-id]")
        assert "Test Assistant" in await row.inner_text()
        await row.locator("button:has-text('Revoke')").click()
        await page.wait_for_url("**/dashboard*")
        async with httpx2.AsyncClient(timeout=20) as http:
            refused = await http.post(
                service.url + "/api/mcp",
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
                headers={
                    "Authorization": f"Bearer {storage.tokens.access_token}",
                    "Accept": "application/json, text/event-stream",
                },
            )
        assert refused.status_code == 401
        assert "resource_metadata=" in refused.headers["www-authenticate"]
    assert problems == [], problems
    log = service.log_text()
    assert "Traceback" not in log
    for secret in (issued.access_token, issued.refresh_token, storage.tokens.access_token):
        assert secret
        assert secret not in log
