"""Sign in with Google: OpenID Connect, authorization code with PKCE (S256), nonce and state.

Enabled when ``WELLPIPE_GOOGLE_CLIENT_ID`` is set. The flow starts before there is a
session, so the ``state`` row is bound to a "pre-session" cookie the dashboard sets
(`wellpipe.cloud.services.sessions.new_browser_binding`); the row also holds the PKCE
verifier and the nonce, is single-use and lasts 10 minutes.

The ID token is checked here, not trusted: RS256 signature against the provider's JWKS,
``iss`` = the discovery document's issuer, ``aud`` = our client id (``azp`` too when
several audiences), ``exp``/``iat`` against the service clock, ``nonce`` = ours, and
``email_verified``. The account is found by Google subject; else an account with the
same (verified) email is linked; else one is created without a password. Linking
removes the account's password and closes its sessions: sign-up with a password never
proved ownership of the address, so an account someone pre-registered with another
person's email must not keep a way in once the owner arrives through Google.

Every HTTP call goes through one `httpx2` client whose transport can be injected
(``transport=`` or ``ctx.state.google_transport``), so tests use a fake provider.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx2
import jwt

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db.oauth_states import add_state, take_state
from wellpipe.cloud.db.sessions import delete_user_sessions
from wellpipe.cloud.db.tables import User
from wellpipe.cloud.db.users import (
    UserConflict,
    add_user,
    link_google_subject,
    user_by_email,
    user_by_google_subject,
)
from wellpipe.cloud.services.accounts import InvalidEmail, normalize_email
from wellpipe.cloud.services.audit import record_event
from wellpipe.cloud.services.sessions import digest

__all__ = [
    "GOOGLE_CALLBACK_PATH",
    "GoogleSignInError",
    "begin_google",
    "complete_google",
    "google_enabled",
    "google_redirect_uri",
]

logger = logging.getLogger(__name__)

GOOGLE_CALLBACK_PATH = "/auth/google/callback"
"""Where Google sends the browser back (the dashboard serves it)."""
STATE_TTL = timedelta(minutes=10)
_CACHE_TTL_S = 3600.0
_LEEWAY = timedelta(seconds=60)
_PURPOSE = "signin:google"

_AGAIN = "start signing in with Google again"


class GoogleSignInError(Exception):
    """Signing in with Google did not work; ``str()`` is the sentence to show."""


@dataclass(frozen=True)
class _Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


def google_enabled(ctx: CloudContext) -> bool:
    """Whether the operator configured Sign in with Google."""
    return bool(ctx.settings.google_client_id)


def google_redirect_uri(ctx: CloudContext) -> str:
    """``{public_url}/auth/google/callback``, from configuration only."""
    return f"{ctx.settings.public_url}{GOOGLE_CALLBACK_PATH}"


def _client_id(ctx: CloudContext) -> str:
    client_id = ctx.settings.google_client_id
    if not client_id:
        raise GoogleSignInError(
            "Sign in with Google is not set up on this server; sign in with your email and "
            "password instead."
        )
    return client_id


@asynccontextmanager
async def _http(
    ctx: CloudContext, transport: httpx2.AsyncBaseTransport | None
) -> AsyncIterator[httpx2.AsyncClient]:
    chosen = transport or ctx.state.google_transport
    async with httpx2.AsyncClient(
        transport=chosen,
        timeout=httpx2.Timeout(10.0),
        follow_redirects=False,
        headers={"Accept": "application/json"},
    ) as client:
        yield client


def _unreachable() -> GoogleSignInError:
    return GoogleSignInError(
        "Google could not be reached to sign you in; try again in a few minutes."
    )


async def _get_json(http: httpx2.AsyncClient, url: str) -> dict[str, Any]:
    try:
        reply = await http.get(url)
    except httpx2.HTTPError as error:
        logger.warning("OpenID provider request failed: %s", type(error).__name__)
        raise _unreachable() from None
    if reply.status_code != 200:
        logger.warning("OpenID provider answered HTTP %d at %s", reply.status_code, url)
        raise _unreachable()
    try:
        body = reply.json()
    except ValueError:
        raise _unreachable() from None
    if not isinstance(body, dict):
        raise _unreachable()
    return body


def _url_field(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or urlsplit(value).scheme not in {"https", "http"}:
        logger.warning("The OpenID discovery document has no usable %r", name)
        raise _unreachable()
    return value


async def _discovery(ctx: CloudContext, http: httpx2.AsyncClient) -> _Discovery:
    cached = ctx.state.google_discovery
    now = ctx.clock.monotonic()
    if cached is not None and now - cached[0] < _CACHE_TTL_S:
        found: _Discovery = cached[1]
        return found
    body = await _get_json(http, ctx.settings.google_discovery_url)
    issuer = body.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise _unreachable()
    discovery = _Discovery(
        issuer=issuer,
        authorization_endpoint=_url_field(body, "authorization_endpoint"),
        token_endpoint=_url_field(body, "token_endpoint"),
        jwks_uri=_url_field(body, "jwks_uri"),
    )
    ctx.state.google_discovery = (now, discovery)
    return discovery


async def _signing_key(
    ctx: CloudContext, http: httpx2.AsyncClient, discovery: _Discovery, kid: str | None
) -> Any:
    """The provider's public key for ``kid`` (re-reading the JWKS once for an unknown kid)."""
    for attempt in range(2):
        cached = ctx.state.google_keys
        now = ctx.clock.monotonic()
        keys: dict[str | None, Any]
        if cached is not None and now - cached[0] < _CACHE_TTL_S and attempt == 0:
            keys = cached[1]
        else:
            body = await _get_json(http, discovery.jwks_uri)
            keys = {}
            for entry in body.get("keys", []):
                if not isinstance(entry, dict) or entry.get("kty") != "RSA":
                    continue
                if entry.get("use", "sig") != "sig":
                    continue
                try:
                    keys[entry.get("kid")] = jwt.PyJWK(entry, algorithm="RS256").key
                except jwt.PyJWTError:
                    continue
            ctx.state.google_keys = (now, keys)
        if kid in keys:
            return keys[kid]
        if kid is None and len(keys) == 1:
            return next(iter(keys.values()))
    return None


