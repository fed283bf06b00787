"""The OAuth 2.1 authorization server that lets assistants (Claude, ChatGPT) connect.

What a connector does, and what answers it here:

1. It calls ``/api/mcp`` without a token and gets a 401 whose ``WWW-Authenticate`` names
   the protected-resource metadata (RFC 9728); that names this service as the issuer,
   whose metadata (RFC 8414) lists the endpoints below.
2. It identifies itself with a **client metadata document** (its ``client_id`` is an https
   URL we fetch, `wellpipe.cloud.services.client_documents`) or registers (RFC 7591,
   `register`): open, capped per network address, redirect URIs checked, and a client
   that never completes a grant expires after a day.
3. It sends the person to ``/authorize`` with PKCE (S256 only) and the ``resource`` it
   wants a token for (RFC 8707). `begin` checks all of it and keeps the request for the
   consent page; the person signs in if needed, reads who asks and what for, and allows
   or denies (`decide`). The redirect back carries ``code``, ``state`` and ``iss``
   (RFC 9207).
4. It trades the code at ``/token`` (`exchange_code`): single-use (a replayed code
   revokes what it granted), a minute long, bound to the client, the redirect URI, the
   PKCE verifier and the resource. It gets an opaque access token (an hour) and a
   refresh token; every refresh (`refresh`) spends the refresh token and issues a new
   pair, and a spent refresh token presented again revokes the whole grant (it was
   copied).
5. Its access token is one more credential the gate resolves (`resolve_access`): to the
   person who allowed it, only at the resource it was issued for, counted, limited and
   audited exactly like an API key.

Only SHA-256 digests of codes, tokens and client secrets are stored. The person sees
their connected assistants in the dashboard and can revoke each (`revoke_grant`), which
stops the very next request; deleting the account revokes every grant.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from pydantic import ValidationError

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db import authorization as store
from wellpipe.cloud.db.authorization import GrantRow, RequestRow
from wellpipe.cloud.services.audit import record_event
from wellpipe.cloud.services.client_documents import (
    ClientDocumentError,
    ClientDocuments,
    looks_like_client_document_url,
)
from wellpipe.cloud.services.keys import Principal
from wellpipe.cloud.services.limits import month_period
from wellpipe.cloud.services.sessions import digest

__all__ = [
    "ACCESS_PREFIX",
    "RESOURCE_PATHS",
    "SCOPE",
    "AuthorizeRefused",
    "Client",
    "ClientRefused",
    "Grant",
    "OAuthError",
    "Pending",
    "TokenSet",
    "authenticate_client",
    "begin",
    "client_for",
    "decide",
    "exchange_code",
    "forget_expired",
    "issuer",
    "list_grants",
    "note_use",
    "pending",
    "refresh",
    "register",
    "resolve_access",
    "resources",
    "revoke_client",
    "revoke_grant",
    "revoke_token",
]

logger = logging.getLogger(__name__)

SCOPE = "health:read"
"""The one scope: read the person's health data from their connected providers."""

IGNORED_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
"""Scopes some clients ask for by habit: accepted, and granted as `SCOPE` alone."""

RESOURCE_PATHS = ("/api/mcp", "/mcp")
"""The protected resources: the MCP endpoint, at both of its addresses."""

ACCESS_PREFIX = "wpat_"
REFRESH_PREFIX = "wprt_"
CODE_PREFIX = "wpac_"
SECRET_PREFIX = "wpcs_"

CODE_TTL = timedelta(minutes=1)
REQUEST_TTL = timedelta(minutes=10)
UNUSED_CLIENT_TTL = timedelta(hours=24)
REGISTRATION_WINDOW = timedelta(hours=1)
SPENT_KEPT = timedelta(days=14)
"""How long a spent refresh token is remembered, so that its reuse still revokes the grant."""
NAME_MAX = 100
METHODS = ("none", "client_secret_basic", "client_secret_post")
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


