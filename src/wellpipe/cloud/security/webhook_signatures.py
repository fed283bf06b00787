"""Provider webhook signatures, checked on the raw body in constant time.

* WHOOP: ``X-WHOOP-Signature`` = ``base64(HMAC-SHA256(client_secret, timestamp + body))``
  with ``X-WHOOP-Signature-Timestamp`` in milliseconds since the epoch.
* Oura: ``x-oura-signature`` = hex, upper case, of ``HMAC-SHA256(client_secret,
  timestamp + body)`` with ``x-oura-timestamp``. Oura's doc example signs
  ``JSON.stringify`` of the parsed body; whether the raw bytes are what it signs is
  unverified, so `OuraBody` chooses (``raw``, ``reserialized`` or ``either``).
* Google Health: ECDSA P-256 with SHA-256 over the raw body, under a key of Google's
  public Tink keyset (`TinkKeyset`; keys rotate, so the keyset is fetched and cached by
  the caller), plus the subscriber's ``Authorization`` secret.

Every check raises `SignatureRejected` with a sentence fit for a log line: it never holds
a secret, a signature or the body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

__all__ = [
    "OuraBody",
    "SignatureRejected",
    "TinkKeyset",
    "check_timestamp",
    "oura_signature",
    "verify_google",
    "verify_oura",
    "verify_whoop",
    "whoop_signature",
]

OuraBody = Literal["raw", "reserialized", "either"]


class SignatureRejected(Exception):
    """A webhook's signature or timestamp did not hold; ``str()`` says which, without secrets."""


def _b64decode(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not."""
    cleaned = text.strip()
    padded = cleaned + "=" * (-len(cleaned) % 4)
    try:
        if "-" in cleaned or "_" in cleaned:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureRejected("the signature is not base64") from None


def check_timestamp(raw: str | None, *, now_s: float, max_age_s: float, header: str) -> None:
    """Refuse a missing, garbled or stale signature timestamp (seconds or milliseconds).

    Raises:
        SignatureRejected: the timestamp is missing, not a number, or further than
            ``max_age_s`` from ``now_s`` (either way: a clock skew into the future
            counts too). ``max_age_s`` 0 checks only that it is a number.
    """
    if raw is None or not raw.strip():
        raise SignatureRejected(f"the {header} header is missing")
    try:
        value = float(raw.strip())
    except ValueError:
        raise SignatureRejected(f"the {header} header is not a number") from None
    if not math.isfinite(value):
        raise SignatureRejected(f"the {header} header is not a number")
    seconds = value / 1000 if value > 1e11 else value  # milliseconds since 1973 vs seconds
    if max_age_s > 0 and abs(now_s - seconds) > max_age_s:
        raise SignatureRejected(
            f"the {header} timestamp is {abs(now_s - seconds):.0f} s away from now "
            f"(more than {max_age_s:.0f} s): a replay or a stale delivery"
        )


def whoop_signature(secret: str, timestamp: str, body: bytes) -> str:
    """WHOOP's signature of ``body`` sent at ``timestamp`` (what the header must hold)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def verify_whoop(
    *,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now_s: float,
    max_age_s: float,
) -> None:
    """Check a WHOOP delivery.

    Raises:
        SignatureRejected: a header is missing, the timestamp is stale, or the
            signature is not the app secret's.
    """
    timestamp = headers.get("x-whoop-signature-timestamp")
    given = headers.get("x-whoop-signature")
    if not given:
        raise SignatureRejected("the X-WHOOP-Signature header is missing")
    check_timestamp(
        timestamp, now_s=now_s, max_age_s=max_age_s, header="X-WHOOP-Signature-Timestamp"
    )
    assert timestamp is not None
    expected = _b64decode(whoop_signature(secret, timestamp.strip(), body))
    if not hmac.compare_digest(expected, _b64decode(given)):
        raise SignatureRejected("the X-WHOOP-Signature does not match this app's client secret")


def oura_signature(secret: str, timestamp: str, message: bytes) -> str:
    """Oura's signature: upper-case hex HMAC-SHA256 of ``timestamp + message``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + message, hashlib.sha256)
    return mac.hexdigest().upper()


def _reserialized(body: bytes) -> bytes | None:
    """``JSON.stringify(JSON.parse(body))``: compact, keys in order, non-ASCII kept."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode()


def verify_oura(
    *,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now_s: float,
    max_age_s: float,
    signed: OuraBody = "either",
) -> None:
    """Check an Oura delivery against the raw body, its re-serialization, or either.

    Raises:
        SignatureRejected: a header is missing, the timestamp is stale, or no allowed
            message matches.
    """
    timestamp = headers.get("x-oura-timestamp")
    given = (headers.get("x-oura-signature") or "").strip()
    if not given:
        raise SignatureRejected("the x-oura-signature header is missing")
    check_timestamp(timestamp, now_s=now_s, max_age_s=max_age_s, header="x-oura-timestamp")
    assert timestamp is not None
    candidates: list[bytes] = []
    if signed in ("raw", "either"):
        candidates.append(body)
    if signed in ("reserialized", "either"):
        again = _reserialized(body)
        if again is not None:
            candidates.append(again)
    matched = False
    for message in candidates:  # every candidate is compared: no early exit on a match
        expected = oura_signature(secret, timestamp.strip(), message)
        matched |= hmac.compare_digest(expected.encode(), given.upper().encode())
    if not matched:
        raise SignatureRejected("the x-oura-signature does not match this app's client secret")