def _s256(verifier: str) -> str:
    return (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )


async def begin_google(
    ctx: CloudContext,
    browser_binding: str,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> str:
    """Start signing in with Google: the URL to send the browser to.

    Args:
        ctx: The service.
        browser_binding: The pre-session cookie value set on this browser
            (`new_browser_binding`); only its digest is stored.
        transport: Send requests here instead of the network.

    Raises:
        GoogleSignInError: not configured, or the discovery document is unavailable.
    """
    client_id = _client_id(ctx)
    async with _http(ctx, transport) as http:
        discovery = await _discovery(ctx, http)
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters, 512 bits (RFC 7636: 43-128)
    now = ctx.clock.now()
    async with ctx.db.transaction() as db:
        await add_state(
            db,
            state_digest=digest(state),
            purpose=_PURPOSE,
            browser_binding=digest(browser_binding),
            code_verifier=verifier,
            nonce=nonce,
            created_at=now,
            expires_at=now + STATE_TTL,
        )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": google_redirect_uri(ctx),
            "scope": "openid email",
            "state": state,
            "nonce": nonce,
            "code_challenge": _s256(verifier),
            "code_challenge_method": "S256",
            "prompt": "select_account",
        }
    )
    separator = "&" if "?" in discovery.authorization_endpoint else "?"
    return f"{discovery.authorization_endpoint}{separator}{query}"


