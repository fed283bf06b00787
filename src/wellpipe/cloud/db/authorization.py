"""The authorization server's tables: clients, pending requests, codes, grants, tokens.

Secrets (client secrets, codes, access and refresh tokens, request handles) are found by
their SHA-256 and never stored themselves. Every function but `read_access` runs in the
``AsyncSession`` of the caller's ``ctx.db.transaction()`` (or ``ctx.db.sessions()`` for a
read), so a change and its audit event commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wellpipe.cloud.db.engine import Database, rowcount
from wellpipe.cloud.db.tables import (
    AuthorizationCode,
    AuthorizationRequest,
    OAuthClient,
    OAuthGrant,
    OAuthToken,
    User,
)

__all__ = [
    "AccessRow",
    "ClientRow",
    "CodeRow",
    "GrantRow",
    "RefreshRow",
    "RequestRow",
    "add_client",
    "add_code",
    "add_grant",
    "add_request",
    "add_token",
    "count_registrations",
    "delete_expired",
    "delete_token",
    "grants_of_user",
    "link_code",
    "mark_client_granted",
    "note_use",
    "read_access",
    "read_client",
    "read_refresh",
    "read_request",
    "revoke_client",
    "revoke_grant",
    "revoke_user_grants",
    "spend_refresh",
    "take_code",
    "take_request",
    "token_grant",
]


@dataclass(frozen=True, slots=True)
class ClientRow:
    """A dynamically registered client."""

    id: str
    secret_hash: str | None = field(repr=False)
    metadata_json: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class RequestRow:
    """An authorization request waiting for consent."""

    browser_binding: str
    client_id: str
    client_name: str
    client_kind: str
    redirect_uri: str
    code_challenge: str
    state: str | None
    scope: str
    resource: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class CodeRow:
    """An authorization code as taken back (``used_at`` set: it was used before)."""

    user_id: str
    client_id: str
    client_name: str
    client_kind: str
    redirect_uri: str
    code_challenge: str
    scope: str
    resource: str
    expires_at: datetime
    used_at: datetime | None
    grant_id: str | None


@dataclass(frozen=True, slots=True)
class GrantRow:
    """What one person allowed one assistant."""

    id: str
    user_id: str
    client_id: str
    client_name: str
    client_kind: str
    redirect_host: str
    scope: str
    resource: str
    created_at: datetime
    last_used_at: datetime | None
    period: str | None
    requests: int
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class AccessRow:
    """A live access token as the gate reads it, with its grant and its owner's plan."""

    grant_id: str
    user_id: str
    client_id: str
    client_name: str
    resource: str
    scope: str
    expires_at: datetime
    plan: str


@dataclass(frozen=True, slots=True)
class RefreshRow:
    """A refresh token with its grant (``spent_at`` set: it was used before)."""

    grant_id: str
    user_id: str
    client_id: str
    client_name: str
    client_kind: str
    scope: str
    resource: str
    expires_at: datetime
    spent_at: datetime | None
    replaced_by: str | None = field(repr=False)
    grant_revoked_at: datetime | None


# ---------------------------------------------------------------------- clients
async def add_client(
    session: AsyncSession,
    *,
    client_id: str,
    secret_hash: str | None,
    metadata_json: str,
    source_digest: str,
    created_at: datetime,
    expires_at: datetime,
) -> None:
    """Register a client."""
    session.add(
        OAuthClient(
            id=client_id,
            secret_hash=secret_hash,
            metadata_json=metadata_json,
            source_digest=source_digest,
            created_at=created_at,
            expires_at=expires_at,
        )
    )


async def count_registrations(session: AsyncSession, source_digest: str, since: datetime) -> int:
    """How many clients ``source_digest`` registered since ``since``."""
    found = await session.scalar(
        select(func.count())
        .select_from(OAuthClient)
        .where(OAuthClient.source_digest == source_digest, OAuthClient.created_at >= since)
    )
    return int(found or 0)


