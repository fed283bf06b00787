"""Provider tokens encrypted at rest: AES-256-GCM under a key ring, bound to their row.

* `KeyRing`: the keys of ``WELLPIPE_ENCRYPTION_KEYS`` (``kid:base64key`` entries,
  comma separated, the first is the *primary* that encrypts). Parsing fails closed,
  and its messages name entries and key ids, never key material.
* `TokenCipher`: ``encrypt(plaintext, binding)`` / ``decrypt(blob, binding)``. Every
  encryption draws a fresh 96-bit nonce from ``os.urandom``. The associated data binds
  the ciphertext to the format version, the key id, the user, the provider, the
  connection and the field, in a length-prefixed encoding (`associated_data`): a copy
  into another row or column, or a relabelled provider, fails to decrypt.
* Envelope (bytes): ``version (1) ‖ len(kid) ‖ kid ‖ nonce (12) ‖ ciphertext ‖ tag (16)``.
  Decryption picks the key by the envelope's kid (no trial decryption); a kid that is
  not in the ring is a `MissingKeyError` naming it, so retiring a key too early is loud.
* Cached provider answers (kept in Redis for minutes) use the same envelope, bound by
  `answer_binding` to their user, provider and hashed cache key.

* History data keys (`wrap_data_key`): each user's random 256-bit key, wrapped in the
  same envelope bound to the user (`data_key_binding`). `DataKey` derives from it (HKDF)
  the AES-256-GCM key that seals the user's kept records and sync cursors, and the
  HMAC key of the digests their ids are found by. Destroying the wrapped key leaves
  nothing of the history readable or linkable (crypto-shredding).

Rotation (add a key in front, re-encrypt with ``wellpipe cloud rotate-keys``, retire
the old key once nothing uses it) lives in `wellpipe.cloud.services.rotation`.
"""

from __future__ import annotations

import binascii
import functools
import hmac
import os
import re
import struct
from base64 import b64decode
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wellpipe.cloud.settings import CloudSettings
from wellpipe.core.errors import ConfigError, WellpipeError

__all__ = [
    "FORMAT_VERSION",
    "Binding",
    "DataKey",
    "HistoryDecryptionError",
    "KeyRing",
    "MissingKeyError",
    "TokenCipher",
    "TokenDecryptionError",
    "answer_binding",
    "associated_data",
    "cursor_associated_data",
    "data_key_binding",
    "display_name",
    "key_id_of",
    "new_data_key",
    "record_associated_data",
    "revocation_binding",
    "unwrap_data_key",
    "wrap_data_key",
]

FORMAT_VERSION = 1
"""The envelope format this module writes."""

NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
SETTING = "WELLPIPE_ENCRYPTION_KEYS"
_KID = re.compile(r"[A-Za-z0-9_-]{1,32}")
_AAD_LABEL = b"wellpipe/provider-token"
_HOW_TO_MAKE_A_KEY = (
    'make one with: python -c "import base64, secrets; '
    'print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"'
)
# Keys published in documentation are not secret: refuse them like weak keys.
_DOCUMENTED_EXAMPLES = frozenset({bytes(range(32)), b"0123456789abcdef0123456789abcdef"})


class TokenDecryptionError(WellpipeError):
    """A stored token cannot be decrypted: altered, stored for another record, or malformed."""


class MissingKeyError(TokenDecryptionError):
    """A stored token was encrypted under a key that is not in the key ring.

    Attributes:
        key_id: The missing key's id.
    """

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(
            f"A stored token is encrypted with key {key_id}, which {SETTING} no longer holds "
            f"(missing key {key_id}: add it back to {SETTING}, then run "
            "`wellpipe cloud rotate-keys` before removing it)."
        )


@dataclass(frozen=True)
class Binding:
    """Where a ciphertext belongs; part of its associated data (not secret, never a value).

    Attributes:
        user_id: The account.
        provider: The provider's name (``"whoop"``).
        connection_id: The connection row's id.
        field: The column (``"access_token"`` or ``"refresh_token"``).
    """

    user_id: str
    provider: str
    connection_id: str
    field: str


