"""Key rotation: re-encrypt stored tokens under the primary key, then retire the old key.

The procedure (also in ``wellpipe cloud rotate-keys --help``):

1. put the new key first in ``WELLPIPE_ENCRYPTION_KEYS`` on every worker, keeping the
   old one after it, and restart: new writes use the new key, old rows still decrypt;
2. run ``wellpipe cloud rotate-keys`` (`rotate`): rows under other keys are decrypted
   with their own key and re-encrypted under the primary, in batches;
3. once `count_by_key_id` shows no row under the old key, remove it from the ring.

Each row is rewritten with a compare-and-swap on ``(id, version, key_id)`` and its
``version`` is left alone: rotation changes no business data, so a refresh that writes
the row meanwhile wins (its own write already used the primary key) and rotation just
moves on. Batches commit one by one and only rows still under an old key are selected,
so the job can be interrupted at any point and run again, and running it twice changes
nothing. A row whose key is missing stops the job loudly (`MissingKeyError`); a row that
fails its integrity check is reported, left as it is, and skipped.

Queued provider revokes (``revocations``) hold one envelope each and rotate the same way.

History data keys (``history_keys``) are re-wrapped under the primary: unwrapped with
their own key and wrapped again, by compare-and-swap on the envelope read. The records
sealed under them are not touched (their ciphertexts stay byte for byte the same): a
user's data key itself never changes, only the envelope around it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db.rotation import (
    ConnectionReseal,
    DataKeyRewrap,
    RevocationReseal,
    SealedDataKey,
    connection_counts_by_key,
    connections_not_under,
    history_key_counts_by_key,
    history_keys_not_under,
    reseal,
    revocation_envelopes,
    revocations_after,
    rewrap_history_keys,
)
from wellpipe.cloud.security.crypto import (
    Binding,
    MissingKeyError,
    TokenDecryptionError,
    key_id_of,
    revocation_binding,
    unwrap_data_key,
    wrap_data_key,
)
from wellpipe.core.errors import WellpipeError

__all__ = [
    "RotationReport",
    "StaleRow",
    "count_by_key_id",
    "reencrypt",
    "rewrap_data_keys",
    "rotate",
    "select_stale",
]

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 500


@dataclass
class RotationReport:
    """What a rotation did.

    Attributes:
        primary: The key everything is re-encrypted under.
        already_current: Rows already under the primary when the run started.
        reencrypted: Rows this run rewrote under the primary (history data keys included).
        rewrapped: Of those, history data keys re-wrapped (their records untouched).
        overtaken: Rows a concurrent write changed first (they are under the primary now).
        unreadable: Ids of rows whose tokens failed their integrity check (left alone).
        batches: Batches committed.
    """

    primary: str
    already_current: int = 0
    reencrypted: int = 0
    rewrapped: int = 0
    overtaken: int = 0
    unreadable: list[str] = field(default_factory=list)
    batches: int = 0


@dataclass(frozen=True)
class StaleRow:
    """A row under a key other than the primary, as selected (ciphertexts still sealed).

    Attributes:
        table: ``"connections"`` or ``"revocations"``.
        id: The row's id.
        key_id: The key the row's envelopes use.
        version: The connection's version (``None`` for a revocation).
        user_id: The connection's user (``None`` for a revocation).
        provider: The provider's name.
        access_token: The sealed access token, if any.
        refresh_token: The sealed refresh token, if any.
    """

    table: str
    id: str
    key_id: str
    version: int | None
    user_id: str | None
    provider: str
    access_token: bytes | None
    refresh_token: bytes | None

    def binding(self, column: str) -> Binding:
        """The associated-data binding of one of the row's envelopes."""
        if self.table == "revocations":
            return revocation_binding(self.provider, self.id)
        assert self.user_id is not None
        return Binding(self.user_id, self.provider, self.id, column)


async def count_by_key_id(ctx: CloudContext) -> dict[str, int]:
    """How many rows hold tokens under each key id (the "can I retire this key?" check).

    Connections without tokens (a dead grant) and nothing else count; queued revokes count
    by their envelope's key; each user's wrapped history data key counts once.
    """
    counts: Counter[str] = Counter(await connection_counts_by_key(ctx.db))
    counts.update(await history_key_counts_by_key(ctx.db))
    for blob in await revocation_envelopes(ctx.db):
        try:
            counts[key_id_of(blob)] += 1
        except TokenDecryptionError:
            counts["(unreadable)"] += 1
    return dict(sorted(counts.items()))


async def select_stale(
    ctx: CloudContext, *, table: str, after_id: str, limit: int
) -> list[StaleRow]:
    """Up to ``limit`` rows of ``table`` not under the primary key, by id after ``after_id``."""
    primary = ctx.cipher.primary_key_id
    if table == "connections":
        return [
            StaleRow(
                table=table,
                id=row.id,
                key_id=row.key_id,
                version=row.version,
                user_id=row.user_id,
                provider=row.provider,
                access_token=row.access_token,
                refresh_token=row.refresh_token,
            )
            for row in await connections_not_under(ctx.db, primary, after_id=after_id, limit=limit)
        ]
    # Revocations carry no key column: read the envelopes' headers.
    stale: list[StaleRow] = []
    last = after_id
    while len(stale) < limit:
        chunk = await revocations_after(ctx.db, last, limit=limit)
        if not chunk:
            break
        last = chunk[-1].id
        for row in chunk:
            kid = _kid_or_none(row.access_token)
            if kid != primary and len(stale) < limit:
                stale.append(
                    StaleRow(
                        table=table,
                        id=row.id,
                        key_id=kid or "",
                        version=None,
                        user_id=None,
                        provider=row.provider,
                        access_token=row.access_token,
                        refresh_token=None,
                    )
                )
    return stale


