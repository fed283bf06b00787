"""Logging for every command: stderr only, secrets redacted (and no rich, for a fast serve)."""

from __future__ import annotations

import logging
import sys

__all__ = ["configure_logging"]

_CHATTY = ("httpx2", "httpcore2", "mcp", "uvicorn")
"""Libraries whose info lines (request URLs, session events) show only at ``-vv``."""


class _Verbosity(logging.Filter):
    def __init__(self, verbosity: int) -> None:
        super().__init__()
        self._verbosity = verbosity

    def filter(self, record: logging.LogRecord) -> bool:
        if self._verbosity >= 2 or record.levelno >= logging.WARNING:
            return True
        return not record.name.startswith(_CHATTY)


def configure_logging(verbosity: int) -> None:
    """Log to stderr, secrets redacted: warnings by default, ``-v`` for info, ``-vv`` for debug.

    The handler sits on the root logger so every library's records (httpx2 logs
    request URLs, the MCP SDK its own events) go to stderr through the redaction
    filter; stdout stays free for results and, under ``wellpipe serve``, protocol.
    Levels are only ever lowered and other handlers are left alone, so calling
    this twice (or inside a test that captures logs) changes nothing else.
    """
    from wellpipe.core.redaction import RedactingFilter

    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name("wellpipe")
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_Verbosity(verbosity))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "wellpipe"] + [handler]
    if verbosity > 0:
        for name in ("wellpipe", *(_CHATTY if verbosity >= 2 else ())):
            logger = logging.getLogger(name)
            if logger.getEffectiveLevel() > level:
                logger.setLevel(level)
