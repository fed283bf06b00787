"""MCP over streamable HTTP at ``/api/mcp`` and ``/mcp``: the local server's tools, per user.

Every request is checked in this order:

1. Host and Origin against the public URL (421 / 403): explicit
   `TransportSecuritySettings`, never the SDK's default (which is off for a public host).
2. The API key, from ``Authorization: Bearer`` (or ``X-API-Key``), never from the URL:
   401 problem details otherwise. The user is the key's owner, carried to the tools in a
   context variable; nothing else in the request can name a user.
3. The SDK's stateless transport (any worker can serve any request; both protocol eras).

Only ``tools/call`` is counted, once its arguments are valid and the user's connection
is usable; ``initialize`` and ``tools/list`` are free. Over quota, the tool answers an
error naming the reset time. A tool call without ``provider`` reads every provider the
user connected (sorted by name; one needing reconnection is left out while another
works); with one, just that provider. Upstream, only the user's stored provider tokens
are sent: the client's credential never leaves this module.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from mcp.server.mcpserver import Context
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.types import CallToolResult
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from wellpipe.cloud.api.deps import invalid_key_problem, presented_key, refundable
from wellpipe.cloud.api.problems import Problem, problem_response
from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.services.health import (
    CloudProvider,
    close_shared_http,
    open_providers,
    record_access,
)
from wellpipe.cloud.services.keys import Principal, authenticate
from wellpipe.cloud.services.limits import Charge, charge, refund
from wellpipe.core.errors import WellpipeError
from wellpipe.core.ports import HealthProvider
from wellpipe.mcp.server import OpenedProviders, WellpipeServer

__all__ = ["MCP_PATHS", "QuotaExceeded", "build_mcp", "mount_mcp", "transport_security"]

logger = logging.getLogger(__name__)

MCP_PATHS = ("/api/mcp", "/mcp")
"""Where the endpoint answers."""

_EXTRAS_KEY = "mcp.transport_security"


@dataclass(frozen=True)
class _Caller:
    principal: Principal
    request_id: str | None


@dataclass(frozen=True)
class _Call:
    tool: str
    arguments: dict[str, Any]


_caller: ContextVar[_Caller | None] = ContextVar("wellpipe_mcp_caller", default=None)
_call: ContextVar[_Call | None] = ContextVar("wellpipe_mcp_call", default=None)


class QuotaExceeded(WellpipeError):
    """The caller's monthly quota or per-minute limit is used up (the sentence names when)."""

    def __init__(self, counted: Charge) -> None:
        super().__init__(counted.sentence or "Too many requests; try again later.")
        self.charge = counted


def transport_security(ctx: CloudContext) -> TransportSecuritySettings:
    """Host and Origin allowlists for the public URL (plus the operator's extra origins)."""
    host = ctx.settings.public_host
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    hosts = sorted({host, f"{hostname}:*"})
    origins = [ctx.settings.public_url, *ctx.settings.extra_allowed_origins]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


class _CloudServer(WellpipeServer):
    """The local server's tools; each call remembers its name for metering and the audit."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult:
        """Run the tool (see `WellpipeServer.call_tool`)."""
        token = _call.set(_Call(tool=name, arguments=dict(arguments or {})))
        try:
            return await super().call_tool(name, arguments, context)
        finally:
            _call.reset(token)


def _audit_detail(call: _Call, providers: Sequence[CloudProvider]) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "endpoint": f"mcp:{call.tool}",
        "records": sum(provider.records_read for provider in providers),
        "upstream_calls": sum(provider.upstream_calls for provider in providers),
        "providers": ",".join(provider.info.name for provider in providers)[:64],
    }
    args = call.arguments
    kind = args.get("kind") or call.tool.removeprefix("get-").removeprefix("recent-")
    detail["kind"] = str(kind)[:32]
    if "start" in args and "end" in args:
        detail["range"] = f"{args['start']}..{args['end']}"[:32]
    elif "days" in args or call.tool.startswith(("get-recent", "get-daily")):
        detail["range"] = f"last {args.get('days', 7)} days"[:32]
    return detail


def build_mcp(ctx: CloudContext) -> WellpipeServer:
    """The MCP server whose tools read the calling user's connection."""

    @asynccontextmanager
    async def connect(wanted: str | None) -> AsyncIterator[Sequence[HealthProvider]]:
        """The caller's providers: the named one, or every usable connection by name."""
        caller = _caller.get()
        call = _call.get()
        if caller is None or call is None:  # only reachable through the authenticated route
            raise WellpipeError("This request is not authenticated; send your API key.")
        principal = caller.principal
        endpoint = f"mcp:{call.tool}"
        async with open_providers(ctx, user_id=principal.user_id, provider=wanted) as found:
            providers, notes = found
            counted = await charge(ctx, principal, endpoint, request_id=caller.request_id)
            if not counted.allowed:
                raise QuotaExceeded(counted)
            try:
                yield OpenedProviders(providers, notes)
            except Exception as error:
                if refundable(error):
                    await refund(ctx, principal, endpoint, at=counted.at)
                raise
            await record_access(
                ctx,
                user_id=principal.user_id,
                detail={**_audit_detail(call, providers), "key_id": principal.key_id},
                request_id=caller.request_id,
            )

    return _CloudServer(connect=connect, clock=ctx.clock)


