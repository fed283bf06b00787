"""The job queue's tasks, and the calls that enqueue them.

=====================  ========  =========================================================
task                   priority  what
=====================  ========  =========================================================
``webhook_fetch``      10        one webhook event: fetch, upsert or delete in the store
``reconcile``          0         one connection: re-read what may have changed
``backfill``           -10       one connection: the whole history, resumable
``reconcile_all``      periodic  enqueue ``reconcile`` for every active connection
``renew_oura``         periodic  create missing / renew expiring Oura subscriptions
``revoke_retries``     periodic  retry provider revokes left by account deletions
``recover_stalled``    periodic  put back the jobs of workers that died mid-job
``forget_deliveries``  periodic  drop webhook dedupe rows past every provider's retries
=====================  ========  =========================================================

Queueing locks make an identical job that is still waiting a no-op (one backfill per
connection, one fetch per event); ``backfill`` and ``reconcile`` of one connection share
a lock, so they never run at the same time.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import Any

from procrastinate import App, JobContext

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db import webhooks as db_webhooks
from wellpipe.cloud.jobs import work
from wellpipe.cloud.jobs.queue import (
    PRIORITY_BACKFILL,
    PRIORITY_RECONCILE,
    PRIORITY_WEBHOOK,
    Backoff,
    context_of,
    cron_every,
    queue_for,
)
from wellpipe.cloud.settings import CloudSettings

__all__ = [
    "DELIVERY_MEMORY",
    "PERIODIC",
    "enqueue_backfill",
    "enqueue_reconciliations",
    "enqueue_webhook",
    "register",
]

logger = logging.getLogger(__name__)

DELIVERY_MEMORY = timedelta(days=8)
"""How long a delivery is remembered: past Google's 7 days of retries."""

PERIODIC = ("reconcile_all", "renew_oura", "revoke_retries", "recover_stalled", "forget_deliveries")
"""The periodic tasks every worker schedules (deferred once per tick across workers)."""

_HANDLERS = {"whoop": work.handle_whoop, "oura": work.handle_oura, "fitbit": work.handle_google}


def _sync_lock(user_id: str, provider: str) -> str:
    return f"sync:{user_id}:{provider}"


async def enqueue_backfill(ctx: CloudContext, *, user_id: str, provider: str) -> int | None:
    """Queue the backfill of one connection (``None``: one is already waiting)."""
    return await queue_for(ctx).defer(
        "backfill",
        queueing_lock=f"backfill:{user_id}:{provider}",
        lock=_sync_lock(user_id, provider),
        priority=PRIORITY_BACKFILL,
        user_id=user_id,
        provider=provider,
    )


async def enqueue_reconcile(ctx: CloudContext, *, user_id: str, provider: str) -> int | None:
    """Queue the reconciliation of one connection (``None``: one is already waiting)."""
    return await queue_for(ctx).defer(
        "reconcile",
        queueing_lock=f"reconcile:{user_id}:{provider}",
        lock=_sync_lock(user_id, provider),
        priority=PRIORITY_RECONCILE,
        user_id=user_id,
        provider=provider,
    )


async def enqueue_reconciliations(ctx: CloudContext) -> int:
    """Queue a reconciliation of every active connection; how many were queued."""
    queued = 0
    for account in await db_webhooks.active_connections(ctx.db):
        if await enqueue_reconcile(ctx, user_id=account.user_id, provider=account.provider):
            queued += 1
    return queued


