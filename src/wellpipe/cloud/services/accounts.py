"""Accounts: sign-up, sign-in with a throttle, password change, plans.

Sign-in answers the same way, after the same work, whether the email is unknown or the
password is wrong: an unknown email is verified against a dummy hash.

The sign-in throttle slows a password guesser down without locking the owner out. Failed
sign-ins are counted in the database (``upstream_windows`` rows named
``signin:<keyed digest>``, 15-minute windows), so every worker sees the same counts; past
a limit, sign-in is refused before any password work, with one sentence saying when to
try again. The counters (a client address means its /64 for IPv6):

* **per client**: the pair (account, address), `MAX_FAILURES_PER_CLIENT`. Someone
  guessing one account's password from one place is stopped there; the owner, anywhere
  else, is not affected.
* **per address**: `MAX_FAILURES_PER_ADDRESS`, looser, against one address spraying
  guesses over many accounts.
* **per account**: `MAX_FAILURES_PER_ACCOUNT`, far looser (several addresses' worth of
  per-client limits), against guessing one account from many addresses at once.

**Device cookies** (OWASP, "Slow Down Online Guessing Attacks with Device Cookies")
keep the owner's own browser working even then. A successful password sign-in gives
the browser a device cookie: ``<nonce>.<issued at>.<HMAC>``, the HMAC (keyed with the
server pepper) binding it to the account without naming it. A browser presenting a
valid, unexpired cookie for the account it signs in to is a *trusted client*: it skips
the three counters above and has a counter of its own (`MAX_FAILURES_PER_CLIENT` per
cookie), so a stolen cookie buys no more guesses than one address has. A cookie of
another account, a forged or an expired one counts for nothing. Each successful
sign-in issues a fresh cookie and clears that client's own counter (never the address's
or the account's: a success does not give an attacker elsewhere new tries).

Without a client address (a caller outside HTTP), every attempt is the same unknown
client: the account's counter applies with the per-client limit.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import re
import secrets
import uuid
from typing import Any

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db import signin_counters
from wellpipe.cloud.db.tables import User
from wellpipe.cloud.db.users import (
    UserConflict,
    add_user,
    plan_of,
    set_password_hash,
    set_user_plan,
    user_by_email,
    user_by_id,
)
from wellpipe.cloud.security.passwords import (
    MAX_LENGTH,
    PasswordHasher,
    WeakPassword,
    check_new_password,
)
from wellpipe.cloud.services.audit import record_event
from wellpipe.cloud.services.sessions import close_user_sessions
from wellpipe.cloud.settings import CloudSettings

__all__ = [
    "DEVICE_COOKIE_TTL_S",
    "PLANS",
    "SIGNIN_FAILED",
    "AccountError",
    "EmailTaken",
    "InvalidEmail",
    "SignInThrottled",
    "UnknownUser",
    "WeakPassword",
    "WrongPassword",
    "change_password",
    "create_user",
    "device_cookie_attributes",
    "device_cookie_name",
    "find_user",
    "get_user",
    "issue_device_cookie",
    "normalize_email",
    "password_hasher",
    "set_plan",
    "sign_in",
    "signin_throttle_keys",
]

logger = logging.getLogger(__name__)

PLANS = ("FREE", "PRO")
"""The plans an account can be on."""

SIGNIN_WINDOW_S = 15 * 60
"""Failed sign-ins are counted in fixed windows of this length."""
MAX_FAILURES_PER_CLIENT = 10
"""Failed sign-ins per window for one account from one address (or one device cookie)."""
MAX_FAILURES_PER_ADDRESS = 30
"""Failed sign-ins per window from one client address (IPv6: its /64), over all accounts."""
MAX_FAILURES_PER_ACCOUNT = 100
"""Failed sign-ins per window for one account from clients without its device cookie, all
addresses together: it takes ten addresses at their per-client limit to reach it."""
DEVICE_COOKIE_TTL_S = 180 * 24 * 3600
"""How long a device cookie keeps a browser trusted after its last successful sign-in."""

SIGNIN_FAILED = "That email and password do not match an account; check both and try again."
"""The one sentence for every failed sign-in (unknown email, wrong password, no password)."""

_EMAIL = re.compile(
    r"^[^@\s\x00-\x1f\x7f]{1,64}@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$"
)


class AccountError(Exception):
    """An account operation a user can fix; ``str()`` is the sentence to show."""


class InvalidEmail(AccountError):
    """The email address is not usable."""


class EmailTaken(AccountError):
    """An account with that email exists already."""


class WrongPassword(AccountError):
    """The current password given to `change_password` is not the account's."""