def revocation_binding(provider: str, revocation_id: str) -> Binding:
    """The binding of a queued revoke's access token (its account is already deleted)."""
    return Binding(
        user_id="revocation", provider=provider, connection_id=revocation_id, field="access_token"
    )


ANSWER_FIELD = "cached_answer"
"""The ``field`` of a cached answer's binding: no token column, so neither opens as the other."""


def answer_binding(user_id: str, provider: str, key_digest: str) -> Binding:
    """The binding of a provider answer cached for ``user_id`` under ``key_digest``.

    The hashed cache key stands where a token's connection id goes: an answer copied under
    another key, to another user or to another provider fails to decrypt.
    """
    return Binding(user_id=user_id, provider=provider, connection_id=key_digest, field=ANSWER_FIELD)


def associated_data(version: int, key_id: str, binding: Binding) -> bytes:
    """The canonical associated data of one envelope.

    A label, then each of version, key id, user, provider, connection and field as a
    4-byte big-endian length followed by its UTF-8 bytes. The item count is fixed and
    every item carries its length, so distinct tuples never encode alike, whatever
    delimiters or characters the values hold.
    """
    items = (
        _AAD_LABEL,
        str(version).encode(),
        key_id.encode(),
        binding.user_id.encode("utf-8", "surrogatepass"),
        binding.provider.encode("utf-8", "surrogatepass"),
        binding.connection_id.encode("utf-8", "surrogatepass"),
        binding.field.encode("utf-8", "surrogatepass"),
    )
    return b"".join(struct.pack(">I", len(item)) + item for item in items)


def _decode_key(text: str) -> bytes | None:
    """32-or-not bytes from base64url or standard base64 (padding optional); ``None`` if neither."""
    standard = text.replace("-", "+").replace("_", "/")
    standard += "=" * (-len(standard) % 4)
    try:
        return b64decode(standard, validate=True)
    except (binascii.Error, ValueError):
        return None


