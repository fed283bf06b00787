"""The local MCP server on the SDK: over HTTP, and over stdio once the stdio front hands off.

What it reads (your connected providers, or the demo sandboxes) is `wellpipe.cli.local_tools`.
Over HTTP a person's plain GET of ``/mcp`` (a browser, curl) gets a short page saying how to
connect (`EndpointPage`), and the banner prints the very Claude Desktop entry that
``wellpipe claude install`` writes (`wellpipe.cli.claude_config.desktop_entry`).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio

from wellpipe.cli.home import LocalPaths
from wellpipe.cli.local_tools import demo_providers, local_runner
from wellpipe.cli.server_plan import ServerPlan
from wellpipe.core.errors import ConfigError, listed
from wellpipe.mcp.calls import ToolRunner
from wellpipe.mcp.server import WellpipeServer

__all__ = [
    "HTTP_TOKEN_ENV",
    "BearerGate",
    "EndpointPage",
    "ServerPlan",
    "connect_lines",
    "demo_providers",
    "http_app",
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


INSPECTOR = "npx @modelcontextprotocol/inspector"
"""The MCP Inspector's command (Node 22+)."""
TOKEN_PLACEHOLDER = "<the token `wellpipe serve` printed>"
"""What the endpoint page shows where the banner shows the bearer token."""


def connect_lines(*, url: str, demo: bool, token: str | None) -> list[str]:
    """How to connect a client to the local HTTP server (the banner's and the page's words)."""
    header = "" if token is None else f' --header "Authorization: Bearer {token}"'
    return [
        "Try it with the MCP Inspector (Node 22+):",
        f"  {INSPECTOR} --cli {url} --transport http{header} "
        "--method tools/call --tool-name get-daily-summary",
        f"  or open the Inspector's UI ({INSPECTOR}), choose 'Streamable HTTP' and enter {url}",
        "",
        "Use it in Claude Desktop (which starts its own copy over stdio):",
        f"  wellpipe claude install{' --demo' if demo else ''}    "
        "then quit and reopen Claude Desktop",
    ]


def _page_text(*, url: str, demo: bool) -> str:
    what = "the built-in sandboxes (synthetic data)" if demo else "your connected accounts"
    lines = [
        f"Wellpipe MCP server: {url}",
        "",
        f"This address is for MCP clients (streamable HTTP), not for a browser. It serves {what}.",
    ]
    if not demo:
        lines.append(
            "Clients must send the bearer token printed in the terminal where `wellpipe serve` "
            f"runs (Authorization: Bearer ...; {HTTP_TOKEN_ENV} fixes it)."
        )
    lines += ["", *connect_lines(url=url, demo=demo, token=None if demo else TOKEN_PLACEHOLDER)]
    return "\n".join(lines) + "\n"


def _page_html(text: str) -> str:
    import html

    title, _, rest = text.partition("\n")
    paragraphs = "".join(
        f"<pre>{html.escape(block.strip(chr(10)))}</pre>"
        if block.startswith("  ") or "\n  " in block
        else f"<p>{html.escape(block.strip())}</p>"
        for block in rest.split("\n\n")
        if block.strip()
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;"
        "padding:0 1rem;line-height:1.5;color:#222}pre{white-space:pre-wrap;background:#f4f4f4;"
        "padding:.6rem;border-radius:4px}h1{font-size:1.3rem}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{paragraphs}</body></html>"
    )


_PAGE_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        b"form-action 'none'; frame-ancestors 'none'",
    ),
]


class EndpointPage:
    """ASGI middleware: a person's plain GET of ``/mcp`` (or ``/``) gets a page, not a stream.

    A GET that does not accept ``text/event-stream`` (a browser, curl) is
    answered with a short page saying this is an MCP endpoint and how to connect:
    HTML when ``text/html`` is accepted, plain text otherwise. It needs no token
    and shows none, nor any data. Everything else (an MCP client's GET for an
    event stream, every POST) goes to ``app``. Only loopback ``Host`` values get
    the page; others go on to ``app``, which refuses them.
    """

    def __init__(self, app: Any, *, url: str, hosts: Sequence[str], demo: bool) -> None:
        self._app = app
        self._hosts = {host.encode() for host in hosts}
        self._text = _page_text(url=url, demo=demo)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Answer a person's GET with the page; pass everything else on."""
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and scope["path"] in ("/", "/mcp", "/mcp/")
        ):
            headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
            accept = b",".join(v for k, v in headers if k == b"accept").lower()
            host = [v.lower() for k, v in headers if k == b"host"]
            if b"text/event-stream" not in accept and len(host) == 1 and host[0] in self._hosts:
                await self._page(
                    send, as_html=b"text/html" in accept, head=scope["method"] == "HEAD"
                )
                return
        await self._app(scope, receive, send)

    async def _page(self, send: Any, *, as_html: bool, head: bool) -> None:
        body = (_page_html(self._text) if as_html else self._text).encode()
        kind = b"text/html; charset=utf-8" if as_html else b"text/plain; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", kind),
                    (b"content-length", str(len(body)).encode()),
                    (b"vary", b"Accept"),
                    *_PAGE_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"" if head else body})