async def complete_google(
    ctx: CloudContext,
    *,
    browser_binding: str | None,
    params: Mapping[str, str],
    request_id: str | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> User:
    """Finish signing in with Google from its redirect to `GOOGLE_CALLBACK_PATH`.

    Args:
        ctx: The service.
        browser_binding: The pre-session cookie value of this browser, if any.
        params: The callback's query parameters.
        request_id: For the audit log.
        transport: Send requests here instead of the network.

    Returns:
        The signed-in account (found, linked by verified email, or created).

    Raises:
        GoogleSignInError: with the sentence to show; nobody is signed in.
    """
    client_id = _client_id(ctx)
    stale = GoogleSignInError(
        f"This Google sign-in link is unknown, expired, already used or from another "
        f"browser; {_AGAIN}."
    )
    state = params.get("state") or ""
    if not state:
        raise stale
    async with ctx.db.transaction() as db:
        pending = await take_state(db, digest(state))
    if pending is None:
        raise stale
    verifier, nonce = pending.code_verifier, pending.nonce
    if (
        pending.purpose != _PURPOSE
        or pending.expires_at <= ctx.clock.now()
        or not browser_binding
        or not hmac.compare_digest(
            pending.browser_binding.encode(), digest(browser_binding).encode()
        )
        or not verifier
        or not nonce
    ):
        raise stale
    if params.get("error"):
        raise GoogleSignInError(
            "Signing in with Google was cancelled; try again, or sign in with your email and "
            "password."
        )
    code = params.get("code") or ""
    if not code:
        raise GoogleSignInError(f"Google sent no authorization code; {_AGAIN}.")
    async with _http(ctx, transport) as http:
        discovery = await _discovery(ctx, http)
        id_token = await _exchange(ctx, http, discovery, client_id, code, verifier)
        claims = await _validate(ctx, http, discovery, client_id, id_token, nonce)
    return await _find_or_create(ctx, claims, request_id)


async def _exchange(
    ctx: CloudContext,
    http: httpx2.AsyncClient,
    discovery: _Discovery,
    client_id: str,
    code: str,
    verifier: str,
) -> str:
    secret = ctx.settings.google_client_secret
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": google_redirect_uri(ctx),
        "client_id": client_id,
        "code_verifier": verifier,
    }
    if secret is not None:
        form["client_secret"] = secret.get_secret_value()
    try:
        reply = await http.post(
            discovery.token_endpoint,
            content=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    except httpx2.HTTPError as failure:
        logger.warning("Google token request failed: %s", type(failure).__name__)
        raise _unreachable() from None
    if reply.status_code >= 500:
        raise _unreachable()
    try:
        body = reply.json()
    except ValueError:
        body = None
    if reply.status_code != 200 or not isinstance(body, dict):
        code_name = body.get("error") if isinstance(body, dict) else None
        logger.warning(
            "Google refused the code: HTTP %d (%s)",
            reply.status_code,
            code_name if isinstance(code_name, str) else "-",
        )
        raise GoogleSignInError(f"Google did not accept the sign-in; {_AGAIN}.")
    id_token = body.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise GoogleSignInError(f"Google's answer held no identity; {_AGAIN}.")
    return id_token


def _unverifiable(ctx: CloudContext, why: str) -> GoogleSignInError:
    logger.warning("Rejected an ID token: %s", why)
    return GoogleSignInError(
        f"Google's answer could not be verified, so you were not signed in; {_AGAIN}."
    )


async def _validate(
    ctx: CloudContext,
    http: httpx2.AsyncClient,
    discovery: _Discovery,
    client_id: str,
    id_token: str,
    nonce: str,
) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError:
        raise _unverifiable(ctx, "not a JWT") from None
    if header.get("alg") != "RS256":
        raise _unverifiable(ctx, f"algorithm {header.get('alg')!r}")
    kid = header.get("kid")
    key = await _signing_key(ctx, http, discovery, kid if isinstance(kid, str) else None)
    if key is None:
        raise _unverifiable(ctx, "no JWKS key for its kid")
    issuers = [discovery.issuer]
    if discovery.issuer.startswith("https://"):
        issuers.append(discovery.issuer.removeprefix("https://"))  # Google uses both forms
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key=key,
            algorithms=["RS256"],
            audience=client_id,
            issuer=issuers,
            options={
                "require": ["iss", "aud", "sub", "exp", "iat"],
                "verify_exp": False,  # checked below against the service clock
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidAudienceError:
        raise _unverifiable(ctx, "wrong audience") from None
    except jwt.InvalidIssuerError:
        raise _unverifiable(ctx, "wrong issuer") from None
    except jwt.InvalidSignatureError:
        raise _unverifiable(ctx, "bad signature") from None
    except jwt.PyJWTError as error:
        raise _unverifiable(ctx, type(error).__name__) from None
    now = ctx.clock.now()
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise _unverifiable(ctx, "exp/iat not numbers")
    if datetime.fromtimestamp(exp, UTC) + _LEEWAY <= now:
        raise _unverifiable(ctx, "expired")
    if datetime.fromtimestamp(iat, UTC) - _LEEWAY > now:
        raise _unverifiable(ctx, "issued in the future")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise _unverifiable(ctx, "several audiences and azp is not us")
    presented = claims.get("nonce")
    if not isinstance(presented, str) or not hmac.compare_digest(
        presented.encode(), nonce.encode()
    ):
        raise _unverifiable(ctx, "nonce mismatch")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise _unverifiable(ctx, "no subject")
    verified = claims.get("email_verified")
    if verified is not True and verified != "true":
        raise GoogleSignInError(
            "Your Google account's email address is not verified; verify it with Google, or "
            "sign up with your email and a password."
        )
    return claims


async def _find_or_create(
    ctx: CloudContext, claims: Mapping[str, Any], request_id: str | None
) -> User:
    subject = str(claims["sub"])[:255]
    try:
        email = normalize_email(str(claims.get("email") or ""))
    except InvalidEmail:
        raise GoogleSignInError(
            "Google gave no usable email address for this account; sign up with your email "
            "and a password instead."
        ) from None
    for _ in range(2):  # a second pass only after losing a creation race
        try:
            return await _link_or_create(ctx, subject, email, request_id)
        except UserConflict:
            continue
    raise GoogleSignInError(f"Signing in with Google collided with another attempt; {_AGAIN}.")


async def _link_or_create(
    ctx: CloudContext, subject: str, email: str, request_id: str | None
) -> User:
    now = ctx.clock.now()
    async with ctx.db.transaction() as db:
        user = await user_by_google_subject(db, subject)
        how = "google"
        created = False
        if user is None:
            user = await user_by_email(db, email)
            if user is not None:
                if user.google_subject is not None:
                    raise GoogleSignInError(
                        "This email belongs to a Wellpipe account linked to another Google "
                        "account; sign in with that one, or with your email and password."
                    )
                # Sign-up never proved that whoever set the password owns the address;
                # Google just did. Drop the password and any session it opened, so an
                # account pre-registered by someone else cannot keep a way in.
                had_password = user.password_hash is not None
                await link_google_subject(db, user, subject)
                await delete_user_sessions(db, user.id)
                if had_password:
                    await record_event(
                        db,
                        user_id=user.id,
                        event="password.changed",
                        at=now,
                        detail={"reason": "removed_when_linked_to_google"},
                        request_id=request_id,
                    )
                how = "google_linked"
            else:
                created = True
                user = await add_user(
                    db,
                    user_id=uuid.uuid4().hex,
                    email=email,
                    password_hash=None,
                    google_subject=subject,
                    created_at=now,
                )
        if created:
            await record_event(
                db,
                user_id=user.id,
                event="account.created",
                at=now,
                detail={"method": "google"},
                request_id=request_id,
            )
        await record_event(
            db,
            user_id=user.id,
            event="signin.succeeded",
            at=now,
            detail={"method": how},
            request_id=request_id,
        )
    return user
