"""Database URLs as they may be shown."""

from __future__ import annotations

from sqlalchemy.engine import make_url

__all__ = ["safe_url"]


def safe_url(url: str) -> str:
    """``url`` with its password masked, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)
