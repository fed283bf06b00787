"""API keys: the format, what is stored, every verification path, revocation, the cache."""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import zlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import anyio
import pytest
from sqlalchemy import delete, select, text, update

from tests.cloud.limits_support import add_user, count_queries, open_context
from tests.conftest import NOW
from tests.fakes import FakeClock
from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db.tables import ApiKey, Base, User
from wellpipe.cloud.security import api_keys
from wellpipe.cloud.services import keys
from wellpipe.cloud.services.audit import list_events
from wellpipe.cloud.settings import CloudSettings

KEY_RE = re.compile(r"wp_live_[0-9A-Za-z]{8}_[0-9A-Za-z]{49}")
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _decode62(text_: str) -> int:
    value = 0
    for char in text_:
        value = value * 62 + BASE62.index(char)
    return value


def _with_checksum(body: str) -> str:
    return body + api_keys.checksum(body)


# ---------------------------------------------------------------- format (pure)


def test_ten_thousand_keys_match_the_format_with_valid_checksums_and_no_repeats() -> None:
    assert api_keys.SECRET_BYTES >= 32  # >= 128 bits of entropy by construction (256 here)
    ids, secrets_ = set(), set()
    for _ in range(10_000):
        full, key_id, secret = api_keys.generate()
        assert KEY_RE.fullmatch(full), full
        body, check = full[:-6], full[-6:]
        assert _decode62(check) == zlib.crc32(body.encode())
        assert _decode62(check) < 2**32
        assert _decode62(secret) < 2**256
        assert len(secret) == 43
        parsed = api_keys.parse(full)
        assert parsed == api_keys.ParsedKey(key_id=key_id, secret=secret)
        ids.add(key_id)
        secrets_.add(secret)
    assert len(ids) == 10_000
    assert len(secrets_) == 10_000


def test_every_single_character_change_is_rejected_offline() -> None:
    rng = random.Random(4)
    others = [*BASE62, "_", "-", "=", " ", "\u0663", "\u00e9"]
    rejected = total = 0
    for _ in range(200):
        full, _, _ = api_keys.generate()
        for position in range(len(full)):
            replacement = rng.choice([c for c in others if c != full[position]])
            flipped = full[:position] + replacement + full[position + 1 :]
            total += 1
            rejected += api_keys.parse(flipped) is None
    assert rejected == total == 200 * 66


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "wp_live_",
        "Bearer wp_live_x",
        "wp_test_" + "A" * 8 + "_" + "B" * 49,
        "WP_LIVE_" + "A" * 8 + "_" + "B" * 49,
    ],
)
def test_malformed_keys_do_not_parse(presented: str) -> None:
    assert api_keys.parse(presented) is None


def test_whitespace_truncation_and_extension_do_not_parse() -> None:
    full, _, _ = api_keys.generate()
    for variant in (full + "\n", " " + full, full[:-1], full + "0", full.upper(), full.lower()):
        assert api_keys.parse(variant) is None
    # A right structure with the checksum of different text is refused too.
    assert api_keys.parse(full[:-6] + api_keys.checksum(full[:-7])) is None


def test_mint_stores_a_cost_12_bcrypt_hash_of_the_secret_and_last4() -> None:
    minted = api_keys.mint()
    parsed = api_keys.parse(minted.full_key)
    assert parsed is not None
    assert parsed.key_id == minted.key_id
    assert minted.secret_hash.startswith("$2b$12$")
    assert minted.last4 == minted.full_key[-4:]
    assert api_keys.verify_secret(parsed.secret, minted.secret_hash)
    changed = "y" if parsed.secret.endswith("x") else "x"  # really a different secret
    assert not api_keys.verify_secret(parsed.secret[:-1] + changed, minted.secret_hash)
    assert not api_keys.verify_secret(parsed.secret, "not a bcrypt hash")
    assert parsed.secret not in repr(parsed)
    assert minted.full_key not in repr(minted)


def test_cache_key_is_hmac_sha256_under_the_pepper() -> None:
    full, _, _ = api_keys.generate()
    expected = hmac.new(b"pepper", full.encode(), hashlib.sha256).digest()
    assert api_keys.cache_key(b"pepper", full) == expected
    assert api_keys.cache_key("pepper", full) == expected
    assert api_keys.cache_key(b"other", full) != expected


