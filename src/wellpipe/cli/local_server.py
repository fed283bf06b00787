"""The local MCP server: what it reads (your connected providers, or the demo sandboxes) and how."""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import anyio

from wellpipe.cli.home import LocalPaths
from wellpipe.cli.server_plan import ServerPlan
from wellpipe.core.clock import SystemClock
from wellpipe.core.errors import ConfigError
from wellpipe.core.ports import Clock, HealthProvider
from wellpipe.mcp.server import ProviderNotConnected, WellpipeServer, build_server

__all__ = [
    "HTTP_TOKEN_ENV",
    "BearerGate",
    "NoProviderConnected",
    "ServerPlan",
    "SharedProviders",
    "demo_origin",
    "demo_providers",
    "run_http",
    "run_stdio",
]

HTTP_TOKEN_ENV = "WELLPIPE_HTTP_TOKEN"
"""Fixes the local HTTP server's bearer token (otherwise a fresh one per launch)."""

DEMO_CLIENT_ID = "wellpipe-demo"

Opener = Callable[[str], AbstractAsyncContextManager[HealthProvider]]


def demo_origin(provider: str) -> str:
    """Where the demo's in-process sandbox of ``provider`` pretends to live (never resolved)."""
    return f"http://sandbox.{provider}.invalid"


class NoProviderConnected(ConfigError):
    """No provider is connected in the local ``.env`` (says how to connect each)."""

    def __init__(self, installed: Sequence[str], configured: Sequence[str]) -> None:
        commands = [f"`wellpipe auth {name}`" for name in (configured or installed)]
        listed = ", ".join(commands[:-1]) + (" or " if len(commands) > 1 else "") + commands[-1]
        if configured:
            todo = f"connect an account with {listed}"
        else:
            todo = f"run `wellpipe init` to set up a developer app, then connect it with {listed}"
        super().__init__(f"No provider is connected to Wellpipe yet: {todo}.")


class SharedProviders:
    """The server's provider connections, each opened on first use and kept for its life.

    ``connected()`` is asked at every call, so ``wellpipe auth oura`` while the
    server runs adds Oura without a restart; a failure to open is not cached.

    Args:
        opener: Opens one provider by name.
        connected: The names of the providers to serve now, sorted.
        not_connected: The error to raise when ``connected()`` is empty.
        on_success: Called with a provider's name after a call that used it succeeded.
    """

    def __init__(
        self,
        opener: Opener,
        connected: Callable[[], list[str]],
        not_connected: Callable[[], Exception],
        on_success: Callable[[str], None] | None = None,
    ) -> None:
        self._opener = opener
        self._connected = connected
        self._not_connected = not_connected
        self._on_success = on_success
        self._stack = AsyncExitStack()
        self._opened: dict[str, HealthProvider] = {}
        self._lock = anyio.Lock()

    async def _open(self, name: str) -> HealthProvider:
        async with self._lock:
            if name not in self._opened:
                self._opened[name] = await self._stack.enter_async_context(self._opener(name))
            return self._opened[name]

    @asynccontextmanager
    async def connect(self, wanted: str | None = None) -> AsyncIterator[Sequence[HealthProvider]]:
        """Every connected provider (``None``), or just ``wanted``."""
        names = self._connected()
        if wanted is not None:
            if wanted not in names:
                raise ProviderNotConnected(wanted, connected=names)
            names = [wanted]
        elif not names:
            raise self._not_connected()
        providers = [await self._open(name) for name in names]
        yield providers
        if self._on_success is not None:
            for name in names:
                self._on_success(name)

    async def aclose(self) -> None:
        """Close every connection (their HTTP clients)."""
        await self._stack.aclose()


def _local_providers(paths: LocalPaths, clock: Clock) -> SharedProviders:
    from wellpipe.cli.connection import connected_providers, open_local
    from wellpipe.cli.local_config import LocalConfig
    from wellpipe.cli.state import LocalState
    from wellpipe.providers import available_providers

    state = LocalState(paths)

    def connected() -> list[str]:
        config = LocalConfig.load(paths)
        return [name for name in connected_providers(paths) if config.is_configured(name)]

    def not_connected() -> Exception:
        config = LocalConfig.load(paths)
        installed = available_providers()
        return NoProviderConnected(
            installed, [name for name in installed if config.is_configured(name)]
        )

    def opener(name: str) -> AbstractAsyncContextManager[HealthProvider]:
        return open_local(name, paths, clock=clock)

    return SharedProviders(
        opener, connected, not_connected, lambda name: state.record_success(name, clock.now())
    )


def demo_providers() -> list[str]:
    """The installed providers that have a sandbox, sorted (what the demo serves)."""
    from wellpipe.providers import available_providers
    from wellpipe.sandbox import load_sandbox

    return [name for name in available_providers() if load_sandbox(name) is not None]


def _demo_providers(seed: int, clock: Clock) -> SharedProviders:
    names = demo_providers()

    @asynccontextmanager
    async def opener(name: str) -> AsyncIterator[HealthProvider]:
        from wellpipe.core.tokens import MemoryTokenProvider
        from wellpipe.oauth import ClientCredentials
        from wellpipe.providers.connector import get_connector
        from wellpipe.sandbox import load_sandbox

        sandbox_class = load_sandbox(name)
        assert sandbox_class is not None
        sandbox: Any = sandbox_class(seed=seed, clock=clock)  # type: ignore[call-arg]
        connector = get_connector(name)
        credentials = ClientCredentials(
            client_id=DEMO_CLIENT_ID,
            client_secret="wellpipe-demo-secret",
            redirect_uri=f"http://127.0.0.1:8976/callback/{name}",
        )
        tokens = MemoryTokenProvider(
            sandbox.issue_token_set(client_id=credentials.client_id), clock=clock
        )
        async with connector.open_account(
            credentials=credentials,
            tokens=tokens,
            location=connector.location(demo_origin(name)),
            clock=clock,
            transport=sandbox.transport(),
        ) as provider:
            yield provider

    def not_connected() -> Exception:
        return ConfigError("No provider with a sandbox is installed, so the demo has no data.")

    return SharedProviders(opener, lambda: list(names), not_connected)


@asynccontextmanager
async def _server(plan: ServerPlan) -> AsyncIterator[WellpipeServer]:
    clock = SystemClock()
    paths = LocalPaths.from_environ()
    shared = _demo_providers(plan.seed, clock) if plan.demo else _local_providers(paths, clock)
    local_tz = datetime.now().astimezone().tzinfo
    try:
        yield build_server(connect=shared.connect, clock=clock, default_tz=local_tz or UTC)
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
