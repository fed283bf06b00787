"""One-shot messages between a POST and the page it redirects to, in a sealed cookie.

The cookie is AES-256-GCM sealed under a key derived from the server pepper, so a
browser can neither read nor forge it, lives for a minute, and is cleared by the page
that shows it. It is also how a new API key reaches the page that shows it once: the
key is sealed, bound to its owner, and gone after the first page view. No user data
ever travels in a URL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["FLASH_TTL_S", "FlashBox", "Message", "NewKey"]

FLASH_TTL_S = 60
_AAD = b"wellpipe/web/flash/v1"

Kind = Literal["success", "info", "warning", "error"]


@dataclass(frozen=True)
class Message:
    """One sentence for the next page, with its tone."""

    kind: Kind
    text: str


@dataclass(frozen=True)
class NewKey:
    """A key just created: shown once, to its owner, on the next dashboard view."""

    owner: str
    key_id: str
    name: str
    full_key: str


@dataclass
class Flash:
    """What travels to the next page."""

    messages: list[Message] = field(default_factory=list)
    new_key: NewKey | None = None

    def __bool__(self) -> bool:
        return bool(self.messages) or self.new_key is not None


class FlashBox:
    """Seals and opens flash cookies with a key derived from a server secret."""

    def __init__(self, secret: bytes) -> None:
        key = hmac.new(secret, b"wellpipe/web/flash-key/v1", hashlib.sha256).digest()
        self._aead = AESGCM(key)

    def seal(self, flash: Flash, *, now: datetime) -> str:
        """The cookie value for ``flash``, valid for `FLASH_TTL_S` seconds from ``now``."""
        body: dict[str, object] = {
            "exp": int(now.timestamp()) + FLASH_TTL_S,
            "m": [[m.kind, m.text] for m in flash.messages],
        }
        if flash.new_key is not None:
            key = flash.new_key
            body["k"] = [key.owner, key.key_id, key.name, key.full_key]
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, json.dumps(body).encode(), _AAD)
        return urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, value: str, *, now: datetime) -> Flash:
        """The flash in a cookie value; empty when forged, damaged or expired."""
        try:
            raw = urlsafe_b64decode(value + "=" * (-len(value) % 4))
            plain = self._aead.decrypt(raw[:12], raw[12:], _AAD)
            body = json.loads(plain)
        except (ValueError, InvalidTag, TypeError):
            return Flash()
        if not isinstance(body, dict) or int(body.get("exp", 0)) < int(now.timestamp()):
            return Flash()
        messages = [
            Message(kind=kind, text=str(text))
            for kind, text in body.get("m", [])
            if kind in ("success", "info", "warning", "error")
        ]
        new_key = None
        if isinstance(body.get("k"), list) and len(body["k"]) == 4:
            owner, key_id, name, full_key = (str(part) for part in body["k"])
            new_key = NewKey(owner=owner, key_id=key_id, name=name, full_key=full_key)
        return Flash(messages=messages, new_key=new_key)