class UnknownUser(AccountError):
    """No account has that id (deleted meanwhile, or a wrong id from an operator)."""


class SignInThrottled(AccountError):
    """Too many failed sign-ins lately; ``retry_after_s`` says how long to wait."""

    def __init__(self, retry_after_s: int) -> None:
        minutes = max(1, math.ceil(retry_after_s / 60))
        unit = "minute" if minutes == 1 else "minutes"
        super().__init__(f"Too many sign-in attempts; try again in {minutes} {unit}.")
        self.retry_after_s = retry_after_s


_DEVICE_CONTEXT = b"wellpipe/accounts/device-cookie/v1"


def password_hasher(ctx: CloudContext) -> PasswordHasher:
    """The process's `PasswordHasher` (OWASP minimum parameters unless another was set)."""
    hasher = ctx.state.password_hasher
    if hasher is None:
        hasher = ctx.state.password_hasher = PasswordHasher()
    return hasher


def normalize_email(email: str) -> str:
    """The stored form of an email: trimmed, lower-case.

    Raises:
        InvalidEmail: not an address of the form ``name@domain.tld``.
    """
    normalized = email.strip().lower()
    if len(normalized) > 254 or not _EMAIL.fullmatch(normalized):
        raise InvalidEmail("Enter a valid email address, like name@example.com.")
    return normalized


async def create_user(
    ctx: CloudContext, *, email: str, password: str, request_id: str | None = None
) -> User:
    """Sign up with an email and a password.

    Raises:
        InvalidEmail: the email is not valid.
        WeakPassword: the password policy refuses the password (the sentence says why).
        EmailTaken: an account with this email exists.
    """
    normalized = normalize_email(email)
    check_new_password(password, email=normalized)
    taken = EmailTaken("An account with this email exists; sign in instead.")
    if await find_user(ctx, normalized) is not None:
        raise taken
    password_hash = await password_hasher(ctx).hash(password)
    now = ctx.clock.now()
    try:
        async with ctx.db.transaction() as session:
            user = await add_user(
                session,
                user_id=uuid.uuid4().hex,
                email=normalized,
                password_hash=password_hash,
                google_subject=None,
                created_at=now,
            )
            await record_event(
                session,
                user_id=user.id,
                event="account.created",
                at=now,
                detail={"method": "password"},
                request_id=request_id,
            )
    except UserConflict:
        raise taken from None
    return user


async def find_user(ctx: CloudContext, email: str) -> User | None:
    """The account with this email (any case), or ``None`` (also for an invalid address)."""
    try:
        normalized = normalize_email(email)
    except InvalidEmail:
        return None
    async with ctx.db.sessions() as session:
        return await user_by_email(session, normalized)


async def get_user(ctx: CloudContext, user_id: str) -> User | None:
    """The account with this id, or ``None``."""
    async with ctx.db.sessions() as session:
        return await user_by_id(session, user_id)


def signin_throttle_keys(
    ctx: CloudContext, *, email: str, address: str | None, device: str | None = None
) -> list[tuple[str, int]]:
    """The throttle counters a sign-in touches: ``(upstream_windows.provider, limit)`` pairs.

    The first pair is the client's own counter, the one a successful sign-in clears.
    Names are ``signin:`` plus a digest keyed with the server pepper, so the table holds
    neither the email, the address nor the cookie.

    Args:
        ctx: The service.
        email: The normalized email.
        address: The client's address, or ``None`` when unknown.
        device: The nonce of a device cookie verified for this account (a trusted
            client), or ``None``.
    """
    if device is not None:
        return [(_counter_name(ctx, "device", device), MAX_FAILURES_PER_CLIENT)]
    if not address:
        return [(_counter_name(ctx, "account", email), MAX_FAILURES_PER_CLIENT)]
    network = _network(address)
    return [
        (_counter_name(ctx, "client", f"{email} {network}"), MAX_FAILURES_PER_CLIENT),
        (_counter_name(ctx, "address", network), MAX_FAILURES_PER_ADDRESS),
        (_counter_name(ctx, "account", email), MAX_FAILURES_PER_ACCOUNT),
    ]


def device_cookie_name(settings: CloudSettings) -> str:
    """The device cookie's name (``__Host-`` prefixed over HTTPS)."""
    return "__Host-wellpipe_device" if settings.secure_cookies else "wellpipe_device"


