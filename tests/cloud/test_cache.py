"""The answer cache: Redis holds answers only sealed for one user and one key; failures are misses.

What reaches Redis is an AES-256-GCM envelope under the service's key ring whose associated
data names the user, the provider and the hashed cache key: a copy under another key or user,
a tampered byte, a retired key or a malformed entry all read as a miss, logged without values.
A Redis that does not answer is a miss too, and is left alone for a while.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
from collections.abc import AsyncIterator, Hashable
from datetime import date
from typing import Any

import pytest
import redis.asyncio as redis_client
from pydantic import BaseModel
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from tests.cloud.conftest import new_key_ring, require_service
from tests.cloud.limits_support import REDIS_URL, redis_reachable
from tests.fakes import FakeClock
from wellpipe.cloud.security.crypto import (
    KeyRing,
    TokenCipher,
    answer_binding,
    key_id_of,
)
from wellpipe.cloud.services.cache import AnswerCache, MemoryStore, RedisStore, key_digest
from wellpipe.cloud.services.limits import REDIS_RETRY_AFTER_S
from wellpipe.core.models import Profile, Readiness

EMAIL = "canary-7f3a@example.com"
TTL_S = 120.0


def sealed_with(*kids: str) -> TokenCipher:
    return TokenCipher(KeyRing.parse(new_key_ring(*kids)))


def key(user_id: str, call: str = "profile", *args: Hashable) -> tuple[Hashable, ...]:
    """A cache key as `wellpipe.cloud.services.health` makes them."""
    return (user_id, "whoop", "10129", call, *args)


def where(cache_key: tuple[Hashable, ...]) -> str:
    return "wellpipe:answers:" + key_digest(cache_key)


def profile() -> Profile:
    return Profile(provider="whoop", source_id="10129", email=EMAIL, first_name="Ada", age=36)


def readiness() -> Readiness:
    return Readiness(
        provider="oura", source_id="r-1", day=date(2026, 11, 20), score_pct=82, contributors={}
    )


def leaked(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log lines that show a cached value (or an error's message instead of its type)."""
    return [
        r.getMessage()
        for r in caplog.records
        if EMAIL in r.getMessage() or "Ada" in r.getMessage() or "integrity" in r.getMessage()
    ]