def test_verification_cache_is_bounded_lru_with_ttl() -> None:
    clock = FakeClock(NOW)
    cache = keys.VerificationCache(clock, max_entries=3, ttl_s=10)
    for n in range(3):
        cache.remember(bytes([n]), f"k{n}", b"f")
    assert cache.matches(b"\x00", "k0", b"f")  # k0 is now the most recent
    cache.remember(b"\x03", "k3", b"f")  # evicts k1, the least recently used
    assert len(cache) == 3
    assert not cache.matches(b"\x01", "k1", b"f")
    assert cache.matches(b"\x00", "k0", b"f")
    assert not cache.matches(b"\x00", "k0", b"other hash")  # a replaced hash: entry dropped
    assert not cache.matches(b"\x00", "k0", b"f")
    clock.advance(10)
    assert not cache.matches(b"\x03", "k3", b"f")  # expired


# ---------------------------------------------------------------- service (both databases)


@pytest.fixture
def fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cost 4 instead of 12 where a test mints many keys (the cost-12 test is above)."""
    monkeypatch.setattr(api_keys, "BCRYPT_ROUNDS", 4)


@pytest.fixture
async def ctx(
    cloud_settings: CloudSettings, clock: FakeClock, fast_bcrypt: None
) -> AsyncIterator[CloudContext]:
    context = await open_context(cloud_settings, clock)
    try:
        yield context
    finally:
        await context.db.dispose()


@pytest.fixture
def bcrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every bcrypt verification, by the hash it was checked against."""
    calls: list[str] = []
    real: Callable[[str, str], bool] = api_keys.verify_secret

    def counting(secret: str, secret_hash: str) -> bool:
        calls.append(secret_hash)
        return real(secret, secret_hash)

    monkeypatch.setattr(api_keys, "verify_secret", counting)
    return calls


def _wrong_secret(full_key: str) -> str:
    parsed = api_keys.parse(full_key)
    assert parsed is not None
    _, _, other_secret = api_keys.generate()
    return _with_checksum(f"wp_live_{parsed.key_id}_{other_secret}")


async def test_created_key_authenticates_as_its_owner_and_the_database_holds_no_secret(
    ctx: CloudContext,
) -> None:
    user_id = await add_user(ctx)
    created = await keys.create_key(ctx, user_id=user_id, name="  Claude   Desktop ")
    assert created.name == "Claude Desktop"
    assert created.full_key not in repr(created)
    parsed = api_keys.parse(created.full_key)
    assert parsed is not None
    assert parsed.key_id == created.key_id
    assert created.last4 == created.full_key[-4:]

    principal = await keys.authenticate(ctx, created.full_key)
    assert principal == keys.Principal(user_id=user_id, key_id=created.key_id, plan="FREE")

    # Every table, every row, every column: no 5-character piece of the secret anywhere.
    dumped: list[str] = []
    async with ctx.db.sessions() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                dumped.extend(str(value) for value in row)
    dump = "\n".join(dumped)
    assert created.key_id in dump
    pieces = {parsed.secret[i : i + 5] for i in range(len(parsed.secret) - 4)}
    assert [piece for piece in pieces if piece in dump] == []
    assert created.full_key not in dump
    if ctx.db.dialect == "sqlite":  # the file itself (and its WAL), as a backup would hold it
        path = ctx.db.url.database
        assert path is not None
        await ctx.db.dispose()
        for suffix in ("", "-wal"):
            file = anyio.Path(path + suffix)
            if not await file.exists():
                continue
            raw = await file.read_bytes()
            assert [piece for piece in pieces if piece.encode() in raw] == []


