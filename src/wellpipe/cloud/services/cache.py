"""A short-lived cache of provider answers, to spare the shared provider budget.

What is kept, where, and for how long:

* **Redis**, when ``WELLPIPE_REDIS_URL`` is set: each answer encrypted with the service's
  key ring (AES-256-GCM, the envelope of `wellpipe.cloud.security.crypto`, fresh nonce per
  write) under ``wellpipe:answers:<SHA-256 of the cache key>``, expiring after
  ``WELLPIPE_CACHE_TTL_S`` seconds (default 120). The associated data binds the entry to
  its user, provider and hashed key (`answer_binding`): an entry copied under another key
  or user, altered, or sealed with a key the ring no longer holds does not decrypt, and
  counts as a miss. No answer reaches Redis in plaintext.
* **Memory**, without Redis: the same answers as objects in this process, for the same
  time, at most 2,048 of them (least recently used go first); gone when the process ends.
* **The database**: never any health data.

Keys start with the Wellpipe user and the provider, ``(user_id, provider, account, call,
*args)``, so one user's answers can never be served to another. Concurrent identical
misses in one process make one provider call. The cache is optional: when Redis fails, a
read is a miss and a write is skipped, and Redis is left alone for 30 s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Protocol, TypeVar

import anyio
from pydantic import BaseModel

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.security.crypto import (
    Binding,
    TokenCipher,
    TokenDecryptionError,
    answer_binding,
)
from wellpipe.cloud.services.limits import REDIS_RETRY_AFTER_S
from wellpipe.core.models import (
    BodyMeasurement,
    Cycle,
    DailyActivity,
    DailyVitals,
    Profile,
    Readiness,
    RecordSet,
    Recovery,
    Sleep,
    Workout,
)
from wellpipe.core.ports import Clock

__all__ = ["AnswerCache", "MemoryStore", "RedisStore", "answer_cache", "key_digest"]

logger = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

_REDIS_PREFIX = "wellpipe:answers:"

_TYPES: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (
        RecordSet,
        Profile,
        BodyMeasurement,
        Sleep,
        Recovery,
        Workout,
        Cycle,
        Readiness,
        DailyActivity,
        DailyVitals,
    )
}


class _Store(Protocol):
    async def get(self, key: tuple[Hashable, ...]) -> BaseModel | None:
        """The stored answer, or ``None`` when absent or expired."""
        ...

    async def put(self, key: tuple[Hashable, ...], value: BaseModel, ttl_s: float) -> None:
        """Keep ``value`` for ``ttl_s`` seconds."""
        ...


class MemoryStore:
    """Answers in this process's memory: bounded (least recently used go first), expiring."""

    def __init__(self, clock: Clock, *, max_entries: int = 2048) -> None:
        """Create an empty store holding at most ``max_entries`` answers."""
        self._clock = clock
        self._max = max_entries
        self._entries: OrderedDict[tuple[Hashable, ...], tuple[float, BaseModel]] = OrderedDict()

    async def get(self, key: tuple[Hashable, ...]) -> BaseModel | None:
        """The answer, if still fresh (answers are frozen models, safe to share)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires <= self._clock.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def put(self, key: tuple[Hashable, ...], value: BaseModel, ttl_s: float) -> None:
        """Keep the answer until ``ttl_s`` from now."""
        self._entries[key] = (self._clock.monotonic() + ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()


def key_digest(key: tuple[Hashable, ...]) -> str:
    """The SHA-256 (hex) that stands for ``key`` in Redis and in an entry's binding."""
    return hashlib.sha256(repr(key).encode()).hexdigest()