class KeyRing:
    """Encryption keys by id; the first one is the primary.

    Keys are held only inside `AESGCM` objects; neither ``repr`` nor ``str`` shows them.
    """

    __slots__ = ("_aeads", "_primary")

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        """A ring from ``(kid, 32-byte key)`` pairs, primary first (validated like `parse`).

        Raises:
            ConfigError: an empty ring, a bad or duplicate kid, or a weak key.
        """
        if not keys:
            raise ConfigError(
                f"{SETTING} holds no key; set it to kid:base64key (32 random bytes), "
                + _HOW_TO_MAKE_A_KEY
            )
        aeads: dict[str, AESGCM] = {}
        for position, (kid, key) in enumerate(keys, start=1):
            _check_kid(kid, position)
            if kid in aeads:
                raise ConfigError(f"{SETTING} lists key id {kid} twice; give every key its own id.")
            _check_key(kid, key)
            aeads[kid] = AESGCM(key)
        self._aeads = aeads
        self._primary = keys[0][0]

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """Parse ``kid:base64key[,kid:base64key...]``.

        Raises:
            ConfigError: the text is malformed or a key is weak; the message names the
                entry or key id and never repeats key material.
        """
        keys: list[tuple[str, bytes]] = []
        entries = [entry.strip() for entry in text.split(",")]
        if entries == [""]:
            entries = []
        for position, entry in enumerate(entries, start=1):
            kid, sep, encoded = entry.partition(":")
            kid, encoded = kid.strip(), encoded.strip()
            if not sep or not encoded:
                raise ConfigError(
                    f"entry {position} of {SETTING} is not of the form kid:base64key; "
                    "write each key as its id, a colon and the key (entries separated by commas)."
                )
            _check_kid(kid, position)
            key = _decode_key(encoded)
            if key is None:
                raise ConfigError(
                    f"key {kid} in {SETTING} is not valid base64; " + _HOW_TO_MAKE_A_KEY
                )
            keys.append((kid, key))
        return cls(keys)

    @property
    def primary_key_id(self) -> str:
        """The id of the key that encrypts."""
        return self._primary

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id, primary first."""
        return tuple(self._aeads)

    def aead(self, key_id: str) -> AESGCM:
        """The cipher of one key.

        Raises:
            MissingKeyError: the ring has no such key.
        """
        try:
            return self._aeads[key_id]
        except KeyError:
            raise MissingKeyError(key_id) from None

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._aeads

    def __repr__(self) -> str:
        return f"KeyRing(primary={self._primary!r}, key_ids={list(self._aeads)!r})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a KeyRing is not serializable (it holds keys)")


def _check_kid(kid: str, position: int) -> None:
    if not _KID.fullmatch(kid):
        # The text before the colon is not echoed: it may be a pasted key.
        raise ConfigError(
            f"entry {position} of {SETTING} has an invalid key id; use 1-32 letters, digits, "
            "'-' or '_' before the colon (e.g. k1:base64key)."
        )


def _check_key(kid: str, key: bytes) -> None:
    if len(key) != KEY_BYTES:
        raise ConfigError(
            f"key {kid} in {SETTING} is {len(key)} bytes long; it must be exactly "
            f"{KEY_BYTES} random bytes, " + _HOW_TO_MAKE_A_KEY
        )
    if len(set(key)) == 1:
        raise ConfigError(
            f"key {kid} in {SETTING} is one byte repeated (e.g. all zeros); "
            "use 32 random bytes, " + _HOW_TO_MAKE_A_KEY
        )
    if key in _DOCUMENTED_EXAMPLES:
        raise ConfigError(
            f"key {kid} in {SETTING} is a published example, not a secret; " + _HOW_TO_MAKE_A_KEY
        )


@dataclass(frozen=True)
class _Envelope:
    version: int
    key_id: str
    nonce: bytes
    sealed: bytes  # ciphertext ‖ tag


def _parse(blob: bytes) -> _Envelope:
    """The envelope's parts, checked for shape only (the tag is checked by decryption)."""
    malformed = TokenDecryptionError(
        "A stored token is not a valid Wellpipe envelope (truncated or corrupted); "
        "the account must reconnect its provider in the dashboard."
    )
    if len(blob) < 2:
        raise malformed
    version, kid_length = blob[0], blob[1]
    if version != FORMAT_VERSION:
        raise TokenDecryptionError(
            f"A stored token uses envelope format {version}, which this version of Wellpipe "
            "does not read; upgrade Wellpipe or have the account reconnect its provider."
        )
    start = 2 + kid_length
    if not 1 <= kid_length <= 32 or len(blob) < start + NONCE_BYTES + TAG_BYTES:
        raise malformed
    try:
        key_id = blob[2:start].decode("ascii")
    except UnicodeDecodeError:
        raise malformed from None
    if not _KID.fullmatch(key_id):
        raise malformed
    return _Envelope(
        version=version,
        key_id=key_id,
        nonce=blob[start : start + NONCE_BYTES],
        sealed=blob[start + NONCE_BYTES :],
    )


@functools.lru_cache(maxsize=64)
def display_name(provider: str) -> str:
    """How people write a provider's name (``"WHOOP"``); the name itself if it is unknown."""
    from wellpipe.core.errors import UnknownProviderError
    from wellpipe.providers import get_provider_info

    try:
        return get_provider_info(provider).display_name
    except (UnknownProviderError, TypeError):
        return provider


def key_id_of(blob: bytes) -> str:
    """The id of the key an envelope was encrypted with (without decrypting it).

    Raises:
        TokenDecryptionError: ``blob`` is not an envelope.
    """
    return _parse(blob).key_id


