"""An assistant's connector and a person's browser, over real HTTP, for the OAuth tests.

`Connector` plays Claude or ChatGPT: it registers (or names its metadata document),
sends the browser to ``/authorize`` with PKCE, and trades the code at ``/token``.
`browser` is a person's cookie jar, signed up through the real form.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2

from tests.cloud.conftest import PUBLIC_URL
from tests.cloud.served_support import Served, csrf_of
from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.services import authorization

CLAUDE = "https://claude.ai/api/mcp/auth_callback"
CHATGPT = "https://chatgpt.com/connector_platform_oauth_redirect"
RESOURCE = PUBLIC_URL + "/api/mcp"
PASSWORD = "correct horse battery staple"


def pkce() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def query_of(location: str) -> dict[str, str]:
    """The query parameters of a redirect (one value each)."""
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


async def browser(served: Served, email: str, address: str = "127.0.0.1") -> httpx2.AsyncClient:
    """A person's browser, signed up (and so signed in) as ``email``."""
    client = served.client(address)
    page = await client.get("/signup")
    response = await client.post(
        "/signup",
        data={"csrf_token": csrf_of(page.text), "email": email, "password": PASSWORD},
    )
    assert response.status_code == 303, response.text
    return client


@dataclass
class Connector:
    """An assistant's OAuth client against the served service."""

    served: Served
    redirect_uri: str = CLAUDE
    method: str = "none"
    client_id: str = ""
    client_secret: str | None = field(default=None, repr=False)
    address: str = "127.0.0.2"

    def http(self) -> httpx2.AsyncClient:
        """A client without cookies (the connector's server side)."""
        return self.served.client(self.address)

    async def register(self, **overrides: Any) -> httpx2.Response:
        """Dynamic client registration; keeps the credentials when it succeeds."""
        body = {
            "client_name": "Claude",
            "redirect_uris": [self.redirect_uri],
            "token_endpoint_auth_method": self.method,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            **overrides,
        }
        async with self.http() as http:
            response = await http.post("/register", json=body)
        if response.status_code == 201:
            answer = response.json()
            self.client_id = answer["client_id"]
            self.client_secret = answer.get("client_secret")
        return response

    def authorize_params(self, challenge: str, **overrides: str | None) -> dict[str, str]:
        """The query of an authorization request (``None`` leaves a parameter out)."""
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "state-123",
            "scope": "health:read",
            "resource": RESOURCE,
            **overrides,
        }
        return {name: value for name, value in params.items() if value is not None}

    async def authorize(
        self, person: httpx2.AsyncClient, challenge: str, **overrides: str | None
    ) -> httpx2.Response:
        """The person's browser opens the authorization URL."""
        query = urlencode(self.authorize_params(challenge, **overrides))
        return await person.get(f"/authorize?{query}")

    async def allow(
        self, person: httpx2.AsyncClient, challenge: str, decision: str = "allow", **overrides: str
    ) -> dict[str, str]:
        """Authorize, then answer the consent page; the query sent back to the assistant."""
        started = await self.authorize(person, challenge, **overrides)
        assert started.status_code == 303, started.text
        consent_url = started.headers["location"]
        page = await person.get(consent_url)
        assert page.status_code == 200, page.text
        handle = re.search(r'name="request" value="([^"]+)"', page.text)
        assert handle is not None
        answered = await person.post(
            "/authorize/consent",
            data={
                "csrf_token": csrf_of(page.text),
                "request": handle.group(1),
                "decision": decision,
            },
        )
        assert answered.status_code == 303, answered.text
        location = answered.headers["location"]
        assert location.startswith(self.redirect_uri.split("?")[0]), location
        return query_of(location)

    def _auth(self, form: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
        headers: dict[str, str] = {}
        if self.method == "client_secret_basic":
            assert self.client_secret
            pair = f"{self.client_id}:{self.client_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:
            form = {"client_id": self.client_id, **form}
            if self.method == "client_secret_post" and self.client_secret:
                form["client_secret"] = self.client_secret
        return form, headers

    async def token(self, **form: str) -> httpx2.Response:
        """A token request, authenticated the way the client registered."""
        body, headers = self._auth(form)
        async with self.http() as http:
            return await http.post("/token", data=body, headers=headers)

    async def exchange(self, code: str, verifier: str, **extra: str) -> httpx2.Response:
        """Trade a code."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": self.redirect_uri,
            "resource": RESOURCE,
            **extra,
        }
        return await self.token(**form)

    async def refresh(self, refresh_token: str) -> httpx2.Response:
        """Spend a refresh token."""
        return await self.token(
            grant_type="refresh_token", refresh_token=refresh_token, resource=RESOURCE
        )

    async def revoke(self, token: str) -> httpx2.Response:
        """RFC 7009."""
        body, headers = self._auth({"token": token})
        async with self.http() as http:
            return await http.post("/revoke", data=body, headers=headers)

    async def connect(self, person: httpx2.AsyncClient) -> dict[str, Any]:
        """Register if needed, authorize, allow, exchange: the token response."""
        if not self.client_id:
            registered = await self.register()
            assert registered.status_code == 201, registered.text
        verifier, challenge = pkce()
        answer = await self.allow(person, challenge)
        assert "code" in answer, answer
        tokens = await self.exchange(answer["code"], verifier)
        assert tokens.status_code == 200, tokens.text
        body: dict[str, Any] = tokens.json()
        return body


async def mcp_post(
    served: Served, token: str, body: dict[str, Any], path: str = "/api/mcp"
) -> httpx2.Response:
    """One MCP message with a bearer token."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
    }
    async with served.client("127.0.0.3") as http:
        return await http.post(path, json=body, headers=headers)


TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}


async def issue_token(
    ctx: CloudContext, user_id: str, *, client_name: str = "Claude", resource: str = RESOURCE
) -> str:
    """An access token ``user_id`` allowed, made through the service's own steps."""
    registered = await authorization.register(
        ctx,
        json.dumps(
            {
                "client_name": client_name,
                "redirect_uris": [CLAUDE],
                "token_endpoint_auth_method": "none",
            }
        ).encode(),
        source=f"test-{secrets.token_hex(4)}",
    )
    client = await authorization.client_for(ctx, registered["client_id"])
    assert client is not None
    verifier, challenge = pkce()
    binding = secrets.token_urlsafe(32)
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": CLAUDE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": resource,
    }
    handle = await authorization.begin(ctx, params, binding)
    target = await authorization.decide(ctx, handle, binding, user_id=user_id, allow=True)
    assert target is not None
    code = query_of(target)["code"]
    tokens = await authorization.exchange_code(
        ctx, client, {"code": code, "code_verifier": verifier, "redirect_uri": CLAUDE}
    )
    return tokens.access_token


class DocumentHandler(BaseHTTPRequestHandler):
    """Serves `body` as a client metadata document; counts the fetches."""

    body = b"{}"
    fetched = 0

    def do_GET(self) -> None:
        type(self).fetched += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def document_server() -> Iterator[str]:
    """A plain-HTTP loopback origin serving `DocumentHandler.body` (the test mode's kind)."""
    DocumentHandler.fetched = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), DocumentHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