def _kid_or_none(blob: bytes) -> str | None:
    try:
        return key_id_of(blob)
    except TokenDecryptionError:
        return None


async def reencrypt(ctx: CloudContext, rows: Sequence[StaleRow]) -> tuple[int, int, list[str]]:
    """Rewrite ``rows`` under the primary key in one transaction, each by compare-and-swap.

    Returns:
        ``(rewritten, overtaken, unreadable ids)``: rows rewritten; rows a concurrent
        write changed since they were selected (left as that write made them); rows
        whose tokens failed their integrity check (left alone).

    Raises:
        MissingKeyError: a row's key is not in the ring (nothing of this batch is written).
    """
    cipher = ctx.cipher
    primary = cipher.primary_key_id
    changes: list[ConnectionReseal | RevocationReseal] = []
    unreadable: list[str] = []
    for row in rows:
        try:
            sealed = {
                column: None
                if blob is None
                else cipher.encrypt(cipher.decrypt(blob, row.binding(column)), row.binding(column))
                for column, blob in (
                    ("access_token", row.access_token),
                    ("refresh_token", row.refresh_token),
                )
            }
        except MissingKeyError:
            raise
        except TokenDecryptionError:
            logger.error("Row %s of %s fails its integrity check; left as it is", row.id, row.table)
            unreadable.append(row.id)
            continue
        if row.table == "connections":
            changes.append(
                ConnectionReseal(
                    id=row.id,
                    version=row.version,
                    key_id=row.key_id,
                    access_token=sealed["access_token"],
                    refresh_token=sealed["refresh_token"],
                    new_key_id=primary,
                )
            )
        else:
            changes.append(
                RevocationReseal(
                    id=row.id, old=row.access_token, access_token=sealed["access_token"]
                )
            )
    rewritten = await reseal(ctx.db, changes)
    return rewritten, len(changes) - rewritten, unreadable


async def rotate(
    ctx: CloudContext,
    *,
    batch_size: int = DEFAULT_BATCH,
    on_batch: Callable[[RotationReport], None] | None = None,
) -> RotationReport:
    """Re-encrypt every stored token that is not under the primary key.

    Args:
        ctx: The service's context (its key ring: the primary plus every key in use).
        batch_size: Rows per transaction.
        on_batch: Called after each committed batch with the running report.

    Raises:
        MissingKeyError: some row uses a key that is not in the ring; batches already
            committed stay done, and a run with the key restored finishes the job.
    """
    primary = ctx.cipher.primary_key_id
    before = await count_by_key_id(ctx)
    report = RotationReport(primary=primary, already_current=before.get(primary, 0))
    for table in ("connections", "revocations"):
        after_id = ""
        while True:
            rows = await select_stale(ctx, table=table, after_id=after_id, limit=batch_size)
            if not rows:
                break
            after_id = rows[-1].id
            rewritten, overtaken, unreadable = await reencrypt(ctx, rows)
            report.reencrypted += rewritten
            report.overtaken += overtaken
            report.unreadable += unreadable
            report.batches += 1
            logger.info("Rotation batch %d: %d rows re-encrypted", report.batches, rewritten)
            if on_batch is not None:
                on_batch(report)
    after_user = ""
    while True:
        keys = await history_keys_not_under(
            ctx.db, primary, after_user=after_user, limit=batch_size
        )
        if not keys:
            break
        after_user = keys[-1].user_id
        rewritten, overtaken, unreadable = await rewrap_data_keys(ctx, keys)
        report.reencrypted += rewritten
        report.rewrapped += rewritten
        report.overtaken += overtaken
        report.unreadable += unreadable
        report.batches += 1
        logger.info("Rotation batch %d: %d data keys re-wrapped", report.batches, rewritten)
        if on_batch is not None:
            on_batch(report)
    return report


async def rewrap_data_keys(
    ctx: CloudContext, keys: Sequence[SealedDataKey]
) -> tuple[int, int, list[str]]:
    """Re-wrap history data keys under the primary in one transaction (compare-and-swap).

    Returns:
        ``(rewritten, overtaken, unreadable)``: keys rewritten; keys destroyed or
        re-wrapped meanwhile; ``history_keys:<user>`` of keys failing their integrity
        check (left alone).

    Raises:
        MissingKeyError: a key is wrapped by a ring key that is missing (nothing of this
            batch is written).
    """
    cipher = ctx.cipher
    changes: list[DataKeyRewrap] = []
    unreadable: list[str] = []
    for key in keys:
        try:
            data_key = unwrap_data_key(cipher, key.user_id, key.wrapped)
        except MissingKeyError:
            raise
        except WellpipeError:
            logger.error("The history data key of a user fails its integrity check; left as is")
            unreadable.append(f"history_keys:{key.user_id}")
            continue
        changes.append(
            DataKeyRewrap(
                user_id=key.user_id,
                old=key.wrapped,
                wrapped=wrap_data_key(cipher, key.user_id, data_key),
                new_key_id=cipher.primary_key_id,
            )
        )
    rewritten = await rewrap_history_keys(ctx.db, changes)
    return rewritten, len(changes) - rewritten, unreadable