async def test_verification_paths_all_fail_alike_and_bad_checksums_cost_no_query(
    ctx: CloudContext, bcrypt_calls: list[str]
) -> None:
    user_id = await add_user(ctx)
    created = await keys.create_key(ctx, user_id=user_id, name="laptop")
    assert await keys.authenticate(ctx, created.full_key) is not None

    flipped = created.full_key[:20] + ("A" if created.full_key[20] != "A" else "B")
    flipped += created.full_key[21:]
    with count_queries(ctx.db) as statements:
        for presented in (flipped, "", "wp_live_nonsense", created.full_key + "x"):
            assert await keys.authenticate(ctx, presented) is None
    assert statements == []

    before = len(bcrypt_calls)
    unknown = _with_checksum("wp_live_ZZZZZZZZ_" + api_keys.generate()[2])
    with count_queries(ctx.db) as statements:
        assert await keys.authenticate(ctx, unknown) is None
        assert await keys.authenticate(ctx, _wrong_secret(created.full_key)) is None
    assert len(statements) == 2  # one key read each, nothing else
    assert len(bcrypt_calls) - before == 2  # the same bcrypt work for both failures

    assert await keys.revoke_key(ctx, user_id=user_id, key_id=created.key_id)
    assert await keys.authenticate(ctx, created.full_key) is None

    other = await keys.create_key(ctx, user_id=user_id, name="phone")
    assert await keys.authenticate(ctx, other.full_key) is not None
    async with ctx.db.transaction() as session:
        await session.execute(delete(User).where(User.id == user_id))
    assert await keys.authenticate(ctx, other.full_key) is None


async def test_the_cache_spares_bcrypt_but_the_row_is_read_on_every_request(
    ctx: CloudContext, clock: FakeClock, bcrypt_calls: list[str]
) -> None:
    user_id = await add_user(ctx)
    created = await keys.create_key(ctx, user_id=user_id, name="laptop")
    assert await keys.authenticate(ctx, created.full_key) is not None
    assert len(bcrypt_calls) == 1

    with count_queries(ctx.db) as statements:
        for _ in range(20):
            assert await keys.authenticate(ctx, created.full_key) is not None
    assert len(bcrypt_calls) == 1
    assert len(statements) == 20  # exactly one read per request (last_used_at is fresh)
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements)

    clock.advance(keys.CACHE_TTL_S)  # the entry expires: one more bcrypt, then cached again
    assert await keys.authenticate(ctx, created.full_key) is not None
    assert await keys.authenticate(ctx, created.full_key) is not None
    assert len(bcrypt_calls) == 2

    # A new hash under the same id (a regenerated key) is not covered by the old entry.
    parsed = api_keys.parse(created.full_key)
    assert parsed is not None
    async with ctx.db.transaction() as session:
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == created.key_id)
            .values(secret_hash=api_keys.hash_secret(api_keys.generate()[2]))
        )
    assert await keys.authenticate(ctx, created.full_key) is None
    assert len(bcrypt_calls) == 3


async def test_concurrent_first_uses_of_a_key_share_one_bcrypt_check(
    ctx: CloudContext, bcrypt_calls: list[str]
) -> None:
    user_id = await add_user(ctx)
    created = await keys.create_key(ctx, user_id=user_id, name="laptop")
    results: list[keys.Principal | None] = []

    async def use() -> None:
        results.append(await keys.authenticate(ctx, created.full_key))

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(use)
    assert len(results) == 10
    assert all(r is not None for r in results)
    assert len(bcrypt_calls) == 1


async def test_revocation_takes_effect_on_the_next_request_even_from_another_worker(
    ctx: CloudContext, cloud_settings: CloudSettings, clock: FakeClock
) -> None:
    user_id = await add_user(ctx)
    # A second "worker": its own engine and its own cache.
    other = await open_context(cloud_settings, clock)
    try:
        for cycle in range(50):
            created = await keys.create_key(ctx, user_id=user_id, name=f"key {cycle}")
            for worker in (ctx, other, ctx, other):  # warm both caches
                assert await keys.authenticate(worker, created.full_key) is not None
            assert await keys.revoke_key(ctx, user_id=user_id, key_id=created.key_id)
            assert await keys.authenticate(other, created.full_key) is None
            assert await keys.authenticate(ctx, created.full_key) is None
        assert keys.verification_cache(other).hits >= 50
    finally:
        await other.db.dispose()


