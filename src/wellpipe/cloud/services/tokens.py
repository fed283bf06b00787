"""Provider tokens of the cloud's connections, and a `TokenProvider` over one of them.

The rows and their statements are `wellpipe.cloud.db.connections`; the cross-process
lock is `wellpipe.cloud.db.locks`. Here the tokens are sealed and opened: every token
column holds a `TokenCipher` envelope bound to its row and field; every write
re-encrypts both tokens under the primary key with fresh nonces and records that key's
id, so rows migrate to a new key as they are written.

`DatabaseTokenProvider` is the cloud's `wellpipe.core.ports.TokenProvider`:

* getters read the row each time and decrypt only what they return (R-2.6), so a
  token another worker just wrote is the one used;
* `DatabaseTokenProvider.refresh_lock` serializes one connection's refreshes across
  the tasks of a process (an `anyio.Lock` per connection, in the process's
  `TokenLocks`) and across workers (`wellpipe.cloud.db.locks.cross_process_lock`: on
  PostgreSQL a session advisory lock held on a dedicated connection outside the
  request pool, bounded by ``lock_timeout``; on SQLite an OS file lock beside the
  database file). Neither blocks other connections' reads or writes while a token
  endpoint is slow (R-1.9, R-1.16);
* `DatabaseTokenProvider.update_tokens` writes access token, refresh token and
  expiry in one ``UPDATE ... WHERE id = ? AND version = ?`` (R-1.11, R-1.14): a
  writer whose view is stale never overwrites newer tokens, it re-reads instead.
  A failed write is retried with backoff while the new pair waits in memory
  (R-1.20);
* `DatabaseTokenProvider.mark_reauthorization_required` deletes the now-useless
  tokens, marks the connection ``needs_reauth`` and writes an audit event (R-6.5).

Token values are never logged.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db import connections
from wellpipe.cloud.db.connections import (
    TRANSIENT_ERRORS,
    ConnectionInfo,
    ConnectionRow,
    SealedTokens,
)
from wellpipe.cloud.db.locks import LockTimeout, LockUnavailable, cross_process_lock
from wellpipe.cloud.security.crypto import Binding, display_name
from wellpipe.cloud.services.audit import event_row
from wellpipe.core.errors import ProviderUnavailable, ReauthorizationRequired
from wellpipe.core.tokens import TokenSet

__all__ = [
    "ACCESS_TOKEN",
    "REFRESH_TOKEN",
    "ConnectionInfo",
    "DatabaseTokenProvider",
    "TokenLocks",
    "connection_status",
    "delete_connection",
    "read_access_token",
    "reconnect_action",
    "save_connection",
]

logger = logging.getLogger(__name__)

ACCESS_TOKEN = "access_token"
REFRESH_TOKEN = "refresh_token"
LOCK_TIMEOUT_S = 60.0
"""How long a refresh waits for another one of the same connection: above the token
endpoint's worst case (3 attempts x 20 s timeout in `wellpipe.oauth.OAuthClient`)."""
WRITE_BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 4.0)
"""Waits between attempts to save a refreshed pair (6 attempts over about 8 s)."""


def reconnect_action(provider: str) -> str:
    """What a cloud user whose grant is gone does next."""
    return f"reconnect {display_name(provider)} in the dashboard"


@dataclass(frozen=True)
class _Held:
    """A refreshed pair that could not be saved yet: the provider already rotated it."""

    connection_id: str
    base_version: int
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None


class _LockEntry:
    """One connection's lock in this process.

    Tasks queue on ``lock``; ``outer`` holds the cross-process lock, handed from one
    task to the next while any is waiting.
    """

    __slots__ = ("lock", "outer", "users")

    def __init__(self) -> None:
        self.lock = anyio.Lock()
        self.users = 0
        self.outer: AsyncExitStack | None = None

    async def release_outer(self) -> None:
        outer, self.outer = self.outer, None
        if outer is not None:
            with anyio.CancelScope(shield=True):
                await outer.aclose()


