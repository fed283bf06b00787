"""Keep secrets out of logs: a logging filter that blanks tokens, codes and keys in messages."""

from __future__ import annotations

import logging
import re

__all__ = ["REDACTED", "RedactingFilter", "redact"]

REDACTED = "[redacted]"

_PATTERNS = (
    # Authorization headers and bearer tokens.
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]+"),
    # OAuth values in query strings and form bodies.
    re.compile(
        r"(?i)((?:access_token|refresh_token|id_token|client_secret|code|state|code_verifier"
        r"|password|api_key|token)=)[^&\s\"']+"
    ),
    # The same names as JSON members or env lines.
    re.compile(
        r"(?i)(\"(?:access_token|refresh_token|id_token|client_secret|code|password|api_key)\""
        r"\s*:\s*\")[^\"]*"
    ),
    re.compile(r"(?i)((?:[A-Z]+_)?(?:ACCESS_TOKEN|REFRESH_TOKEN|CLIENT_SECRET)\s*=\s*)\S+"),
    # Wellpipe API keys wherever they appear.
    re.compile(r"()wp_(?:live|test)_[A-Za-z0-9_]+"),
)


def redact(text: str) -> str:
    """``text`` with every recognisable secret replaced by ``[redacted]``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (arguments merged in) without secrets.

    Attach it to handlers, so records from every library (httpx2 logs request
    URLs, uvicorn logs query strings) pass through it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the formatted message; always keep the record."""
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