def device_cookie_attributes(settings: CloudSettings) -> dict[str, Any]:
    """Keyword arguments for Starlette's ``response.set_cookie`` of the device cookie.

    HttpOnly, SameSite=Lax, ``Path=/``, no ``Domain``, ``Secure`` over HTTPS, and
    ``Max-Age`` = `DEVICE_COOKIE_TTL_S`.
    """
    return {
        "max_age": DEVICE_COOKIE_TTL_S,
        "path": "/",
        "secure": settings.secure_cookies,
        "httponly": True,
        "samesite": "lax",
    }


def issue_device_cookie(ctx: CloudContext, user_id: str) -> str:
    """A fresh device cookie value for a browser that just signed in to ``user_id``."""
    nonce = secrets.token_urlsafe(16)
    issued = str(int(ctx.clock.now().timestamp()))
    return f"{nonce}.{issued}.{_device_mac(ctx, user_id, nonce, issued)}"


def _device_mac(ctx: CloudContext, user_id: str, nonce: str, issued: str) -> str:
    pepper = ctx.settings.api_key_pepper
    secret = pepper.get_secret_value().encode() if pepper is not None else b""
    key = hmac.new(secret, _DEVICE_CONTEXT, hashlib.sha256).digest()
    message = f"{user_id}.{nonce}.{issued}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _trusted_device(ctx: CloudContext, user: User | None, cookie: str | None) -> str | None:
    """The cookie's nonce when it is a valid, unexpired device cookie of ``user``."""
    if user is None or not cookie or len(cookie) > 200:
        return None
    nonce, _, rest = cookie.partition(".")
    issued, _, mac = rest.partition(".")
    if not nonce or not issued.isascii() or not issued.isdigit() or len(issued) > 12:
        return None
    if not hmac.compare_digest(_device_mac(ctx, user.id, nonce, issued), mac):
        return None
    age = ctx.clock.now().timestamp() - int(issued)
    return nonce if 0 <= age < DEVICE_COOKIE_TTL_S else None


def _counter_name(ctx: CloudContext, kind: str, value: str) -> str:
    pepper = ctx.settings.api_key_pepper
    message = f"{kind}:{value}".encode()
    if pepper is None:
        mac = hashlib.sha256(message).hexdigest()
    else:
        mac = hmac.new(pepper.get_secret_value().encode(), message, hashlib.sha256).hexdigest()
    # 7 + 24 characters: fits upstream_windows.provider (32 characters).
    return f"{signin_counters.PREFIX}{mac[:24]}"