class OAuthError(Exception):
    """An OAuth error answer (RFC 6749 §5.2): ``error`` code, a sentence, an HTTP status."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        """The JSON error body."""
        return {"error": self.error, "error_description": self.description}


class ClientRefused(OAuthError):
    """The client is unknown, expired, revoked, or failed to authenticate (401)."""

    def __init__(self, description: str) -> None:
        super().__init__("invalid_client", description, status=401)


class AuthorizeRefused(Exception):
    """An authorization request refused.

    With ``redirect_uri`` set, the refusal goes back to the client (RFC 6749 §4.1.2.1);
    without, the client or its redirect URI is not trusted, and the person is shown the
    sentence instead.
    """

    def __init__(
        self,
        error: str,
        description: str,
        *,
        redirect_uri: str | None = None,
        state: str | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.redirect_uri = redirect_uri
        self.state = state


@dataclass(frozen=True)
class Client:
    """An assistant's client, registered (``dcr``) or described by its document (``cimd``)."""

    client_id: str
    name: str
    kind: str
    redirect_uris: tuple[str, ...]
    secret_hash: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint answers."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_in: int
    scope: str

    def body(self) -> dict[str, Any]:
        """The JSON token response (RFC 6749 §5.1)."""
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
        }


@dataclass(frozen=True)
class Pending:
    """An authorization request waiting on the consent page."""

    handle: str = field(repr=False)
    client_name: str
    client_kind: str
    client_id: str
    redirect_host: str
    scope: str


@dataclass(frozen=True)
class Grant:
    """A connected assistant, as the dashboard lists it."""

    id: str
    client_name: str
    client_kind: str
    redirect_host: str
    created_at: datetime
    last_used_at: datetime | None
    requests_this_month: int


# ---------------------------------------------------------------------- basics
def issuer(ctx: CloudContext) -> str:
    """The issuer identifier: the public origin, without a trailing slash."""
    return ctx.settings.public_url


def resources(ctx: CloudContext) -> tuple[str, ...]:
    """The resource identifiers tokens may be issued for (RFC 8707)."""
    return tuple(issuer(ctx) + path for path in RESOURCE_PATHS)


