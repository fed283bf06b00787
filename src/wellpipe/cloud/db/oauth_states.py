"""The ``oauth_states`` table: pending authorization requests, single-use and expiring.

Provider connects (purpose ``connect:<provider>``) and Google sign-ins
(``signin:google``) store one row per ``state``, by its SHA-256. Every function runs in
the ``AsyncSession`` of the caller's ``ctx.db.transaction()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from wellpipe.cloud.db.tables import OAuthState

__all__ = ["PendingState", "add_state", "take_state"]


@dataclass(frozen=True)
class PendingState:
    """A state row as taken back by `take_state`.

    Attributes:
        purpose: ``connect:<provider>`` or ``signin:google``.
        browser_binding: Digest of the session or pre-session cookie that started it.
        user_id: The user who started it (a connect), or ``None`` (a sign-in).
        code_verifier: The PKCE verifier in the clear (Google sign-in), if any.
        nonce: The OpenID nonce, if any.
        sealed_verifier: A provider's PKCE verifier, encrypted, if any.
        expires_at: When the state stops being valid (it may have already).
    """

    purpose: str
    browser_binding: str
    user_id: str | None
    code_verifier: str | None = field(repr=False)
    nonce: str | None = field(repr=False)
    sealed_verifier: bytes | None = field(repr=False)
    expires_at: datetime


async def add_state(
    session: AsyncSession,
    *,
    state_digest: str,
    purpose: str,
    browser_binding: str,
    created_at: datetime,
    expires_at: datetime,
    user_id: str | None = None,
    code_verifier: str | None = None,
    nonce: str | None = None,
    sealed_verifier: bytes | None = None,
) -> None:
    """Insert a state, first deleting every state expired by ``created_at``."""
    await session.execute(delete(OAuthState).where(OAuthState.expires_at <= created_at))
    session.add(
        OAuthState(
            state_digest=state_digest,
            purpose=purpose,
            browser_binding=browser_binding,
            user_id=user_id,
            code_verifier=code_verifier,
            nonce=nonce,
            sealed_verifier=sealed_verifier,
            created_at=created_at,
            expires_at=expires_at,
        )
    )


async def take_state(session: AsyncSession, state_digest: str) -> PendingState | None:
    """Delete the state with this digest and return it (expired or not); else ``None``."""
    row = (
        await session.execute(
            delete(OAuthState)
            .where(OAuthState.state_digest == state_digest)
            .returning(
                OAuthState.purpose,
                OAuthState.browser_binding,
                OAuthState.user_id,
                OAuthState.code_verifier,
                OAuthState.nonce,
                OAuthState.sealed_verifier,
                OAuthState.expires_at,
            )
        )
    ).first()
    if row is None:
        return None
    purpose, binding, user_id, verifier, nonce, sealed, expires_at = row
    return PendingState(
        purpose=purpose,
        browser_binding=binding,
        user_id=user_id,
        code_verifier=verifier,
        nonce=nonce,
        sealed_verifier=sealed,
        expires_at=expires_at,
    )
