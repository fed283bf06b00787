"""A short-lived cache of provider answers, to spare the shared provider budget.

Answers are kept for ``settings.cache_ttl_s`` seconds (minutes at most), in this
process's memory or in Redis when it is configured, never in the database: no health
data is written down. Keys carry the Wellpipe user, the provider, the provider
account and the call with its arguments, so one user's answers can never be served
to another. Concurrent identical misses in one process make one provider call.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Protocol, TypeVar

import anyio
from pydantic import BaseModel

from wellpipe.cloud.context import CloudContext
from wellpipe.core.models import (
    BodyMeasurement,
    Cycle,
    Profile,
    RecordSet,
    Recovery,
    Sleep,
    Workout,
)
from wellpipe.core.ports import Clock

__all__ = ["AnswerCache", "MemoryStore", "RedisStore", "answer_cache"]

logger = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

_EXTRAS_KEY = "health.cache"
_MISSING = object()

_TYPES: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (RecordSet, Profile, BodyMeasurement, Sleep, Recovery, Workout, Cycle)
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


class RedisStore:
    """Answers in Redis as JSON, under hashed keys, expiring on their own."""

    def __init__(self, redis: Any) -> None:
        """Use ``redis`` (a ``redis.asyncio.Redis``)."""
        self._redis = redis

    @staticmethod
    def _key(key: tuple[Hashable, ...]) -> str:
        return "wellpipe:answers:" + hashlib.sha256(repr(key).encode()).hexdigest()

    async def get(self, key: tuple[Hashable, ...]) -> BaseModel | None:
        """The answer, or ``None`` (also when Redis is unreachable: the cache is optional)."""
        try:
            raw = await self._redis.get(self._key(key))
        except Exception as error:  # a cache outage must not fail the request
            logger.warning("Answer cache unavailable (%s); reading from the provider", error)
            return None
        if raw is None:
            return None
        stored = json.loads(raw)
        model = _TYPES.get(stored.get("type"))
        return None if model is None else model.model_validate(stored["value"])

    async def put(self, key: tuple[Hashable, ...], value: BaseModel, ttl_s: float) -> None:
        """Keep the answer for ``ttl_s`` seconds (best effort)."""
        body = json.dumps({"type": type(value).__name__, "value": value.model_dump(mode="json")})
        try:
            await self._redis.set(self._key(key), body, px=max(1, int(ttl_s * 1000)))
        except Exception as error:
            logger.warning("Answer cache unavailable (%s); answer not kept", error)


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
    """This process's answer cache: Redis when configured, else memory."""
    cache: AnswerCache | None = ctx.extras.get(_EXTRAS_KEY)
    if cache is None:
        store: _Store = RedisStore(ctx.redis) if ctx.redis is not None else MemoryStore(ctx.clock)
        cache = ctx.extras[_EXTRAS_KEY] = AnswerCache(store, ttl_s=ctx.settings.cache_ttl_s)
    return cache