class TokenLocks:
    """What a process holds for token refreshes: a lock per connection, pairs not yet saved."""

    def __init__(self) -> None:
        self.locks: dict[tuple[str, str], _LockEntry] = {}
        self.held: dict[tuple[str, str], _Held] = {}


def _shared(ctx: CloudContext) -> TokenLocks:
    shared = ctx.state.token_locks
    if shared is None:
        shared = ctx.state.token_locks = TokenLocks()
    return shared


def _binding(row: ConnectionRow, field: str) -> Binding:
    return Binding(user_id=row.user_id, provider=row.provider, connection_id=row.id, field=field)


def _seal(
    ctx: CloudContext,
    *,
    row_id: str,
    user_id: str,
    provider: str,
    access_token: str | None,
    refresh_token: str | None,
) -> SealedTokens:
    """Both token columns re-encrypted under the primary key, and that key's id."""

    def sealed(field: str, value: str | None) -> bytes | None:
        if value is None:
            return None
        return ctx.cipher.encrypt(value, Binding(user_id, provider, row_id, field))

    return SealedTokens(
        access_token=sealed(ACCESS_TOKEN, access_token),
        refresh_token=sealed(REFRESH_TOKEN, refresh_token),
        key_id=ctx.cipher.primary_key_id,
    )


# ---------------------------------------------------------------------- connections
async def save_connection(
    ctx: CloudContext,
    *,
    user_id: str,
    provider: str,
    tokens: TokenSet,
    provider_user_id: str | None,
) -> str:
    """Store a freshly authorized grant: the user's connection to ``provider``, active.

    An existing connection keeps its id and gets the new tokens (its version moves on,
    so a refresh of the previous grant still in flight cannot overwrite them).

    Returns:
        The connection's id.
    """
    row_id = await connections.upsert_connection(
        ctx.db,
        user_id=user_id,
        provider=provider,
        seal=lambda row_id: _seal(
            ctx,
            row_id=row_id,
            user_id=user_id,
            provider=provider,
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token or None,
        ),
        expires_at=tokens.expires_at,
        scopes=tokens.scopes,
        provider_user_id=provider_user_id,
        now=ctx.clock.now(),
    )
    _shared(ctx).held.pop((user_id, provider), None)
    return row_id


async def delete_connection(ctx: CloudContext, *, user_id: str, provider: str) -> bool:
    """Delete the user's connection to ``provider`` and its tokens.

    Returns:
        Whether there was one.
    """
    _shared(ctx).held.pop((user_id, provider), None)
    return await connections.delete_connection(ctx.db, user_id=user_id, provider=provider)


async def connection_status(ctx: CloudContext, user_id: str) -> list[ConnectionInfo]:
    """The user's connections, by provider name (no tokens)."""
    return await connections.list_connections(ctx.db, user_id)


async def read_access_token(ctx: CloudContext, *, user_id: str, provider: str) -> str | None:
    """The stored access token (to revoke the grant when an account goes), or ``None``.

    Raises:
        TokenDecryptionError: the stored token cannot be decrypted (``MissingKeyError``
            when its key was removed from the ring).
    """
    row = await connections.load_connection(ctx.db, user_id, provider)
    if row is None or row.access_token is None:
        return None
    return ctx.cipher.decrypt(row.access_token, _binding(row, ACCESS_TOKEN))


