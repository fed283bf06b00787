"""API keys: create, list, revoke, and authenticate a presented key.

Storage is a bcrypt hash (cost 12) of the key's secret, found by the key id (see
`wellpipe.cloud.security.api_keys`). A bcrypt check costs hundreds of milliseconds, so each
process keeps a bounded cache of recent successful verifications (10,000 entries, five
minutes), keyed by HMAC-SHA256(pepper, presented key). A cache entry only says "this exact
key matched the hash with this fingerprint"; it never says the key is valid. Every
request still reads the key row (joined with its owner) by id, so:

* a revoked key stops working on the very next request, whatever the cache holds;
* a deleted account's keys are gone with it (the row is deleted on cascade);
* a plan change is seen on the next request (the plan comes from the same read);
* a replaced hash (a regenerated key under the same id) invalidates the entry.

Unknown key ids, revoked keys and wrong secrets all end in ``None`` after the same amount
of bcrypt work, so the answer and its timing do not tell them apart. Structurally invalid
keys (wrong shape or checksum) end in ``None`` before any database work.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cache

import anyio
import anyio.to_thread

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db.keys import (
    KeyIdTaken,
    add_key,
    count_active_keys,
    keys_of_user,
    read_key,
    revoke_active_key,
    touch_key,
)
from wellpipe.cloud.db.users import lock_user
from wellpipe.cloud.security import api_keys
from wellpipe.cloud.services.audit import record_event
from wellpipe.core.ports import Clock

__all__ = [
    "CACHE_ENTRIES",
    "CACHE_TTL_S",
    "MAX_ACTIVE_KEYS",
    "ApiKeyError",
    "CreatedKey",
    "KeyClaim",
    "KeyInfo",
    "KeyLimitReached",
    "Principal",
    "VerificationCache",
    "authenticate",
    "create_key",
    "list_keys",
    "recall",
    "revoke_key",
    "touch_if_due",
    "verification_cache",
]

logger = logging.getLogger(__name__)

MAX_ACTIVE_KEYS = 10
NAME_MAX_LENGTH = 100
CACHE_ENTRIES = 10_000
CACHE_TTL_S = 300.0
TOUCH_INTERVAL = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per key (not on every request)."""


class ApiKeyError(ValueError):
    """A key request the service refuses; the message is the sentence to show the user."""


class KeyLimitReached(ApiKeyError):
    """The account already has the maximum number of active keys."""


@dataclass(frozen=True)
class CreatedKey:
    """A new key. `full_key` is shown once and never again.

    Attributes:
        key_id: The public id.
        name: The name the user gave it.
        full_key: The whole key.
        last4: Its last four characters.
        created_at: When it was created.
    """

    key_id: str
    name: str
    full_key: str = field(repr=False)
    last4: str
    created_at: datetime


@dataclass(frozen=True)
class KeyInfo:
    """A key as the dashboard lists it (never the secret).

    Attributes:
        key_id: The public id.
        name: Its name.
        last4: Its last four characters.
        created_at: When it was created.
        last_used_at: When it last authenticated (to the minute), if ever.
        revoked_at: When it was revoked, if it was.
    """

    key_id: str
    name: str
    last4: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """Whether the key still works."""
        return self.revoked_at is None


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: the credential's owner, never an id taken from the request.

    Attributes:
        user_id: The key's (or the assistant's grant's) owner.
        key_id: The API key used, if one was.
        plan: The owner's plan as of this request (``FREE`` or ``PRO``).
        grant_id: The connected assistant's grant, when an OAuth access token was used.
        client_name: That assistant's name, as it registered it (untrusted text).
    """

    user_id: str
    key_id: str | None
    plan: str
    grant_id: str | None = None
    client_name: str | None = None


@dataclass(frozen=True)
class KeyClaim:
    """A presented key this process verified recently: whose it was, not whether it still is.

    A claim spares the bcrypt check and lets `wellpipe.cloud.services.limits.admit` check
    the key and count the request in one database statement: it holds only if the key row
    still has this hash, is not revoked, and its owner is still on ``plan``.

    Attributes:
        key_id: The key's public id.
        user_id: Its owner (a key never changes owner).
        secret_hash: The stored hash the key was verified against.
        plan: The owner's plan when the key was last read.
    """

    key_id: str
    user_id: str
    secret_hash: str = field(repr=False)
    plan: str


@dataclass
class _Entry:
    key_id: str
    fingerprint: bytes
    expires: float
    claim: KeyClaim | None = None


class VerificationCache:
    """A bounded LRU of successful bcrypt verifications with a time-to-live (one per process).

    Keys are HMAC digests of presented keys; values remember which key id and which
    stored hash the key matched. Entries are hints that spare a bcrypt check, never
    authorisation on their own.
    """

    def __init__(
        self, clock: Clock, *, max_entries: int = CACHE_ENTRIES, ttl_s: float = CACHE_TTL_S
    ) -> None:
        self._clock = clock
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def matches(self, digest: bytes, key_id: str, fingerprint: bytes) -> bool:
        """Whether ``digest`` was verified against this key id and stored hash, recently."""
        entry = self._entries.get(digest)
        if entry is None:
            self.misses += 1
            return False
        if entry.expires <= self._clock.monotonic() or (entry.key_id, entry.fingerprint) != (
            key_id,
            fingerprint,
        ):
            del self._entries[digest]
            self.misses += 1
            return False
        self._entries.move_to_end(digest)
        self.hits += 1
        return True

    def claim(self, digest: bytes) -> KeyClaim | None:
        """What ``digest`` was last verified as, if recently (a hint: see `KeyClaim`)."""
        entry = self._entries.get(digest)
        if entry is None or entry.claim is None or entry.expires <= self._clock.monotonic():
            self.misses += 1
            return None
        self._entries.move_to_end(digest)
        self.hits += 1
        return entry.claim

    def remember(
        self, digest: bytes, key_id: str, fingerprint: bytes, claim: KeyClaim | None = None
    ) -> None:
        """Record a successful verification, evicting the least recently used beyond the bound."""
        expires = self._clock.monotonic() + self.ttl_s
        self._entries[digest] = _Entry(key_id, fingerprint, expires, claim)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def update_plan(self, digest: bytes, plan: str) -> None:
        """Note the owner's current plan on ``digest``'s entry (read with the key row)."""
        entry = self._entries.get(digest)
        if entry is not None and entry.claim is not None and entry.claim.plan != plan:
            entry.claim = replace(entry.claim, plan=plan)

    def forget_key(self, key_id: str) -> None:
        """Drop every entry for ``key_id`` (after a revoke; the row check suffices anyway)."""
        for digest in [d for d, e in self._entries.items() if e.key_id == key_id]:
            del self._entries[digest]


def verification_cache(ctx: CloudContext) -> VerificationCache:
    """This process's verification cache for ``ctx``."""
    found = ctx.state.key_cache
    if found is None:
        found = ctx.state.key_cache = VerificationCache(ctx.clock)
    return found


