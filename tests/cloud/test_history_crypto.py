"""The history's envelope encryption: data keys wrapped per user, records bound to their row."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.cloud.conftest import new_key_ring
from wellpipe.cloud.security.crypto import (
    DataKey,
    HistoryDecryptionError,
    KeyRing,
    MissingKeyError,
    TokenCipher,
    cursor_associated_data,
    key_id_of,
    new_data_key,
    record_associated_data,
    unwrap_data_key,
    wrap_data_key,
)

RING = new_key_ring("k1", "k2")
K1, K2 = RING.split(",")


def cipher(keys: str = K1) -> TokenCipher:
    return TokenCipher(KeyRing.parse(keys))


def test_a_data_key_is_random_and_wrapped_under_the_primary_bound_to_its_user() -> None:
    ring = cipher(f"{K2},{K1}")
    key = new_data_key()
    assert len(key) == 32
    assert key != new_data_key()
    wrapped = wrap_data_key(ring, "alice", key)
    assert key_id_of(wrapped) == "k2"
    assert key not in wrapped
    assert key.hex().encode() not in wrapped
    assert unwrap_data_key(ring, "alice", wrapped) == key
    assert unwrap_data_key(cipher(K2), "alice", wrapped) == key
    with pytest.raises(HistoryDecryptionError):
        unwrap_data_key(ring, "bob", wrapped)  # another user's row
    with pytest.raises(MissingKeyError, match="k2"):
        unwrap_data_key(cipher(K1), "alice", wrapped)
    tampered = bytearray(wrapped)
    tampered[-1] ^= 1
    with pytest.raises(HistoryDecryptionError):
        unwrap_data_key(ring, "alice", bytes(tampered))


def test_a_wrapped_data_key_is_not_a_token_and_a_token_is_not_a_data_key() -> None:
    from wellpipe.cloud.security.crypto import Binding

    ring = cipher()
    token = ring.encrypt("a" * 64, Binding("alice", "wellpipe", "alice", "access_token"))
    with pytest.raises(HistoryDecryptionError):
        unwrap_data_key(ring, "alice", token)


def test_records_are_bound_to_user_provider_kind_and_id() -> None:
    key = DataKey(new_data_key())
    digest = key.id_digest("whoop", "sleep", "42")
    aad = record_associated_data("alice", "whoop", "sleep", digest)
    sealed = key.seal(b"scored\n{}", aad)
    assert key.open(sealed, aad) == b"scored\n{}"
    other_digest = key.id_digest("whoop", "sleep", "43")
    for moved in (
        record_associated_data("bob", "whoop", "sleep", digest),
        record_associated_data("alice", "oura", "sleep", digest),
        record_associated_data("alice", "whoop", "workout", digest),
        record_associated_data("alice", "whoop", "sleep", other_digest),
        cursor_associated_data("alice", "whoop", "sleep"),
    ):
        with pytest.raises(HistoryDecryptionError):
            key.open(sealed, moved)
    with pytest.raises(HistoryDecryptionError):
        DataKey(new_data_key()).open(sealed, aad)  # another user's data key
    with pytest.raises(HistoryDecryptionError, match="malformed"):
        key.open(sealed[:10], aad)


def test_two_seals_of_one_record_differ_and_reveal_nothing() -> None:
    key = DataKey(new_data_key())
    aad = record_associated_data("alice", "whoop", "sleep", key.id_digest("whoop", "sleep", "1"))
    plaintext = b'scored\n{"source_id":"1","score":{"asleep_duration_min":440}}'
    first, second = key.seal(plaintext, aad), key.seal(plaintext, aad)
    assert first != second
    assert b"asleep" not in first
    assert len(first) == 1 + 12 + len(plaintext) + 16


def test_id_digests_are_keyed_per_user_and_do_not_collide_across_kinds() -> None:
    alice, bob = DataKey(new_data_key()), DataKey(new_data_key())
    assert alice.id_digest("whoop", "sleep", "42") != bob.id_digest("whoop", "sleep", "42")
    assert alice.id_digest("whoop", "sleep", "42") == alice.id_digest("whoop", "sleep", "42")
    assert alice.id_digest("whoop", "sleep", "42") != alice.id_digest("whoop", "workout", "42")
    # length-prefixed: ("ab", "c") and ("a", "bc") are different messages
    assert alice.id_digest("whoop", "ab", "c") != alice.id_digest("whoop", "a", "bc")
    digest = alice.id_digest("whoop", "sleep", "42")
    assert len(digest) == 64
    assert int(digest, 16) >= 0


def test_a_data_key_shows_and_pickles_nothing() -> None:
    raw = new_data_key()
    key = DataKey(raw)
    assert raw.hex() not in repr(key)
    with pytest.raises(TypeError):
        pickle.dumps(key)
    with pytest.raises(ValueError, match="32 bytes"):
        DataKey(raw[:16])
    with pytest.raises(ValueError, match="32 bytes"):
        wrap_data_key(cipher(), "alice", raw[:16])


@given(
    plaintext=st.binary(max_size=2_000),
    user=st.text(min_size=1, max_size=32),
    source_id=st.text(min_size=1, max_size=64),
)
def test_sealing_round_trips(plaintext: bytes, user: str, source_id: str) -> None:
    key = DataKey(bytes(range(1, 33)))
    aad = record_associated_data(
        user, "oura", "readiness", key.id_digest("oura", "readiness", source_id)
    )
    assert key.open(key.seal(plaintext, aad), aad) == plaintext
