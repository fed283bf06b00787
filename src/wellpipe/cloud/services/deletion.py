"""Account deletion (R-6.4): complete, verifiable, idempotent and resumable.

Steps, in order; each is driven by what is still stored, so running the job again for a
half-deleted account finishes it without repeating what was done:

0. crypto-shredding: destroy the history's wrapped data key, committed on its own before
   anything else, so no copy of the user's kept records (backups, dumps, replicas) can
   be opened from then on; then delete the history rows (records, spans, cursors);
1. revoke every API key and close every session (they stop working at once);
2. for each provider connection: revoke the grant at the provider through its
   connector, then delete the stored tokens. A revoke that fails does not stop the
   deletion: the access token goes to the ``revocations`` outbox, encrypted under a
   binding to the outbox row, and `retry_pending_revocations` keeps trying for 7 days;
3. in one transaction: delete the usage counters, daily usage and audit events of the
   user, whatever history a job still running wrote meanwhile (under a new data key,
   destroyed with it), the user row (foreign keys cascade to anything left), and write the tombstone
   ``account.deleted`` with no user id, a hash of it and the steps done.

Once step 3 committed the account is gone; running again is a no-op.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db.deletion import close_access, connected_providers, erase_account
from wellpipe.cloud.db.history import destroy_data_key, erase_history, forget_cached_key
from wellpipe.cloud.db.revocations import (
    claim_revocation,
    drop_revocation,
    due_revocations,
    queue_revocation,
)
from wellpipe.cloud.db.users import user_by_id
from wellpipe.cloud.security.crypto import Binding
from wellpipe.cloud.services.accounts import signin_throttle_keys
from wellpipe.cloud.services.audit import record_event
from wellpipe.cloud.services.connect import RevokeResult, revoke_grant
from wellpipe.cloud.services.health import forget_connection
from wellpipe.cloud.services.tokens import (
    DatabaseTokenProvider,
    delete_connection,
    read_access_token,
)
from wellpipe.core.tokens import MemoryTokenProvider, TokenSet

__all__ = [
    "GIVE_UP_AFTER",
    "DeletionReport",
    "delete_account",
    "retry_pending_revocations",
    "user_hash",
]

logger = logging.getLogger(__name__)

GIVE_UP_AFTER = timedelta(days=7)
"""How long a failed provider revoke is retried (R-6.4)."""
FIRST_RETRY = timedelta(minutes=5)
"""Wait before the first retry; it doubles each time, up to `MAX_RETRY_WAIT`."""
MAX_RETRY_WAIT = timedelta(hours=6)


def user_hash(user_id: str) -> str:
    """What the tombstone keeps of a deleted user id: 16 hex characters of its SHA-256."""
    return hashlib.sha256(user_id.encode()).hexdigest()[:16]


@dataclass
class DeletionReport:
    """What `delete_account` did.

    Attributes:
        user: `user_hash` of the deleted id.
        found: Whether there was an account (``False``: already deleted or never existed).
        steps: The steps done, in order.
        revoked: Providers whose grant was revoked (or was already dead).
        pending: Providers whose revoke failed and is retried from the outbox.
        sentence: What to tell the (former) user.
    """

    user: str
    found: bool
    steps: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    sentence: str = ""


async def delete_account(
    ctx: CloudContext, *, user_id: str, request_id: str | None = None
) -> DeletionReport:
    """Delete an account and everything linked to it (see the module docstring).

    Safe to call again at any point; a second run after completion changes nothing.
    """
    report = DeletionReport(user=user_hash(user_id), found=False)
    async with ctx.db.sessions() as db:
        user = await user_by_id(db, user_id)
    if user is None:
        report.sentence = "There is no such account (it may be deleted already)."
        return report
    report.found = True
    email = user.email

    # 0. Crypto-shredding first: once the data key is gone, no copy of the history opens.
    await destroy_data_key(ctx.db, user_id)
    report.steps.append("history_key_destroyed")
    await erase_history(ctx.db, user_id)
    report.steps.append("history_deleted")

    # 1. Keys and sessions stop working at once.
    await close_access(ctx.db, user_id=user_id, now=ctx.clock.now())
    report.steps += ["keys_revoked", "sessions_closed"]

    # 2. Provider grants: revoke (or queue the revoke), then destroy the tokens.
    for provider in sorted(await connected_providers(ctx.db, user_id)):
        await _revoke_and_forget(ctx, user_id, provider, report)
    report.steps += ["provider_grants_revoked", "tokens_destroyed"]

    # 3. Usage, audit trail, the account itself, and the tombstone: all or nothing.
    throttle_rows = [name for name, _ in signin_throttle_keys(ctx, email=email, address=None)]
    report.steps += ["usage_deleted", "audit_deleted", "account_deleted"]
    async with ctx.db.transaction() as db:
        if not await erase_account(db, user_id=user_id, throttle_rows=throttle_rows):
            # Another run finished first.
            report.steps = report.steps[:-3]
            report.sentence = "The account was deleted already."
            return report
        await record_event(
            db,
            user_id=None,
            event="account.deleted",
            at=ctx.clock.now(),
            detail={
                "user": report.user,
                "steps": report.steps,
                "revoked": report.revoked,
                "pending": report.pending,
            },
            request_id=request_id,
        )
    forget_cached_key(ctx.db, user_id)  # a key a job made meanwhile went with the account
    logger.info("Deleted account %s (steps: %s)", report.user, ", ".join(report.steps))
    report.sentence = "Your Wellpipe account and everything stored about it are deleted."
    if report.pending:
        names = ", ".join(_display(p) for p in report.pending)
        report.sentence += (
            f" {names} did not confirm removing Wellpipe's access yet; Wellpipe keeps trying "
            f"for 7 days, and you can also remove Wellpipe in your {names} account settings."
        )
    return report


def _display(provider: str) -> str:
    from wellpipe.providers import available_providers
    from wellpipe.providers.connector import get_connector

    if provider in available_providers():
        return get_connector(provider).info.display_name
    return provider


async def _revoke_and_forget(
    ctx: CloudContext, user_id: str, provider: str, report: DeletionReport
) -> None:
    access_token: str | None = None
    try:
        access_token = await read_access_token(ctx, user_id=user_id, provider=provider)
    except Exception:
        logger.exception("Could not read the %s token of a deleted account", provider)
    tokens = DatabaseTokenProvider(ctx, user_id=user_id, provider=provider)
    result: RevokeResult
    if access_token is None:
        result = "already_dead"  # nothing usable left to revoke
    else:
        result = await revoke_grant(ctx, provider, tokens)
    if result == "failed":
        # The attempt may have refreshed the pair first: queue what is stored now.
        latest, refresh = await _read_quietly(tokens, provider)
        await _queue_revocation(ctx, provider, latest or access_token or "", refresh)
        report.pending.append(provider)
    else:
        report.revoked.append(provider)
    await delete_connection(ctx, user_id=user_id, provider=provider)
    forget_connection(ctx, user_id=user_id, provider=provider)


async def _read_quietly(
    tokens: DatabaseTokenProvider, provider: str
) -> tuple[str | None, str | None]:
    try:
        return await tokens.get_access_token(), await tokens.get_refresh_token()
    except Exception:
        logger.exception("Could not re-read the %s tokens of a deleted account", provider)
        return None, None


def _unpack(plaintext: str) -> TokenSet:
    """The tokens of an outbox envelope: JSON of both tokens, or a bare access token."""
    if plaintext.startswith("{"):
        body = json.loads(plaintext)
        return TokenSet(
            access_token=str(body["access_token"]),
            refresh_token=body.get("refresh_token") or None,
        )
    return TokenSet(access_token=plaintext)


def _binding(provider: str, row_id: str) -> Binding:
    return Binding(
        user_id="revocation", provider=provider, connection_id=row_id, field="access_token"
    )


async def _queue_revocation(
    ctx: CloudContext, provider: str, access_token: str, refresh_token: str | None
) -> None:
    """Put a revoke in the outbox.

    The envelope holds the access token and, when there is one, the refresh token (as
    JSON), so a retry after the access token expired can still refresh and revoke.
    """
    row_id = uuid.uuid4().hex
    now = ctx.clock.now()
    plaintext = json.dumps({"access_token": access_token, "refresh_token": refresh_token})
    await queue_revocation(
        ctx.db,
        row_id=row_id,
        provider=provider,
        sealed=ctx.cipher.encrypt(plaintext, _binding(provider, row_id)),
        next_attempt_at=now + FIRST_RETRY,
        give_up_at=now + GIVE_UP_AFTER,
    )
    logger.warning("Revoking a %s grant failed; queued for retry (outbox %s)", provider, row_id)


async def retry_pending_revocations(ctx: CloudContext, *, limit: int = 100) -> int:
    """Retry the provider revokes that are due; call it periodically (any worker).

    A row is claimed with a compare-and-swap on its attempt counter, so two workers
    never retry the same revoke at once. A revoke that succeeds, or finds the grant
    already dead, removes the row; one that fails waits twice as long as before; past
    its give-up time the row is dropped (and logged).

    Returns:
        How many outbox rows were cleared (revoked, already dead, or given up).
    """
    now = ctx.clock.now()
    cleared = 0
    for row in await due_revocations(ctx.db, now=now, limit=limit):
        wait = min(FIRST_RETRY * (2 ** min(row.attempts, 16)), MAX_RETRY_WAIT)
        if not await claim_revocation(
            ctx.db, row_id=row.id, attempts=row.attempts, next_attempt_at=now + wait
        ):
            continue
        try:
            stored = _unpack(ctx.cipher.decrypt(row.access_token, _binding(row.provider, row.id)))
        except Exception:
            logger.exception("Outbox revoke %s cannot be decrypted; dropping it", row.id)
            result: RevokeResult = "already_dead"
        else:
            tokens = MemoryTokenProvider(stored, clock=ctx.clock)
            result = await revoke_grant(ctx, row.provider, tokens)
        if result == "failed" and now < row.give_up_at:
            continue
        if result == "failed":
            logger.warning(
                "Gave up revoking a %s grant after %d attempts", row.provider, row.attempts + 1
            )
        await drop_revocation(ctx.db, row.id)
        cleared += 1
    return cleared
