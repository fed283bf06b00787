"""MCP over streamable HTTP at ``/api/mcp`` and ``/mcp``: the local server's tools, per user.

Every request is checked in this order:

1. Host and Origin against the public URL (421 / 403): explicit
   `TransportSecuritySettings`, never the SDK's default (which is off for a public host).
2. ``POST`` only: the endpoint is stateless, so there is no stream to hold open (405).
3. The credential, from ``Authorization: Bearer`` (or ``X-API-Key``), never from the URL:
   an API key, or an assistant's OAuth access token issued for this very address
   (`wellpipe.cloud.services.authorization`). Otherwise a 401 problem whose
   ``WWW-Authenticate`` names the protected-resource metadata (RFC 9728), which is how a
   connector learns to sign in. The user is the credential's owner, carried to the tools
   in a context variable; nothing else in the request can name a user.
4. The SDK's stateless transport (any worker can serve any request; both protocol eras).

A ``tools/call`` goes through the one gate (`wellpipe.cloud.services.gate`) exactly as a
REST data request does: providers opened, limits checked, counted only when data is
answered, audited; its tool reads through the one reader. ``initialize`` and
``tools/list`` are free. Over quota, the tool answers an error naming the reset time.
Upstream, only the user's stored provider tokens are sent: the client's credential never
leaves this module.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

import anyio
from fastapi import FastAPI
from mcp.server.mcpserver import Context
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from mcp.types import CallToolResult
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from wellpipe.cloud.api.deps import invalid_key_problem, presented_key
from wellpipe.cloud.api.oauth import metadata_url
from wellpipe.cloud.api.problems import Problem, problem_response
from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.services import authorization, gate
from wellpipe.cloud.services.gate import Call, Caller, Face
from wellpipe.cloud.services.health import close_shared_http
from wellpipe.core.errors import WellpipeError
from wellpipe.core.models import count_of_days
from wellpipe.core.ports import HealthProvider
from wellpipe.mcp.calls import OpenedProviders, ToolRunner
from wellpipe.mcp.server import WellpipeServer

__all__ = ["MCP_PATHS", "build_mcp", "mount_mcp", "transport_security"]

logger = logging.getLogger(__name__)

MCP_PATHS = authorization.RESOURCE_PATHS
"""Where the endpoint answers."""

UNEXPECTED = (
    "Wellpipe hit an unexpected error while answering; try again in a moment, and tell the "
    "service's operator if it keeps happening."
)
"""The tool error for a failure of ours (the cloud never suggests a command to run)."""

NONE_CONNECTED = (
    "No provider is connected to your Wellpipe account yet: connect one in the Wellpipe "
    "dashboard first."
)
"""The tool error for an account with nothing connected (the gate usually says it first)."""

_INVALID_KEY = (
    "This API key is not valid (mistyped, revoked or deleted); create a new key in the dashboard."
)


@dataclass(frozen=True)
class _Request:
    caller: Caller
    request_id: str | None


_current: ContextVar[_Request | None] = ContextVar("wellpipe_mcp_request", default=None)
_call: ContextVar[Call | None] = ContextVar("wellpipe_mcp_call", default=None)


def transport_security(ctx: CloudContext) -> TransportSecuritySettings:
    """Host and Origin allowlists for the public URL (plus the operator's extra origins)."""
    host = ctx.settings.public_host
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    hosts = sorted({host, f"{hostname}:*"})
    origins = [ctx.settings.public_url, *ctx.settings.extra_allowed_origins]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def _tool_call(name: str, arguments: dict[str, Any]) -> Call:
    """What a tool call asks for, as the usage chart and the access log name it."""
    kind = arguments.get("kind") or name.removeprefix("get-").removeprefix("recent-")
    span: str | None = None
    if "start" in arguments and "end" in arguments:
        span = f"{arguments['start']}..{arguments['end']}"
    elif "days" in arguments or name.startswith(("get-recent", "get-daily")):
        days = arguments.get("days", 7)
        span = f"last {count_of_days(days)}"
    if name == "get-daily-summary":
        kind = "summary"
    return Call(Face.MCP, name, str(kind)[:32], span=span)


class _CloudServer(WellpipeServer):
    """The local server's tools; each call says what it asks for to the gate."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult:
        """Run the tool (see `WellpipeServer.call_tool`)."""
        token = _call.set(_tool_call(name, dict(arguments or {})))
        try:
            return await super().call_tool(name, arguments, context)
        finally:
            _call.reset(token)


def build_mcp(ctx: CloudContext) -> WellpipeServer:
    """The MCP server whose tools read the calling user's connections through the gate."""

    @asynccontextmanager
    async def connect(wanted: str | None) -> AsyncIterator[Sequence[HealthProvider]]:
        """The caller's providers (the named one, or every usable connection), counted."""
        current, call = _current.get(), _call.get()
        if current is None or call is None:  # only reachable through the authenticated route
            raise WellpipeError(_INVALID_KEY)
        try:
            async with gate.enter(
                ctx, current.caller, replace(call, provider=wanted), request_id=current.request_id
            ) as passed:
                yield OpenedProviders(passed.providers, passed.notes)
        except gate.Unauthenticated:
            raise WellpipeError(_INVALID_KEY) from None

    return _CloudServer(
        ToolRunner(
            connect=connect,
            clock=ctx.clock,
            unexpected=UNEXPECTED,
            none_connected=NONE_CONNECTED,
        )
    )


class _Gate:
    """Host/Origin, the method, then the API key; the caller rides to the tools in a context.

    The endpoint is stateless: there is no stream for a ``GET`` to open (405). A
    ``tools/call`` whose key this process verified lately is confirmed by the gate in the
    statement that counts it; any other message has its key checked here, in full.
    """

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
        if request.method != "POST":
            problem = Problem(
                405,
                "invalid-request",
                "This MCP endpoint is stateless: send each message with POST (there is no "
                "stream to open or session to end).",
                headers={"Allow": "POST"},
            )
            await problem_response(request, problem)(scope, receive, send)
            return
        body = await request.body()
        caller = await self._identify(request, body)
        if isinstance(caller, Problem):
            await problem_response(request, caller)(scope, receive, send)
            return
        state = scope.get("state") or {}
        token = _current.set(_Request(caller=caller, request_id=state.get("request_id")))
        try:
            await self._app()(scope, _replay(body), send)
        finally:
            _current.reset(token)

    async def _identify(self, request: Request, body: bytes) -> Caller | Problem:
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        resource = authorization.issuer(self._ctx) + request.url.path
        try:
            presented = presented_key(
                request, bearer if scheme.lower() == "bearer" and bearer.strip() else None
            )
        except Problem as problem:
            return self._challenge(problem, request.url.path)
        try:
            if _is_tool_call(body):
                return await gate.identify(self._ctx, presented, resource=resource)
            return await gate.authenticate_now(self._ctx, presented, resource=resource)
        except gate.Unauthenticated:
            if authorization.is_access_token(presented):
                return self._challenge(
                    Problem(
                        401,
                        "unauthorized",
                        "This access token is not valid here (expired, revoked, or issued "
                        "for another address); your assistant should sign in again.",
                    ),
                    request.url.path,
                    error="invalid_token",
                )
            return self._challenge(invalid_key_problem(), request.url.path, error="invalid_token")

    def _challenge(self, problem: Problem, path: str, *, error: str | None = None) -> Problem:
        """The 401 with the RFC 9728 challenge: where an assistant learns how to sign in."""
        parts = ['Bearer realm="wellpipe"']
        if error is not None:
            parts.append(f'error="{error}"')
        parts.append(f'resource_metadata="{metadata_url(self._ctx, path)}"')
        parts.append(f'scope="{authorization.SCOPE}"')
        problem.headers = {**(problem.headers or {}), "WWW-Authenticate": ", ".join(parts)}
        return problem


def _is_tool_call(body: bytes) -> bool:
    """Whether the message is one ``tools/call`` (its key is then confirmed when counted)."""
    try:
        message = json.loads(body)
    except ValueError:
        return False
    return isinstance(message, dict) and message.get("method") == "tools/call"


def _replay(body: bytes) -> Receive:
    """A ``receive`` that hands the SDK the body already read, then waits for a disconnect."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    return receive


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

    def build() -> object:
        return server.streamable_http_app(
            streamable_http_path=MCP_PATHS[0],
            stateless_http=True,
            json_response=False,
            transport_security=security,
            host=ctx.settings.public_host,
        )

    build()
    entry = _Gate(server, ctx, security)
    for path in MCP_PATHS:
        app.router.routes.append(Route(path, endpoint=entry, methods=["GET", "POST", "DELETE"]))
    return _Lifespan(server, ctx, build)
