"""The tokens a sandbox's authorization server issued: in memory, and optionally in a file.

Every sandbox (WHOOP, Oura, Google) keeps its live grants here: each access
token with its expiry, each refresh token with its rotation state (``used``)
and expiry, the grant both descend from, and which clients each member has
consented to. What the rules are (rotation, reuse, revocation) stays in
``sandbox/<name>/oauth.py``; this module only stores.

The file holds no usable token: each is written as the SHA-256 of its value,
and a token read back from the file is found by that digest. With a ``path``
the ledger is loaded at start
and rewritten (atomically, mode 0600, in a 0700 folder) whenever it changed,
so a restarted sandbox still honours what it issued. Pending authorization
codes are not kept: a consent interrupted by a restart simply starts again.

The file (``version`` 1) is JSON::

    {
        "version": 1,
        "grants": {
            "<grant id>": {
                "client_id": "...",
                "user_id": 10129,
                "scopes": ["offline", ...],
                "revoked": false,
            }
        },
        "access_tokens": {
            "<sha256>": {
                "grant": "<grant id>",
                "expires_at": "2026-11-21T16:30:00+00:00",
                "revoked": false,
            }
        },
        "refresh_tokens": {"<sha256>": {"grant": "<grant id>", "used": false, "expires_at": null}},
        "consents": [["<client id>", 10129]],
    }

An unreadable, corrupt or unknown file is logged and ignored (the sandbox
starts empty and replaces it on its next write); a failed write is logged and
the sandbox carries on in memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Generic

from wellpipe.core.files import write_private_file
from wellpipe.core.ports import Clock
from wellpipe.sandbox.authserver import Grant, UserId

__all__ = ["FORMAT_VERSION", "AccessToken", "RefreshToken", "TokenLedger", "token_digest"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_STALE_AFTER = timedelta(days=1)
"""Access (and expiring refresh) tokens dead this long are left out of the file."""


@dataclass
class AccessToken(Generic[UserId]):
    """An access token: its grant, when it expires, and whether it was revoked early."""

    grant: Grant[UserId]
    expires_at: datetime
    revoked: bool = False


@dataclass
class RefreshToken(Generic[UserId]):
    """A refresh token: its grant, whether it was spent (rotation), and its expiry if any."""

    grant: Grant[UserId]
    used: bool = False
    expires_at: datetime | None = None


def token_digest(token: str) -> str:
    """The key a token is filed under: the hex SHA-256 of its value."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class TokenLedger(Generic[UserId]):
    """The access and refresh tokens one authorization server issued."""

    def __init__(
        self, *, clock: Clock, members: Iterable[UserId], path: Path | None = None
    ) -> None:
        """Create the ledger, loading ``path`` when it names a readable file.

        Args:
            clock: Time source (stale tokens are left out of the file).
            members: The members that exist; grants of anyone else are not loaded.
            path: Keep the ledger in this file; ``None`` keeps it in memory only.
        """
        self._clock = clock
        self._members: frozenset[UserId] = frozenset(members)
        self.path = path
        self.access: dict[str, AccessToken[UserId]] = {}
        """Access tokens issued since start, by value."""
        self.refresh: dict[str, RefreshToken[UserId]] = {}
        """Refresh tokens issued since start, by value."""
        self._loaded_access: dict[str, AccessToken[UserId]] = {}
        self._loaded_refresh: dict[str, RefreshToken[UserId]] = {}
        """Tokens read from the file, by digest."""
        self.consents: set[tuple[str, UserId]] = set()
        """``(client_id, member)`` pairs the member has consented to."""
        self._written: str | None = None
        if path is not None:
            self._load(path)

    # ------------------------------------------------------------------ records
    def add_access(self, token: str, grant: Grant[UserId], expires_at: datetime) -> None:
        """File a new access token."""
        self.access[token] = AccessToken(grant, expires_at)

    def add_refresh(
        self, token: str, grant: Grant[UserId], *, expires_at: datetime | None = None
    ) -> None:
        """File a new refresh token."""
        self.refresh[token] = RefreshToken(grant, expires_at=expires_at)

    def find_access(self, token: str) -> AccessToken[UserId] | None:
        """The record of an access token, if it was issued here."""
        found = self.access.get(token)
        if found is None and token and self._loaded_access:
            found = self._loaded_access.get(token_digest(token))
        return found

    def find_refresh(self, token: str) -> RefreshToken[UserId] | None:
        """The record of a refresh token, if it was issued here."""
        found = self.refresh.get(token)
        if found is None and token and self._loaded_refresh:
            found = self._loaded_refresh.get(token_digest(token))
        return found

    def forget(self, token: str) -> None:
        """Drop a token (access or refresh) altogether."""
        self.access.pop(token, None)
        self.refresh.pop(token, None)
        digest = token_digest(token)
        self._loaded_access.pop(digest, None)
        self._loaded_refresh.pop(digest, None)

    def access_records(self) -> list[AccessToken[UserId]]:
        """Every access token's record."""
        return list(self.access.values()) + list(self._loaded_access.values())

    def access_of(self, grant: Grant[UserId]) -> list[AccessToken[UserId]]:
        """Every access token of ``grant``."""
        return [record for record in self.access_records() if record.grant is grant]

    # ------------------------------------------------------------------ the file
    def save(self) -> None:
        """Write the ledger to its file if it changed since the last write (no-op without one).

        A failure is logged, never raised: the sandbox keeps serving from memory.
        """
        if self.path is None:
            return
        text = json.dumps(self._snapshot(), indent=1, sort_keys=True) + "\n"
        if text == self._written:
            return
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_private_file(self.path, text)
        except OSError as error:
            logger.warning(
                "Could not save the sandbox grants to %s (%s); they live in memory only "
                "until the next successful save.",
                self.path,
                error.strerror or type(error).__name__,
            )
            return
        self._written = text

    def _snapshot(self) -> dict[str, Any]:
        stale = self._clock.now() - _STALE_AFTER
        access_records = self._loaded_access | {token_digest(t): r for t, r in self.access.items()}
        refresh_records = self._loaded_refresh | {
            token_digest(t): r for t, r in self.refresh.items()
        }
        live_access = {d: r for d, r in access_records.items() if r.expires_at > stale}
        live_refresh = {
            d: r for d, r in refresh_records.items() if r.expires_at is None or r.expires_at > stale
        }
        access = {
            digest: {
                "grant": record.grant.grant_id,
                "expires_at": record.expires_at.isoformat(),
                "revoked": record.revoked,
            }
            for digest, record in live_access.items()
        }
        refresh = {
            digest: {
                "grant": record.grant.grant_id,
                "used": record.used,
                "expires_at": record.expires_at.isoformat() if record.expires_at else None,
            }
            for digest, record in live_refresh.items()
        }
        kept = [r.grant for r in live_access.values()] + [r.grant for r in live_refresh.values()]
        grants = {
            grant.grant_id: {
                "client_id": grant.client_id,
                "user_id": grant.user_id,
                "scopes": sorted(grant.scopes),
                "revoked": grant.revoked,
            }
            for grant in kept
        }
        consents = sorted([client_id, user_id] for client_id, user_id in self.consents)
        return {
            "version": FORMAT_VERSION,
            "grants": grants,
            "access_tokens": access,
            "refresh_tokens": refresh,
            "consents": consents,
        }

    def _load(self, path: Path) -> None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as error:
            logger.warning(
                "Ignoring the unreadable sandbox grants file %s (%s); starting with no grants.",
                path,
                error.strerror or type(error).__name__,
            )
            return
        try:
            self._restore(json.loads(raw))
        except (ValueError, TypeError, KeyError, AttributeError) as error:  # JSON, UTF-8, shape
            self._loaded_access.clear()
            self._loaded_refresh.clear()
            self.consents.clear()
            logger.warning(
                "Ignoring the corrupt sandbox grants file %s (%s); starting with no grants.",
                path,
                type(error).__name__,
            )

    def _restore(self, data: Any) -> None:
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise ValueError("not a version-1 grants file")
        grants: dict[str, Grant[UserId]] = {}
        for grant_id, entry in dict(data["grants"]).items():
            if _member(entry["user_id"]) not in self._members:
                continue  # a member this sandbox does not have (another --members or --seed)
            grants[str(grant_id)] = Grant(
                grant_id=str(grant_id),
                client_id=_text(entry["client_id"]),
                user_id=entry["user_id"],
                scopes=frozenset(_text(scope) for scope in entry["scopes"]),
                revoked=_flag(entry["revoked"]),
            )
        for digest, entry in dict(data["access_tokens"]).items():
            grant = grants.get(entry["grant"])
            if grant is not None:
                self._loaded_access[_text(digest)] = AccessToken(
                    grant, _instant(entry["expires_at"]), revoked=_flag(entry["revoked"])
                )
        for digest, entry in dict(data["refresh_tokens"]).items():
            grant = grants.get(entry["grant"])
            if grant is not None:
                expires = entry["expires_at"]
                self._loaded_refresh[_text(digest)] = RefreshToken(
                    grant,
                    used=_flag(entry["used"]),
                    expires_at=None if expires is None else _instant(expires),
                )
        for client_id, user_id in data["consents"]:
            if _member(user_id) in self._members:
                self.consents.add((_text(client_id), user_id))


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _member(value: Any) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError("expected a member id")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("expected true or false")
    return value


def _instant(value: Any) -> datetime:
    parsed = datetime.fromisoformat(_text(value))
    if parsed.tzinfo is None:
        raise ValueError("expected a timezone-aware instant")
    return parsed
