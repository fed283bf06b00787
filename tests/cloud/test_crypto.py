"""T-2.1-T-2.4, T-2.7: token envelopes (AES-256-GCM + row binding) and key loading."""

from __future__ import annotations

import itertools
import secrets
from base64 import b64encode, urlsafe_b64encode

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import SecretStr

from tests.cloud.conftest import new_key_ring
from wellpipe.cloud.security.crypto import (
    FORMAT_VERSION,
    Binding,
    KeyRing,
    MissingKeyError,
    TokenCipher,
    TokenDecryptionError,
    associated_data,
    key_id_of,
)
from wellpipe.cloud.settings import CloudSettings
from wellpipe.core.errors import ConfigError, WellpipeError

BINDING = Binding(user_id="u1", provider="whoop", connection_id="c1", field="refresh_token")
TOKEN = "refresh-token-" + "x" * 40


def cipher(*kids: str) -> TokenCipher:
    return TokenCipher(KeyRing.parse(new_key_ring(*kids)))


def key_text(raw: bytes) -> str:
    return urlsafe_b64encode(raw).decode()


# ---------------------------------------------------------------- T-2.1 round trip, nonces
def test_100k_encryptions_use_distinct_nonces_and_decrypt() -> None:
    c = cipher("k1")
    blobs = [c.encrypt(TOKEN, BINDING) for _ in range(100_000)]
    nonce_at = 2 + len("k1")
    nonces = {blob[nonce_at : nonce_at + 12] for blob in blobs}
    assert len(nonces) == 100_000
    assert len(set(blobs)) == 100_000
    assert all(c.decrypt(blob, BINDING) == TOKEN for blob in blobs[::10])


def test_envelope_layout_is_version_kid_nonce_ciphertext_tag() -> None:
    c = cipher("primary-2026")
    blob = c.encrypt("héllo 🙂", BINDING)
    assert blob[0] == FORMAT_VERSION == 1
    assert blob[1] == len("primary-2026")
    assert blob[2:14] == b"primary-2026"
    assert key_id_of(blob) == "primary-2026"
    nonce, sealed = blob[14:26], blob[26:]
    assert len(sealed) == len("héllo 🙂".encode()) + 16
    # The layout is plain AES-256-GCM: the ring's AEAD opens it with the documented AAD.
    aad = associated_data(1, "primary-2026", BINDING)
    assert c.ring.aead("primary-2026").decrypt(nonce, sealed, aad) == "héllo 🙂".encode()
    assert c.decrypt(blob, BINDING) == "héllo 🙂"
    assert c.decrypt(c.encrypt("", BINDING), BINDING) == ""


def test_encryption_uses_the_primary_and_decryption_any_ring_key() -> None:
    ring_text = new_key_ring("k2", "k1")
    k1_only = TokenCipher(KeyRing.parse(ring_text.split(",")[1]))
    both = TokenCipher(KeyRing.parse(ring_text))
    old = k1_only.encrypt(TOKEN, BINDING)
    assert key_id_of(old) == "k1"
    assert both.decrypt(old, BINDING) == TOKEN
    assert key_id_of(both.encrypt(TOKEN, BINDING)) == "k2" == both.primary_key_id
    assert both.needs_rotation(old)
    assert not both.needs_rotation(both.encrypt(TOKEN, BINDING))


def test_unknown_key_id_names_the_missing_key_without_trying_others() -> None:
    ring_text = new_key_ring("k1", "k2")
    old = TokenCipher(KeyRing.parse(ring_text)).encrypt(TOKEN, BINDING)
    k2_only = TokenCipher(KeyRing.parse(ring_text.split(",")[1]))
    with pytest.raises(MissingKeyError, match="missing key k1: add it back to") as caught:
        k2_only.decrypt(old, BINDING)
    assert caught.value.key_id == "k1"
    assert isinstance(caught.value, TokenDecryptionError)
    assert isinstance(caught.value, WellpipeError)


def test_same_kid_with_another_key_fails_integrity_not_silently() -> None:
    old = cipher("k1").encrypt(TOKEN, BINDING)
    with pytest.raises(TokenDecryptionError, match="integrity check"):
        cipher("k1").decrypt(old, BINDING)


# ---------------------------------------------------------------- T-2.2 tampering
def test_every_single_bit_flip_is_detected() -> None:
    c = cipher("k1", "k2")
    blob = c.encrypt(TOKEN, BINDING)
    failures = 0
    for position, bit in itertools.product(range(len(blob)), range(8)):
        tampered = bytearray(blob)
        tampered[position] ^= 1 << bit
        with pytest.raises(TokenDecryptionError):
            c.decrypt(bytes(tampered), BINDING)
        failures += 1
    assert failures == len(blob) * 8 > 8 * (2 + 2 + 12 + 16)