async def test_last_used_is_written_at_most_once_a_minute(
    ctx: CloudContext, clock: FakeClock
) -> None:
    user_id = await add_user(ctx)
    created = await keys.create_key(ctx, user_id=user_id, name="laptop")
    [info] = await keys.list_keys(ctx, user_id)
    assert info.last_used_at is None
    assert info.active

    first_use = clock.now()
    with count_queries(ctx.db) as statements:
        assert await keys.authenticate(ctx, created.full_key) is not None
    assert any(s.lstrip().upper().startswith("UPDATE") for s in statements)
    clock.advance(59)
    with count_queries(ctx.db) as statements:
        assert await keys.authenticate(ctx, created.full_key) is not None
    assert len(statements) == 1
    [info] = await keys.list_keys(ctx, user_id)
    assert info.last_used_at == first_use

    clock.advance(1)
    assert await keys.authenticate(ctx, created.full_key) is not None
    [info] = await keys.list_keys(ctx, user_id)
    assert info.last_used_at == first_use + timedelta(seconds=60)


async def test_ten_active_keys_at_most_even_when_created_concurrently(ctx: CloudContext) -> None:
    user_id = await add_user(ctx)
    outcomes: list[str] = []

    async def create(n: int) -> None:
        try:
            await keys.create_key(ctx, user_id=user_id, name=f"key {n}")
            outcomes.append("created")
        except keys.KeyLimitReached as refused:
            outcomes.append("refused" if "revoke one in the dashboard" in str(refused) else "?")

    async with anyio.create_task_group() as group:
        for n in range(14):
            group.start_soon(create, n)
    assert sorted(outcomes) == ["created"] * 10 + ["refused"] * 4
    listed = await keys.list_keys(ctx, user_id)
    assert len(listed) == 10

    assert await keys.revoke_key(ctx, user_id=user_id, key_id=listed[0].key_id)
    assert not await keys.revoke_key(ctx, user_id=user_id, key_id=listed[0].key_id)
    await keys.create_key(ctx, user_id=user_id, name="replacement")
    assert len(await keys.list_keys(ctx, user_id)) == 11  # the revoked one is still listed


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
async def test_key_names_are_1_to_100_characters(ctx: CloudContext, name: str) -> None:
    user_id = await add_user(ctx)
    with pytest.raises(keys.ApiKeyError, match="name of 1 to 100 characters"):
        await keys.create_key(ctx, user_id=user_id, name=name)
    assert (await keys.create_key(ctx, user_id=user_id, name="y" * 100)).name == "y" * 100


async def test_unknown_account_cannot_get_a_key(ctx: CloudContext) -> None:
    with pytest.raises(keys.ApiKeyError, match="no longer exists"):
        await keys.create_key(ctx, user_id="nobody", name="laptop")


async def test_keys_belong_to_their_owner_only(ctx: CloudContext) -> None:
    alice, bob = await add_user(ctx), await add_user(ctx)
    created = await keys.create_key(ctx, user_id=alice, name="alice's")
    assert not await keys.revoke_key(ctx, user_id=bob, key_id=created.key_id)
    assert await keys.list_keys(ctx, bob) == []
    principal = await keys.authenticate(ctx, created.full_key)
    assert principal is not None
    assert principal.user_id == alice


async def test_plan_changes_are_seen_on_the_next_request(ctx: CloudContext) -> None:
    user_id = await add_user(ctx)
    created = await keys.create_key(ctx, user_id=user_id, name="laptop")
    first = await keys.authenticate(ctx, created.full_key)
    assert first is not None
    assert first.plan == "FREE"
    async with ctx.db.transaction() as session:
        await session.execute(update(User).where(User.id == user_id).values(plan="PRO"))
    second = await keys.authenticate(ctx, created.full_key)
    assert second is not None
    assert second.plan == "PRO"


async def test_creation_and_revocation_are_audited_without_the_key(ctx: CloudContext) -> None:
    user_id = await add_user(ctx)
    created = await keys.create_key(ctx, user_id=user_id, name="laptop", request_id="r1")
    await keys.revoke_key(ctx, user_id=user_id, key_id=created.key_id, request_id="r2")
    events = await list_events(ctx, user_id)
    assert [(e.event, e.detail, e.request_id) for e in events] == [
        ("key.revoked", {"key_id": created.key_id}, "r2"),
        ("key.created", {"key_id": created.key_id, "name": "laptop"}, "r1"),
    ]
    async with ctx.db.sessions() as session:
        raw = (await session.execute(text("SELECT detail FROM audit_events"))).scalars().all()
    assert not any(created.full_key[-47:-6] in detail for detail in raw)