class TokenCipher:
    """Encrypts and decrypts provider tokens under a `KeyRing`."""

    __slots__ = ("ring",)

    def __init__(self, ring: KeyRing) -> None:
        """A cipher over ``ring`` (its primary key encrypts)."""
        self.ring = ring

    @classmethod
    def from_settings(cls, settings: CloudSettings) -> TokenCipher:
        """The cipher over ``settings.encryption_keys``.

        Raises:
            ConfigError: the setting is missing or invalid (no key material in the message).
        """
        if settings.encryption_keys is None:
            raise ConfigError(
                f"{SETTING} is not set; set it to kid:base64key (32 random bytes), "
                + _HOW_TO_MAKE_A_KEY
            )
        return cls(KeyRing.parse(settings.encryption_keys.get_secret_value()))

    @property
    def primary_key_id(self) -> str:
        """The id of the key new envelopes use."""
        return self.ring.primary_key_id

    def encrypt(self, plaintext: str, binding: Binding) -> bytes:
        """Seal ``plaintext`` for ``binding`` under the primary key, with a fresh random nonce."""
        kid = self.ring.primary_key_id
        nonce = os.urandom(NONCE_BYTES)
        aad = associated_data(FORMAT_VERSION, kid, binding)
        sealed = self.ring.aead(kid).encrypt(nonce, plaintext.encode("utf-8"), aad)
        kid_bytes = kid.encode("ascii")
        return bytes((FORMAT_VERSION, len(kid_bytes))) + kid_bytes + nonce + sealed

    def decrypt(self, blob: bytes, binding: Binding) -> str:
        """Open an envelope made for ``binding``.

        Raises:
            MissingKeyError: the envelope's key is not in the ring (names the key id).
            TokenDecryptionError: the envelope is malformed, altered, or belongs to
                another row, field or provider.
        """
        envelope = _parse(bytes(blob))
        aead = self.ring.aead(envelope.key_id)
        aad = associated_data(envelope.version, envelope.key_id, binding)
        try:
            plaintext = aead.decrypt(envelope.nonce, envelope.sealed, aad)
        except InvalidTag:
            name = display_name(binding.provider)
            raise TokenDecryptionError(
                f"A stored {name} token failed its integrity check (altered, or stored for "
                f"another record); reconnect {name} in the dashboard."
            ) from None
        return plaintext.decode("utf-8")

    def needs_rotation(self, blob: bytes) -> bool:
        """Whether an envelope is under a key other than the primary."""
        return key_id_of(blob) != self.primary_key_id

    def __repr__(self) -> str:
        return f"TokenCipher({self.ring!r})"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a TokenCipher is not serializable (it holds keys)")


# ------------------------------------------------------------ history data keys
DATA_KEY_FIELD = "history_data_key"
"""The ``field`` of a wrapped data key's binding: it opens as nothing else."""

_RECORD_AAD_LABEL = b"wellpipe/history-record"
_CURSOR_AAD_LABEL = b"wellpipe/history-cursor"
_SEALED_VERSION = 1
"""The format of a record or cursor sealed under a data key: ``version ‖ nonce ‖ sealed``."""


class HistoryDecryptionError(WellpipeError):
    """A kept record (or cursor) does not open under its owner's data key.

    It was altered, moved to another user or record, or its data key was destroyed
    (an account deleted: crypto-shredding).
    """


def data_key_binding(user_id: str) -> Binding:
    """The binding of ``user_id``'s wrapped history data key (no provider, no connection)."""
    return Binding(
        user_id=user_id, provider="wellpipe", connection_id=user_id, field=DATA_KEY_FIELD
    )


def new_data_key() -> bytes:
    """A fresh random 256-bit data key (one per user)."""
    return os.urandom(KEY_BYTES)


def wrap_data_key(cipher: TokenCipher, user_id: str, data_key: bytes) -> bytes:
    """``data_key`` sealed under the key ring's primary key, bound to ``user_id``.

    The envelope is the tokens' (`TokenCipher`): it names its key id, so rotation can
    re-wrap it and a retired key is named when missing.
    """
    if len(data_key) != KEY_BYTES:
        raise ValueError("a data key is 32 bytes")
    return cipher.encrypt(data_key.hex(), data_key_binding(user_id))


def unwrap_data_key(cipher: TokenCipher, user_id: str, wrapped: bytes) -> bytes:
    """The data key `wrap_data_key` sealed for ``user_id``.

    Raises:
        MissingKeyError: it is wrapped under a key the ring no longer holds.
        HistoryDecryptionError: the envelope is altered, malformed or another user's.
    """
    try:
        opened = cipher.decrypt(wrapped, data_key_binding(user_id))
    except MissingKeyError:
        raise
    except TokenDecryptionError:
        raise HistoryDecryptionError(
            "A stored history data key failed its integrity check (altered, or stored for "
            "another account); that account's history must be synced again."
        ) from None
    try:
        key = bytes.fromhex(opened)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise HistoryDecryptionError("A stored history data key is malformed.")
    return key


