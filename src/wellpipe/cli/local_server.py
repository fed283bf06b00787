"""The local MCP server on the SDK: over HTTP, and over stdio once the stdio front hands off.

What it reads (your connected providers, or the demo sandboxes) is `wellpipe.cli.local_tools`.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio

from wellpipe.cli.home import LocalPaths
from wellpipe.cli.local_tools import (
    NoProviderConnected,
    SharedProviders,
    demo_providers,
    local_runner,
)
from wellpipe.cli.server_plan import ServerPlan
from wellpipe.core.errors import ConfigError
from wellpipe.mcp.calls import ToolRunner
from wellpipe.mcp.server import WellpipeServer

__all__ = [
    "HTTP_TOKEN_ENV",
    "BearerGate",
    "NoProviderConnected",
    "ServerPlan",
    "SharedProviders",
    "demo_providers",
    "run_http",
    "run_stdio",
]

HTTP_TOKEN_ENV = "WELLPIPE_HTTP_TOKEN"
"""Fixes the local HTTP server's bearer token (otherwise a fresh one per launch)."""


@asynccontextmanager
async def _server(plan: ServerPlan) -> AsyncIterator[WellpipeServer]:
    async with local_runner(plan) as runner:
        yield WellpipeServer(runner)


async def run_stdio(runner: ToolRunner) -> None:
    """Serve MCP on stdio with the SDK until stdin closes (the stdio front's hand-off)."""
    await WellpipeServer(runner).run_stdio_async()


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


def _listing(names: Sequence[str]) -> str:
    from wellpipe.providers import get_provider_info

    shown = [get_provider_info(name).display_name for name in names] or ["(no)"]
    return ", ".join(shown[:-1]) + (" and " if len(shown) > 1 else "") + shown[-1]


def _accounts() -> str:
    from wellpipe.cli.connection import connected_providers

    names = connected_providers(LocalPaths.from_environ())
    if not names:
        return "your accounts (none connected yet: run `wellpipe init`, then `wellpipe auth`)"
    return f"your {_listing(names)} account{'s' if len(names) > 1 else ''}"


def _banner(plan: ServerPlan, url: str, token: str | None) -> str:
    from wellpipe.cli.claude_config import server_entry, wellpipe_command

    what = (
        f"the built-in {_listing(demo_providers())} "
        f"sandbox{'es' if len(demo_providers()) > 1 else ''} (synthetic data, no account needed)"
        if plan.demo
        else _accounts()
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
