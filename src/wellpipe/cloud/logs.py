"""Cloud logging: every handler the service writes through passes the redaction filter.

Tokens, API keys, codes and passwords are blanked (`wellpipe.core.redaction`), whether
they come from our own messages, httpx2's request lines or uvicorn's access log.
"""

from __future__ import annotations

import logging

from wellpipe.core.redaction import RedactingFilter

__all__ = ["install_redaction"]

_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "wellpipe")
_CHATTY = ("aiosqlite", "sqlalchemy.engine", "psycopg", "httpcore2", "httpcore", "multipart")
"""Libraries whose DEBUG lines carry SQL parameters or raw bodies: never below WARNING."""


def install_redaction() -> None:
    """Attach one `RedactingFilter` to each handler of the service's loggers (idempotent).

    Also keeps database drivers and raw HTTP libraries at WARNING or above: their DEBUG
    lines print statement parameters (CSRF tokens, encrypted tokens) and bodies.
    """
    for name in _CHATTY:
        chatty = logging.getLogger(name)
        if chatty.level < logging.WARNING:
            chatty.setLevel(logging.WARNING)
    for name in _LOGGERS:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
