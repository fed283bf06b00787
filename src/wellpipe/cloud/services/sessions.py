"""Dashboard sessions: server-side, found by the SHA-256 of a 256-bit cookie value.

The browser holds only a random value; the ``sessions`` row holds its digest, the
user, a per-session CSRF token and the expiry. Closing a session deletes the row, so
it stops working on the next request. A stolen database copy holds no usable cookie.

Sign-in with Google starts before there is a session: a short-lived "pre-session"
cookie (`new_browser_binding`) binds the OpenID ``state`` to that browser instead.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db.sessions import (
    add_session,
    delete_expired_session,
    delete_session,
    delete_user_sessions,
    find_session,
)
from wellpipe.cloud.services.audit import record_event
from wellpipe.cloud.settings import CloudSettings

__all__ = [
    "COOKIE_NAME",
    "PRE_SESSION_COOKIE_NAME",
    "PRE_SESSION_TTL_S",
    "SessionInfo",
    "check_csrf",
    "close_session",
    "close_user_sessions",
    "cookie_attributes",
    "digest",
    "new_browser_binding",
    "open_session",
    "pre_session_cookie_attributes",
    "resolve_session",
]

PRE_SESSION_TTL_S = 600
"""How long a pre-session (an OpenID sign-in in flight) lasts: the ``state`` lifetime."""

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,128}$")


def digest(value: str) -> str:
    """Hex SHA-256 of a random token (cookie value, state): what the database keeps."""
    return hashlib.sha256(value.encode()).hexdigest()


def COOKIE_NAME(settings: CloudSettings) -> str:
    """The session cookie's name: ``__Host-wellpipe`` over HTTPS, else ``wellpipe_session``."""
    return "__Host-wellpipe" if settings.secure_cookies else "wellpipe_session"


def PRE_SESSION_COOKIE_NAME(settings: CloudSettings) -> str:
    """The pre-session cookie's name (``__Host-`` prefixed over HTTPS)."""
    return "__Host-wellpipe_pre" if settings.secure_cookies else "wellpipe_pre"


def cookie_attributes(settings: CloudSettings) -> dict[str, Any]:
    """Keyword arguments for Starlette's ``response.set_cookie`` of the session cookie.

    HttpOnly, SameSite=Lax (the provider's redirect back is a top-level GET, which Lax
    allows), ``Path=/``, no ``Domain`` and ``Secure`` over HTTPS (what ``__Host-`` needs),
    ``Max-Age`` = the session lifetime.
    """
    return {
        "max_age": settings.session_ttl_s,
        "path": "/",
        "secure": settings.secure_cookies,
        "httponly": True,
        "samesite": "lax",
    }


def pre_session_cookie_attributes(settings: CloudSettings) -> dict[str, Any]:
    """`cookie_attributes` for the pre-session cookie (10 minutes)."""
    return {**cookie_attributes(settings), "max_age": PRE_SESSION_TTL_S}


def new_browser_binding() -> str:
    """A fresh pre-session cookie value (256 bits); the database only ever sees its digest."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class SessionInfo:
    """A live session, as the dashboard needs it.

    Attributes:
        user_id: The signed-in user.
        email: Their email.
        plan: ``FREE`` or ``PRO``.
        csrf_token: The token every state-changing form must carry (`check_csrf`).
        id_digest: SHA-256 of the cookie value (what OAuth states are bound to).
        expires_at: When the session ends.
    """

    user_id: str
    email: str
    plan: str
    csrf_token: str
    id_digest: str
    expires_at: datetime


def _well_formed(value: str | None) -> bool:
    return value is not None and _TOKEN.fullmatch(value) is not None


async def open_session(
    ctx: CloudContext, user_id: str, *, request_id: str | None = None
) -> tuple[str, str]:
    """Start a session for ``user_id``.

    Returns:
        ``(cookie_value, csrf_token)``: set the first as `COOKIE_NAME`, put the second
        in forms. Neither is stored as such (the row holds the cookie's digest).
    """
    cookie_value = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        await add_session(
            session,
            id_digest=digest(cookie_value),
            user_id=user_id,
            csrf_token=csrf_token,
            created_at=now,
            expires_at=now + timedelta(seconds=ctx.settings.session_ttl_s),
        )
    return cookie_value, csrf_token


async def resolve_session(ctx: CloudContext, cookie_value: str | None) -> SessionInfo | None:
    """The live session behind a cookie value, or ``None`` (absent, malformed, unknown, expired).

    A malformed value costs no database query; an expired session is deleted.
    """
    if not _well_formed(cookie_value):
        return None
    assert cookie_value is not None
    key = digest(cookie_value)
    now = ctx.clock.now()
    async with ctx.db.sessions() as session:
        found = await find_session(session, key)
    if found is None:
        return None
    if found.expires_at > now:
        return SessionInfo(
            user_id=found.user_id,
            email=found.email,
            plan=found.plan,
            csrf_token=found.csrf_token,
            id_digest=key,
            expires_at=found.expires_at,
        )
    async with ctx.db.transaction() as session:
        await delete_expired_session(session, key, now)
    return None


async def close_session(
    ctx: CloudContext, cookie_value: str | None, *, request_id: str | None = None
) -> bool:
    """Sign out: delete the session (audited as ``signout``). ``False`` if there was none."""
    if not _well_formed(cookie_value):
        return False
    assert cookie_value is not None
    async with ctx.db.transaction() as session:
        user_id = await delete_session(session, digest(cookie_value))
        if user_id is None:
            return False
        await record_event(
            session, user_id=user_id, event="signout", at=ctx.clock.now(), request_id=request_id
        )
    return True


async def close_user_sessions(
    ctx: CloudContext, user_id: str, *, keep_digest: str | None = None
) -> int:
    """Delete every session of ``user_id`` except the one whose digest is ``keep_digest``.

    Returns:
        How many sessions were closed.
    """
    async with ctx.db.transaction() as session:
        return await delete_user_sessions(session, user_id, keep_digest=keep_digest)


def check_csrf(session_info: SessionInfo | None, presented: str | None) -> bool:
    """Whether a form's CSRF token is this session's (compared in constant time)."""
    if session_info is None or not presented:
        return False
    return hmac.compare_digest(session_info.csrf_token.encode(), presented.encode())
