"""API key format, minting and parsing (pure: no database, no I/O).

A key reads ``wp_live_<key id>_<secret><checksum>``:

* ``wp_live_``: the type prefix, so secret scanners (and people) recognise a Wellpipe key;
* key id: 8 base62 characters, public, the primary key of the stored row;
* secret: 32 bytes from `secrets`, base62, always 43 characters (256 bits);
* checksum: CRC32 of everything before it, base62, 6 characters, so a scanner or the
  service can reject a mistyped or made-up key offline, before any database work.

Only a bcrypt hash (cost 12) of the secret is stored, with the last four characters of
the key for display. The secret is 43 ASCII bytes, under bcrypt's 72-byte input limit
(pyca ``bcrypt`` 5 raises beyond it), so it is hashed as is. The per-process verification
cache is keyed by `cache_key`, an HMAC-SHA256 of the presented key under the server's
pepper, never by the key itself.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass, field

import bcrypt

__all__ = [
    "BCRYPT_ROUNDS",
    "KEY_ID_LENGTH",
    "KEY_PATTERN",
    "PREFIX",
    "SECRET_BYTES",
    "SECRET_LENGTH",
    "MintedKey",
    "ParsedKey",
    "cache_key",
    "checksum",
    "generate",
    "hash_fingerprint",
    "hash_secret",
    "mint",
    "parse",
    "verify_secret",
]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PREFIX = "wp_live_"
KEY_ID_LENGTH = 8
SECRET_BYTES = 32
SECRET_LENGTH = 43  # ceil(256 / log2(62)): every 32-byte value fits in 43 base62 characters
CHECKSUM_LENGTH = 6  # 62**6 > 2**32
BCRYPT_ROUNDS = 12
_BCRYPT_MAX_INPUT = 72

KEY_PATTERN = re.compile(
    rf"{re.escape(PREFIX)}(?P<key_id>[0-9A-Za-z]{{{KEY_ID_LENGTH}}})_"
    rf"(?P<secret>[0-9A-Za-z]{{{SECRET_LENGTH}}})(?P<checksum>[0-9A-Za-z]{{{CHECKSUM_LENGTH}}})"
)
"""A structurally valid key (the checksum is checked separately)."""

_MAX_PRESENTED = len(PREFIX) + KEY_ID_LENGTH + 1 + SECRET_LENGTH + CHECKSUM_LENGTH


def _base62(value: int, width: int) -> str:
    digits = []
    while value:
        value, digit = divmod(value, 62)
        digits.append(ALPHABET[digit])
    if len(digits) > width:
        raise ValueError(f"{width} base62 digits cannot hold this value")
    return "".join(reversed(digits)).rjust(width, ALPHABET[0])


def checksum(body: str) -> str:
    """The 6-character base62 CRC32 of ``body`` (everything before the checksum)."""
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


@dataclass(frozen=True)
class ParsedKey:
    """A presented key that passed the structure and checksum checks.

    Attributes:
        key_id: The public id (look the row up by it).
        secret: The secret part (compared against the stored bcrypt hash).
    """

    key_id: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class MintedKey:
    """A new key: show `full_key` once, store the rest.

    Attributes:
        full_key: The whole key, for the user's eyes only, once.
        key_id: The public id.
        secret_hash: bcrypt hash of the secret (the only trace of it that is stored).
        last4: The key's last four characters, to tell keys apart in lists.
    """

    full_key: str = field(repr=False)
    key_id: str
    secret_hash: str = field(repr=False)
    last4: str


def _random_base62(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def generate() -> tuple[str, str, str]:
    """A fresh ``(full_key, key_id, secret)`` from `secrets`; nothing is hashed."""
    key_id = _random_base62(KEY_ID_LENGTH)
    secret = _base62(int.from_bytes(secrets.token_bytes(SECRET_BYTES), "big"), SECRET_LENGTH)
    body = f"{PREFIX}{key_id}_{secret}"
    return body + checksum(body), key_id, secret


def hash_secret(secret: str, *, rounds: int | None = None) -> str:
    """The bcrypt hash (``$2b$``) of a key's secret part.

    Args:
        secret: The 43-character secret.
        rounds: bcrypt cost (default `BCRYPT_ROUNDS`, 12).
    """
    raw = secret.encode("ascii")
    if len(raw) > _BCRYPT_MAX_INPUT:  # never silently truncated: bcrypt 5 raises anyway
        raise ValueError("a key secret is at most 72 bytes")
    salt = bcrypt.gensalt(rounds if rounds is not None else BCRYPT_ROUNDS)
    return bcrypt.hashpw(raw, salt).decode("ascii")


def verify_secret(secret: str, secret_hash: str) -> bool:
    """Whether ``secret`` matches the stored bcrypt hash (slow on purpose: tens of ms)."""
    try:
        return bcrypt.checkpw(secret.encode("ascii"), secret_hash.encode("ascii"))
    except ValueError:  # a malformed stored hash never authenticates
        return False


def hash_fingerprint(secret_hash: str) -> bytes:
    """A short digest of a stored hash: a cached verification is only valid for this hash."""
    return hashlib.sha256(secret_hash.encode("ascii")).digest()[:16]


def mint(*, rounds: int | None = None) -> MintedKey:
    """A new key and what to store about it (slow: one bcrypt hash)."""
    full_key, key_id, secret = generate()
    return MintedKey(
        full_key=full_key,
        key_id=key_id,
        secret_hash=hash_secret(secret, rounds=rounds),
        last4=full_key[-4:],
    )


def parse(presented: str) -> ParsedKey | None:
    """The key id and secret of a well-formed key with a valid checksum, else ``None``.

    Cheap and database-free: made-up and mistyped keys stop here.
    """
    if len(presented) != _MAX_PRESENTED:
        return None
    match = KEY_PATTERN.fullmatch(presented)
    if match is None:
        return None
    body = presented[:-CHECKSUM_LENGTH]
    if not hmac.compare_digest(checksum(body), match["checksum"]):
        return None
    return ParsedKey(key_id=match["key_id"], secret=match["secret"])


def cache_key(pepper: bytes | str, presented: str) -> bytes:
    """HMAC-SHA256 of the presented key under the server pepper (the cache's key)."""
    secret = pepper.encode() if isinstance(pepper, str) else pepper
    # hmac.digest: the one-shot C implementation (this runs on every request).
    return hmac.digest(secret, presented.encode("utf-8", "surrogatepass"), "sha256")