@pytest.fixture
async def redis() -> AsyncIterator[Any]:
    """The test Redis; every key a test writes is under a fresh user id and removed after."""
    require_service(redis_reachable())
    client = redis_client.from_url(REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def user() -> str:
    return secrets.token_hex(16)


@pytest.fixture
async def written(redis: Any) -> AsyncIterator[list[tuple[Hashable, ...]]]:
    """Cache keys to delete from Redis when the test ends."""
    used: list[tuple[Hashable, ...]] = []
    yield used
    for cache_key in used:
        await redis.delete(where(cache_key))


# ------------------------------------------------------------------ sealed at rest
@pytest.mark.redis
async def test_answers_reach_redis_only_sealed_for_their_user_and_key(
    redis: Any, user: str, written: list[tuple[Hashable, ...]], clock: FakeClock
) -> None:
    cipher = sealed_with("k1")
    store = RedisStore(redis, cipher, clock)
    first, second = key(user), key(user, "record", "readiness", "r-1")
    written += [first, second]

    await store.put(first, profile(), TTL_S)
    await store.put(second, readiness(), TTL_S)

    assert await store.get(first) == profile()
    assert await store.get(second) == readiness()  # Oura's kinds come back too
    raw = await redis.get(where(first))
    assert raw[0] == 1  # the envelope's format version
    assert key_id_of(raw) == "k1"
    assert EMAIL.encode() not in raw
    assert b"Ada" not in raw
    assert b"profile" not in raw
    assert 0 < await redis.pttl(where(first)) <= TTL_S * 1000  # expires on its own
    opened = json.loads(cipher.decrypt(raw, answer_binding(user, "whoop", key_digest(first))))
    assert opened["value"]["email"] == EMAIL


@pytest.mark.redis
async def test_an_entry_copied_to_another_key_or_user_is_a_miss(
    redis: Any,
    user: str,
    written: list[tuple[Hashable, ...]],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = RedisStore(redis, sealed_with("k1"), clock)
    mine, other_call, other_user = key(user), key(user, "read"), key(secrets.token_hex(16))
    written += [mine, other_call, other_user]
    await store.put(mine, profile(), TTL_S)
    raw = await redis.get(where(mine))

    for elsewhere in (other_call, other_user):
        await redis.set(where(elsewhere), raw, px=60_000)
        assert await store.get(elsewhere) is None

    assert await store.get(mine) == profile()  # the original still reads
    misses = [r.getMessage() for r in caplog.records if "did not decrypt" in r.getMessage()]
    assert misses == ["A cached answer did not decrypt (TokenDecryptionError); a miss"] * 2
    assert leaked(caplog) == []


@pytest.mark.redis
async def test_tampered_retired_or_malformed_entries_are_misses(
    redis: Any,
    user: str,
    written: list[tuple[Hashable, ...]],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cipher = sealed_with("k1")
    store = RedisStore(redis, cipher, clock)
    cache_key = key(user)
    written.append(cache_key)
    await store.put(cache_key, profile(), TTL_S)
    raw = bytearray(await redis.get(where(cache_key)))

    rotated_away = RedisStore(redis, sealed_with("k2"), clock)  # k1 retired from the ring
    assert await rotated_away.get(cache_key) is None

    raw[-1] ^= 0x01  # one bit of the tag
    await redis.set(where(cache_key), bytes(raw), px=60_000)
    assert await store.get(cache_key) is None

    binding = answer_binding(user, "whoop", key_digest(cache_key))
    for body in (b"not an envelope", cipher.encrypt('{"type": "Nope", "value": {}}', binding)):
        await redis.set(where(cache_key), body, px=60_000)
        assert await store.get(cache_key) is None
    await redis.set(where(cache_key), cipher.encrypt("not json", binding), px=60_000)
    assert await store.get(cache_key) is None

    messages = [r.getMessage() for r in caplog.records if r.name.endswith("cache")]
    assert messages == [
        "A cached answer did not decrypt (MissingKeyError); a miss",
        "A cached answer did not decrypt (TokenDecryptionError); a miss",
        "A cached answer did not decrypt (TokenDecryptionError); a miss",
        "A cached answer could not be read (KeyError); a miss",
        "A cached answer could not be read (JSONDecodeError); a miss",
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name.endswith("cache"))
    assert leaked(caplog) == []


@pytest.mark.redis
async def test_a_miss_fetches_and_keeps_the_answer_sealed(
    redis: Any, user: str, written: list[tuple[Hashable, ...]], clock: FakeClock
) -> None:
    cache = AnswerCache(RedisStore(redis, sealed_with("k1"), clock), ttl_s=TTL_S)
    cache_key = key(user)
    written.append(cache_key)
    calls: list[int] = []

    async def fetch() -> Profile:
        calls.append(1)
        return profile()

    assert await cache.get_or_fetch(cache_key, fetch, Profile) == profile()
    assert await cache.get_or_fetch(cache_key, fetch, Profile) == profile()
    assert len(calls) == 1
    assert EMAIL.encode() not in await redis.get(where(cache_key))


# ------------------------------------------------------------------ Redis failing
class Counting:
    """A Redis client, counting the commands it is asked to run."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    async def get(self, name: str) -> Any:
        self.calls += 1
        return await self.inner.get(name)

    async def set(self, name: str, value: bytes, **options: Any) -> Any:
        self.calls += 1
        return await self.inner.set(name, value, **options)


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


async def test_a_dead_redis_is_a_miss_and_is_left_alone_for_a_while(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dead = redis_client.from_url(
        f"redis://:hunter2@127.0.0.1:{dead_port()}/0",
        socket_connect_timeout=1.0,
        retry=Retry(NoBackoff(), 0),
    )
    counting = Counting(dead)
    cache = AnswerCache(RedisStore(counting, sealed_with("k1"), clock), ttl_s=TTL_S)
    calls: list[int] = []

    async def fetch() -> Profile:
        calls.append(1)
        return profile()

    try:
        for _ in range(3):
            assert await cache.get_or_fetch(key("u1"), fetch, Profile) == profile()
        assert counting.calls == 1  # the first read failed; then Redis was left alone
        clock.advance(REDIS_RETRY_AFTER_S)
        assert await cache.get_or_fetch(key("u1"), fetch, Profile) == profile()
        assert counting.calls == 2  # tried again, failed again
    finally:
        await dead.aclose()

    assert len(calls) == 4  # every request answered, from the provider
    failures = [r for r in caplog.records if r.name.endswith("cache")]
    assert [r.getMessage() for r in failures] == [
        "Answer cache in Redis failed (ConnectionError); reading from the provider for 30 s"
    ] * 2
    assert all(r.levelno < logging.ERROR for r in caplog.records)
    assert not any("hunter2" in r.getMessage() for r in caplog.records)


class Failing:
    """Redis that takes reads but fails writes."""

    def __init__(self) -> None:
        self.calls = 0

    async def get(self, _name: str) -> None:
        self.calls += 1

    async def set(self, _name: str, _value: bytes, **_options: Any) -> None:
        self.calls += 1
        raise TimeoutError("Timeout writing to socket")


async def test_a_failed_write_is_not_an_error(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    failing = Failing()
    store = RedisStore(failing, sealed_with("k1"), clock)

    await store.put(key("u1"), profile(), TTL_S)  # does not raise
    assert await store.get(key("u1")) is None  # left alone after the failure: no call
    assert failing.calls == 1
    assert [r.getMessage() for r in caplog.records] == [
        "Answer cache in Redis failed (TimeoutError); reading from the provider for 30 s"
    ]


async def test_only_answers_it_can_read_back_are_written(clock: FakeClock) -> None:
    class Unknown(BaseModel):
        email: str

    counting = Counting(None)
    store = RedisStore(counting, sealed_with("k1"), clock)
    await store.put(key("u1"), Unknown(email=EMAIL), TTL_S)
    assert counting.calls == 0


async def test_keys_start_with_the_user_and_the_provider(clock: FakeClock) -> None:
    store = RedisStore(Counting(None), sealed_with("k1"), clock)
    with pytest.raises(ValueError, match="user_id, provider"):
        await store.get(("profile",))
    with pytest.raises(ValueError, match="user_id, provider"):
        await store.put((42, "whoop", "profile"), profile(), TTL_S)


# ------------------------------------------------------------------ memory
async def test_memory_keeps_the_objects_themselves_until_they_expire(clock: FakeClock) -> None:
    store = MemoryStore(clock)
    answer = profile()
    await store.put(key("u1"), answer, TTL_S)

    assert await store.get(key("u1")) is answer  # in this process only, never serialized
    assert await store.get(key("u2")) is None
    clock.advance(TTL_S)
    assert await store.get(key("u1")) is None