# ---------------------------------------------------------------------- token provider
class DatabaseTokenProvider:
    """The `TokenProvider` of one user's connection to one provider, in the database.

    Cheap to create (one per request is fine); the locks and any pair waiting to be
    saved live in the process's `TokenLocks`, shared by every instance of the process.

    Attributes:
        user_id: The account.
        provider: The provider's name.
        write_conflicts: How many writes found the row changed since this instance
            read it (and so kept the newer row).
    """

    def __init__(
        self,
        ctx: CloudContext,
        *,
        user_id: str,
        provider: str,
        lock_timeout_s: float = LOCK_TIMEOUT_S,
    ) -> None:
        """Tokens of ``user_id`` at ``provider``.

        Args:
            ctx: The service's context.
            user_id: The account.
            provider: The provider's name.
            lock_timeout_s: How long `refresh_lock` waits for another refresh of this
                connection before giving up (with the tokens untouched).
        """
        self._ctx = ctx
        self.user_id = user_id
        self.provider = provider
        self._key = (user_id, provider)
        self._lock_timeout_s = lock_timeout_s
        # The row as the caller last saw it (through a getter, the lock or its own
        # write): the base of the next compare-and-swap.
        self._seen: ConnectionRow | None = None
        self._version: int | None = None
        self.write_conflicts = 0

    @property
    def version(self) -> int | None:
        """The row version this instance last read or wrote (``None`` before, or without a row)."""
        return self._version

    # ------------------------------------------------------------------ reading
    async def _load(self) -> ConnectionRow | None:
        # Shielded from cancellation (see `connections.load_connection`).
        return await connections.load_connection(self._ctx.db, self.user_id, self.provider)

    async def _read(self) -> ConnectionRow | None:
        """Read the row for the caller: what it sees is what the next write builds on."""
        self._seen = await self._load()
        self._version = None if self._seen is None else self._seen.version
        return self._seen

    async def _peek(self) -> ConnectionRow | None:
        """Read the row for this instance only (the caller has not seen it)."""
        row = await self._load()
        self._version = None if row is None else row.version
        return row

    def _wrote(self, row: ConnectionRow) -> None:
        self._seen, self._version = row, row.version

    def _held(self) -> _Held | None:
        return _shared(self._ctx).held.get(self._key)

    def _open(self, row: ConnectionRow, field: str) -> str | None:
        blob = row.access_token if field == ACCESS_TOKEN else row.refresh_token
        return None if blob is None else self._ctx.cipher.decrypt(blob, _binding(row, field))

    async def get_access_token(self) -> str | None:
        """The stored access token, or ``None``."""
        held = self._held()
        if held is not None:
            return held.access_token
        row = await self._read()
        return None if row is None else self._open(row, ACCESS_TOKEN)

    async def get_refresh_token(self) -> str | None:
        """The stored refresh token, or ``None`` if there is none or the grant is dead."""
        held = self._held()
        if held is not None:
            return held.refresh_token
        row = await self._read()
        if row is None or row.status != "active":
            return None
        return self._open(row, REFRESH_TOKEN)

    async def is_expired(self, margin: timedelta = timedelta(0)) -> bool:
        """Whether the access token expires within ``margin``; an unknown expiry counts as valid.

        It answers for the token `get_access_token` last returned (the same read of the
        row), so a token and an expiry from two different writes are never paired; before
        any read, it reads the row.
        """
        held = self._held()
        if held is not None:
            expires_at = held.expires_at
        else:
            row = self._seen if self._seen is not None else await self._read()
            expires_at = None if row is None else row.expires_at
        if expires_at is None:
            return False
        return self._ctx.clock.now() + margin >= expires_at

    async def dead_grant_reason(self) -> str | None:
        """Why the grant was marked dead, from the row this instance last read or wrote."""
        row = self._seen if self._seen is not None else await self._read()
        if row is None or row.status == "active":
            return None
        return row.status_reason

    async def reauthorization_reason(self) -> str | None:
        """Why the grant needs renewing, or ``None`` while it is active (or absent)."""
        found = await connections.connection_state(self._ctx.db, self.user_id, self.provider)
        if found is None:
            return None
        status, reason = found
        if status == "active":
            return None
        return str(reason or status)

    # ------------------------------------------------------------------ writing
    async def update_tokens(
        self,
        access_token: str,
        refresh_token: str | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        """Save a new pair in one compare-and-swap write (no refresh token: keep the stored one).

        The write succeeds only if the row is still at the version this instance last
        read. If it moved on (another worker or a reconnect wrote newer tokens), the
        newer tokens stay and this instance counts a write conflict; its writes stay
        fenced until a getter (or the lock) shows it the newer row.
        A failing database is retried with backoff; if it stays down, the pair is held
        in this process and saved on the next refresh of the connection.

        Raises:
            ReauthorizationRequired: the connection no longer exists.
        """
        held = self._held()
        base = self._seen if self._seen is not None else await self._read()
        if held is not None:
            base_version = held.base_version
            connection_id = held.connection_id
            previous_refresh = held.refresh_token
        elif base is not None:
            base_version = base.version
            connection_id = base.id
            previous_refresh = self._open(base, REFRESH_TOKEN) if refresh_token is None else None
        else:
            raise ReauthorizationRequired(
                provider=self.provider,
                reason="the connection was removed",
                action=reconnect_action(self.provider),
            )
        pair = _Held(
            connection_id=connection_id,
            base_version=base_version,
            access_token=access_token,
            refresh_token=refresh_token or previous_refresh,
            expires_at=expires_at,
        )
        for attempt, wait in enumerate((*WRITE_BACKOFF_S, None), start=1):
            try:
                await self._write(pair)
            except TRANSIENT_ERRORS as error:
                if wait is None:
                    _shared(self._ctx).held[self._key] = pair
                    logger.error(
                        "Could not save refreshed %s tokens after %d attempts (%s); "
                        "holding them in memory until the next refresh of this connection",
                        self.provider,
                        attempt,
                        type(error).__name__,
                    )
                    return
                logger.warning(
                    "Saving refreshed %s tokens failed (attempt %d, %s); retrying in %g s",
                    self.provider,
                    attempt,
                    type(error).__name__,
                    wait,
                )
                await self._ctx.clock.sleep(wait)
            else:
                if attempt > 1:
                    logger.warning(
                        "Refreshed %s tokens saved at attempt %d", self.provider, attempt
                    )
                return

    async def _write(self, pair: _Held) -> None:
        """One compare-and-swap attempt; a lost race re-reads and keeps the newer row."""
        sealed = _seal(
            self._ctx,
            row_id=pair.connection_id,
            user_id=self.user_id,
            provider=self.provider,
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
        )
        written = await connections.swap_tokens(
            self._ctx.db,
            connection_id=pair.connection_id,
            base_version=pair.base_version,
            sealed=sealed,
            expires_at=pair.expires_at,
            now=self._ctx.clock.now(),
        )
        _shared(self._ctx).held.pop(self._key, None)
        if written:
            self._wrote(
                ConnectionRow(
                    id=pair.connection_id,
                    user_id=self.user_id,
                    provider=self.provider,
                    version=pair.base_version + 1,
                    status="active",
                    access_token=sealed.access_token,
                    refresh_token=sealed.refresh_token,
                    expires_at=pair.expires_at,
                )
            )
            return
        row = await self._peek()
        if (
            row is not None
            and row.id == pair.connection_id
            and row.version == pair.base_version + 1
            and self._open(row, ACCESS_TOKEN) == pair.access_token
        ):
            self._wrote(row)
            return  # our own write, committed although its answer was lost
        # The caller's next read shows the newer tokens; until then its writes stay fenced.
        self.write_conflicts += 1
        logger.warning(
            "Stored %s tokens changed while refreshing (version %d -> %s); keeping the newer ones",
            self.provider,
            pair.base_version,
            None if row is None else row.version,
        )

    async def mark_reauthorization_required(self, reason: str) -> None:
        """Record that the grant is dead: delete its tokens, mark it ``needs_reauth``, audit it.

        Only if the row is still the one this instance read: tokens stored meanwhile
        (a reconnect, a sibling's refresh) are left alone.
        """
        _shared(self._ctx).held.pop(self._key, None)
        base = self._seen if self._seen is not None else await self._read()
        if base is None:
            return
        now = self._ctx.clock.now()
        marked = await connections.mark_needs_reauth(
            self._ctx.db,
            connection_id=base.id,
            base_version=base.version,
            key_id=self._ctx.cipher.primary_key_id,
            reason=reason,
            now=now,
            audit=event_row(
                user_id=self.user_id,
                event="provider.reauth_required",
                at=now,
                detail={"provider": self.provider, "reason": reason},
            ),
        )
        if marked:
            self._wrote(
                ConnectionRow(
                    id=base.id,
                    user_id=self.user_id,
                    provider=self.provider,
                    version=base.version + 1,
                    status="needs_reauth",
                    access_token=None,
                    refresh_token=None,
                    expires_at=base.expires_at,
                    status_reason=reason,
                )
            )
        else:
            await self._peek()
            self.write_conflicts += 1
            logger.warning(
                "Not marking %s for re-authorization: newer tokens were stored meanwhile",
                self.provider,
            )

    # ------------------------------------------------------------------ locking
    @asynccontextmanager
    async def refresh_lock(self) -> AsyncIterator[None]:
        """Exclusive access to this connection's tokens, across tasks and workers.

        On entry the row is read afresh (and a pair held after a failed save is saved).

        Raises:
            ProviderUnavailable: another refresh of this connection held the lock past
                the timeout, or the database refused the lock; nothing was changed.
        """
        deadline = anyio.current_time() + self._lock_timeout_s
        async with self._task_lock(deadline) as entry:
            if entry.outer is None:
                outer = AsyncExitStack()
                await outer.enter_async_context(self._cross_process_lock(deadline))
                entry.outer = outer
            await self._save_held()
            await self._read()
            yield

    async def _save_held(self) -> None:
        held = self._held()
        if held is None:
            return
        try:
            await self._write(held)
        except TRANSIENT_ERRORS as error:
            logger.error(
                "Still cannot save refreshed %s tokens (%s); holding them in memory",
                self.provider,
                type(error).__name__,
            )
        else:
            logger.warning("Held %s tokens are saved now", self.provider)

    def _timed_out(self, holder: str) -> ProviderUnavailable:
        return ProviderUnavailable(
            provider=self.provider,
            endpoint=None,
            detail=f"{holder} has been refreshing this account's tokens for over "
            f"{self._lock_timeout_s:g} s",
        )

    @asynccontextmanager
    async def _task_lock(self, deadline: float) -> AsyncIterator[_LockEntry]:
        """This process's lock of the connection.

        The cross-process lock (``entry.outer``) stays held from one task to the next
        while tasks of this process queue for the connection, so a burst of requests
        at expiry takes it once; the last task out releases it.
        """
        locks = _shared(self._ctx).locks
        entry = locks.get(self._key)
        if entry is None:
            entry = locks[self._key] = _LockEntry()
        entry.users += 1
        try:
            try:
                with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                    await entry.lock.acquire()
            except TimeoutError:
                raise self._timed_out("another request") from None
            try:
                yield entry
            finally:
                if entry.users == 1:  # nobody of ours waits: let other workers in
                    await entry.release_outer()
                entry.lock.release()
        finally:
            entry.users -= 1
            if entry.users == 0:
                await entry.release_outer()  # a waiter that gave up after a hand-over
                if locks.get(self._key) is entry:
                    del locks[self._key]

    def _lock_name(self) -> str:
        return f"{self.provider}:{self.user_id}"  # provider names hold no colon

    @asynccontextmanager
    async def _cross_process_lock(self, deadline: float) -> AsyncIterator[None]:
        """The connection's lock against other workers (`cross_process_lock`)."""
        async with AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(
                    cross_process_lock(self._ctx.db, self._lock_name(), deadline=deadline)
                )
            except LockTimeout:
                raise self._timed_out("another worker") from None
            except LockUnavailable as error:
                raise ProviderUnavailable(
                    provider=self.provider,
                    endpoint=None,
                    detail=f"the database refused a lock connection ({error.reason})",
                ) from None
            yield