async def read_client(session: AsyncSession, client_id: str) -> ClientRow | None:
    """The registered client ``client_id``, if there is one."""
    row = await session.get(OAuthClient, client_id)
    if row is None:
        return None
    return ClientRow(
        id=row.id,
        secret_hash=row.secret_hash,
        metadata_json=row.metadata_json,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


async def revoke_client(session: AsyncSession, client_id: str, now: datetime) -> list[str]:
    """Revoke a client (a registered one, or a metadata document's URL) and its grants.

    Returns:
        The owners of the grants it had, one entry per grant revoked.
    """
    row = await session.get(OAuthClient, client_id, with_for_update=True)
    if row is None:
        session.add(
            OAuthClient(
                id=client_id,
                secret_hash=None,
                metadata_json="{}",
                source_digest="operator",
                created_at=now,
                expires_at=None,
                revoked_at=now,
            )
        )
    else:
        row.revoked_at = row.revoked_at or now
        row.expires_at = None
    owners = list(
        (
            await session.execute(
                select(OAuthGrant.id, OAuthGrant.user_id).where(
                    OAuthGrant.client_id == client_id, OAuthGrant.revoked_at.is_(None)
                )
            )
        ).all()
    )
    for grant_id, _ in owners:
        await revoke_grant(session, grant_id, now)
    return [user_id for _, user_id in owners]


async def mark_client_granted(session: AsyncSession, client_id: str) -> None:
    """A client that completed a grant no longer expires."""
    await session.execute(
        update(OAuthClient).where(OAuthClient.id == client_id).values(expires_at=None)
    )


# ---------------------------------------------------------------------- requests
async def add_request(
    session: AsyncSession, *, id_digest: str, created_at: datetime, **values: Any
) -> None:
    """Keep an authorization request until the person decides (expired ones go first)."""
    await session.execute(
        delete(AuthorizationRequest).where(AuthorizationRequest.expires_at <= created_at)
    )
    session.add(AuthorizationRequest(id_digest=id_digest, created_at=created_at, **values))


def _request_row(row: AuthorizationRequest) -> RequestRow:
    return RequestRow(
        browser_binding=row.browser_binding,
        client_id=row.client_id,
        client_name=row.client_name,
        client_kind=row.client_kind,
        redirect_uri=row.redirect_uri,
        code_challenge=row.code_challenge,
        state=row.state,
        scope=row.scope,
        resource=row.resource,
        expires_at=row.expires_at,
    )


async def read_request(session: AsyncSession, id_digest: str) -> RequestRow | None:
    """The pending request, if it is still there (it may have expired)."""
    row = await session.get(AuthorizationRequest, id_digest)
    return None if row is None else _request_row(row)


async def take_request(session: AsyncSession, id_digest: str) -> RequestRow | None:
    """Delete the pending request and return it (``None``: already decided or gone)."""
    row = await session.get(AuthorizationRequest, id_digest, with_for_update=True)
    if row is None:
        return None
    taken = _request_row(row)
    await session.delete(row)
    return taken


# ---------------------------------------------------------------------- codes
async def add_code(session: AsyncSession, *, code_digest: str, **values: Any) -> None:
    """Issue an authorization code."""
    session.add(AuthorizationCode(code_digest=code_digest, **values))


async def take_code(session: AsyncSession, code_digest: str, now: datetime) -> CodeRow | None:
    """The code, marked used as of ``now``; ``used_at`` in the answer says it was used before."""
    row = await session.get(AuthorizationCode, code_digest, with_for_update=True)
    if row is None:
        return None
    taken = CodeRow(
        user_id=row.user_id,
        client_id=row.client_id,
        client_name=row.client_name,
        client_kind=row.client_kind,
        redirect_uri=row.redirect_uri,
        code_challenge=row.code_challenge,
        scope=row.scope,
        resource=row.resource,
        expires_at=row.expires_at,
        used_at=row.used_at,
        grant_id=row.grant_id,
    )
    if row.used_at is None:
        row.used_at = now
    return taken


async def link_code(session: AsyncSession, code_digest: str, grant_id: str) -> None:
    """Remember which grant a code created (a replayed code revokes it)."""
    await session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.code_digest == code_digest)
        .values(grant_id=grant_id)
    )


# ---------------------------------------------------------------------- grants and tokens
async def add_grant(session: AsyncSession, **values: Any) -> None:
    """Record a person's consent to one assistant."""
    session.add(OAuthGrant(requests=0, **values))


async def add_token(
    session: AsyncSession,
    *,
    digest: str,
    grant_id: str,
    kind: str,
    created_at: datetime,
    expires_at: datetime,
) -> None:
    """Keep a token's digest."""
    session.add(
        OAuthToken(
            digest=digest,
            grant_id=grant_id,
            kind=kind,
            created_at=created_at,
            expires_at=expires_at,
        )
    )


_ACCESS = (
    select(
        OAuthGrant.id,
        OAuthGrant.user_id,
        OAuthGrant.client_id,
        OAuthGrant.client_name,
        OAuthGrant.resource,
        OAuthGrant.scope,
        OAuthToken.expires_at,
        User.plan,
    )
    .join(OAuthGrant, OAuthGrant.id == OAuthToken.grant_id)
    .join(User, User.id == OAuthGrant.user_id)
)


async def read_access(db: Database, digest: str, now: datetime) -> AccessRow | None:
    """The live access token ``digest`` (not expired, its grant not revoked), else ``None``."""
    async with db.sessions() as session:
        found = (
            await session.execute(
                _ACCESS.where(
                    OAuthToken.digest == digest,
                    OAuthToken.kind == "access",
                    OAuthToken.expires_at > now,
                    OAuthGrant.revoked_at.is_(None),
                )
            )
        ).first()
    if found is None:
        return None
    return AccessRow(*found)


