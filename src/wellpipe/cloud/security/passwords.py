"""Account passwords: argon2id hashes (OWASP minimums or stronger) and the new-password policy.

* Hashing and verification run in a worker thread (argon2 takes tens of milliseconds
  and ~19 MiB); at most `MAX_CONCURRENT_HASHES` run at once per process, which bounds
  memory under a burst of sign-ins.
* A hash made with weaker parameters than the current ones (or another algorithm)
  is replaced on the next successful sign-in (`PasswordHasher.needs_rehash`).
* New passwords: 8 to 1024 characters, not one of the most common breached passwords
  (`common_passwords.txt`), not the account's email. Anything longer than 1024
  characters is refused before any hashing, so huge inputs cost nothing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import anyio.to_thread
import argon2
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "OWASP_MINIMUM",
    "HashParameters",
    "PasswordHasher",
    "WeakPassword",
    "check_new_password",
    "is_common_password",
    "password_problem",
]

MIN_LENGTH = 8
"""Shortest password accepted (ASVS 6.2.1)."""
MAX_LENGTH = 1024
"""Longest password accepted; longer input is refused without hashing."""
MAX_CONCURRENT_HASHES = 4
"""argon2 computations at once per process (each holds ``memory_cost_kib`` of RAM)."""

_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_HASHES)


@dataclass(frozen=True)
class HashParameters:
    """argon2id cost parameters.

    Attributes:
        time_cost: Passes over memory (``t``).
        memory_cost_kib: Memory in KiB (``m``).
        parallelism: Lanes (``p``).
    """

    time_cost: int = 2
    memory_cost_kib: int = 19456
    parallelism: int = 1


OWASP_MINIMUM = HashParameters()
"""OWASP Password Storage Cheat Sheet: argon2id, m=19456 KiB, t=2, p=1."""


class WeakPassword(ValueError):
    """A new password the policy refuses; ``str()`` is the sentence to show."""


class PasswordHasher:
    """argon2id hashing with fixed parameters, off the event loop."""

    def __init__(self, parameters: HashParameters = OWASP_MINIMUM) -> None:
        """Create a hasher.

        Args:
            parameters: Cost parameters for new hashes (OWASP's minimum by default).
        """
        self.parameters = parameters
        self._argon2 = argon2.PasswordHasher(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_cost_kib,
            parallelism=parameters.parallelism,
            type=argon2.Type.ID,
        )
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        """A new ``$argon2id$...`` hash of ``password``.

        Raises:
            WeakPassword: ``password`` is longer than `MAX_LENGTH` (nothing was hashed).
        """
        if len(password) > MAX_LENGTH:
            raise WeakPassword(_TOO_LONG)
        return await anyio.to_thread.run_sync(self._hash_blocking, password)

    async def verify(self, stored: str, password: str) -> bool:
        """Whether ``password`` matches the ``stored`` hash (``False`` for a malformed hash).

        Input longer than `MAX_LENGTH` is ``False`` without any hashing.
        """
        if len(password) > MAX_LENGTH:
            return False
        return await anyio.to_thread.run_sync(self._verify_blocking, stored, password)

    async def verify_dummy(self, password: str) -> None:
        """Spend the time a real verification takes, for an account that does not exist.

        Keeps "unknown email" and "wrong password" indistinguishable by timing.
        """
        if self._dummy is None:
            self._dummy = await self.hash("wellpipe-dummy-password-for-uniform-timing")
        await self.verify(self._dummy, password[:MAX_LENGTH])

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made weaker than this hasher's parameters (or not argon2id)."""
        try:
            found = argon2.extract_parameters(stored)
        except InvalidHashError:
            return True
        wanted = self.parameters
        return (
            found.type is not argon2.Type.ID
            or found.version != argon2.low_level.ARGON2_VERSION
            or found.time_cost < wanted.time_cost
            or found.memory_cost < wanted.memory_cost_kib
            or found.parallelism < wanted.parallelism
        )

    def _hash_blocking(self, password: str) -> str:
        with _SLOTS:
            return self._argon2.hash(password)

    def _verify_blocking(self, stored: str, password: str) -> bool:
        with _SLOTS:
            try:
                return self._argon2.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return False


_TOO_SHORT = (
    f"Choose a password of at least {MIN_LENGTH} characters; a passphrase of a few "
    "unrelated words is easy to remember and hard to guess."
)
_TOO_LONG = f"That password is longer than {MAX_LENGTH} characters; choose a shorter one."
_COMMON = (
    "That password is one of the most common in breached-password lists; choose another "
    "one (a few unrelated words work well)."
)
_IS_EMAIL = "Choose a password that is not your email address."


@cache
def _common_passwords() -> frozenset[str]:
    text = files("wellpipe.cloud.security").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def is_common_password(password: str) -> bool:
    """Whether ``password`` (case-insensitively) is on the built-in breached-password list."""
    return password.lower() in _common_passwords()


def password_problem(password: str, *, email: str | None = None) -> str | None:
    """Why the policy refuses ``password`` as a new password, as a sentence; ``None`` if fine."""
    if len(password) > MAX_LENGTH:
        return _TOO_LONG
    if len(password) < MIN_LENGTH:
        return _TOO_SHORT
    if is_common_password(password):
        return _COMMON
    if email is not None and password.strip().lower() == email.strip().lower():
        return _IS_EMAIL
    return None


def check_new_password(password: str, *, email: str | None = None) -> None:
    """Refuse a new password the policy does not accept.

    Raises:
        WeakPassword: with the sentence saying why and what to do.
    """
    problem = password_problem(password, email=email)
    if problem is not None:
        raise WeakPassword(problem)
