"""The local MCP server: what it reads (your WHOOP or the demo sandbox) and how it runs."""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import datetime
from typing import Any

import anyio

from wellpipe.cli.home import LocalPaths
from wellpipe.cli.server_plan import ServerPlan
from wellpipe.core.clock import SystemClock
from wellpipe.core.errors import ConfigError
from wellpipe.core.ports import Clock, HealthProvider
from wellpipe.mcp.server import WellpipeServer, build_server, single_provider

__all__ = ["HTTP_TOKEN_ENV", "BearerGate", "ServerPlan", "SharedProvider", "run_http", "run_stdio"]

HTTP_TOKEN_ENV = "WELLPIPE_HTTP_TOKEN"
"""Fixes the local HTTP server's bearer token (otherwise a fresh one per launch)."""

DEMO_ORIGIN = "http://sandbox.whoop.invalid"
"""Where the demo's in-process sandbox pretends to live (never resolved: no network)."""

DEMO_CLIENT_ID = "wellpipe-demo"


class SharedProvider:
    """One provider connection for the server's life, opened on first use.

    A failure to open (not set up yet, no account connected) is not cached: the
    next call tries again, so ``wellpipe auth whoop`` works without a restart.
    """

    def __init__(self, opener: Callable[[], AbstractAsyncContextManager[HealthProvider]]) -> None:
        self._opener = opener
        self._stack = AsyncExitStack()
        self._provider: HealthProvider | None = None
        self._lock = anyio.Lock()

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[HealthProvider]:
        """The shared provider."""
        async with self._lock:
            if self._provider is None:
                self._provider = await self._stack.enter_async_context(self._opener())
        yield self._provider

    async def aclose(self) -> None:
        """Close the connection (its HTTP client)."""
        await self._stack.aclose()


def _local_opener(
    paths: LocalPaths, clock: Clock
) -> Callable[[], AbstractAsyncContextManager[HealthProvider]]:
    from wellpipe.cli.connection import open_local_whoop

    def opener() -> AbstractAsyncContextManager[HealthProvider]:
        return open_local_whoop(paths, clock=clock)

    return opener


def _demo_opener(
    seed: int, clock: Clock
) -> Callable[[], AbstractAsyncContextManager[HealthProvider]]:
    @asynccontextmanager
    async def opener() -> AsyncIterator[HealthProvider]:
        from wellpipe.core.tokens import MemoryTokenProvider
        from wellpipe.oauth import ClientCredentials
        from wellpipe.providers.whoop import WhoopSettings, open_whoop
        from wellpipe.sandbox import WhoopSandbox

        sandbox = WhoopSandbox(seed=seed, clock=clock)
        credentials = ClientCredentials(
            client_id=DEMO_CLIENT_ID,
            client_secret="wellpipe-demo-secret",
            redirect_uri="http://127.0.0.1:8976/callback/whoop",
        )
        tokens = MemoryTokenProvider(
            sandbox.issue_token_set(client_id=credentials.client_id), clock=clock
        )
        async with open_whoop(
            credentials=credentials,
            tokens=tokens,
            settings=WhoopSettings.for_origin(DEMO_ORIGIN),
            clock=clock,
            transport=sandbox.transport(),
        ) as provider:
            yield provider

    return opener


@asynccontextmanager
async def _server(plan: ServerPlan) -> AsyncIterator[WellpipeServer]:
    clock = SystemClock()
    paths = LocalPaths.from_environ()
    on_success: Callable[[], None] | None = None
    if plan.demo:
        opener = _demo_opener(plan.seed, clock)
    else:
        from wellpipe.cli.state import LocalState

        state = LocalState(paths)
        opener = _local_opener(paths, clock)

        def on_success() -> None:
            state.record_success("whoop", clock.now())

    shared = SharedProvider(opener)
    local_tz = datetime.now().astimezone().tzinfo
    try:
        yield build_server(
            connect=single_provider(shared.connect, name="whoop"),
            clock=clock,
            on_success=on_success,
            **({"default_tz": local_tz} if local_tz is not None else {}),
        )
    finally:
        with anyio.CancelScope(shield=True):
            await shared.aclose()


def run_stdio(plan: ServerPlan) -> None:
    """Serve MCP on stdio until stdin closes (runs on the stdio front's SDK thread)."""

    async def main() -> None:
        async with _server(plan) as server:
            await server.run_stdio_async()

    anyio.run(main)