def _network(address: str) -> str:
    """An IPv4 address as is; an IPv6 address as its /64 (one household or host)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:64]
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _window_start(ctx: CloudContext) -> int:
    epoch = int(ctx.clock.now().timestamp())
    return epoch - epoch % SIGNIN_WINDOW_S


async def _throttled_for(ctx: CloudContext, keys: list[tuple[str, int]]) -> int | None:
    """Seconds until sign-in is allowed again, or ``None`` when it is allowed now."""
    start = _window_start(ctx)
    counts = await signin_counters.failure_counts(
        ctx.db, [name for name, _ in keys], window_s=SIGNIN_WINDOW_S, window_start=start
    )
    limits = dict(keys)
    if any(counts.get(name, 0) >= limit for name, limit in limits.items()):
        return max(1, start + SIGNIN_WINDOW_S - int(ctx.clock.now().timestamp()))
    return None


async def _count_failure(ctx: CloudContext, keys: list[tuple[str, int]]) -> None:
    await signin_counters.count_failure(
        ctx.db,
        [name for name, _ in keys],
        window_s=SIGNIN_WINDOW_S,
        window_start=_window_start(ctx),
    )


async def _forget_failures(ctx: CloudContext, name: str) -> None:
    await signin_counters.clear_failures(ctx.db, name, window_s=SIGNIN_WINDOW_S)


async def sign_in(
    ctx: CloudContext,
    *,
    email: str,
    password: str,
    address: str | None = None,
    device: str | None = None,
    request_id: str | None = None,
) -> User | None:
    """The account whose email and password these are, or ``None`` (show `SIGNIN_FAILED`).

    Unknown email, wrong password and a password-less (Google) account all cost one
    argon2 verification and give ``None``. A hash made with weaker parameters is
    replaced by a current one on success. On success, give the browser a new device
    cookie (`issue_device_cookie`).

    Args:
        ctx: The service.
        email: As typed (case and surrounding spaces do not matter).
        password: As typed.
        address: The client's IP address, for the throttle.
        device: The browser's device cookie, if it sent one (see the module docstring).
        request_id: For the audit log.

    Raises:
        SignInThrottled: too many failures for this client (the account from this
            address, or this device cookie), this address or this account in the
            window; no password was checked.
    """
    hasher = password_hasher(ctx)
    try:
        normalized = normalize_email(email)
    except InvalidEmail:
        normalized = email.strip().lower()[:320]
    user = await find_user(ctx, normalized)
    trusted = _trusted_device(ctx, user, device)
    keys = signin_throttle_keys(ctx, email=normalized, address=address, device=trusted)
    wait = await _throttled_for(ctx, keys)
    if wait is not None:
        await _audit_failure(ctx, user, "throttled", request_id)
        raise SignInThrottled(wait)
    if len(password) > MAX_LENGTH:
        ok = False  # refused without hashing, whoever asks
    elif user is None or user.password_hash is None:
        await hasher.verify_dummy(password)
        ok = False
    else:
        ok = await hasher.verify(user.password_hash, password)
    if not ok or user is None or user.password_hash is None:
        await _count_failure(ctx, keys)
        await _audit_failure(ctx, user, "credentials", request_id)
        return None
    if hasher.needs_rehash(user.password_hash):
        user.password_hash = await hasher.hash(password)
        async with ctx.db.transaction() as session:
            await set_password_hash(session, user.id, user.password_hash)
        logger.info("Rehashed the password of user %s with current parameters", user.id)
    await _forget_failures(ctx, keys[0][0])
    async with ctx.db.transaction() as session:
        await record_event(
            session,
            user_id=user.id,
            event="signin.succeeded",
            at=ctx.clock.now(),
            detail={"method": "password"},
            request_id=request_id,
        )
    return user


async def _audit_failure(
    ctx: CloudContext, user: User | None, reason: str, request_id: str | None
) -> None:
    async with ctx.db.transaction() as session:
        await record_event(
            session,
            user_id=user.id if user is not None else None,
            event="signin.failed",
            at=ctx.clock.now(),
            detail={"method": "password", "reason": reason},
            request_id=request_id,
        )


async def change_password(
    ctx: CloudContext,
    *,
    user_id: str,
    current: str,
    new: str,
    keep_session: str | None = None,
    request_id: str | None = None,
) -> None:
    """Replace the password, after checking the current one; signs out every other session.

    Args:
        ctx: The service.
        user_id: The signed-in user.
        current: Their current password, as typed.
        new: The new password.
        keep_session: Digest of the session making the change (`SessionInfo.id_digest`),
            which stays signed in; every other session of the user is closed.
        request_id: For the audit log.

    Raises:
        UnknownUser: no such account.
        WrongPassword: ``current`` is not the account's password (or it has none).
        WeakPassword: the policy refuses ``new``.
    """
    user = await get_user(ctx, user_id)
    if user is None:
        raise UnknownUser("This account no longer exists; sign up again.")
    hasher = password_hasher(ctx)
    if user.password_hash is None:
        await hasher.verify_dummy(current)
        raise WrongPassword("This account signs in with Google and has no password to change.")
    if not await hasher.verify(user.password_hash, current):
        raise WrongPassword("The current password is not right; type it again.")
    check_new_password(new, email=user.email)
    new_hash = await hasher.hash(new)
    async with ctx.db.transaction() as session:
        await set_password_hash(session, user_id, new_hash)
        await record_event(
            session,
            user_id=user_id,
            event="password.changed",
            at=ctx.clock.now(),
            request_id=request_id,
        )
    closed = await close_user_sessions(ctx, user_id, keep_digest=keep_session)
    logger.info("Password changed for user %s; %d other sessions closed", user_id, closed)


async def set_plan(
    ctx: CloudContext, *, user_id: str, plan: str, request_id: str | None = None
) -> None:
    """Put an account on ``FREE`` or ``PRO`` (audited as ``plan.changed``).

    Raises:
        ValueError: ``plan`` is not one of `PLANS`.
        UnknownUser: no such account.
    """
    plan = plan.strip().upper()
    if plan not in PLANS:
        raise ValueError(f"plan must be one of {', '.join(PLANS)}, not {plan!r}")
    async with ctx.db.transaction() as session:
        previous = await plan_of(session, user_id)
        if previous is None:
            raise UnknownUser(f"No account has the id {user_id!r}; check it and try again.")
        if previous == plan:
            return
        await set_user_plan(session, user_id, plan)
        await record_event(
            session,
            user_id=user_id,
            event="plan.changed",
            at=ctx.clock.now(),
            detail={"from": previous, "to": plan},
            request_id=request_id,
        )