def test_flipping_the_kid_to_another_ring_key_still_fails() -> None:
    c = cipher("k1", "k2")
    blob = bytearray(c.encrypt(TOKEN, BINDING))
    assert blob[2:4] == b"k1"
    blob[3] = ord("2")  # now names k2, which exists: the AAD (and key) no longer match
    with pytest.raises(TokenDecryptionError, match="integrity check"):
        c.decrypt(bytes(blob), BINDING)


def test_truncated_and_extended_envelopes_are_rejected() -> None:
    c = cipher("k1")
    blob = c.encrypt(TOKEN, BINDING)
    for length in range(len(blob)):
        with pytest.raises(TokenDecryptionError):
            c.decrypt(blob[:length], BINDING)
    for extra in (b"\x00", b"\x01" * 16, secrets.token_bytes(100)):
        with pytest.raises(TokenDecryptionError):
            c.decrypt(blob + extra, BINDING)
    with pytest.raises(TokenDecryptionError, match="format 0"):
        c.decrypt(b"\x00" + blob[1:], BINDING)
    for bad in (b"", b"\x01", b"\x01\x00" + b"\x00" * 40, b"\x01\x02\xff\xfe" + b"\x00" * 40):
        with pytest.raises(TokenDecryptionError):
            key_id_of(bad)


# ---------------------------------------------------------------- T-2.3 swapping
ids = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
FIELDS = ("access_token", "refresh_token")
SHARED = cipher("k1", "k2")


@hsettings(max_examples=150)
@given(
    rows=st.lists(st.tuples(ids, st.sampled_from(["whoop", "oura", "fitbit"]), ids), min_size=2),
    data=st.data(),
)
def test_ciphertexts_only_open_in_their_own_row_and_field(
    rows: list[tuple[str, str, str]], data: st.DataObject
) -> None:
    bindings = list(
        dict.fromkeys(
            Binding(user, provider, connection, field)
            for (user, provider, connection), field in itertools.product(rows, FIELDS)
        )
    )
    source = data.draw(st.sampled_from(bindings))
    target = data.draw(st.sampled_from(bindings))
    plaintext = data.draw(st.text(max_size=40))
    blob = SHARED.encrypt(plaintext, source)
    if target == source:
        assert SHARED.decrypt(blob, target) == plaintext  # the positive control
    else:
        with pytest.raises(TokenDecryptionError):
            SHARED.decrypt(blob, target)


def test_each_kind_of_swap_fails_and_the_control_succeeds() -> None:
    alice = Binding("alice", "whoop", "conn-a", "refresh_token")
    blob = SHARED.encrypt(TOKEN, alice)
    swaps = {
        "other user's row": Binding("bob", "whoop", "conn-b", "refresh_token"),
        "same user, other connection": Binding("alice", "whoop", "conn-b", "refresh_token"),
        "access-token column": Binding("alice", "whoop", "conn-a", "access_token"),
        "provider relabelled": Binding("alice", "oura", "conn-a", "refresh_token"),
        "user relabelled only": Binding("bob", "whoop", "conn-a", "refresh_token"),
    }
    for target in swaps.values():
        with pytest.raises(TokenDecryptionError, match="integrity check"):
            SHARED.decrypt(blob, target)
    assert SHARED.decrypt(blob, alice) == TOKEN


# ---------------------------------------------------------------- T-2.4 AAD encoding
TRICKY = ["", "a", "|", "a|b", ":", ",", "\x00", "\x00\x00\x00\x01a", "é", "e\u0301", "🙂", "\n"]


def test_aad_of_10k_tricky_tuples_never_collide() -> None:
    tuples = list(itertools.product(TRICKY[:10], repeat=4))  # 10,000 distinct tuples
    encodings = {associated_data(1, "k1", Binding(*t)) for t in tuples}
    assert len(encodings) == len(tuples) == 10_000


def test_aad_distinguishes_delimiter_shifts_version_and_kid() -> None:
    a = associated_data(1, "k1", Binding("a|b", "c", "", "x"))
    assert a != associated_data(1, "k1", Binding("a", "b|c", "", "x"))
    assert a != associated_data(1, "k1", Binding("a|b", "c", "x", ""))
    assert a != associated_data(2, "k1", Binding("a|b", "c", "", "x"))
    assert a != associated_data(1, "k2", Binding("a|b", "c", "", "x"))
    assert associated_data(1, "k1", Binding("", "", "", "")) != associated_data(
        1, "k1", Binding("", "", "", "\x00")
    )


