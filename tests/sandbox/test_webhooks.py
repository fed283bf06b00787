"""The sandboxes' signed webhooks follow each provider's documented scheme."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from wellpipe.cloud.security.webhook_signatures import (
    SignatureRejected,
    TinkKeyset,
    verify_google,
    verify_oura,
)
from wellpipe.sandbox.webhooks import GoogleSigner, WebhookSender, tink_keyset


def test_oura_signature_is_upper_hex_hmac_of_timestamp_and_body() -> None:
    send = WebhookSender(url="http://x", client_secret="s")
    body, headers = send.oura_delivery(
        user_id="u",
        object_id="o",
        data_type="sleep",
        event_time="2026-11-21T08:00:00Z",
        timestamp_s=1,
    )
    expected = hmac.new(b"s", b"1" + body, hashlib.sha256).hexdigest().upper()
    assert headers["x-oura-signature"] == expected
    assert json.loads(body)["object_id"] == "o"
    verify_oura(secret="s", headers=headers, body=body, now_s=1, max_age_s=300, signed="raw")


def test_google_notifications_verify_against_the_served_tink_keyset_only() -> None:
    send = WebhookSender(url="http://x", authorization="Bearer a")
    body, headers = send.google_delivery(
        health_user_id="h", data_type="steps", days=("2026-11-20", "2026-11-21")
    )
    lowered = {k.lower(): v for k, v in headers.items()}
    keyset = TinkKeyset.parse(tink_keyset(send.google))
    names = ["google-health-api-signature"]
    verify_google(
        authorization="Bearer a", headers=lowered, body=body, keyset=keyset, signature_headers=names
    )
    other = TinkKeyset.parse(tink_keyset(GoogleSigner()))
    with pytest.raises(SignatureRejected):
        verify_google(
            authorization="Bearer a",
            headers=lowered,
            body=body,
            keyset=other,
            signature_headers=names,
        )
    with pytest.raises(SignatureRejected):
        verify_google(
            authorization="Bearer a",
            headers=lowered,
            body=body + b" ",
            keyset=keyset,
            signature_headers=names,
        )
