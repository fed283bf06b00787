"""A one-shot loopback server that receives the OAuth redirect (RFC 8252 §7.3, §8.3).

`serve_callback` listens on ``127.0.0.1`` only, at the port of the configured
redirect URI, while the sign-in is in progress, and closes afterwards. It
answers ``GET <exact path>`` with a ``Host`` of ``127.0.0.1:PORT`` or
``localhost:PORT``; anything else is refused (421 wrong Host, 405 not GET,
404 other path, 400 malformed). Every page it serves is small, self-contained
HTML with ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``, and
never contains the query it received.

The first request that carries ``code``, ``error`` or ``state`` ends the wait;
what to do with it (check ``state``, exchange the code) is the caller's business.

`check_redirect_uri` holds the rules for a redirect URI Wellpipe can serve.
"""

from __future__ import annotations

import errno
import html
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import parse_qsl, urlsplit

import anyio
from anyio.abc import SocketAttribute, SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from wellpipe.core.errors import ConfigError, WellpipeError

__all__ = [
    "BIND_HOST",
    "DEFAULT_TIMEOUT_S",
    "CallbackPage",
    "CallbackPortInUse",
    "CallbackServer",
    "CallbackTimeout",
    "LoopbackRedirect",
    "check_redirect_uri",
    "loopback_redirect",
    "serve_callback",
]

BIND_HOST = "127.0.0.1"
"""The only interface the callback server listens on."""
DEFAULT_TIMEOUT_S = 300.0
"""How long to wait for the browser (R-1.5: at most 300 s)."""

_LOOPBACK_NAMES = ("127.0.0.1", "localhost")
_MAX_HEAD_BYTES = 8192
_READ_TIMEOUT_S = 10.0
_CALLBACK_KEYS = ("code", "error", "state")
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    410: "Gone",
    421: "Misdirected Request",
}
_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'",
    ),
    ("Connection", "close"),
)


class CallbackTimeout(WellpipeError):
    """The browser did not come back to the redirect URI in time."""


class CallbackPortInUse(ConfigError):
    """Another program already listens on the redirect URI's port.

    Attributes:
        port: The port that is taken.
    """

    def __init__(self, port: int, redirect_uri: str) -> None:
        super().__init__(
            f"Port {port} on 127.0.0.1 is already in use, so Wellpipe cannot receive the "
            f"sign-in redirect at {redirect_uri}: stop the program using port {port} "
            f"(for example another `wellpipe auth` still waiting; `lsof -i :{port}` shows it) "
            "and try again, or choose another port with `wellpipe init --redirect-uri` and "
            "register that URI in your developer app."
        )
        self.port = port


class LoopbackRedirect(NamedTuple):
    """Where a loopback redirect URI points: the host the browser uses, the port and the path."""

    host: str
    port: int
    path: str