class RedisStore:
    """Answers in Redis, encrypted and bound to their user, under hashed keys, expiring.

    Best effort: when Redis fails, reads are misses and writes are skipped, and Redis is
    left alone for `REDIS_RETRY_AFTER_S` (one warning per outage, naming only the error's
    type). An entry that does not decrypt or parse is a miss, logged without its content.
    """

    def __init__(self, redis: Any, cipher: TokenCipher, clock: Clock) -> None:
        """Use ``redis`` (a ``redis.asyncio.Redis``), sealing entries with ``cipher``."""
        self._redis = redis
        self._cipher = cipher
        self._clock = clock
        self._down_until = -math.inf

    @staticmethod
    def _where(key: tuple[Hashable, ...]) -> tuple[str, Binding]:
        """The Redis key and the binding of ``key``'s entry.

        Raises:
            ValueError: ``key`` does not start with a user id and a provider name.
        """
        if len(key) < 2 or not isinstance(key[0], str) or not isinstance(key[1], str):
            raise ValueError("answer cache keys start with (user_id, provider, ...)")
        digest = key_digest(key)
        return _REDIS_PREFIX + digest, answer_binding(key[0], key[1], digest)

    def _usable(self) -> bool:
        return self._clock.monotonic() >= self._down_until

    def _failed(self, error: Exception) -> None:
        if self._usable():
            logger.warning(
                "Answer cache in Redis failed (%s); reading from the provider for %.0f s",
                type(error).__name__,
                REDIS_RETRY_AFTER_S,
            )
        self._down_until = self._clock.monotonic() + REDIS_RETRY_AFTER_S

    async def get(self, key: tuple[Hashable, ...]) -> BaseModel | None:
        """The answer, or ``None``: absent, unreadable, or Redis unreachable."""
        where, binding = self._where(key)
        if not self._usable():
            return None
        try:
            blob = await self._redis.get(where)
        except Exception as error:  # a cache outage must not fail the request
            self._failed(error)
            return None
        if blob is None:
            return None
        try:
            stored = json.loads(self._cipher.decrypt(blob, binding))
            model = _TYPES[stored["type"]]
            return model.model_validate(stored["value"])
        except TokenDecryptionError as error:  # key retired, altered, or copied from elsewhere
            logger.warning("A cached answer did not decrypt (%s); a miss", type(error).__name__)
        except (ValueError, KeyError, TypeError) as error:  # not an answer this version reads
            logger.warning("A cached answer could not be read (%s); a miss", type(error).__name__)
        return None

    async def put(self, key: tuple[Hashable, ...], value: BaseModel, ttl_s: float) -> None:
        """Keep the answer, encrypted, for ``ttl_s`` seconds (best effort)."""
        where, binding = self._where(key)
        kind = type(value).__name__
        if not self._usable() or _TYPES.get(kind) is not type(value):
            return
        body = json.dumps({"type": kind, "value": value.model_dump(mode="json")})
        blob = self._cipher.encrypt(body, binding)
        try:
            await self._redis.set(where, blob, px=max(1, int(ttl_s * 1000)))
        except Exception as error:
            self._failed(error)


class AnswerCache:
    """Reuses provider answers for a few minutes; one provider call per concurrent miss."""

    def __init__(self, store: _Store, *, ttl_s: float) -> None:
        """Cache into ``store`` for ``ttl_s`` seconds (0 turns caching off)."""
        self.store = store
        self.ttl_s = ttl_s
        self._inflight: dict[tuple[Hashable, ...], anyio.Event] = {}
        self.hits = 0
        self.misses = 0

    async def get_or_fetch(
        self, key: tuple[Hashable, ...], fetch: Callable[[], Awaitable[T]], kind: type[T]
    ) -> T:
        """The cached answer for ``key``, else ``await fetch()`` (kept when it succeeds)."""
        if self.ttl_s <= 0:
            return await fetch()
        found = await self._lookup(key, kind)
        if found is not None:
            return found
        waiting = self._inflight.get(key)
        if waiting is not None:
            await waiting.wait()
            found = await self._lookup(key, kind)
            if found is not None:
                return found
        done = anyio.Event()
        self._inflight.setdefault(key, done)
        self.misses += 1
        try:
            value = await fetch()
            await self.store.put(key, value, self.ttl_s)
            return value
        finally:
            if self._inflight.get(key) is done:
                del self._inflight[key]
            done.set()

    async def _lookup(self, key: tuple[Hashable, ...], kind: type[T]) -> T | None:
        value = await self.store.get(key)
        if isinstance(value, kind):
            self.hits += 1
            return value
        return None


def answer_cache(ctx: CloudContext) -> AnswerCache:
    """This process's answer cache: Redis (encrypted) when configured, else memory."""
    cache = ctx.state.answer_cache
    if cache is None:
        store: _Store
        if ctx.redis is not None:
            store = RedisStore(ctx.redis, ctx.cipher, ctx.clock)
        else:
            store = MemoryStore(ctx.clock)
        cache = ctx.state.answer_cache = AnswerCache(store, ttl_s=ctx.settings.cache_ttl_s)
    return cache