async def read_refresh(session: AsyncSession, digest: str) -> RefreshRow | None:
    """The refresh token ``digest`` with its grant, spent or not, revoked or not."""
    found = (
        await session.execute(
            select(
                OAuthGrant.id,
                OAuthGrant.user_id,
                OAuthGrant.client_id,
                OAuthGrant.client_name,
                OAuthGrant.client_kind,
                OAuthGrant.scope,
                OAuthGrant.resource,
                OAuthToken.expires_at,
                OAuthToken.spent_at,
                OAuthToken.replaced_by,
                OAuthGrant.revoked_at,
            )
            .join(OAuthGrant, OAuthGrant.id == OAuthToken.grant_id)
            .where(OAuthToken.digest == digest, OAuthToken.kind == "refresh")
            .with_for_update()
        )
    ).first()
    return None if found is None else RefreshRow(*found)


async def spend_refresh(
    session: AsyncSession, digest: str, *, now: datetime, replaced_by: str, keep_until: datetime
) -> bool:
    """Mark an unspent refresh token spent, naming its successor (compare-and-swap).

    It is remembered until ``keep_until``, so that a reuse can still revoke the grant.
    """
    result = await session.execute(
        update(OAuthToken)
        .where(OAuthToken.digest == digest, OAuthToken.spent_at.is_(None))
        .values(spent_at=now, replaced_by=replaced_by, expires_at=keep_until)
    )
    return rowcount(result) == 1


async def token_grant(session: AsyncSession, digest: str) -> tuple[str, str, str] | None:
    """``(grant id, kind, client id)`` of the token ``digest``, if it exists."""
    found = (
        await session.execute(
            select(OAuthToken.grant_id, OAuthToken.kind, OAuthGrant.client_id)
            .join(OAuthGrant, OAuthGrant.id == OAuthToken.grant_id)
            .where(OAuthToken.digest == digest)
        )
    ).first()
    return None if found is None else (str(found[0]), str(found[1]), str(found[2]))


async def delete_token(session: AsyncSession, digest: str) -> None:
    """Forget one token."""
    await session.execute(delete(OAuthToken).where(OAuthToken.digest == digest))


async def revoke_grant(
    session: AsyncSession, grant_id: str, now: datetime, *, user_id: str | None = None
) -> bool:
    """Revoke a grant and delete its tokens (optionally only if ``user_id`` owns it).

    Returns:
        Whether a live grant was revoked.
    """
    query = update(OAuthGrant).where(OAuthGrant.id == grant_id, OAuthGrant.revoked_at.is_(None))
    if user_id is not None:
        query = query.where(OAuthGrant.user_id == user_id)
    result = await session.execute(query.values(revoked_at=now))
    if rowcount(result) != 1:
        return False
    await session.execute(delete(OAuthToken).where(OAuthToken.grant_id == grant_id))
    return True


async def revoke_user_grants(session: AsyncSession, user_id: str, now: datetime) -> int:
    """Revoke every live grant of ``user_id`` and delete their tokens."""
    live = list(
        await session.scalars(
            select(OAuthGrant.id).where(
                OAuthGrant.user_id == user_id, OAuthGrant.revoked_at.is_(None)
            )
        )
    )
    for grant_id in live:
        await revoke_grant(session, grant_id, now)
    return len(live)


async def grants_of_user(session: AsyncSession, user_id: str) -> Sequence[GrantRow]:
    """The user's live grants, newest first."""
    rows = await session.scalars(
        select(OAuthGrant)
        .where(OAuthGrant.user_id == user_id, OAuthGrant.revoked_at.is_(None))
        .order_by(OAuthGrant.created_at.desc())
    )
    return [
        GrantRow(
            id=row.id,
            user_id=row.user_id,
            client_id=row.client_id,
            client_name=row.client_name,
            client_kind=row.client_kind,
            redirect_host=row.redirect_host,
            scope=row.scope,
            resource=row.resource,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            period=row.period,
            requests=row.requests,
            revoked_at=row.revoked_at,
        )
        for row in rows
    ]


async def note_use(session: AsyncSession, grant_id: str, *, now: datetime, period: str) -> None:
    """One answered request through the grant: last use, and this month's count."""
    same_month = OAuthGrant.period == period
    await session.execute(
        update(OAuthGrant)
        .where(OAuthGrant.id == grant_id)
        .values(
            last_used_at=now,
            requests=case((same_month, OAuthGrant.requests + 1), else_=1),
            period=period,
        )
    )


async def delete_expired(session: AsyncSession, now: datetime) -> None:
    """Forget expired tokens and codes, and clients that never completed a grant in time."""
    await session.execute(delete(OAuthToken).where(OAuthToken.expires_at <= now))
    await session.execute(delete(AuthorizationCode).where(AuthorizationCode.expires_at <= now))
    await session.execute(
        delete(OAuthClient).where(
            OAuthClient.expires_at.is_not(None), OAuthClient.expires_at <= now
        )
    )
