"""Client ID Metadata Documents: how an MCP client tells Wellpipe who it is, safely.

An MCP client (Claude.ai, ChatGPT, …) that signs in to Wellpipe Cloud may use an https
address as its OAuth ``client_id`` (draft-ietf-oauth-client-id-metadata-document). The
JSON document at that address describes the client: its name, where the authorization
server may send the user back (``redirect_uris``), and how it authenticates. Wellpipe
fetches the document, checks it, and keeps it for a while.

The address comes from whoever opens the authorization page, without signing in, so
fetching it is a server-side request forgery risk: someone could point Wellpipe at
``http://169.254.169.254/`` or at a database on the private network. So the fetch is
deliberately narrow:

* **Only https**, with a path (not the bare origin), no ``user:password@`` part and no
  ``#fragment``, no ``.``/``..`` segments. (A test mode also allows ``http`` on
  ``127.0.0.1``, ``localhost`` and ``[::1]``; production never enables it.)
* **Only public addresses.** The host name is resolved first, and the fetch is refused if
  *any* of its addresses is not on the public internet: loopback, private (10/8,
  172.16/12, 192.168/16, fc00::/7), link-local (169.254/16, the cloud metadata
  services; fe80::/10), carrier-grade NAT (100.64/10), multicast, reserved, unspecified,
  and IPv6 forms that carry an IPv4 address inside (mapped, compatible, 6to4, Teredo,
  NAT64). An IP address written in the URL gets the same test.
* **The checked address is the one used.** Wellpipe connects to the address it checked,
  not to whatever the name resolves to a moment later (DNS rebinding): the request goes
  to ``https://<address>:<port>/<path>`` with the ``Host`` header set to the real name,
  and TLS sends that name (SNI) and verifies the certificate against it, through
  httpx2's ``sni_hostname`` request extension. Each fetch uses a fresh connection, so a
  connection opened for one name is never reused for another name on the same address.
  Proxies from the environment are not used.
* **No redirects**: a 3xx answer is refused, not followed.
* **Small and quick**: the whole fetch (resolving, connecting, reading) must finish in
  ``timeout_s`` seconds (5 by default), and the body is read in pieces and refused as
  soon as it passes ``max_bytes`` (5 KiB by default). Compressed bodies are refused, so
  a small download cannot unpack into a large one.
* **A JSON object only**, served as ``application/json`` (or a ``+json`` type), whose
  ``client_id`` is exactly the address it was fetched from (string equality), which
  lists at least one redirect URI (https, or http on a loopback host as RFC 8252 allows
  native apps), and which contains no ``client_secret``. Such a client never holds a
  secret issued by Wellpipe, so it must authenticate as a public client
  (``token_endpoint_auth_method`` ``none``, the default): ``client_secret_*`` and
  ``private_key_jwt`` are refused.

The client's name is cleaned before anyone sees it: control and format characters
(including bidirectional overrides) removed, whitespace collapsed, at most 100 characters;
without one, the address's host stands in. ``logo_uri`` and ``client_uri`` are kept as
text only (https addresses, else dropped); Wellpipe never fetches them, and never shows
the logo as an image, since that would make every viewer's browser fetch it.

**Caching.** Documents are kept in this process (at most 1,000, least recently used go
first) for as long as the answer's ``Cache-Control: max-age`` or ``Expires`` says,
clamped to between 5 minutes and 24 hours, and 1 hour when it says nothing.
``no-store`` or ``no-cache`` means the document is fetched each time. When a kept
document has gone stale and fetching it again fails only because its server could not
be reached (no answer in time, connection refused, HTTP 429 or 5xx), the stale document
is still used, up to 24 hours after it was fetched, so a short outage of the app's
server does not lock its users out. Any other failure (the document is gone, changed
into something invalid, or its host now resolves to a private address) is final: the
kept document is dropped at once. Failures are not kept, so a fixed document works on
the next try; the authorization endpoint's own rate limits bound how often that is.
Concurrent requests for the same address in one process share one fetch.

**Errors.** Every refusal is a `ClientDocumentError` whose message is one sentence a
person can read on an error page (what went wrong, and that the app's developer must fix
its document), and whose ``reason`` is a short code for logs and tests. Logs name only
the host and the reason, at INFO: never the body of a document.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import ssl
import unicodedata
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2

from wellpipe.net.client import USER_AGENT

__all__ = [
    "DEFAULT_FRESHNESS",
    "MAX_FRESHNESS",
    "MIN_FRESHNESS",
    "STALE_GRACE",
    "ClientDocument",
    "ClientDocumentError",
    "ClientDocuments",
    "looks_like_client_document_url",
]

logger = logging.getLogger(__name__)

MIN_FRESHNESS = timedelta(minutes=5)
"""The shortest time a document is kept, whatever its server says (except ``no-store``)."""
MAX_FRESHNESS = timedelta(hours=24)
"""The longest time a document is kept fresh, whatever its server says."""
DEFAULT_FRESHNESS = timedelta(hours=1)
"""How long a document is kept when its server says nothing about caching."""
STALE_GRACE = timedelta(hours=24)
"""How long after its fetch a stale document may stand in while its server is unreachable."""

MAX_NAME_LENGTH = 100
MAX_URL_LENGTH = 2048
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""Hosts (as `urllib.parse` gives them, IPv6 without brackets) that are this computer."""