class _Gate:
    """Host/Origin, then the API key; the caller rides in a context variable to the tools."""

    def __init__(
        self, server: WellpipeServer, ctx: CloudContext, security: TransportSecuritySettings
    ) -> None:
        self._server = server
        self._asgi: tuple[object, StreamableHTTPASGIApp] | None = None
        self._ctx = ctx
        self._security = TransportSecurityMiddleware(security)

    def _app(self) -> StreamableHTTPASGIApp:
        """The SDK's handler for the session manager of the current lifespan."""
        manager = self._server.session_manager
        if self._asgi is None or self._asgi[0] is not manager:
            self._asgi = (manager, StreamableHTTPASGIApp(manager))
        return self._asgi[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app()(scope, receive, send)
            return
        request = Request(scope, receive)
        refused = await self._security.validate_request(request)
        if refused is not None:
            await refused(scope, receive, send)
            return
        principal = await self._authenticate(request)
        if isinstance(principal, Problem):
            await problem_response(request, principal)(scope, receive, send)
            return
        state = scope.get("state") or {}
        token = _caller.set(_Caller(principal=principal, request_id=state.get("request_id")))
        try:
            await self._app()(scope, receive, send)
        finally:
            _caller.reset(token)

    async def _authenticate(self, request: Request) -> Principal | Problem:
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        try:
            presented = presented_key(
                request, bearer if scheme.lower() == "bearer" and bearer.strip() else None
            )
        except Problem as problem:
            return problem
        principal = await authenticate(self._ctx, presented)
        return invalid_key_problem() if principal is None else principal


class _Lifespan:
    """Runs the SDK's session manager (and closes the provider pool) for one app lifespan.

    Re-enterable: an app may be started more than once in one process (tests, servers that
    restart it), and the SDK's session manager runs only once, so each later start builds
    a fresh one.
    """

    def __init__(
        self, server: WellpipeServer, ctx: CloudContext, build: Callable[[], object]
    ) -> None:
        self._server = server
        self._ctx = ctx
        self._build = build
        self._fresh = True
        self._stacks: list[AsyncExitStack] = []

    async def __aenter__(self) -> WellpipeServer:
        if not self._fresh:
            self._build()
        self._fresh = False
        stack = AsyncExitStack()
        await stack.__aenter__()
        self._stacks.append(stack)
        try:
            stack.push_async_callback(close_shared_http, self._ctx)
            await stack.enter_async_context(self._server.session_manager.run())
        except BaseException:
            self._stacks.pop()
            await stack.aclose()
            raise
        return self._server

    async def __aexit__(self, *exc: Any) -> bool | None:
        return await self._stacks.pop().__aexit__(*exc)


def mount_mcp(app: FastAPI, ctx: CloudContext) -> AbstractAsyncContextManager[object]:
    """Mount the MCP endpoints on ``app``; returns what the app's lifespan must run.

    The lifespan part runs the SDK's session manager and, at shutdown, closes the
    process's provider connection pool.
    """
    server = build_mcp(ctx)
    security = transport_security(ctx)
    ctx.extras[_EXTRAS_KEY] = security

    def build() -> object:
        return server.streamable_http_app(
            streamable_http_path=MCP_PATHS[0],
            stateless_http=True,
            json_response=False,
            transport_security=security,
            host=ctx.settings.public_host,
        )

    build()
    gate = _Gate(server, ctx, security)
    for path in MCP_PATHS:
        app.router.routes.append(Route(path, endpoint=gate, methods=["GET", "POST", "DELETE"]))
    return _Lifespan(server, ctx, build)
