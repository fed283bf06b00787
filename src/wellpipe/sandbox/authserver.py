"""Pieces every sandbox authorization server shares (WHOOP, Oura, Google).

What each provider answers differs on purpose (error texts, PKCE, rotation,
revocation) and stays in ``sandbox/<name>/oauth.py``; these are the plain
mechanics: the consent knobs, the grant every token descends from, the token
endpoint's outcome, an RFC 6749 error body, HTTP Basic client credentials,
redirect URIs, and expiring access tokens on demand. What a server issued is
kept by `wellpipe.sandbox.grants_store.TokenLedger` (in memory, or in a file
that survives a restart).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "ConsentControls",
    "Grant",
    "TokenRequestOutcome",
    "basic_credentials",
    "expire_now",
    "is_absolute_uri",
    "oauth_error",
    "with_query",
]


UserId = TypeVar("UserId", int, str)
"""A member's id: WHOOP's are integers, Oura's and Google's strings."""


@dataclass
class ConsentControls(Generic[UserId]):
    """Knobs tests and demos turn to script the consent screen."""

    approve_as: UserId | None = None
    """Member who signs in at the consent screen (default: the first member)."""
    deny_next: int = 0
    """How many upcoming authorizations the member declines (``error=access_denied``)."""
    drop_scopes: frozenset[str] = frozenset()
    """Scopes the member unticks before approving."""


@dataclass
class Grant(Generic[UserId]):
    """One member's consent to one client: the family every token descends from."""

    grant_id: str
    client_id: str
    user_id: UserId
    scopes: frozenset[str]
    revoked: bool = False


@dataclass(frozen=True)
class TokenRequestOutcome:
    """What the token (or revoke) endpoint answers: a status and a JSON body."""

    status: int
    body: dict[str, Any]


def oauth_error(status: int, code: str, description: str) -> TokenRequestOutcome:
    """An RFC 6749 error answer: ``error`` and ``error_description``."""
    return TokenRequestOutcome(status, {"error": code, "error_description": description})


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """``(client_id, secret)`` from an HTTP Basic header; ``None`` without a readable one."""
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        raw = base64.b64decode(authorization[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, secret = raw.partition(":")
    return client_id, secret


def is_absolute_uri(uri: str) -> bool:
    """Whether ``uri`` can be a redirect target (a scheme, and a host for http(s))."""
    parts = urlsplit(uri)
    return bool(parts.scheme) and (bool(parts.netloc) or parts.scheme not in {"http", "https"})


def with_query(uri: str, extra: dict[str, str]) -> str:
    """``uri`` with ``extra`` appended to its query string."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(extra.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


class _Expiring(Protocol):
    expires_at: datetime


def expire_now(records: Iterable[_Expiring], now: datetime) -> None:
    """Make every record expire by ``now`` (to exercise refresh)."""
    for record in records:
        record.expires_at = min(record.expires_at, now)