_EMBEDDED_IPV4_NETWORKS = (
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64, well-known prefix
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # NAT64, local use
    ipaddress.IPv6Network("::ffff:0:0/96"),  # IPv4-mapped
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated)
    ipaddress.IPv6Network("2002::/16"),  # 6to4
    ipaddress.IPv6Network("2001::/32"),  # Teredo
)
_TRANSIENT_STATUSES = frozenset({408, 425, 429})

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> addresses``: how host names become IP addresses (as text)."""


@dataclass(frozen=True, slots=True)
class ClientDocument:
    """A checked Client ID Metadata Document.

    Attributes:
        client_id: The document's address, which is also the OAuth ``client_id``.
        client_name: The cleaned display name (at most 100 characters); the address's
            host when the document names none.
        redirect_uris: Where the authorization server may send the user back, exactly as
            listed (https, or http on a loopback host).
        token_endpoint_auth_method: Always ``"none"``: the client is public.
        grant_types: The grant types listed (``("authorization_code",)`` by default).
        scope: The scopes the client may ask for, as listed, or ``None``.
        logo_uri: An https address as text, or ``None``. Never fetched by Wellpipe and
            never shown as an image (it would make each viewer's browser fetch it).
        client_uri: The client's home page as text (https), or ``None``. Never fetched.
        fetched_at: When the document was fetched.
        fresh_until: Until when it is used without fetching it again; equal to
            ``fetched_at`` when its server forbids caching (``no-store``, ``no-cache``).
    """

    client_id: str
    client_name: str
    redirect_uris: tuple[str, ...]
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...]
    scope: str | None
    logo_uri: str | None
    client_uri: str | None
    fetched_at: datetime
    fresh_until: datetime


class ClientDocumentError(Exception):
    """A client metadata document was refused; the message is one sentence for a person.

    Attributes:
        reason: A short code for logs and tests (``"redirect"``, ``"not-public"``, …).
        transient: The document's server could not be reached or was overloaded, so a
            stale copy may stand in (see the module's docstring).
    """

    def __init__(self, problem: str, *, reason: str, transient: bool = False) -> None:
        """``problem`` continues "This app's client metadata document …"."""
        super().__init__(
            f"This app's client metadata document {problem}; the app's developer must fix "
            "the document before you can connect the app to Wellpipe."
        )
        self.reason = reason
        self.transient = transient


def _refuse(problem: str, reason: str, *, transient: bool = False) -> ClientDocumentError:
    return ClientDocumentError(problem, reason=reason, transient=transient)


def _host_of(value: str) -> str | None:
    try:
        return urlsplit(value).hostname
    except ValueError:
        return None


def looks_like_client_document_url(value: str, *, allow_loopback_http: bool) -> bool:
    """Whether ``value`` has the shape of a Client ID Metadata Document address.

    That is an ``https`` URL in ASCII (an international host name in its ``xn--`` form)
    with a host and a path other than ``/``, no user info, no fragment and no
    ``.``/``..`` path segments (a query is allowed). With
    ``allow_loopback_http`` (tests only), ``http`` on ``127.0.0.1``, ``localhost`` or
    ``[::1]`` is accepted too. The shape says nothing about where the host resolves to;
    `ClientDocuments.get` checks that.
    """
    if not value or len(value) > MAX_URL_LENGTH or not value.isascii():
        return False
    if any(c.isspace() or not c.isprintable() or c in "\\#" for c in value):
        return False
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return False
    host = parts.hostname
    if not host or "@" in parts.netloc or port == 0:
        return False
    if parts.scheme == "http":
        if not (allow_loopback_http and host in LOOPBACK_HOSTS):
            return False
    elif parts.scheme != "https":
        return False
    if not parts.path.startswith("/") or parts.path == "/":
        return False
    return not any(segment in {".", ".."} for segment in parts.path.split("/"))


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``address`` is on the public internet (and carries no other address)."""
    if (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    ):
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return address not in ipaddress.IPv4Network("100.64.0.0/10")
    return not address.is_site_local and not any(address in n for n in _EMBEDDED_IPV4_NETWORKS)


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class _Borrowed(httpx2.AsyncBaseTransport):
    """An injected transport, used for one fetch without being closed by it."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        return None


class ClientDocuments:
    """Fetches, checks and keeps Client ID Metadata Documents (one instance per process).

    Args:
        transport: Replaces the network (tests). Requests still go to the checked,
            pinned address.
        allow_loopback_http: Test mode: also fetch ``http`` documents on loopback hosts,
            without address checks. Never in production.
        resolve: How host names become addresses (default: the system resolver).
        timeout_s: The limit for one whole fetch, from resolving to the last byte.
        max_bytes: The largest body accepted.
        max_entries: How many documents are kept (least recently used go first).
    """

    def __init__(
        self,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        allow_loopback_http: bool = False,
        resolve: Resolver | None = None,
        timeout_s: float = 5.0,
        max_bytes: int = 5 * 1024,
        max_entries: int = 1_000,
    ) -> None:
        self._transport = transport
        self._allow_loopback_http = allow_loopback_http
        self._resolve = resolve or _system_resolve
        self._timeout_s = timeout_s
        self._max_bytes = max_bytes
        self._max_entries = max_entries
        self._entries: OrderedDict[str, ClientDocument] = OrderedDict()
        self._locks: dict[str, anyio.Lock] = {}
        self._ssl: ssl.SSLContext | None = None

    async def get(self, url: str, *, now: datetime) -> ClientDocument:
        """The checked document at ``url``, from this process's cache while fresh.

        Raises:
            ClientDocumentError: The address or the document was refused; the message
                says why in one sentence.
        """
        kept = self._fresh(url, now)
        if kept is not None:
            return kept
        lock = self._locks.setdefault(url, anyio.Lock())
        try:
            async with lock:
                kept = self._fresh(url, now)
                if kept is not None:  # another task fetched it while this one waited
                    return kept
                return await self._refresh(url, now)
        finally:
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._locks.pop(url, None)

    def forget(self, url: str) -> None:
        """Drop the kept document of ``url``, if any, so the next `get` fetches it."""
        self._entries.pop(url, None)

    def _fresh(self, url: str, now: datetime) -> ClientDocument | None:
        document = self._entries.get(url)
        if document is None or now >= document.fresh_until:
            return None
        self._entries.move_to_end(url)
        return document

    async def _refresh(self, url: str, now: datetime) -> ClientDocument:
        host = _host_of(url) or "an invalid address"
        stale = self._entries.get(url)
        try:
            document = await self._fetch(url, now)
        except ClientDocumentError as error:
            if error.transient and stale is not None and now < stale.fetched_at + STALE_GRACE:
                logger.info(
                    "Using the stale client metadata document of %s: %s", host, error.reason
                )
                self._entries.move_to_end(url)
                return stale
            self._entries.pop(url, None)
            logger.info("Refused the client metadata document of %s: %s", host, error.reason)
            raise
        if document.fresh_until > document.fetched_at:
            self._entries[url] = document
            self._entries.move_to_end(url)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        else:
            self._entries.pop(url, None)
        return document

    async def _fetch(self, url: str, now: datetime) -> ClientDocument:
        if not looks_like_client_document_url(url, allow_loopback_http=self._allow_loopback_http):
            raise _refuse("is not at a valid https address", "bad-url")
        try:
            target = httpx2.URL(url)
            host = target.raw_host.decode("ascii")  # IDNA-encoded; IPv6 without brackets
        except (httpx2.InvalidURL, UnicodeError) as error:
            raise _refuse("is not at a valid https address", "bad-url") from error
        if not host or host != _host_of(url):  # two URL parsers must agree on the host
            raise _refuse("is not at a valid https address", "bad-url")
        timeout = f"{self._timeout_s:g} seconds"
        try:
            with anyio.fail_after(self._timeout_s):
                return await self._fetch_checked(url, target, host, now)
        except (TimeoutError, httpx2.TimeoutException) as error:
            raise _refuse(f"did not load within {timeout}", "timeout", transient=True) from error

    async def _fetch_checked(
        self, url: str, target: httpx2.URL, host: str, now: datetime
    ) -> ClientDocument:
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "Accept-Encoding": "identity",
        }
        extensions: dict[str, Any] = {}
        if self._allow_loopback_http and target.scheme == "http":
            request_url = target  # the loopback test mode: no address checks, no pinning
        else:
            port = target.port or 443
            address = await self._public_address(host, port)
            request_url = target.copy_with(host=address)
            headers["Host"] = target.netloc.decode("ascii")
            if _ip_literal(host) is None:
                extensions["sni_hostname"] = host
        client = httpx2.AsyncClient(
            transport=self._transport_for_one_fetch(),
            timeout=httpx2.Timeout(self._timeout_s),
            follow_redirects=False,
            trust_env=False,
        )
        try:
            request = client.build_request(
                "GET", request_url, headers=headers, extensions=extensions
            )
            try:
                response = await client.send(request, stream=True)
            except httpx2.TimeoutException:
                raise
            except httpx2.HTTPError as error:
                raise _refuse("could not be reached", "unreachable", transient=True) from error
            try:
                body = await self._read(response)
            finally:
                with anyio.move_on_after(1, shield=True):
                    await response.aclose()
        finally:
            with anyio.move_on_after(1, shield=True):
                await client.aclose()
        return _parse(body, url=url, host=host, now=now, headers=response.headers)

    def _transport_for_one_fetch(self) -> httpx2.AsyncBaseTransport:
        if self._transport is not None:
            return _Borrowed(self._transport)
        if self._ssl is None:
            self._ssl = httpx2.create_ssl_context()
        # A new pool per fetch, keeping no connection: a TLS connection opened for one
        # name (SNI) is never reused for another name that resolved to the same address.
        return httpx2.AsyncHTTPTransport(
            verify=self._ssl,
            retries=0,
            limits=httpx2.Limits(max_connections=1, max_keepalive_connections=0),
        )

    async def _public_address(self, host: str, port: int) -> str:
        literal = _ip_literal(host)
        if literal is not None:
            if not _is_public(literal):
                raise _refuse(
                    "is on a private or local network address, which Wellpipe never contacts",
                    "not-public",
                )
            return host
        try:
            found = await self._resolve(host, port)
        except OSError as error:
            raise _refuse("could not be reached", "unresolvable", transient=True) from error
        addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
        for text in found:
            address = _ip_literal(text)
            if address is None or not _is_public(address):
                raise _refuse(
                    "is on a private or local network address, which Wellpipe never contacts",
                    "not-public",
                )
            addresses.append(address)
        if not addresses:
            raise _refuse("could not be reached", "unresolvable", transient=True)
        return str(addresses[0])

    async def _read(self, response: httpx2.Response) -> bytes:
        status = response.status_code
        if 300 <= status < 400:
            raise _refuse(
                "redirects to another address, and Wellpipe does not follow redirects",
                "redirect",
            )
        if status != 200:
            raise _refuse(
                f"could not be loaded (its server answered HTTP {status})",
                "status",
                transient=status >= 500 or status in _TRANSIENT_STATUSES,
            )
        if response.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
            raise _refuse("was sent compressed, which Wellpipe does not accept", "encoding")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media_type != "application/json" and not (
            media_type.startswith("application/") and media_type.endswith("+json")
        ):
            raise _refuse("is not served as JSON (application/json)", "content-type")
        too_large = _refuse(
            f"is larger than the {self._max_bytes:,} bytes Wellpipe accepts", "too-large"
        )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise too_large
        body = bytearray()
        try:
            # Content-Encoding is identity (checked above), so these bytes are the raw ones.
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self._max_bytes:
                    raise too_large
        except httpx2.TimeoutException:
            raise
        except httpx2.HTTPError as error:
            raise _refuse("could not be reached", "unreachable", transient=True) from error
        return bytes(body)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise ValueError("a member appears twice")
    return found


def _parse(
    body: bytes, *, url: str, host: str, now: datetime, headers: httpx2.Headers
) -> ClientDocument:
    try:
        data = json.loads(body, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as error:
        raise _refuse("is not valid JSON", "not-json") from error
    if not isinstance(data, dict):
        raise _refuse("is not a JSON object", "not-json")
    if data.get("client_id") != url:
        raise _refuse(
            "does not give its own address, exactly, as its client_id", "client-id-mismatch"
        )
    if "client_secret" in data:
        raise _refuse("contains a client_secret, which an app must never publish", "client-secret")
    method = data.get("token_endpoint_auth_method", "none")
    if not isinstance(method, str):
        raise _refuse("has a token_endpoint_auth_method that is not text", "auth-method")
    if method.startswith("client_secret_"):  # _basic, _post, _jwt: all need our secret
        raise _refuse(
            "asks for client secret authentication, but Wellpipe issues such apps no secret",
            "auth-method",
        )
    if method == "private_key_jwt":
        raise _refuse(
            "asks for private_key_jwt authentication, which Wellpipe does not support",
            "auth-method",
        )
    if method != "none":
        raise _refuse(
            "asks for a token endpoint authentication method Wellpipe does not support",
            "auth-method",
        )
    redirect_uris = data.get("redirect_uris")
    if not isinstance(redirect_uris, list) or not redirect_uris:
        raise _refuse("lists no redirect_uris", "redirect-uris")
    if not all(isinstance(uri, str) and _is_redirect_uri(uri) for uri in redirect_uris):
        raise _refuse(
            "lists a redirect URI that is neither an https address nor an http address "
            "on the user's own computer",
            "redirect-uris",
        )
    grant_types = _strings(data, "grant_types", default=["authorization_code"])
    if "authorization_code" not in grant_types:
        raise _refuse("does not list the authorization_code grant type", "grant-types")
    response_types = _strings(data, "response_types", default=["code"])
    if "code" not in response_types:
        raise _refuse("does not list the code response type", "response-types")
    scope = data.get("scope")
    if scope is not None and not isinstance(scope, str):
        raise _refuse("has a scope that is not text", "scope")
    name = data.get("client_name")
    fresh_for = _freshness(headers, now)
    return ClientDocument(
        client_id=url,
        client_name=_clean_name(name if isinstance(name, str) else "", fallback=host),
        redirect_uris=tuple(redirect_uris),
        token_endpoint_auth_method="none",
        grant_types=tuple(grant_types),
        scope=scope,
        logo_uri=_https_text(data.get("logo_uri")),
        client_uri=_https_text(data.get("client_uri")),
        fetched_at=now,
        fresh_until=now if fresh_for is None else now + fresh_for,
    )


def _strings(data: dict[str, Any], field: str, *, default: list[str]) -> list[str]:
    value = data.get(field, default)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _refuse(f"has a {field} field that is not a list of text", field.replace("_", "-"))
    return value


def _is_redirect_uri(uri: str) -> bool:
    """An absolute https URL, or http on a loopback host (RFC 8252 §7.3); no fragment."""
    if len(uri) > MAX_URL_LENGTH or "#" in uri or "\\" in uri:
        return False
    if any(c.isspace() or not c.isprintable() for c in uri):
        return False
    try:
        parts = urlsplit(uri)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        return False
    if not parts.hostname or "@" in parts.netloc:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


def _https_text(value: object) -> str | None:
    """``value`` when it is an https URL without user info, else ``None`` (not fetched)."""
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH:
        return None
    if any(c.isspace() or not c.isprintable() for c in value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme != "https" or not parts.hostname or "@" in parts.netloc:
        return None
    return value


def _clean_name(value: str, *, fallback: str) -> str:
    """Control and format characters out, whitespace collapsed, at most 100 characters."""
    kept = "".join(c for c in value if c.isspace() or not unicodedata.category(c).startswith("C"))
    cleaned = " ".join(kept.split())[:MAX_NAME_LENGTH].rstrip()
    return cleaned or fallback


def _freshness(headers: httpx2.Headers, now: datetime) -> timedelta | None:
    """How long to keep a document: ``None`` when it must not be kept, else clamped."""
    max_age: int | None = None
    for directive in headers.get("Cache-Control", "").split(","):
        name, _, value = directive.strip().partition("=")
        name = name.strip().lower()
        if name in {"no-store", "no-cache"}:
            return None
        if name == "max-age":
            text = value.strip().strip('"')
            if text.isdigit():
                max_age = int(text)
    if max_age is not None:
        wanted = timedelta(seconds=min(max_age, 10**9))
    elif "Expires" in headers:
        wanted = _until_expires(headers, now)
    else:
        wanted = DEFAULT_FRESHNESS
    return min(max(wanted, MIN_FRESHNESS), MAX_FRESHNESS)


def _until_expires(headers: httpx2.Headers, now: datetime) -> timedelta:
    """``Expires`` minus the answer's ``Date`` (or ``now``); an unreadable date is the past."""
    try:
        expires = parsedate_to_datetime(headers["Expires"])
    except (TypeError, ValueError):
        return timedelta(0)
    start = now
    dates = headers.get_list("Date")
    if len(dates) == 1:
        try:
            start = parsedate_to_datetime(dates[0])
        except (TypeError, ValueError):
            start = now
    if expires.tzinfo is None or start.tzinfo is None:
        return timedelta(0)
    return expires - start