def _length_prefixed(*items: bytes) -> bytes:
    return b"".join(struct.pack(">I", len(item)) + item for item in items)


def record_associated_data(user_id: str, provider: str, kind: str, id_digest: str) -> bytes:
    """The associated data of one kept record: its owner, provider, kind and id digest.

    ``id_digest`` is `DataKey.id_digest` of the record's source id (the id itself is
    not stored in the clear), so a sealed record moved to another user, provider,
    kind or record fails to open.
    """
    return _length_prefixed(
        _RECORD_AAD_LABEL,
        str(_SEALED_VERSION).encode(),
        user_id.encode("utf-8", "surrogatepass"),
        provider.encode("utf-8", "surrogatepass"),
        kind.encode("utf-8", "surrogatepass"),
        id_digest.encode("ascii"),
    )


def cursor_associated_data(user_id: str, provider: str, stream: str) -> bytes:
    """The associated data of one stream's sealed sync cursor."""
    return _length_prefixed(
        _CURSOR_AAD_LABEL,
        str(_SEALED_VERSION).encode(),
        user_id.encode("utf-8", "surrogatepass"),
        provider.encode("utf-8", "surrogatepass"),
        stream.encode("utf-8", "surrogatepass"),
    )


class DataKey:
    """One user's unwrapped history data key, as the two keys HKDF derives from it.

    * the **sealing key** (AES-256-GCM) encrypts every record and cursor: a blob is
      ``version (1) ‖ nonce (12) ‖ ciphertext ‖ tag (16)``, a fresh random nonce each;
    * the **id key** (HMAC-SHA256) makes the clear digest of each record id
      (`id_digest`): rows can be found by id, but once the data key is destroyed
      nobody can tell which id a digest was, or link it to another account's.

    Neither key is shown by ``repr``; the object does not pickle.
    """

    __slots__ = ("_aead", "_id_key")

    def __init__(self, data_key: bytes) -> None:
        """The derived keys of ``data_key`` (32 bytes)."""
        if len(data_key) != KEY_BYTES:
            raise ValueError("a data key is 32 bytes")

        def derive(info: bytes) -> bytes:
            return HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=None, info=info).derive(data_key)

        self._aead = AESGCM(derive(b"wellpipe/history/seal"))
        self._id_key = derive(b"wellpipe/history/id-digest")

    def id_digest(self, provider: str, kind: str, source_id: str) -> str:
        """The keyed digest (hex HMAC-SHA256) a record is found by, instead of its id."""
        message = _length_prefixed(
            provider.encode("utf-8", "surrogatepass"),
            kind.encode("utf-8", "surrogatepass"),
            source_id.encode("utf-8", "surrogatepass"),
        )
        return hmac.new(self._id_key, message, "sha256").hexdigest()

    def seal(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """``plaintext`` encrypted and bound to ``associated_data``."""
        nonce = os.urandom(NONCE_BYTES)
        return (
            bytes((_SEALED_VERSION,))
            + nonce
            + self._aead.encrypt(nonce, plaintext, associated_data)
        )

    def open(self, blob: bytes, associated_data: bytes) -> bytes:
        """The plaintext `seal` encrypted for ``associated_data``.

        Raises:
            HistoryDecryptionError: altered, malformed, or sealed for something else.
        """
        blob = bytes(blob)
        if len(blob) < 1 + NONCE_BYTES + TAG_BYTES or blob[0] != _SEALED_VERSION:
            raise HistoryDecryptionError("A kept history record is malformed.")
        try:
            return self._aead.decrypt(
                blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :], associated_data
            )
        except InvalidTag:
            raise HistoryDecryptionError(
                "A kept history record failed its integrity check (altered, moved, or its "
                "data key is not this account's)."
            ) from None

    def __repr__(self) -> str:
        return "DataKey(…)"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a DataKey is not serializable (it holds keys)")