def _limiter(ctx: CloudContext) -> anyio.CapacityLimiter:
    # bcrypt is CPU-bound: at most one check per core at a time, so it cannot take over
    # the shared worker-thread pool.
    found = ctx.state.bcrypt_slots
    if found is None:
        found = ctx.state.bcrypt_slots = anyio.CapacityLimiter(max(1, os.cpu_count() or 1))
    return found


def _pepper(ctx: CloudContext) -> bytes:
    configured = ctx.settings.api_key_pepper
    if configured is not None:
        return configured.get_secret_value().encode()
    # The cache lives in this process only, so a per-process secret keys it just as well.
    return ctx.state.process_pepper


@cache
def _decoy_hash(rounds: int) -> str:
    """A hash no presented secret matches: checked instead when there is nothing to check."""
    _, _, secret = api_keys.generate()
    return api_keys.hash_secret(secret, rounds=rounds)


async def _bcrypt_check(ctx: CloudContext, secret: str, secret_hash: str | None) -> bool:
    def check() -> bool:
        if secret_hash is None:
            api_keys.verify_secret(secret, _decoy_hash(api_keys.BCRYPT_ROUNDS))
            return False
        return api_keys.verify_secret(secret, secret_hash)

    return await anyio.to_thread.run_sync(check, limiter=_limiter(ctx))


def _clean_name(name: str) -> str:
    clean = " ".join(name.split())
    if not clean or len(clean) > NAME_MAX_LENGTH:
        raise ApiKeyError(
            f"Give the key a name of 1 to {NAME_MAX_LENGTH} characters, "
            "such as the assistant that will use it."
        )
    return clean


async def create_key(
    ctx: CloudContext, *, user_id: str, name: str, request_id: str | None = None
) -> CreatedKey:
    """Create a key for ``user_id``; the full key is in the answer and nowhere else.

    Raises:
        ApiKeyError: an empty or too long name, or an account that no longer exists.
        KeyLimitReached: the account already has `MAX_ACTIVE_KEYS` active keys.
    """
    clean = _clean_name(name)
    for attempt in range(3):
        minted = await anyio.to_thread.run_sync(api_keys.mint, limiter=_limiter(ctx))
        now = ctx.clock.now()
        try:
            async with ctx.db.transaction() as session:
                # A no-op write on the owner's row: concurrent creations for one account
                # take turns (a row lock on PostgreSQL, the write lock on SQLite), so the
                # active-key count below cannot be raced past the limit.
                if not await lock_user(session, user_id):
                    raise ApiKeyError("That account no longer exists; sign in again.")
                if await count_active_keys(session, user_id) >= MAX_ACTIVE_KEYS:
                    raise KeyLimitReached(
                        f"You already have {MAX_ACTIVE_KEYS} active keys; revoke one in the "
                        "dashboard before creating another."
                    )
                await add_key(
                    session,
                    key_id=minted.key_id,
                    user_id=user_id,
                    name=clean,
                    secret_hash=minted.secret_hash,
                    last4=minted.last4,
                    created_at=now,
                )
                await record_event(
                    session,
                    user_id=user_id,
                    event="key.created",
                    at=now,
                    detail={"key_id": minted.key_id, "name": clean},
                    request_id=request_id,
                )
        except KeyIdTaken:
            if attempt == 2:
                raise
            logger.warning("API key id collision; minting another")
            continue
        return CreatedKey(
            key_id=minted.key_id,
            name=clean,
            full_key=minted.full_key,
            last4=minted.last4,
            created_at=now,
        )
    raise AssertionError("unreachable")  # pragma: no cover