@hsettings(max_examples=60)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 300),
            st.from_regex(r"[A-Za-z0-9_-]{1,32}", fullmatch=True),
            st.text(),
            st.text(),
            st.text(),
            st.text(),
        ),
        min_size=2,
        max_size=50,
        unique=True,
    )
)
def test_aad_is_injective(tuples: list[tuple[int, str, str, str, str, str]]) -> None:
    encodings = {associated_data(v, kid, Binding(*rest)) for v, kid, *rest in tuples}
    assert len(encodings) == len(tuples)


# ---------------------------------------------------------------- T-2.7 key loading
def refusal(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        KeyRing.parse(text)
    return str(caught.value)


def assert_no_key_material(message: str, *keys: str) -> None:
    for key in keys:
        assert key not in message
        for start in range(max(1, len(key) - 8)):
            assert key[start : start + 8] not in message, "a fragment of the key leaked"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (secrets.token_bytes(31), "31 bytes long; it must be exactly 32"),
        (secrets.token_bytes(33), "33 bytes long; it must be exactly 32"),
        (b"", "not of the form kid:base64key"),
        (bytes(32), "one byte repeated"),
        (b"\xff" * 32, "one byte repeated"),
        (bytes(range(32)), "published example"),
    ],
    ids=["31 bytes", "33 bytes", "empty", "zeros", "ones", "published example"],
)
def test_weak_or_misshapen_keys_are_refused_without_echoing_them(raw: bytes, expected: str) -> None:
    for encoded in {key_text(raw), key_text(raw).rstrip("="), b64encode(raw).decode()}:
        message = refusal(f"k1:{encoded}")
        assert expected in message
        assert "WELLPIPE_ENCRYPTION_KEYS" in message
        if encoded:
            assert_no_key_material(message, encoded)


def test_ring_refusals_name_the_problem_not_the_key() -> None:
    good, other = key_text(secrets.token_bytes(32)), key_text(secrets.token_bytes(32))
    cases = {
        "": "holds no key",
        " , ": "not of the form",
        f"k1:{good},k1:{other}": "key id k1 twice",
        good: "not of the form kid:base64key",  # a key pasted without its id
        f"{good}:{other}": "invalid key id",  # the id is too long: never echoed
        f"bad kid:{good}": "invalid key id",
        f"k/1:{good}": "invalid key id",
        f"{'k' * 33}:{good}": "invalid key id",
        f"k1:{good},k2": "entry 2 of WELLPIPE_ENCRYPTION_KEYS is not of the form",
        f"k1:{good[:-3]}!!!": "not valid base64",
        f"k1:{good},k2:{good}%": "key k2 in WELLPIPE_ENCRYPTION_KEYS is not valid base64",
    }
    for text, expected in cases.items():
        message = refusal(text)
        assert expected in message, (text, message)
        assert_no_key_material(message, good, other)


def test_valid_rings_accept_base64url_base64_and_no_padding() -> None:
    raw = secrets.token_bytes(32)
    while b64encode(raw) == urlsafe_b64encode(raw):  # make sure the alphabets differ
        raw = secrets.token_bytes(32)
    ring = KeyRing.parse(
        f" k1:{key_text(raw)} , K_2-x:{b64encode(raw).decode()},k3:{key_text(raw).rstrip('=')}"
    )
    assert ring.primary_key_id == "k1"
    assert ring.key_ids == ("k1", "K_2-x", "k3")
    blob = TokenCipher(ring).encrypt(TOKEN, BINDING)
    assert AESGCM(raw).decrypt(blob[4:16], blob[16:], associated_data(1, "k1", BINDING))


def test_repr_and_pickling_never_show_keys() -> None:
    text = new_key_ring("k1", "k2")
    ring = KeyRing.parse(text)
    c = TokenCipher(ring)
    for shown in (repr(ring), str(ring), repr(c), str(c)):
        assert "k1" in shown
        assert_no_key_material(shown, *(entry.split(":")[1] for entry in text.split(",")))
    import pickle

    with pytest.raises(TypeError, match="not serializable"):
        pickle.dumps(c)


def test_from_settings_fails_closed() -> None:
    with pytest.raises(ConfigError, match="WELLPIPE_ENCRYPTION_KEYS is not set"):
        TokenCipher.from_settings(CloudSettings(encryption_keys=None))
    bad = key_text(bytes(32))
    with pytest.raises(ConfigError, match="one byte repeated") as caught:
        TokenCipher.from_settings(CloudSettings(encryption_keys=SecretStr(f"k1:{bad}")))
    assert bad not in str(caught.value)
    ring = new_key_ring("k9")
    assert (
        TokenCipher.from_settings(CloudSettings(encryption_keys=SecretStr(ring))).primary_key_id
        == "k9"
    )
