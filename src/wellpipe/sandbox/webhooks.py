"""Signed webhooks, as each provider sends them, from the sandboxes to a configured URL.

`WebhookSender` signs exactly as the provider documents (the cloud verifies with its own,
independent code):

* WHOOP: ``X-WHOOP-Signature`` = base64 HMAC-SHA256(client secret, timestamp + body),
  ``X-WHOOP-Signature-Timestamp`` in milliseconds; body ``{user_id, id, type, trace_id}``.
* Oura: ``x-oura-signature`` = upper-case hex HMAC-SHA256(client secret, timestamp +
  body), ``x-oura-timestamp``; body ``{event_type, data_type, object_id, event_time,
  user_id}``. Whether Oura signs the raw body or a re-serialization is unverified; the
  sandbox sends compact JSON, for which both are the same bytes.
* Google Health: ECDSA P-256/SHA-256 over the raw body by a key of the sandbox's own
  Tink keyset (`tink_keyset`, served to the cloud as Google serves its public one), a
  5-byte Tink prefix, and the subscriber's ``Authorization`` secret.

Creates and updates go out as WHOOP documents them (``*.updated``; a recovery event
carries its sleep's id), deletes as ``*.deleted``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["GoogleSigner", "WebhookSender", "tink_keyset"]


def _compact(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


@dataclass
class GoogleSigner:
    """An ECDSA P-256 key pair and its Tink key id (the sandbox's "Google" signing key)."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    key_id: int = field(default_factory=lambda: secrets.randbits(31) | 1)

    def sign(self, body: bytes) -> bytes:
        """Tink's output: ``0x01 || key id (4 bytes) || DER signature``."""
        der = self.key.sign(body, ec.ECDSA(hashes.SHA256()))
        return b"\x01" + self.key_id.to_bytes(4, "big") + der


def tink_keyset(signer: GoogleSigner) -> dict[str, Any]:
    """The public keyset JSON Google publishes, for ``signer``'s key."""
    numbers = signer.key.public_key().public_numbers()
    params = _field(1, 3) + _field(2, 2) + _field(3, 2)  # SHA256, NIST_P256, DER
    proto = (
        _field(1, 0)
        + _field(2, params)
        + _field(3, b"\x00" + numbers.x.to_bytes(32, "big"))
        + _field(4, b"\x00" + numbers.y.to_bytes(32, "big"))
    )
    return {
        "primaryKeyId": signer.key_id,
        "key": [
            {
                "keyData": {
                    "typeUrl": "type.googleapis.com/google.crypto.tink.EcdsaPublicKey",
                    "value": base64.b64encode(proto).decode(),
                    "keyMaterialType": "ASYMMETRIC_PUBLIC",
                },
                "status": "ENABLED",
                "keyId": signer.key_id,
                "outputPrefixType": "TINK",
            }
        ],
    }


@dataclass
class WebhookSender:
    """Sends one provider's signed webhooks to ``url``.

    Attributes:
        url: Where the provider delivers (WHOOP: the app's webhook URL; Oura: the
            subscription's callback; Google: the subscriber's endpoint).
        client_secret: The developer app's secret (WHOOP and Oura sign with it).
        transport: Send through this `httpx2` transport (the cloud in process in tests).
        authorization: Google's subscriber ``Authorization`` secret.
        google: Google's signing key (its public keyset: `tink_keyset`).
        signature_header: The header Google's signature goes in.
        sent: Every delivery's answer status, in order.
    """

    url: str
    client_secret: str = ""
    transport: httpx2.AsyncBaseTransport | None = None
    authorization: str = ""
    google: GoogleSigner = field(default_factory=GoogleSigner)
    signature_header: str = "GOOGLE-HEALTH-API-SIGNATURE"
    sent: list[int] = field(default_factory=list)

    async def _post(self, body: bytes, headers: dict[str, str]) -> httpx2.Response:
        async with httpx2.AsyncClient(transport=self.transport, timeout=10) as client:
            answer = await client.post(
                self.url, content=body, headers={"Content-Type": "application/json", **headers}
            )
        self.sent.append(answer.status_code)
        return answer

    # ------------------------------------------------------------------ WHOOP
    def whoop_delivery(
        self,
        *,
        user_id: int,
        record_id: str,
        event: str,
        trace_id: str | None = None,
        timestamp_ms: int | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A WHOOP delivery (body and headers), e.g. ``event="recovery.updated"``."""
        body = _compact(
            {
                "user_id": user_id,
                "id": record_id,
                "type": event,
                "trace_id": trace_id or str(uuid.uuid4()),
            }
        )
        stamp = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
        mac = hmac.new(self.client_secret.encode(), stamp.encode() + body, hashlib.sha256)
        return body, {
            "X-WHOOP-Signature": base64.b64encode(mac.digest()).decode(),
            "X-WHOOP-Signature-Timestamp": stamp,
        }

    async def whoop(self, **event: Any) -> httpx2.Response:
        """Send `whoop_delivery`."""
        body, headers = self.whoop_delivery(**event)
        return await self._post(body, headers)

    # ------------------------------------------------------------------ Oura
    def oura_delivery(
        self,
        *,
        user_id: str,
        object_id: str,
        data_type: str,
        event_type: str = "update",
        event_time: str | None = None,
        timestamp_s: int | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """An Oura delivery (body and headers)."""
        body = _compact(
            {
                "event_type": event_type,
                "data_type": data_type,
                "object_id": object_id,
                "event_time": event_time or datetime.now(UTC).isoformat(),
                "user_id": user_id,
            }
        )
        stamp = str(timestamp_s if timestamp_s is not None else int(time.time()))
        mac = hmac.new(self.client_secret.encode(), stamp.encode() + body, hashlib.sha256)
        return body, {"x-oura-signature": mac.hexdigest().upper(), "x-oura-timestamp": stamp}

    async def oura(self, **event: Any) -> httpx2.Response:
        """Send `oura_delivery`."""
        body, headers = self.oura_delivery(**event)
        return await self._post(body, headers)

    # ------------------------------------------------------------------ Google Health
    def google_delivery(
        self,
        *,
        health_user_id: str,
        data_type: str,
        days: tuple[str, str],
        operation: str = "UPSERT",
    ) -> tuple[bytes, dict[str, str]]:
        """A Google Health notification for ``days`` (first and last civil date)."""
        body = _compact(
            {
                "data": {
                    "version": "1",
                    "clientProvidedSubscriptionName": "wellpipe",
                    "healthUserId": health_user_id,
                    "operation": operation,
                    "dataType": data_type,
                    "intervals": [
                        {
                            "civilIso8601TimeInterval": {
                                "startTime": f"{days[0]}T00:00:00",
                                "endTime": f"{days[1]}T23:59:59",
                            }
                        }
                    ],
                }
            }
        )
        signature = base64.b64encode(self.google.sign(body)).decode()
        return body, {
            self.signature_header: signature,
            "Authorization": self.authorization,
            "User-Agent": "Google-Health-API-Webhooks",
        }

    async def google_notify(self, **event: Any) -> httpx2.Response:
        """Send `google_delivery`."""
        body, headers = self.google_delivery(**event)
        return await self._post(body, headers)

    async def google_verification(self, *, with_secret: bool) -> httpx2.Response:
        """One of Google's two verification POSTs (with or without the secret)."""
        headers = {"Authorization": self.authorization} if with_secret else {}
        return await self._post(_compact({"type": "verification"}), headers)