async def list_keys(ctx: CloudContext, user_id: str) -> list[KeyInfo]:
    """Every key of ``user_id``, revoked ones included, newest first."""
    async with ctx.db.sessions() as session:
        rows = await keys_of_user(session, user_id)
        return [
            KeyInfo(
                key_id=row.id,
                name=row.name,
                last4=row.last4,
                created_at=row.created_at,
                last_used_at=row.last_used_at,
                revoked_at=row.revoked_at,
            )
            for row in rows
        ]


async def revoke_key(
    ctx: CloudContext, *, user_id: str, key_id: str, request_id: str | None = None
) -> bool:
    """Revoke ``user_id``'s key ``key_id``; effective for the very next request.

    Returns:
        ``True`` if it was revoked now; ``False`` if no such active key belongs to the user.
    """
    now = ctx.clock.now()
    async with ctx.db.transaction() as session:
        if not await revoke_active_key(session, user_id=user_id, key_id=key_id, at=now):
            return False
        await record_event(
            session,
            user_id=user_id,
            event="key.revoked",
            at=now,
            detail={"key_id": key_id},
            request_id=request_id,
        )
    verification_cache(ctx).forget_key(key_id)
    return True


async def _verify(
    ctx: CloudContext, digest: bytes, secret: str, key_id: str, stored: str, claim: KeyClaim
) -> bool:
    """One bcrypt check per presented key, however many requests carry it at once."""
    cache_ = verification_cache(ctx)
    fingerprint = api_keys.hash_fingerprint(stored)
    inflight = ctx.state.key_checks
    slot = (digest, fingerprint)
    while (pending := inflight.get(slot)) is not None:
        await pending.wait()
        if cache_.matches(digest, key_id, fingerprint):
            return True
    done = inflight[slot] = anyio.Event()
    try:
        ok = await _bcrypt_check(ctx, secret, stored)
        if ok:
            cache_.remember(digest, key_id, fingerprint, claim)
        return ok
    finally:
        del inflight[slot]
        done.set()


async def authenticate(ctx: CloudContext, presented: str) -> Principal | None:
    """The principal a presented API key acts for, or ``None``.

    ``None`` for a malformed key or a bad checksum (no database work), an unknown key id,
    a wrong secret, a revoked key or a deleted account (all indistinguishable). One
    query on the usual path: the key row by id, joined with its owner's plan.
    """
    parsed = api_keys.parse(presented)
    if parsed is None:
        return None
    digest = api_keys.cache_key(_pepper(ctx), presented)
    row = await read_key(ctx.db, parsed.key_id)
    if row is None or row.revoked_at is not None:
        await _bcrypt_check(ctx, parsed.secret, None)  # the same work as a wrong secret
        return None
    cache_ = verification_cache(ctx)
    fingerprint = api_keys.hash_fingerprint(row.secret_hash)
    if cache_.matches(digest, row.id, fingerprint):
        cache_.update_plan(digest, row.plan)
    else:
        claim = KeyClaim(
            key_id=row.id, user_id=row.user_id, secret_hash=row.secret_hash, plan=row.plan
        )
        if not await _verify(ctx, digest, parsed.secret, row.id, row.secret_hash, claim):
            return None
    await touch_if_due(ctx, row.id, row.last_used_at)
    return Principal(user_id=row.user_id, key_id=row.id, plan=row.plan)


def recall(ctx: CloudContext, presented: str) -> KeyClaim | None:
    """Who ``presented`` was when this process last verified it, without database work.

    ``None`` for a malformed key, or one not verified here in the last `CACHE_TTL_S`
    seconds. A claim is no authorisation: it must be confirmed against the key row
    (`wellpipe.cloud.services.limits.admit` does so in the statement that counts the
    request), else `authenticate` decides.
    """
    if api_keys.parse(presented) is None:
        return None
    return verification_cache(ctx).claim(api_keys.cache_key(_pepper(ctx), presented))


async def touch_if_due(ctx: CloudContext, key_id: str, last_used_at: datetime | None) -> None:
    """Record the key's use, at most once per `TOUCH_INTERVAL`."""
    now = ctx.clock.now()
    if last_used_at is None or now - last_used_at >= TOUCH_INTERVAL:
        await _touch(ctx, key_id, now)


async def _touch(ctx: CloudContext, key_id: str, now: datetime) -> None:
    async with ctx.db.transaction() as session:
        await touch_key(session, key_id, now=now, unless_since=now - TOUCH_INTERVAL)