# ---------------------------------------------------------------------- HTTP
class BearerGate:
    """ASGI middleware: every HTTP request must carry ``Authorization: Bearer <token>``."""

    def __init__(self, app: Any, token: str) -> None:
        self._app = app
        self._token = token.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Pass lifespan through; refuse HTTP requests without the token (401)."""
        if scope["type"] == "http":
            presented = dict(scope.get("headers") or []).get(b"authorization", b"")
            scheme, _, credentials = presented.partition(b" ")
            # The scheme name is case-insensitive (RFC 9110 §11.1); the token is not.
            valid = scheme.lower() == b"bearer" and hmac.compare_digest(credentials, self._token)
            if not valid:
                body = json.dumps(
                    {
                        "error": "unauthorized",
                        "detail": "Send the bearer token `wellpipe serve` printed at start "
                        f"(or set {HTTP_TOKEN_ENV} to choose one).",
                    }
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="wellpipe"'),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self._app(scope, receive, send)


def _bind(port: int) -> socket.socket:
    from wellpipe.sandbox.server import listening_socket  # shared with the sandbox server

    try:
        sock = listening_socket("127.0.0.1", port)
    except OSError as exc:
        raise ConfigError(
            f"Port {port} on 127.0.0.1 is not available ({exc.strerror}); "
            "choose another with --port N (0 picks a free one)."
        ) from None
    sock.setblocking(False)
    return sock


def http_app(server: WellpipeServer, *, port: int, token: str | None) -> Any:
    """The streamable-HTTP app at ``/mcp``: stateless, Host and Origin pinned to loopback."""
    from mcp.server.transport_security import TransportSecuritySettings

    hosts = [f"127.0.0.1:{port}", f"localhost:{port}"]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=[f"http://{host}" for host in hosts],
    )
    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        stateless_http=True,
        transport_security=security,
        host="127.0.0.1",
    )
    return app if token is None else BearerGate(app, token)


def _banner(plan: ServerPlan, url: str, token: str | None) -> str:
    from wellpipe.cli.claude_config import server_entry, wellpipe_command

    what = (
        "the built-in WHOOP sandbox (synthetic data, no account needed)"
        if plan.demo
        else "your WHOOP account"
    )
    header = "" if token is None else f' --header "Authorization: Bearer {token}"'
    name = "wellpipe-demo" if plan.demo else "wellpipe"
    entry = {"mcpServers": {name: server_entry(command=wellpipe_command(), demo=plan.demo)}}
    lines = [
        f"Wellpipe MCP server on {what}",
        f"  URL:   {url}  (streamable HTTP, this machine only)",
    ]
    if token is not None:
        lines.append(f"  Token: {token}  (send as 'Authorization: Bearer …'; new at each start)")
    lines += [
        "",
        "Try it with the MCP Inspector (Node 22+):",
        f"  npx @modelcontextprotocol/inspector --cli {url} --transport http{header} "
        "--method tools/call --tool-name get-daily-summary",
        "  or open the Inspector's UI (npx @modelcontextprotocol/inspector), choose "
        f"'Streamable HTTP' and enter {url}",
        "",
        "Use it in Claude Desktop (which starts its own copy over stdio):",
        f"  wellpipe claude install{' --demo' if plan.demo else ''}    "
        "then quit and reopen Claude Desktop",
        "  or add this to claude_desktop_config.json yourself:",
        *(f"  {line}" for line in json.dumps(entry, indent=2).splitlines()),
        "",
        "Ctrl-C stops the server.",
    ]
    return "\n".join(lines)


def run_http(plan: ServerPlan) -> None:
    """Serve streamable HTTP on 127.0.0.1 until interrupted."""
    import uvicorn

    from wellpipe.cli.console import out

    token = None if plan.demo else (os.environ.get(HTTP_TOKEN_ENV) or secrets.token_urlsafe(32))
    sock = _bind(plan.port)
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/mcp"

    async def main() -> None:
        async with _server(plan) as server:
            app = http_app(server, port=port, token=token)
            config = uvicorn.Config(app, log_level="warning", lifespan="on", log_config=None)
            out.print(_banner(plan, url, token), highlight=False, soft_wrap=True)
            await uvicorn.Server(config).serve(sockets=[sock])

    # Ctrl-C is the documented way to stop; uvicorn shuts down, then re-raises it.
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(main)