def http_app(
    server: WellpipeServer, *, port: int, token: str | None, demo: bool | None = None
) -> Any:
    """The streamable-HTTP app at ``/mcp``: stateless, Host and Origin pinned to loopback.

    Without ``token`` (the demo) every request is served; with one, MCP requests
    need it. A person's plain GET gets `EndpointPage`'s page either way.

    Args:
        server: The MCP server.
        port: The port it listens on (for the Host and Origin checks).
        token: The bearer token MCP requests must carry (``None``: none).
        demo: Whether it serves the sandboxes (default: when there is no token).
    """
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
    gated = app if token is None else BearerGate(app, token)
    return EndpointPage(
        gated,
        url=f"http://127.0.0.1:{port}/mcp",
        hosts=hosts,
        demo=token is None if demo is None else demo,
    )


def _listing(names: Sequence[str]) -> str:
    from wellpipe.providers import get_provider_info

    return listed([get_provider_info(name).display_name for name in names]) or "(no)"


def _accounts() -> str:
    from wellpipe.cli.connection import connected_providers

    names = connected_providers(LocalPaths.from_environ())
    if not names:
        return "your accounts (none connected yet: run `wellpipe init`, then `wellpipe auth`)"
    return f"your {_listing(names)} account{'s' if len(names) > 1 else ''}"


def _banner(plan: ServerPlan, url: str, token: str | None) -> str:
    from wellpipe.cli.claude_config import DEFAULT_NAME, desktop_entry

    sandboxes = demo_providers() if plan.demo else []
    what = (
        f"the built-in {_listing(sandboxes)} "
        f"sandbox{'es' if len(sandboxes) > 1 else ''} (synthetic data, no account needed)"
        if plan.demo
        else _accounts()
    )
    # The very entry `wellpipe claude install [--demo]` writes from this shell.
    entry = {"mcpServers": {DEFAULT_NAME: desktop_entry(demo=plan.demo)}}
    lines = [
        f"Wellpipe MCP server on {what}",
        f"  URL:   {url}  (streamable HTTP, this machine only)",
    ]
    if token is not None:
        lines.append(f"  Token: {token}  (send as 'Authorization: Bearer …'; new at each start)")
    lines += [
        "",
        *connect_lines(url=url, demo=plan.demo, token=token),
        "  or add this to claude_desktop_config.json yourself:",
        *(f"  {line}" for line in json.dumps(entry, indent=2).splitlines()),
        "",
        "Ctrl-C stops the server.",
    ]
    return "\n".join(lines)


class _AfterStartup:
    """ASGI middleware: ``announce`` once the app has started (its lifespan startup is complete).

    The banner says "Ctrl-C stops the server"; printed before start-up finished, a
    Ctrl-C pressed at once would cancel the start-up and print a traceback.
    """

    def __init__(self, app: Any, announce: Callable[[], None]) -> None:
        self._app = app
        self._announce = announce

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Pass everything through; announce after ``lifespan.startup.complete`` is sent."""
        if scope["type"] != "lifespan":
            await self._app(scope, receive, send)
            return

        async def send_then_announce(message: Any) -> None:
            await send(message)
            if message["type"] == "lifespan.startup.complete":
                self._announce()

        await self._app(scope, receive, send_then_announce)


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
            banner = _banner(plan, url, token)
            announced = _AfterStartup(
                app, lambda: out.print(banner, highlight=False, soft_wrap=True)
            )
            config = uvicorn.Config(announced, log_level="warning", lifespan="on", log_config=None)
            await uvicorn.Server(config).serve(sockets=[sock])

    # Ctrl-C is the documented way to stop; uvicorn shuts down, then re-raises it.
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(main)