def event_key(event: dict[str, Any]) -> str:
    """A short digest of an event (its queueing lock: an identical waiting one is a no-op)."""
    canonical = json.dumps(event, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


async def enqueue_webhook(
    ctx: CloudContext, *, provider: str, user_id: str, event: dict[str, Any]
) -> int | None:
    """Queue the work of one webhook event (``None``: the same one is already waiting)."""
    return await queue_for(ctx).defer(
        "webhook_fetch",
        queueing_lock=f"webhook:{provider}:{user_id}:{event_key(event)}",
        priority=PRIORITY_WEBHOOK,
        provider=provider,
        user_id=user_id,
        event=event,
    )


# ------------------------------------------------------------------ the tasks
async def _webhook_fetch(
    job: JobContext, *, provider: str, user_id: str, event: dict[str, Any]
) -> str:
    ctx = context_of(job)
    queue = queue_for(ctx)
    handler = _HANDLERS[provider]
    async with (
        work.open_background(
            ctx, user_id=user_id, provider=provider, extras=queue.extras
        ) as opened,
        work.open_history(ctx, user_id, queue.extras.get("history")) as store,
    ):
        return await handler(opened, store, event, now=ctx.clock.now())


async def _backfill(job: JobContext, *, user_id: str, provider: str) -> str:
    ctx = context_of(job)
    queue = queue_for(ctx)
    async with (
        work.open_background(
            ctx, user_id=user_id, provider=provider, extras=queue.extras
        ) as opened,
        work.open_history(ctx, user_id, queue.extras.get("history")) as store,
    ):
        await work.run_backfill(ctx, opened, store)
    return "done"


async def _reconcile(job: JobContext, *, user_id: str, provider: str) -> str:
    ctx = context_of(job)
    queue = queue_for(ctx)
    async with (
        work.open_background(
            ctx, user_id=user_id, provider=provider, extras=queue.extras
        ) as opened,
        work.open_history(ctx, user_id, queue.extras.get("history")) as store,
    ):
        await work.reconcile(ctx, opened, store)
        coverage = await store.coverage(provider)
    if coverage.backfill or not any(coverage.spans.values()):
        # Never backfilled, or a backfill a restart interrupted: resume it from its cursor.
        await enqueue_backfill(ctx, user_id=user_id, provider=provider)
    return "done"


async def _reconcile_all(job: JobContext, timestamp: int) -> int:
    return await enqueue_reconciliations(context_of(job))


async def _renew_oura(job: JobContext, timestamp: int) -> int:
    from wellpipe.cloud.jobs.oura import renew_subscriptions

    return await renew_subscriptions(context_of(job))


async def _revoke_retries(job: JobContext, timestamp: int) -> int:
    from wellpipe.cloud.services.deletion import retry_pending_revocations

    cleared = await retry_pending_revocations(context_of(job))
    if cleared:
        logger.info("Cleared %d queued provider revoke(s)", cleared)
    return cleared


async def _recover_stalled(job: JobContext, timestamp: int) -> int:
    return await queue_for(context_of(job)).recover_stalled()


async def _forget_deliveries(job: JobContext, timestamp: int) -> int:
    ctx = context_of(job)
    return await db_webhooks.forget_deliveries(ctx.db, before=ctx.clock.now() - DELIVERY_MEMORY)


def register(app: App, settings: CloudSettings) -> None:
    """Add every task, and the periodic ones' schedules, to ``app``."""
    retrying = Backoff(max_attempts=10)
    app.task(name="webhook_fetch", pass_context=True, retry=Backoff(max_attempts=8))(_webhook_fetch)
    app.task(name="backfill", pass_context=True, retry=retrying)(_backfill)
    app.task(name="reconcile", pass_context=True, retry=Backoff(max_attempts=3))(_reconcile)

    def periodic(name: str, cron: str, function: Any) -> None:
        task = app.task(name=name, pass_context=True, queueing_lock=name, queue="wellpipe")(
            function
        )
        app.periodic(cron=cron, periodic_id=name)(task)

    periodic("reconcile_all", cron_every(settings.reconcile_every_s), _reconcile_all)
    periodic("renew_oura", cron_every(6 * 3600), _renew_oura)
    if settings.revocation_retry_s > 0:
        periodic("revoke_retries", cron_every(settings.revocation_retry_s), _revoke_retries)
    periodic(
        "recover_stalled", cron_every(max(60.0, settings.jobs_stalled_after_s)), _recover_stalled
    )
    periodic("forget_deliveries", "17 3 * * *", _forget_deliveries)