def check_redirect_uri(uri: str) -> str:
    """Validate a redirect URI Wellpipe can use, and return it unchanged.

    Accepted: ``http://127.0.0.1:PORT/path`` or ``http://localhost:PORT/path``
    (Wellpipe listens there itself), or any ``https://host/path`` (you then paste
    the address the browser lands on).

    Raises:
        ValueError: with the reason, as a sentence fragment a person can act on.
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            "it must be an absolute http:// or https:// URL, such as "
            "http://127.0.0.1:8976/callback/whoop"
        )
    if "@" in parts.netloc:
        raise ValueError("it must not contain a user name or password")
    if parts.fragment or "#" in uri:
        raise ValueError("it must not contain a #fragment (OAuth forbids one)")
    if parts.query:
        raise ValueError("it must not contain a ?query: the provider adds its own parameters")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("its port is not a number between 1 and 65535") from None
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError("it needs a host name")
    if scheme == "https":
        return uri
    if host not in _LOOPBACK_NAMES:
        raise ValueError(
            "plain http:// is only safe to this computer itself: use "
            "http://127.0.0.1:PORT/path (Wellpipe listens there), or an https:// address"
        )
    if port is None or port == 0:
        raise ValueError(
            "it needs an explicit port, such as http://127.0.0.1:8976/callback/whoop, "
            "so Wellpipe knows where to listen"
        )
    if parts.path in ("", "/"):
        raise ValueError(
            "it needs a path, such as /callback/whoop (one path per provider keeps "
            "sign-ins from getting mixed up)"
        )
    return uri


def loopback_redirect(uri: str) -> LoopbackRedirect | None:
    """Where Wellpipe must listen for ``uri``; ``None`` when it is not a loopback URI.

    Raises:
        ValueError: ``uri`` is not a redirect URI Wellpipe accepts (see `check_redirect_uri`).
    """
    check_redirect_uri(uri)
    parts = urlsplit(uri)
    if parts.scheme.lower() != "http":
        return None
    port = parts.port
    assert port is not None  # check_redirect_uri requires it
    return LoopbackRedirect(host=(parts.hostname or "").lower(), port=port, path=parts.path)


@dataclass(frozen=True)
class CallbackPage:
    """What the browser shows after the redirect.

    Attributes:
        ok: Whether the sign-in looks good so far (only changes the wording).
        title: The heading.
        message: One or two sentences; plain text, escaped on the way out.
    """

    ok: bool
    title: str
    message: str


def _default_judge(params: Mapping[str, str]) -> CallbackPage:
    if "error" in params:
        return CallbackPage(False, "Sign-in not completed", "Return to your terminal for details.")
    return CallbackPage(
        True, "Almost done", "Wellpipe received the answer. Return to your terminal."
    )


def _render(page: CallbackPage) -> str:
    colour = "#1a7f37" if page.ok else "#b42318"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Wellpipe: {html.escape(page.title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;"
        f"padding:0 1rem;line-height:1.5;color:#222}}h1{{color:{colour};font-size:1.4rem}}"
        "</style></head><body>"
        f"<h1>{html.escape(page.title)}</h1><p>{html.escape(page.message)}</p>"
        "<p>You can close this tab.</p></body></html>"
    )


def _response(status: int, page: CallbackPage, *, allow: str | None = None) -> bytes:
    body = _render(page).encode()
    headers = [*_HEADERS, ("Content-Length", str(len(body)))]
    if allow:
        headers.append(("Allow", allow))
    head = f"HTTP/1.1 {status} {_REASONS[status]}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers
    )
    return head.encode("latin-1") + b"\r\n" + body


def _refusal(status: int, message: str, *, allow: str | None = None) -> bytes:
    return _response(status, CallbackPage(False, "Not here", message), allow=allow)


class _Request(NamedTuple):
    method: str
    target: str
    headers: dict[str, list[str]]


def _parse_head(head: bytes) -> _Request | None:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        return None
    lines = text.split("\r\n")
    request_line = lines[0].split(" ")
    if len(request_line) != 3 or not request_line[2].startswith("HTTP/1."):
        return None
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            return None
        headers.setdefault(name.lower(), []).append(value.strip())
    return _Request(request_line[0], request_line[1], headers)


class CallbackServer:
    """The running callback server (use `serve_callback`).

    Attributes:
        redirect: Where it listens (host name the browser uses, port, path).
        bound_address: The socket's actual address, ``("127.0.0.1", port)``.
    """

    def __init__(
        self,
        redirect: LoopbackRedirect,
        bound_address: tuple[str, int],
        judge: Callable[[Mapping[str, str]], CallbackPage],
    ) -> None:
        self.redirect = redirect
        self.bound_address = bound_address
        self._judge = judge
        self._allowed_hosts = {f"{name}:{redirect.port}" for name in _LOOPBACK_NAMES}
        if redirect.port == 80:
            self._allowed_hosts |= set(_LOOPBACK_NAMES)
        self._params: dict[str, str] | None = None
        self._done = anyio.Event()

    @property
    def received(self) -> dict[str, str] | None:
        """The callback's query parameters once it arrived, else ``None``."""
        return None if self._params is None else dict(self._params)

    async def wait(
        self, timeout_s: float = DEFAULT_TIMEOUT_S, *, next_step: str = ""
    ) -> dict[str, str]:
        """The query parameters of the first callback, once it arrives.

        Args:
            timeout_s: How long to wait.
            next_step: What the timeout message tells the user to do.

        Raises:
            CallbackTimeout: nothing arrived within ``timeout_s``.
        """
        with anyio.move_on_after(timeout_s):
            await self._done.wait()
        if self._params is None:
            minutes = timeout_s / 60
            waited = f"{minutes:g} minutes" if timeout_s >= 60 else f"{timeout_s:g} seconds"
            raise CallbackTimeout(
                f"The browser did not come back to {self.redirect.path} within {waited}, so "
                "nothing was saved"
                + (f": {next_step}." if next_step else "; start the sign-in again.")
            )
        return dict(self._params)

    def respond(self, head: bytes) -> bytes:
        """The full HTTP response to a request head (request line and headers)."""
        request = _parse_head(head)
        if request is None:
            return _refusal(400, "This is not a request Wellpipe understands.")
        hosts = request.headers.get("host", [])
        if len(hosts) != 1 or hosts[0].lower() not in self._allowed_hosts:
            return _refusal(421, "Wellpipe only answers on this computer's loopback address.")
        if request.method != "GET":
            return _refusal(405, "Wellpipe only accepts the browser's redirect here.", allow="GET")
        if not request.target.startswith("/"):
            return _refusal(400, "This is not a request Wellpipe understands.")
        target = urlsplit(request.target)
        if target.path != self.redirect.path:
            return _refusal(404, "Nothing here: Wellpipe waits for the sign-in elsewhere.")
        pairs = parse_qsl(target.query, keep_blank_values=True)
        keys = [key for key, _ in pairs]
        if any(keys.count(key) > 1 for key in _CALLBACK_KEYS):
            return _refusal(400, "The sign-in answer is malformed (a parameter appears twice).")
        params = dict(pairs)
        if not any(key in params for key in _CALLBACK_KEYS):
            return _refusal(400, "Wellpipe is waiting for the provider's redirect, not this.")
        if self._params is not None:
            return _refusal(410, "This sign-in is already finished. Return to your terminal.")
        self._params = params
        try:
            page = self._judge(params)
        except Exception:  # a judge that crashes still ends the wait; the caller reports
            page = CallbackPage(False, "Sign-in not completed", "Return to your terminal.")
        return _response(200, page)

    async def handle(self, stream: SocketStream) -> None:
        """Serve one connection: read one request head, answer, close."""
        async with stream:
            with anyio.move_on_after(_READ_TIMEOUT_S):
                buffered = BufferedByteReceiveStream(stream)
                try:
                    head = await buffered.receive_until(b"\r\n\r\n", _MAX_HEAD_BYTES)
                except anyio.DelimiterNotFound:
                    reply = _refusal(400, "The request is too large.")
                except (anyio.IncompleteRead, anyio.EndOfStream, anyio.BrokenResourceError):
                    return
                else:
                    reply = self.respond(head)
                try:
                    await stream.send(reply)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return
            if self._params is not None:
                self._done.set()


