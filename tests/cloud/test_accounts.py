"""Accounts: argon2id parameters and rehash, password policy, uniform sign-in, throttle, plans."""

from __future__ import annotations

import json

import argon2
import pytest
from sqlalchemy import select, update

from tests.cloud.conftest import Cloud
from wellpipe.cloud.db.tables import AuditEvent, User
from wellpipe.cloud.security.passwords import (
    OWASP_MINIMUM,
    HashParameters,
    PasswordHasher,
    WeakPassword,
    is_common_password,
    password_problem,
)
from wellpipe.cloud.services.accounts import (
    DEVICE_COOKIE_TTL_S,
    MAX_FAILURES_PER_ACCOUNT,
    MAX_FAILURES_PER_ADDRESS,
    MAX_FAILURES_PER_CLIENT,
    EmailTaken,
    InvalidEmail,
    SignInThrottled,
    UnknownUser,
    WrongPassword,
    change_password,
    create_user,
    find_user,
    issue_device_cookie,
    set_plan,
    sign_in,
)
from wellpipe.cloud.services.sessions import open_session, resolve_session

GOOD = "correct horse battery staple"


class CountingHasher(PasswordHasher):
    """The real hasher, counting the argon2 computations it runs."""

    def __init__(self, parameters: HashParameters = OWASP_MINIMUM) -> None:
        super().__init__(parameters)
        self.hashes = 0
        self.verifies = 0

    def _hash_blocking(self, password: str) -> str:
        self.hashes += 1
        return super()._hash_blocking(password)

    def _verify_blocking(self, stored: str, password: str) -> bool:
        self.verifies += 1
        return super()._verify_blocking(stored, password)


async def stored_hash(cloud: Cloud, user_id: str) -> str | None:
    async with cloud.ctx.db.sessions() as session:
        return await session.scalar(select(User.password_hash).where(User.id == user_id))


async def events(cloud: Cloud) -> list[tuple[str | None, str, dict[str, object]]]:
    async with cloud.ctx.db.sessions() as session:
        rows = await session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(row.user_id, row.event, json.loads(row.detail)) for row in rows]


async def test_stored_hash_is_argon2id_with_owasp_parameters(cloud: Cloud) -> None:
    user = await create_user(cloud.ctx, email="a@example.com", password=GOOD)
    stored = await stored_hash(cloud, user.id)
    assert stored is not None
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert GOOD not in stored
    assert await sign_in(cloud.ctx, email="a@example.com", password=GOOD) is not None


async def test_a_legacy_hash_is_replaced_at_the_next_sign_in(cloud: Cloud) -> None:
    user = await create_user(cloud.ctx, email="old@example.com", password=GOOD)
    legacy = await PasswordHasher(HashParameters(time_cost=1, memory_cost_kib=8192)).hash(GOOD)
    async with cloud.ctx.db.transaction() as session:
        await session.execute(update(User).where(User.id == user.id).values(password_hash=legacy))

    assert await sign_in(cloud.ctx, email="old@example.com", password="wrong password!") is None
    assert await stored_hash(cloud, user.id) == legacy  # a failure changes nothing

    assert await sign_in(cloud.ctx, email="old@example.com", password=GOOD) is not None
    renewed = await stored_hash(cloud, user.id)
    assert renewed is not None
    assert renewed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await sign_in(cloud.ctx, email="old@example.com", password=GOOD) is not None


async def test_a_stronger_hash_is_kept() -> None:
    strong = await PasswordHasher(HashParameters(time_cost=3, memory_cost_kib=19456)).hash(GOOD)
    assert not PasswordHasher().needs_rehash(strong)
    assert PasswordHasher().needs_rehash("$2b$12$" + "x" * 53)  # bcrypt: not argon2id


async def test_a_64_character_password_works(cloud: Cloud) -> None:
    password = "a1b2c3d4e5" * 6 + "wxyz"
    assert len(password) == 64
    await create_user(cloud.ctx, email="long@example.com", password=password)
    assert await sign_in(cloud.ctx, email="long@example.com", password=password) is not None