# ---------------------------------------------------------------- Google Health (Tink)
_ECDSA_TYPE = "type.googleapis.com/google.crypto.tink.EcdsaPublicKey"
_CURVES: dict[int, ec.EllipticCurve] = {2: ec.SECP256R1(), 3: ec.SECP384R1(), 4: ec.SECP521R1()}
_HASHES: dict[int, hashes.HashAlgorithm] = {
    3: hashes.SHA256(),
    4: hashes.SHA512(),
    2: hashes.SHA384(),
}
_DER, _P1363 = 2, 1


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise ValueError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> dict[int, Any]:
    """The fields of a protobuf message: varints as ints, length-delimited as bytes."""
    fields: dict[int, Any] = {}
    at = 0
    while at < len(data):
        tag, at = _varint(data, at)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            fields[number], at = _varint(data, at)
        elif wire == 2:
            length, at = _varint(data, at)
            fields[number] = data[at : at + length]
            at += length
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")
    return fields


@dataclass(frozen=True)
class _TinkKey:
    key_id: int
    prefix: bytes
    legacy: bool
    public_key: ec.EllipticCurvePublicKey
    hash: hashes.HashAlgorithm
    encoding: int


class TinkKeyset:
    """A public Tink keyset of ECDSA keys (Google Health's webhook keys), ready to verify."""

    def __init__(self, keys: list[_TinkKey]) -> None:
        """Use `TinkKeyset.parse`."""
        self.keys = keys

    @classmethod
    def parse(cls, document: Mapping[str, Any]) -> TinkKeyset:
        """The enabled ECDSA keys of a JSON keyset (``{"primaryKeyId", "key": [...]}``).

        Raises:
            ValueError: the document holds no usable key.
        """
        keys: list[_TinkKey] = []
        for entry in document.get("key", []):
            data = entry.get("keyData", {})
            if entry.get("status", "ENABLED") != "ENABLED" or data.get("typeUrl") != _ECDSA_TYPE:
                continue
            proto = _fields(base64.b64decode(data["value"]))
            params = _fields(proto.get(2, b""))
            curve = _CURVES.get(params.get(2, 0))
            digest = _HASHES.get(params.get(1, 0))
            if curve is None or digest is None:
                continue
            x = int.from_bytes(proto.get(3, b""), "big")
            y = int.from_bytes(proto.get(4, b""), "big")
            public = ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
            key_id = int(entry.get("keyId", 0))
            output = entry.get("outputPrefixType", "TINK")
            if output == "TINK":
                prefix = b"\x01" + key_id.to_bytes(4, "big")
            elif output in ("LEGACY", "CRUNCHY"):
                prefix = b"\x00" + key_id.to_bytes(4, "big")
            else:
                prefix = b""
            keys.append(
                _TinkKey(
                    key_id=key_id,
                    prefix=prefix,
                    legacy=output == "LEGACY",
                    public_key=public,
                    hash=digest,
                    encoding=params.get(3, _DER),
                )
            )
        if not keys:
            raise ValueError("the keyset holds no enabled ECDSA public key")
        return cls(keys)

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Whether ``signature`` (with its Tink prefix) is one of the keyset's over ``message``."""
        for key in self.keys:
            if not signature.startswith(key.prefix):
                continue
            raw = signature[len(key.prefix) :]
            if key.encoding == _P1363:
                half = len(raw) // 2
                if half == 0 or len(raw) % 2:
                    continue
                raw = encode_dss_signature(
                    int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
                )
            signed = message + b"\x00" if key.legacy else message
            try:
                key.public_key.verify(raw, signed, ec.ECDSA(key.hash))
            except (InvalidSignature, ValueError):
                continue
            return True
        return False


def verify_google(
    *,
    authorization: str,
    headers: Mapping[str, str],
    body: bytes,
    keyset: TinkKeyset,
    signature_headers: list[str],
) -> None:
    """Check a Google Health notification: its ``Authorization`` secret, then its signature.

    Raises:
        SignatureRejected: the secret is missing or wrong, no signature header is
            present, or the signature is not one of the keyset's keys over the raw body.
    """
    if not hmac.compare_digest(
        (headers.get("authorization") or "").encode(), authorization.encode()
    ):
        raise SignatureRejected("the Authorization header is not the subscriber's secret")
    given = next((headers[h.lower()] for h in signature_headers if h.lower() in headers), None)
    if not given:
        raise SignatureRejected(
            f"no signature header ({', '.join(signature_headers)}); set "
            "WELLPIPE_GOOGLE_SIGNATURE_HEADERS if Google names it otherwise"
        )
    if not keyset.verify(_b64decode(given), body):
        raise SignatureRejected("the signature is not one of Google's keys over this body")