def _mint(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def clean_name(value: object, fallback: str) -> str:
    """A client-supplied name as safe, short display text (escaped again when rendered)."""
    if not isinstance(value, str):
        return fallback[:NAME_MAX]
    kept = "".join(ch for ch in value if unicodedata.category(ch)[0] not in {"C"})
    collapsed = " ".join(kept.split())
    return (collapsed or fallback)[:NAME_MAX]


def _documents(ctx: CloudContext) -> ClientDocuments:
    documents = ctx.state.client_documents
    if documents is None:
        documents = ctx.state.client_documents = ClientDocuments(
            allow_loopback_http=ctx.settings.oauth_testing
        )
    return documents


def _is_loopback(host: str | None) -> bool:
    return host is not None and host.lower() in _LOOPBACK_HOSTS


def redirect_matches(registered: Sequence[str], presented: str) -> bool:
    """Exact match, except that a loopback ``http`` redirect may use any port (RFC 8252 §7.3)."""
    if presented in registered:
        return True
    asked = urlsplit(presented)
    if asked.scheme != "http" or not _is_loopback(asked.hostname):
        return False
    for candidate in registered:
        known = urlsplit(candidate)
        if (
            known.scheme == "http"
            and known.hostname == asked.hostname
            and known.path == asked.path
            and known.query == asked.query
        ):
            return True
    return False


def check_redirect_uri(uri: str) -> str | None:
    """Why ``uri`` cannot be a redirect URI, or ``None`` when it can.

    https anywhere; http only on a loopback address (desktop tools); a private-use scheme
    in reverse-domain form (``com.example.app:/callback``, RFC 8252 §7.1). Never a
    fragment, userinfo, or a scheme a browser would run (``javascript:``, ``data:``).
    """
    try:
        parts = urlsplit(uri)
    except ValueError:
        return f"{uri!r} is not a URL"
    if parts.fragment or "#" in uri:
        return f"{uri!r} has a fragment"
    scheme = parts.scheme.lower()
    if scheme == "https":
        if not parts.hostname or parts.username or parts.password:
            return f"{uri!r} needs a host and no user name"
        return None
    if scheme == "http":
        if not _is_loopback(parts.hostname):
            return f"{uri!r} uses http on a host that is not this computer; use https"
        return None
    if "." in scheme and scheme not in {"javascript", "data", "file", "vbscript"}:
        return None
    return f"{uri!r} uses a scheme that cannot be a redirect URI"


def _host_of(uri: str) -> str:
    parts = urlsplit(uri)
    return parts.netloc or f"{parts.scheme}:"


# ---------------------------------------------------------------------- clients
async def client_for(ctx: CloudContext, client_id: str) -> Client | None:
    """The client ``client_id`` names, or ``None`` when there is none (or it expired).

    Raises:
        ClientRefused: a client metadata document could not be used (the sentence says why).
    """
    test_mode = ctx.settings.oauth_testing
    if looks_like_client_document_url(client_id, allow_loopback_http=test_mode):
        async with ctx.db.sessions() as session:
            blocked = await store.read_client(session, client_id[:512])
        if blocked is not None and blocked.revoked_at is not None:
            raise ClientRefused("The service's operator revoked this assistant's client.")
        try:
            document = await _documents(ctx).get(client_id, now=ctx.clock.now())
        except ClientDocumentError as refused:
            raise ClientRefused(str(refused)) from None
        return Client(
            client_id=client_id,
            name=clean_name(document.client_name, urlsplit(client_id).netloc),
            kind="cimd",
            redirect_uris=tuple(document.redirect_uris),
        )
    if len(client_id) > 64:
        return None
    async with ctx.db.sessions() as session:
        row = await store.read_client(session, client_id)
    now = ctx.clock.now()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    registered = json.loads(row.metadata_json)
    return Client(
        client_id=row.id,
        name=clean_name(registered.get("client_name"), "An unnamed assistant"),
        kind="dcr",
        redirect_uris=tuple(str(uri) for uri in registered.get("redirect_uris", [])),
        secret_hash=row.secret_hash,
    )


def _source_digest(ctx: CloudContext, source: str | None) -> str:
    pepper = ctx.settings.api_key_pepper
    secret = pepper.get_secret_value().encode() if pepper is not None else b""
    return hmac.new(secret, f"register:{source or '-'}".encode(), hashlib.sha256).hexdigest()


async def register(ctx: CloudContext, body: bytes, *, source: str | None) -> dict[str, Any]:
    """Register a client (RFC 7591 §3); the answer is the registration response.

    Raises:
        OAuthError: ``invalid_client_metadata`` / ``invalid_redirect_uri`` (400), or too
            many registrations from this address (429).
    """
    from mcp.shared.auth import OAuthClientMetadata

    try:
        requested = OAuthClientMetadata.model_validate_json(body)
    except ValidationError as invalid:
        errors = invalid.errors()
        where = ".".join(str(part) for part in errors[0]["loc"]) if errors else "body"
        why = errors[0]["msg"] if errors else "invalid"
        raise OAuthError(
            "invalid_client_metadata", f"The registration is not valid ({where}: {why})."
        ) from None
    uris = [str(uri) for uri in requested.redirect_uris or []]
    for uri in uris:
        problem = check_redirect_uri(uri)
        if problem is not None:
            raise OAuthError("invalid_redirect_uri", f"Redirect URI refused: {problem}.")
    method = requested.token_endpoint_auth_method or "client_secret_basic"
    if method not in METHODS:
        raise OAuthError(
            "invalid_client_metadata",
            f"token_endpoint_auth_method must be one of {', '.join(METHODS)}.",
        )
    grant_types = set(requested.grant_types)
    if "authorization_code" not in grant_types or grant_types - {
        "authorization_code",
        "refresh_token",
    }:
        raise OAuthError(
            "invalid_client_metadata",
            "grant_types must include authorization_code and may add refresh_token, nothing else.",
        )
    if set(requested.response_types) != {"code"}:
        raise OAuthError("invalid_client_metadata", 'response_types must be ["code"].')
    _granted_scope(requested.scope, error="invalid_client_metadata")
    now = ctx.clock.now()
    source_digest = _source_digest(ctx, source)
    secret = _mint(SECRET_PREFIX) if method != "none" else None
    client_id = secrets.token_urlsafe(24)
    name = clean_name(requested.client_name, "An unnamed assistant")
    registered = {
        "client_name": name,
        "redirect_uris": uris,
        "token_endpoint_auth_method": method,
        "grant_types": sorted(grant_types),
        "response_types": ["code"],
        "scope": SCOPE,
    }
    for optional in ("client_uri", "logo_uri", "software_id", "software_version"):
        value = getattr(requested, optional)
        if value is not None:
            registered[optional] = str(value)[:500]
    limit = ctx.settings.oauth_registrations_per_hour
    async with ctx.db.transaction() as session:
        await store.delete_expired(session, now)
        recent = await store.count_registrations(session, source_digest, now - REGISTRATION_WINDOW)
        if recent >= limit:
            raise OAuthError(
                "invalid_request",
                f"Too many client registrations from this address ({limit} an hour); "
                "reuse the client you registered, or try again in an hour.",
                status=429,
            )
        await store.add_client(
            session,
            client_id=client_id,
            secret_hash=digest(secret) if secret else None,
            metadata_json=json.dumps(registered),
            source_digest=source_digest,
            created_at=now,
            expires_at=now + UNUSED_CLIENT_TTL,
        )
    logger.info("Registered an OAuth client (%s)", method)
    answer: dict[str, Any] = {
        "client_id": client_id,
        "client_id_issued_at": int(now.timestamp()),
        **registered,
    }
    if secret is not None:
        answer["client_secret"] = secret
        answer["client_secret_expires_at"] = 0
    return answer


def _granted_scope(requested: str | None, *, error: str = "invalid_scope") -> str:
    """The scope to grant for ``requested`` (absent: `SCOPE`)."""
    if requested:
        unknown = set(requested.split()) - {SCOPE} - IGNORED_SCOPES
        if unknown:
            raise OAuthError(
                error, f"Unknown scope {', '.join(sorted(unknown))}; this service offers {SCOPE}."
            )
    return SCOPE


async def authenticate_client(
    ctx: CloudContext, form: Mapping[str, str], authorization: str | None
) -> Client:
    """The client a token or revocation request comes from, authenticated.

    ``client_secret_basic`` (with or without ``client_id`` in the form) and
    ``client_secret_post`` are both accepted for a client holding a secret, whichever it
    registered; a public client (``none``) sends only its ``client_id``.

    Raises:
        ClientRefused: unknown, expired or revoked client, or a wrong secret (401, so a
            connector registers again).
    """
    presented_id = form.get("client_id")
    presented_secret = form.get("client_secret")
    if authorization and authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            basic_id, _, basic_secret = decoded.partition(":")
        except (ValueError, UnicodeDecodeError):
            raise ClientRefused("The Basic authorization header is malformed.") from None
        basic_id, basic_secret = unquote(basic_id), unquote(basic_secret)
        if presented_id and presented_id != basic_id:
            raise ClientRefused("client_id differs from the one in the Basic header.")
        presented_id, presented_secret = basic_id, basic_secret
    if not presented_id:
        raise ClientRefused("Send client_id (in the form or the Basic header).")
    client = await client_for(ctx, presented_id)
    if client is None:
        raise ClientRefused("This client is not registered (or expired); register again.")
    secret_ok = presented_secret is not None and (
        client.secret_hash is None
        or hmac.compare_digest(client.secret_hash, digest(presented_secret))
    )
    if client.secret_hash is not None and not secret_ok:
        raise ClientRefused("The client secret is missing or wrong; register again.")
    return client


# ---------------------------------------------------------------------- authorize
def _one(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    return value if value else None


async def begin(ctx: CloudContext, params: Mapping[str, str], browser_binding: str) -> str:
    """Check an authorization request and keep it for the consent page; returns its handle.

    Raises:
        AuthorizeRefused: the request is refused (with a redirect URI to tell the client
            when the client and its redirect URI can be trusted).
        ClientRefused: the client's metadata document could not be used.
    """
    client_id = _one(params, "client_id")
    if client_id is None:
        raise AuthorizeRefused("invalid_request", "The request names no client_id.")
    client = await client_for(ctx, client_id)
    if client is None:
        raise AuthorizeRefused(
            "invalid_request",
            "This assistant is not registered here (or its registration expired); "
            "remove the connector and add it again.",
        )
    redirect_uri = _one(params, "redirect_uri")
    if redirect_uri is None:
        if len(client.redirect_uris) != 1:
            raise AuthorizeRefused("invalid_request", "The request names no redirect_uri.")
        redirect_uri = client.redirect_uris[0]
    elif not redirect_matches(client.redirect_uris, redirect_uri):
        raise AuthorizeRefused(
            "invalid_request",
            "The address this assistant asked to send you back to is not one it registered, "
            "so Wellpipe stopped here; nothing was shared.",
        )
    state = _one(params, "state")

    def back(error: str, description: str) -> AuthorizeRefused:
        return AuthorizeRefused(error, description, redirect_uri=redirect_uri, state=state)

    if params.get("response_type") != "code":
        raise back("unsupported_response_type", "Only response_type=code is supported.")
    challenge = _one(params, "code_challenge")
    method = params.get("code_challenge_method")
    if challenge is None:
        raise back("invalid_request", "PKCE is required: send code_challenge (S256).")
    if method != "S256":
        raise back("invalid_request", "code_challenge_method must be S256 (plain is refused).")
    if not _CHALLENGE.fullmatch(challenge):
        raise back("invalid_request", "code_challenge is not a base64url SHA-256 value.")
    try:
        scope = _granted_scope(params.get("scope"))
    except OAuthError as refused:
        raise back("invalid_scope", refused.description) from None
    resource = params.get("resource") or resources(ctx)[0]
    if resource not in resources(ctx):
        raise back(
            "invalid_target",
            f"resource must be one of {', '.join(resources(ctx))}.",
        )
    handle = secrets.token_urlsafe(32)
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        await store.add_request(
            session,
            id_digest=digest(handle),
            created_at=now,
            expires_at=now + REQUEST_TTL,
            browser_binding=digest(browser_binding),
            client_id=client.client_id,
            client_name=client.name,
            client_kind=client.kind,
            redirect_uri=redirect_uri,
            code_challenge=challenge,
            state=state[:2000] if state else None,
            scope=scope,
            resource=resource,
        )
    return handle


def _pending(handle: str, row: RequestRow) -> Pending:
    return Pending(
        handle=handle,
        client_name=row.client_name,
        client_kind=row.client_kind,
        client_id=row.client_id,
        redirect_host=_host_of(row.redirect_uri),
        scope=row.scope,
    )


async def pending(ctx: CloudContext, handle: str, browser_binding: str | None) -> Pending | None:
    """The request behind ``handle``, if this browser made it and it has not expired."""
    if not handle or not browser_binding or len(handle) > 100:
        return None
    async with ctx.db.sessions() as session:
        row = await store.read_request(session, digest(handle))
    if row is None or row.expires_at <= ctx.clock.now():
        return None
    if not hmac.compare_digest(row.browser_binding, digest(browser_binding)):
        return None
    return _pending(handle, row)


def redirect_with(uri: str, values: Mapping[str, str | None]) -> str:
    """``uri`` with ``values`` added to its query (keeping what it had)."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.extend((name, value) for name, value in values.items() if value is not None)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


async def decide(
    ctx: CloudContext,
    handle: str,
    browser_binding: str | None,
    *,
    user_id: str,
    allow: bool,
    request_id: str | None = None,
) -> str | None:
    """Record the person's answer; returns where to send the browser (``None``: expired).

    Allowing issues a single-use code bound to the request; denying tells the client
    ``access_denied``. Either way the answer carries ``state`` and ``iss``.
    """
    if not browser_binding:
        return None
    now = ctx.clock.now()
    code = _mint(CODE_PREFIX)
    async with ctx.db.transaction() as session:
        row = await store.take_request(session, digest(handle))
        if row is None or row.expires_at <= now:
            return None
        if not hmac.compare_digest(row.browser_binding, digest(browser_binding)):
            return None
        if allow:
            await store.add_code(
                session,
                code_digest=digest(code),
                user_id=user_id,
                client_id=row.client_id,
                client_name=row.client_name,
                client_kind=row.client_kind,
                redirect_uri=row.redirect_uri,
                code_challenge=row.code_challenge,
                scope=row.scope,
                resource=row.resource,
                created_at=now,
                expires_at=now + CODE_TTL,
            )
    answer: dict[str, str | None]
    if allow:
        answer = {"code": code, "state": row.state, "iss": issuer(ctx)}
    else:
        answer = {
            "error": "access_denied",
            "error_description": "The person declined.",
            "state": row.state,
            "iss": issuer(ctx),
        }
    return redirect_with(row.redirect_uri, answer)


# ---------------------------------------------------------------------- tokens
def _pkce_ok(verifier: str | None, challenge: str) -> bool:
    if not verifier or not _VERIFIER.fullmatch(verifier):
        return False
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return hmac.compare_digest(computed.decode().rstrip("="), challenge)


async def _issue(
    session: Any, ctx: CloudContext, grant_id: str, now: datetime, scope: str
) -> TokenSet:
    access, refresh_token = _mint(ACCESS_PREFIX), _mint(REFRESH_PREFIX)
    settings = ctx.settings
    await store.add_token(
        session,
        digest=digest(access),
        grant_id=grant_id,
        kind="access",
        created_at=now,
        expires_at=now + timedelta(seconds=settings.oauth_access_ttl_s),
    )
    await store.add_token(
        session,
        digest=digest(refresh_token),
        grant_id=grant_id,
        kind="refresh",
        created_at=now,
        expires_at=now + timedelta(seconds=settings.oauth_refresh_ttl_s),
    )
    return TokenSet(access, refresh_token, settings.oauth_access_ttl_s, scope)


def _resource_for(asked: str | None, bound: str) -> None:
    if asked and asked != bound:
        raise OAuthError(
            "invalid_target", f"This grant is for {bound}; ask for that resource, or none."
        )


async def _revoke_reused(
    session: Any,
    grant_id: str,
    user_id: str,
    client_name: str,
    what: str,
    *,
    now: datetime,
    request_id: str | None,
) -> None:
    """A code or refresh token came back after use: someone copied it, so the grant ends."""
    await store.revoke_grant(session, grant_id, now)
    await record_event(
        session,
        user_id=user_id,
        event="assistant.token_reused",
        at=now,
        detail={"client": client_name, "what": what},
        request_id=request_id,
    )


async def exchange_code(
    ctx: CloudContext,
    client: Client,
    form: Mapping[str, str],
    *,
    request_id: str | None = None,
) -> TokenSet:
    """Trade an authorization code for tokens (RFC 6749 §4.1.3, RFC 7636 §4.6).

    Raises:
        OAuthError: ``invalid_grant`` (unknown, expired, replayed, another client's, a
            different redirect URI, a wrong verifier), ``invalid_target``.
    """
    code = form.get("code") or ""
    now = ctx.clock.now()
    refused = OAuthError("invalid_grant", "The authorization code is invalid, used or expired.")
    async with ctx.db.transaction() as session:  # spent now, whatever happens next
        row = await store.take_code(session, digest(code), now)
    if row is None or row.client_id != client.client_id:
        raise refused
    if row.used_at is not None:
        if row.grant_id is not None:  # replayed: what it granted was seen by someone else
            async with ctx.db.transaction() as session:
                await _revoke_reused(
                    session,
                    row.grant_id,
                    row.user_id,
                    row.client_name,
                    "authorization code",
                    now=now,
                    request_id=request_id,
                )
        raise refused
    if row.expires_at <= now:
        raise refused
    if form.get("redirect_uri", row.redirect_uri) != row.redirect_uri:
        raise OAuthError(
            "invalid_grant", "redirect_uri differs from the one of the authorization request."
        )
    if not _pkce_ok(form.get("code_verifier"), row.code_challenge):
        raise OAuthError("invalid_grant", "The PKCE code_verifier does not match.")
    _resource_for(form.get("resource"), row.resource)
    grant_id = secrets.token_hex(16)
    async with ctx.db.transaction() as session:
        await store.add_grant(
            session,
            id=grant_id,
            user_id=row.user_id,
            client_id=row.client_id,
            client_name=row.client_name,
            client_kind=row.client_kind,
            redirect_host=_host_of(row.redirect_uri),
            scope=row.scope,
            resource=row.resource,
            created_at=now,
        )
        await store.link_code(session, digest(code), grant_id)
        if row.client_kind == "dcr":
            await store.mark_client_granted(session, row.client_id)
        tokens = await _issue(session, ctx, grant_id, now, row.scope)
        await record_event(
            session,
            user_id=row.user_id,
            event="assistant.connected",
            at=now,
            detail={"client": row.client_name, "grant": grant_id},
            request_id=request_id,
        )
    return tokens


async def refresh(
    ctx: CloudContext,
    client: Client,
    form: Mapping[str, str],
    *,
    request_id: str | None = None,
) -> TokenSet:
    """Spend a refresh token for a new pair (RFC 6749 §6, rotated per OAuth 2.1 §4.3.1).

    A refresh token that was already spent means it was copied: the whole grant is
    revoked, and the assistant must be connected again.

    Raises:
        OAuthError: ``invalid_grant``, ``invalid_scope``, ``invalid_target``.
    """
    presented = form.get("refresh_token") or ""
    now = ctx.clock.now()
    refused = OAuthError("invalid_grant", "The refresh token is invalid, expired or revoked.")
    async with ctx.db.transaction() as session:
        row = await store.read_refresh(session, digest(presented))
        if row is None or row.client_id != client.client_id or row.grant_revoked_at is not None:
            raise refused
        if row.spent_at is not None:
            await _revoke_reused(
                session,
                row.grant_id,
                row.user_id,
                row.client_name,
                "refresh token",
                now=now,
                request_id=request_id,
            )
            reused = True
        else:
            reused = False
            if row.expires_at <= now:
                raise refused
            _granted_scope(form.get("scope"))
            _resource_for(form.get("resource"), row.resource)
            tokens = await _issue(session, ctx, row.grant_id, now, row.scope)
            if not await store.spend_refresh(
                session,
                digest(presented),
                now=now,
                replaced_by=digest(tokens.refresh_token),
                keep_until=min(row.expires_at, now + SPENT_KEPT),
            ):
                raise refused
    if reused:
        logger.warning("A spent refresh token was presented again: its grant is revoked")
        raise OAuthError(
            "invalid_grant",
            "This refresh token was already used, so the grant is revoked; connect again.",
        )
    return tokens


async def revoke_token(ctx: CloudContext, client: Client, token: str) -> None:
    """RFC 7009: a refresh token revokes its grant; an access token is forgotten.

    Unknown tokens and tokens of other clients are ignored (the answer is 200 anyway).
    """
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        found = await store.token_grant(session, digest(token))
        if found is None:
            return
        grant_id, kind, client_id = found
        if client_id != client.client_id:
            return
        if kind == "refresh":
            await store.revoke_grant(session, grant_id, now)
        else:
            await store.delete_token(session, digest(token))


# ---------------------------------------------------------------------- the gate's side
def is_access_token(presented: str) -> bool:
    """Whether ``presented`` has the shape of one of our access tokens."""
    return presented.startswith(ACCESS_PREFIX) and 30 < len(presented) < 100


async def resolve_access(ctx: CloudContext, presented: str, resource: str) -> Principal | None:
    """Who a live access token acts for, when presented at ``resource``; else ``None``.

    A token is refused at any resource but the one it was issued for (RFC 8707), after
    it expires, and from the moment its grant is revoked.
    """
    if not is_access_token(presented):
        return None
    row = await store.read_access(ctx.db, digest(presented), ctx.clock.now())
    if row is None or not hmac.compare_digest(row.resource, resource):
        return None
    return Principal(
        user_id=row.user_id,
        key_id=None,
        plan=row.plan,
        grant_id=row.grant_id,
        client_name=row.client_name,
    )


async def note_use(ctx: CloudContext, grant_id: str) -> None:
    """Count one answered request against the grant (the dashboard's "this month")."""
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        await store.note_use(session, grant_id, now=now, period=month_period(now))


async def forget_expired(ctx: CloudContext) -> None:
    """Delete expired tokens and codes, and registrations never used (any worker may)."""
    async with ctx.db.transaction() as session:
        await store.delete_expired(session, ctx.clock.now())


# ---------------------------------------------------------------------- the dashboard's side
async def revoke_client(ctx: CloudContext, client_id: str) -> int:
    """The operator's switch: a client may no longer sign in, and its grants are revoked.

    Works for registered clients and for metadata-document URLs alike. Returns how many
    grants were revoked (each owner's activity log says so).
    """
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        owners = await store.revoke_client(session, client_id, now)
        for user_id in owners:
            await record_event(
                session,
                user_id=user_id,
                event="assistant.revoked",
                at=now,
                detail={"by": "operator"},
            )
    return len(owners)


async def list_grants(ctx: CloudContext, user_id: str) -> list[Grant]:
    """The person's connected assistants, newest first."""
    period = month_period(ctx.clock.now())
    async with ctx.db.sessions() as session:
        rows: Sequence[GrantRow] = await store.grants_of_user(session, user_id)
    return [
        Grant(
            id=row.id,
            client_name=row.client_name,
            client_kind=row.client_kind,
            redirect_host=row.redirect_host,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            requests_this_month=row.requests if row.period == period else 0,
        )
        for row in rows
    ]


async def revoke_grant(
    ctx: CloudContext, user_id: str, grant_id: str, *, request_id: str | None = None
) -> bool:
    """Revoke one of the person's grants: its tokens stop working on the next request."""
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        revoked = await store.revoke_grant(session, grant_id[:32], now, user_id=user_id)
        if revoked:
            await record_event(
                session,
                user_id=user_id,
                event="assistant.revoked",
                at=now,
                detail={"grant": grant_id[:32]},
                request_id=request_id,
            )
    return revoked