async def test_an_overlong_password_is_refused_without_hashing(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    await create_user(cloud.ctx, email="b@example.com", password=GOOD)
    huge = "x" * 2048

    def no_argon2(*_args: object, **_kwargs: object) -> str:
        raise AssertionError("argon2 ran on an overlong password")

    monkeypatch.setattr(argon2.PasswordHasher, "hash", no_argon2)
    monkeypatch.setattr(argon2.PasswordHasher, "verify", no_argon2)
    with pytest.raises(WeakPassword, match="longer than 1024 characters"):
        await create_user(cloud.ctx, email="c@example.com", password=huge)
    assert await sign_in(cloud.ctx, email="b@example.com", password=huge) is None
    assert await sign_in(cloud.ctx, email="nobody@example.com", password=huge) is None


WEAK = [
    ("short1!", "at least 8 characters"),
    ("password1", "most common"),
    ("Password123", "most common"),
    ("QWERTYUIOP", "most common"),
    ("iloveyou", "most common"),
    ("weak@example.com", "not your email"),
]


async def test_weak_passwords_are_refused_with_a_sentence(cloud: Cloud) -> None:
    for password, why in WEAK:
        with pytest.raises(WeakPassword, match=why) as refused:
            await create_user(cloud.ctx, email="weak@example.com", password=password)
        assert str(refused.value).endswith(".")
    assert await find_user(cloud.ctx, "weak@example.com") is None


def test_the_common_password_list_is_loaded_and_the_email_is_refused() -> None:
    assert is_common_password("123456789")
    assert not is_common_password(GOOD)
    assert password_problem("me@example.com", email="Me@Example.com") is not None
    assert password_problem(GOOD, email="me@example.com") is None


async def test_emails_are_normalised_and_validated(cloud: Cloud) -> None:
    user = await create_user(cloud.ctx, email="  Alice@Example.COM ", password=GOOD)
    assert user.email == "alice@example.com"
    found = await find_user(cloud.ctx, "ALICE@example.com")
    assert found is not None
    assert found.id == user.id
    assert await sign_in(cloud.ctx, email="Alice@EXAMPLE.com", password=GOOD) is not None
    for bad in ("alice", "alice@", "@example.com", "a b@example.com", "alice@localhost"):
        with pytest.raises(InvalidEmail, match="valid email"):
            await create_user(cloud.ctx, email=bad, password=GOOD)
    with pytest.raises(EmailTaken, match="sign in instead"):
        await create_user(cloud.ctx, email="alice@example.com", password=GOOD + "!")


async def test_sign_in_gives_the_same_answer_after_the_same_work(cloud: Cloud) -> None:
    hasher = CountingHasher()
    cloud.ctx.state.password_hasher = hasher
    user = await create_user(cloud.ctx, email="known@example.com", password=GOOD)
    await hasher.verify_dummy("warm up")  # the dummy hash is made once per process
    hasher.verifies = hasher.hashes = 0

    unknown = await sign_in(cloud.ctx, email="unknown@example.com", password=GOOD)
    assert (unknown, hasher.verifies, hasher.hashes) == (None, 1, 0)
    wrong = await sign_in(cloud.ctx, email="known@example.com", password="not the password")
    assert (wrong, hasher.verifies, hasher.hashes) == (None, 2, 0)

    failed = [e for e in await events(cloud) if e[1] == "signin.failed"]
    assert failed == [
        (None, "signin.failed", {"method": "password", "reason": "credentials"}),
        (user.id, "signin.failed", {"method": "password", "reason": "credentials"}),
    ]
    everything = json.dumps(await events(cloud))
    assert GOOD not in everything
    assert "not the password" not in everything


async def test_a_google_only_account_has_no_password_to_sign_in_with(cloud: Cloud) -> None:
    user = await create_user(cloud.ctx, email="g@example.com", password=GOOD)
    async with cloud.ctx.db.transaction() as session:
        await session.execute(
            update(User)
            .where(User.id == user.id)
            .values(password_hash=None, google_subject="sub-1")
        )
    assert await sign_in(cloud.ctx, email="g@example.com", password=GOOD) is None
    with pytest.raises(WrongPassword, match="signs in with Google"):
        await change_password(cloud.ctx, user_id=user.id, current=GOOD, new=GOOD + "!")


OVERLONG = "x" * 1025
"""A password refused without hashing, and still counted: cheap failures for the throttle."""
HERE = "203.0.113.7"
ELSEWHERE = "198.51.100.1"


async def fail(cloud: Cloud, email: str, times: int, **where: str) -> None:
    for _ in range(times):
        assert await sign_in(cloud.ctx, email=email, password=OVERLONG, **where) is None


async def test_without_an_address_failed_sign_ins_are_throttled_per_account(
    cloud: Cloud,
) -> None:
    await create_user(cloud.ctx, email="t@example.com", password=GOOD)
    for _ in range(MAX_FAILURES_PER_CLIENT):
        assert await sign_in(cloud.ctx, email="t@example.com", password="guess guess") is None

    hasher = CountingHasher()
    cloud.ctx.state.password_hasher = hasher
    with pytest.raises(SignInThrottled, match=r"try again in 14 minutes") as refused:
        await sign_in(cloud.ctx, email="T@example.com", password=GOOD)
    assert refused.value.retry_after_s == 14 * 60
    assert hasher.verifies == 0  # refused before any password work
    reasons = [e[2].get("reason") for e in await events(cloud) if e[1] == "signin.failed"]
    assert reasons[-1] == "throttled"

    # Another account is not affected; the window passes.
    await create_user(cloud.ctx, email="other@example.com", password=GOOD)
    assert await sign_in(cloud.ctx, email="other@example.com", password=GOOD) is not None
    cloud.clock.advance(15 * 60)
    assert await sign_in(cloud.ctx, email="t@example.com", password=GOOD) is not None


async def test_failures_lock_the_account_only_from_where_they_came(cloud: Cloud) -> None:
    owner = await create_user(cloud.ctx, email="owner@example.com", password=GOOD)
    await create_user(cloud.ctx, email="other@example.com", password=GOOD)
    await fail(cloud, "owner@example.com", MAX_FAILURES_PER_CLIENT, address=HERE)

    hasher = CountingHasher()
    cloud.ctx.state.password_hasher = hasher
    with pytest.raises(SignInThrottled, match=r"^Too many sign-in attempts; try again in"):
        await sign_in(cloud.ctx, email="owner@example.com", password=GOOD, address=HERE)
    assert hasher.verifies == 0
    # The owner elsewhere and another account from here still sign in.
    assert await sign_in(cloud.ctx, email="owner@example.com", password=GOOD, address=ELSEWHERE)
    assert await sign_in(cloud.ctx, email="other@example.com", password=GOOD, address=HERE)
    # So does the owner's own browser, here, with the device cookie it got before.
    cookie = issue_device_cookie(cloud.ctx, owner.id)
    user = await sign_in(
        cloud.ctx, email="owner@example.com", password=GOOD, address=HERE, device=cookie
    )
    assert user is not None
    assert user.id == owner.id
    reasons = [e[2].get("reason") for e in await events(cloud) if e[1] == "signin.failed"]
    assert reasons == ["credentials"] * MAX_FAILURES_PER_CLIENT + ["throttled"]


async def test_ipv6_clients_are_counted_by_their_64(cloud: Cloud) -> None:
    await create_user(cloud.ctx, email="six@example.com", password=GOOD)
    await fail(cloud, "six@example.com", MAX_FAILURES_PER_CLIENT, address="2001:db8:1:2::a")
    with pytest.raises(SignInThrottled):
        await sign_in(cloud.ctx, email="six@example.com", password=GOOD, address="2001:db8:1:2::b")
    assert await sign_in(
        cloud.ctx, email="six@example.com", password=GOOD, address="2001:db8:1:3::a"
    )


async def test_failed_sign_ins_are_throttled_per_address(cloud: Cloud) -> None:
    victim = await create_user(cloud.ctx, email="victim@example.com", password=GOOD)
    for n in range(MAX_FAILURES_PER_ADDRESS):
        await fail(cloud, f"spray{n}@example.com", 1, address=HERE)
    assert MAX_FAILURES_PER_ADDRESS > MAX_FAILURES_PER_CLIENT  # looser than one account's
    with pytest.raises(SignInThrottled):
        await sign_in(cloud.ctx, email="victim@example.com", password=GOOD, address=HERE)
    # The same account from elsewhere still works (its own counter is clean) ...
    ok = await sign_in(cloud.ctx, email="victim@example.com", password=GOOD, address=ELSEWHERE)
    assert ok is not None
    # ... and so does the victim's own browser at the sprayed address.
    cookie = issue_device_cookie(cloud.ctx, victim.id)
    assert await sign_in(
        cloud.ctx, email="victim@example.com", password=GOOD, address=HERE, device=cookie
    )


async def test_guesses_from_many_addresses_leave_the_owners_browser_working(
    cloud: Cloud,
) -> None:
    owner = await create_user(cloud.ctx, email="owner@example.com", password=GOOD)
    intruder = await create_user(cloud.ctx, email="intruder@example.com", password=GOOD)
    addresses = [f"192.0.2.{n}" for n in range(MAX_FAILURES_PER_ACCOUNT // MAX_FAILURES_PER_CLIENT)]
    for address in addresses:
        await fail(cloud, "owner@example.com", MAX_FAILURES_PER_CLIENT, address=address)
    # Every client without the owner's device cookie now waits, wherever it is ...
    with pytest.raises(SignInThrottled):
        await sign_in(cloud.ctx, email="owner@example.com", password=GOOD, address=ELSEWHERE)
    mine = issue_device_cookie(cloud.ctx, owner.id)
    theirs = issue_device_cookie(cloud.ctx, intruder.id)
    nonce, issued, mac = mine.split(".")
    not_trusted = [
        theirs,  # another account's cookie
        f"{nonce}.{int(issued) - 1}.{mac}",  # tampered
        f"{nonce}x.{issued}.{mac}",
        "garbage",
        "",
    ]
    for cookie in not_trusted:
        with pytest.raises(SignInThrottled):
            await sign_in(
                cloud.ctx, email="owner@example.com", password=GOOD, address=HERE, device=cookie
            )
    # ... but the owner's own browser signs in.
    assert await sign_in(
        cloud.ctx, email="owner@example.com", password=GOOD, address=ELSEWHERE, device=mine
    )


async def test_a_device_cookie_has_a_limit_of_its_own_and_expires(cloud: Cloud) -> None:
    owner = await create_user(cloud.ctx, email="owner@example.com", password=GOOD)
    cookie = issue_device_cookie(cloud.ctx, owner.id)
    await fail(cloud, "owner@example.com", MAX_FAILURES_PER_CLIENT, address=HERE, device=cookie)
    with pytest.raises(SignInThrottled):  # a stolen cookie buys no more guesses
        await sign_in(
            cloud.ctx, email="owner@example.com", password=GOOD, address=HERE, device=cookie
        )
    # Its failures are its own: the account from this address without it is not locked.
    assert await sign_in(cloud.ctx, email="owner@example.com", password=GOOD, address=HERE)

    fresh = issue_device_cookie(cloud.ctx, owner.id)
    cloud.clock.advance(DEVICE_COOKIE_TTL_S - 1)
    await fail(cloud, "owner@example.com", MAX_FAILURES_PER_CLIENT, address=HERE)
    assert await sign_in(  # still trusted: the lock on the account from here is not its
        cloud.ctx, email="owner@example.com", password=GOOD, address=HERE, device=fresh
    )
    old = issue_device_cookie(cloud.ctx, owner.id)
    cloud.clock.advance(DEVICE_COOKIE_TTL_S)
    await fail(cloud, "owner@example.com", MAX_FAILURES_PER_CLIENT, address=HERE)
    with pytest.raises(SignInThrottled):  # expired: an untrusted client like any other
        await sign_in(cloud.ctx, email="owner@example.com", password=GOOD, address=HERE, device=old)


async def test_a_success_clears_only_the_clients_own_failures(cloud: Cloud) -> None:
    await create_user(cloud.ctx, email="owner@example.com", password=GOOD)
    await fail(cloud, "owner@example.com", MAX_FAILURES_PER_CLIENT - 1, address=HERE)
    assert await sign_in(cloud.ctx, email="owner@example.com", password=GOOD, address=HERE)
    await fail(cloud, "owner@example.com", MAX_FAILURES_PER_CLIENT - 1, address=HERE)
    assert await sign_in(cloud.ctx, email="owner@example.com", password=GOOD, address=HERE)
    # The address kept counting: 18 of its 30.
    for n in range(MAX_FAILURES_PER_ADDRESS - 2 * (MAX_FAILURES_PER_CLIENT - 1)):
        await fail(cloud, f"spray{n}@example.com", 1, address=HERE)
    with pytest.raises(SignInThrottled):
        await sign_in(cloud.ctx, email="owner@example.com", password=GOOD, address=HERE)


async def test_changing_the_password_closes_the_other_sessions(cloud: Cloud) -> None:
    user = await create_user(cloud.ctx, email="p@example.com", password=GOOD)
    here, _ = await open_session(cloud.ctx, user.id)
    elsewhere, _ = await open_session(cloud.ctx, user.id)
    current = await resolve_session(cloud.ctx, here)
    assert current is not None

    with pytest.raises(WrongPassword, match="current password"):
        await change_password(
            cloud.ctx, user_id=user.id, current="not it at all", new="brand new passphrase"
        )
    with pytest.raises(WeakPassword, match="most common"):
        await change_password(cloud.ctx, user_id=user.id, current=GOOD, new="password123")
    assert await resolve_session(cloud.ctx, elsewhere) is not None  # nothing changed yet

    await change_password(
        cloud.ctx,
        user_id=user.id,
        current=GOOD,
        new="brand new passphrase",
        keep_session=current.id_digest,
    )
    assert await resolve_session(cloud.ctx, here) is not None
    assert await resolve_session(cloud.ctx, elsewhere) is None
    assert await sign_in(cloud.ctx, email="p@example.com", password=GOOD) is None
    assert await sign_in(cloud.ctx, email="p@example.com", password="brand new passphrase")
    assert ("password.changed", {}) in [(e[1], e[2]) for e in await events(cloud)]
    with pytest.raises(UnknownUser):
        await change_password(cloud.ctx, user_id="0" * 32, current=GOOD, new=GOOD)


async def test_plans_change_and_are_audited(cloud: Cloud) -> None:
    user = await create_user(cloud.ctx, email="plan@example.com", password=GOOD)
    assert user.plan == "FREE"
    await set_plan(cloud.ctx, user_id=user.id, plan="pro")
    await set_plan(cloud.ctx, user_id=user.id, plan="PRO")  # no change, no event
    found = await find_user(cloud.ctx, "plan@example.com")
    assert found is not None
    assert found.plan == "PRO"
    changes = [e for e in await events(cloud) if e[1] == "plan.changed"]
    assert changes == [(user.id, "plan.changed", {"from": "FREE", "to": "PRO"})]
    with pytest.raises(ValueError, match="FREE, PRO"):
        await set_plan(cloud.ctx, user_id=user.id, plan="GOLD")
    with pytest.raises(UnknownUser):
        await set_plan(cloud.ctx, user_id="f" * 32, plan="PRO")


async def test_sign_up_and_sign_in_are_audited(cloud: Cloud) -> None:
    user = await create_user(cloud.ctx, email="audit@example.com", password=GOOD)
    await sign_in(cloud.ctx, email="audit@example.com", password=GOOD, request_id="req-1")
    assert [e[:2] for e in await events(cloud)] == [
        (user.id, "account.created"),
        (user.id, "signin.succeeded"),
    ]
    async with cloud.ctx.db.sessions() as session:
        last = await session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
    assert last is not None
    assert last.request_id == "req-1"
