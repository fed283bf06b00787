"""`RequestContext`: every request's id, security headers and the one body-size policy.

The limits on what a client may send live here, in one place:

* `MAX_BODY_BYTES` caps every request body, whatever its framing:

  - A declared ``Content-Length`` above it (or not a number) is refused before the
    application runs. Below it, the body is left for the route to read when it wants
    (the API key and the form's origin are checked first).
  - A body of unknown length (``Transfer-Encoding: chunked``, or HTTP/2 without a
    length) is read ahead, counting, and refused as soon as it passes the cap; the
    application then receives the body already read. It never sees more than the cap,
    nor acts on a cut-off request, and no route needs to handle a body that stops
    midway (the MCP SDK would log that as an error).
  - Whatever the route reads is counted all the same. Should an HTTP server ever hand
    over more than the cap (uvicorn holds a body to its declared length), reading
    stops there: the client gets the 413 unless the response has already started,
    which is then left alone, and the route sees a client that went away.
* `MAX_FORM_FIELDS`, `MAX_FORM_FILES` and `MAX_FORM_PART_BYTES` bound the dashboard's
  form parsing (`Web.form` passes them to Starlette).

Too large is a 413: a browser asking for a dashboard page gets an HTML page in the
dashboard's words, everything else problem details. A malformed form is a 400 page
(`Web.form`); malformed JSON is MCP's to answer (a JSON-RPC parse error, 400). None of it
is an unexpected error: nothing is logged above INFO.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wellpipe.cloud.api.problems import Problem, problem_response

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_FORM_FIELDS",
    "MAX_FORM_FILES",
    "MAX_FORM_PART_BYTES",
    "SECURITY_HEADERS",
    "PageRenderer",
    "RequestContext",
    "wants_html",
]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
"""Largest request body, in bytes. An MCP message or a dashboard form is a few KB; a
1 MB password is refused here, before anything hashes it (security T-3.8)."""
MAX_FORM_FIELDS = 50
"""Most fields in one dashboard form. The largest form has four; 50 leaves room to grow
while a form of thousands of fields is refused before it is built."""
MAX_FORM_FILES = 0
"""No dashboard form uploads a file, so a file part is refused."""
MAX_FORM_PART_BYTES = 64 * 1024
"""Largest single form field, in bytes, as sent (percent-encoded). A password may have
1,024 characters (`passwords.MAX_LENGTH`, at most about 12 KB encoded), so the password
rule, not this one, answers an over-long password."""

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
"""Headers every response carries (a response may set its own value first)."""

PageRenderer = Callable[[Request, int, str, str], Response]
"""The dashboard's error page: ``(request, status, heading, sentence) -> Response``."""

_TOO_LARGE_API = (
    f"The request body is larger than {MAX_BODY_BYTES // 1_000_000} MB; send a smaller one."
)
_TOO_LARGE_PAGE = "That form was far too large to be one of ours; go back and try again."
_MAX_LENGTH_DIGITS = len(str(MAX_BODY_BYTES))
_API_PREFIXES = ("/api/", "/mcp", "/openapi.json")


def wants_html(request: Request) -> bool:
    """A browser asking for a dashboard page (not a program calling the API)."""
    if request.url.path.startswith(_API_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


def _too_long(declared: str) -> bool:
    """Whether a ``Content-Length`` value is over the cap, or not a length at all."""
    value = declared.strip()
    if not (value.isascii() and value.isdigit()):
        return True
    return len(value) > _MAX_LENGTH_DIGITS or int(value) > MAX_BODY_BYTES


class _ClientGone(Exception):
    """The client disconnected while its body was being read."""


async def _read_ahead(receive: Receive) -> bytes | None:
    """The whole body, or ``None`` as soon as it passes the cap.

    Raises:
        _ClientGone: the client went away first (there is nobody left to answer).
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise _ClientGone()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _unknown_length(scope: Scope, headers: Headers) -> bool:
    """Whether a body without ``Content-Length`` may follow (HTTP/1.1 chunked, HTTP/2)."""
    return "transfer-encoding" in headers or scope.get("http_version") not in {"1.0", "1.1"}


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the body already read, then whatever the client does next."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class _Guard:
    """One request's ``receive`` and ``send``, counting the body and stopping at the cap."""

    def __init__(self, owner: RequestContext, scope: Scope, receive: Receive, send: Send) -> None:
        self._owner = owner
        self._scope = scope
        self._receive = receive
        self._send = send
        self._received = 0
        self._started = False  # the application began its response
        self._answered = False  # we sent the 413 ourselves
        self._cut = False

    async def receive(self) -> Message:
        """The next message; past the cap, the client has gone as far as the route knows."""
        if self._cut:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > MAX_BODY_BYTES:
                self._cut = True
                if not self._started:
                    self._answered = True
                    await self._owner._too_large(self._scope, self._receive, self._send)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        """Pass the application's response on, unless the 413 went out instead."""
        if self._answered:
            return
        if message["type"] == "http.response.start":
            self._started = True
        await self._send(message)


class RequestContext:
    """Pure ASGI middleware: a request id, security headers, and the body-size cap.

    Written against ASGI directly rather than ``@app.middleware("http")``: Starlette's
    ``BaseHTTPMiddleware`` runs every request through an extra task and stream, which
    measured as a large share of a counted REST call's CPU time.
    """

    def __init__(self, app: ASGIApp, *, page: PageRenderer | None = None) -> None:
        """Wrap ``app``.

        Args:
            app: The application.
            page: Renders the dashboard's error page for browsers (without it, every
                refusal is problem details).
        """
        self.app = app
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request (other ASGI events pass straight through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        extra = [(b"x-request-id", request_id.encode())]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                message["headers"] = [*message["headers"], *extra]
            await send(message)

        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and _too_long(declared):
            await self._too_large(scope, receive, send_with_headers)
            return
        if declared is None and _unknown_length(scope, headers):
            try:
                body = await _read_ahead(receive)
            except _ClientGone:
                return
            if body is None:
                await self._too_large(scope, receive, send_with_headers)
                return
            await self.app(scope, _replay(body, receive), send_with_headers)
            return
        guard = _Guard(self, scope, receive, send_with_headers)
        await self.app(scope, guard.receive, guard.send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 413; the server discards what the client still sends of the body."""
        request = Request(scope, receive)
        logger.info(
            "Request refused: body over %d bytes (request %s)",
            MAX_BODY_BYTES,
            scope["state"]["request_id"],
        )
        response: Response
        if self.page is not None and wants_html(request):
            response = self.page(request, 413, "That request was too large", _TOO_LARGE_PAGE)
        else:
            response = problem_response(request, Problem(413, "invalid-request", _TOO_LARGE_API))
        await response(scope, receive, send)
