"""What a full connector connect costs: requests by who sends them, and the time it takes.

``wellpipe cloud serve`` runs on its embedded defaults (a fresh home, the built-in
sandboxes, the OAuth test mode so that a client metadata document may be served from a
loopback origin). A person signs up and connects WHOOP; then the official ``mcp`` SDK's
OAuth client connects the way Claude.ai or ChatGPT does, once with dynamic registration and
once with a client metadata document: discovery from the 401, registration, the browser's
trip through the consent page (Allow), the code for tokens, and the first tool call. The
browser is an httpx client with cookies (this measures the service, not a renderer).

    python bench/oauth_connect.py

Target: a connect (401 to the first tool answer) under 1 s on this machine, and no request
a connector does not need.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx2
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
from rich.console import Console
from rich.table import Table

PASSWORD = "correct horse battery staple"
CALLBACK = "http://127.0.0.1:9/callback"
TARGET_S = 1.0


class _Storage:
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Document(BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "max-age=3600")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def _person(url: str, seen: Counter[str], email: str) -> httpx2.AsyncClient:
    async def count(request: httpx2.Request) -> None:
        seen[f"browser {request.method} {request.url.path}"] += 1

    browser = httpx2.AsyncClient(base_url=url, timeout=30, event_hooks={"request": [count]})
    page = await browser.get("/signup")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    await browser.post(
        "/signup",
        data={"csrf_token": token.group(1), "email": email, "password": PASSWORD},
    )
    dashboard = await browser.get("/dashboard")
    token = re.search(r'name="csrf_token" value="([^"]+)"', dashboard.text)
    assert token is not None
    started = await browser.post("/connect/whoop", data={"csrf_token": token.group(1)})
    async with httpx2.AsyncClient(follow_redirects=True, timeout=30) as outside:
        approved = await outside.get(started.headers["location"], follow_redirects=False)
    await browser.get(approved.headers["location"])
    seen.clear()
    return browser


async def _connect(url: str, document_url: str | None) -> tuple[Counter[str], float]:
    seen: Counter[str] = Counter()
    browser = await _person(url, seen, f"bench-{secrets.token_hex(4)}@example.com")
    arrived: list[str] = []

    async def redirect_handler(authorize_url: str) -> None:
        consent = await browser.get(authorize_url)
        page = await browser.get(consent.headers["location"])
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        handle = re.search(r'name="request" value="([^"]+)"', page.text)
        assert token is not None
        assert handle is not None
        answered = await browser.post(
            "/authorize/consent",
            data={"csrf_token": token.group(1), "request": handle.group(1), "decision": "allow"},
        )
        arrived.append(answered.headers["location"])

    async def callback_handler() -> AuthorizationCodeResult:
        params = httpx2.URL(arrived[-1]).params
        return AuthorizationCodeResult(
            code=params["code"], state=params.get("state"), iss=params.get("iss")
        )

    provider = OAuthClientProvider(
        server_url=url + "/api/mcp",
        client_metadata=OAuthClientMetadata(
            client_name="Bench assistant",
            redirect_uris=[AnyUrl(CALLBACK)],
            token_endpoint_auth_method="none",
        ),
        storage=_Storage(),
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        client_metadata_url="https://placeholder.invalid/c.json" if document_url else None,
    )
    if document_url:
        provider.context.client_metadata_url = document_url  # the test mode's loopback origin

    async def count(request: httpx2.Request) -> None:
        seen[f"connector {request.method} {request.url.path}"] += 1

    started = time.perf_counter()
    async with (
        httpx2.AsyncClient(auth=provider, timeout=30, event_hooks={"request": [count]}) as http,
        Client(streamable_http_client(url + "/api/mcp", http_client=http), mode="legacy") as mcp,
    ):
        result = await mcp.call_tool("get-daily-summary", {"days": 3})
    elapsed = time.perf_counter() - started
    assert not result.is_error, result
    await browser.aclose()
    return seen, elapsed


async def _measure(url: str, document_url: str) -> dict[str, tuple[Counter[str], float]]:
    async with httpx2.AsyncClient(timeout=0.5) as probe:
        for _ in range(200):
            try:
                if (await probe.get(url + "/healthz")).status_code == 200:
                    break
            except httpx2.TransportError:
                await anyio.sleep(0.1)
    return {
        "dynamic registration": await _connect(url, None),
        "client metadata document": await _connect(url, document_url),
    }


def main() -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    document_server = ThreadingHTTPServer(("127.0.0.1", 0), _Document)
    threading.Thread(target=document_server.serve_forever, daemon=True).start()
    document_url = f"http://127.0.0.1:{document_server.server_address[1]}/oauth/client.json"
    _Document.body = json.dumps(
        {
            "client_id": document_url,
            "client_name": "Bench assistant",
            "redirect_uris": [CALLBACK],
            "token_endpoint_auth_method": "none",
        }
    ).encode()
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("WELLPIPE_")}
        env |= {"WELLPIPE_HOME": home, "WELLPIPE_OAUTH_TEST_MODE": "1"}
        log = Path(home) / "serve.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "wellpipe", "cloud", "serve", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                runs = anyio.run(_measure, url, document_url)
            finally:
                process.terminate()
                process.wait(timeout=15)
                document_server.shutdown()

    console = Console()
    for label, (seen, elapsed) in runs.items():
        table = Table(title=f"A connect with {label}: {elapsed * 1000:.0f} ms (target < 1,000)")
        table.add_column("who, request")
        table.add_column("count", justify="right")
        for name, count in sorted(seen.items()):
            table.add_row(name, str(count))
        table.add_row("total", str(sum(seen.values())))
        console.print(table)


if __name__ == "__main__":
    main()