@asynccontextmanager
async def serve_callback(
    redirect_uri: str,
    *,
    judge: Callable[[Mapping[str, str]], CallbackPage] | None = None,
) -> AsyncIterator[CallbackServer]:
    """Listen on 127.0.0.1 at ``redirect_uri``'s port while the block runs.

    The socket is bound before the block starts, so the browser can be opened
    inside it without racing the server. Leaving the block closes the port.

    Args:
        redirect_uri: A loopback redirect URI (``http://127.0.0.1:PORT/path``).
        judge: Decides the page the browser shows for a callback's parameters
            (for example after checking ``state``); it must not raise.

    Raises:
        ValueError: ``redirect_uri`` is not a loopback redirect URI.
        CallbackPortInUse: the port is taken.
    """
    redirect = loopback_redirect(redirect_uri)
    if redirect is None:
        raise ValueError(f"{redirect_uri} is not a loopback redirect URI")
    try:
        listener = await anyio.create_tcp_listener(local_host=BIND_HOST, local_port=redirect.port)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise CallbackPortInUse(redirect.port, redirect_uri) from None
        if error.errno == errno.EACCES:
            raise ConfigError(
                f"This user may not listen on port {redirect.port} (ports below 1024 need "
                "administrator rights): choose a port above 1024 with `wellpipe init "
                "--redirect-uri` and register that URI in your developer app."
            ) from None
        raise
    address = listener.extra(SocketAttribute.local_address)
    assert isinstance(address, tuple)
    server = CallbackServer(redirect, (str(address[0]), int(address[1])), judge or _default_judge)
    try:
        async with listener, anyio.create_task_group() as group:
            group.start_soon(listener.serve, server.handle)
            try:
                yield server
            finally:
                group.cancel_scope.cancel()
    except BaseExceptionGroup as group_error:
        # The task group wraps what the block raised; callers want the error itself.
        if len(group_error.exceptions) == 1:
            raise group_error.exceptions[0] from None
        raise
