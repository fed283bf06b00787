"""`JobQueue`: the service's procrastinate app, its tasks, and how jobs are deferred.

One `JobQueue` per service process (`queue_for`). Its connector follows the database:

* PostgreSQL: `procrastinate.PsycopgConnector` on the service's database (the schema is
  applied by migration 0004). Any number of ``wellpipe cloud worker`` processes on any
  number of machines share the queue; a worker that dies mid-job is noticed by its
  missing heartbeat and its jobs are put back (`recover_stalled`).
* SQLite (the embedded default): procrastinate's in-memory connector, run by a worker
  inside ``wellpipe cloud serve``. Jobs in memory do not survive a restart: the store's
  backfill cursors are saved with every page (a backfill resumes where it stood) and a
  reconciliation of every connection is enqueued when the worker starts.

Jobs are idempotent (a fetch upserts, a delete deletes, a backfill resumes from its
cursor), so delivery is at least once: a job is retried with exponential backoff (a
provider's ``Retry-After`` when it gave one), and an identical job already waiting is
not queued twice (procrastinate's queueing locks).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from procrastinate import App, BaseConnector, JobContext, PsycopgConnector, RetryDecision
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy
from procrastinate.testing import InMemoryConnector

from wellpipe.cloud.context import CloudContext
from wellpipe.core.errors import AuthError, ConfigError, ProviderRateLimited

__all__ = [
    "PRIORITY_BACKFILL",
    "PRIORITY_RECONCILE",
    "PRIORITY_WEBHOOK",
    "Backoff",
    "JobQueue",
    "cron_every",
    "forget_queue",
    "queue_for",
]

logger = logging.getLogger(__name__)

PRIORITY_WEBHOOK = 10
"""A webhook's fetch goes first: someone's newest record."""
PRIORITY_RECONCILE = 0
PRIORITY_BACKFILL = -10
"""Backfills last: they are long and nobody waits on any one page."""

QUEUE = "wellpipe"


def cron_every(seconds: float) -> str:
    """A cron expression firing about every ``seconds`` (seconds, minutes or hours).

    Cron cannot say "every 7 minutes" evenly, so the period is rounded to a divisor of
    the minute, the hour or the day.
    """
    whole = max(1, round(seconds))
    if whole < 60:
        step = next(d for d in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if d >= whole)
        return f"* * * * * */{step}"  # croniter: seconds are the sixth field
    minutes = max(1, round(whole / 60))
    if minutes < 60:
        step = next(d for d in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if d >= minutes)
        return f"*/{step} * * * *"
    hours = max(1, round(minutes / 60))
    if hours < 24:
        step = next(d for d in (1, 2, 3, 4, 6, 8, 12) if d >= hours)
        return f"0 */{step} * * *"
    return "0 0 * * *"


class Backoff(BaseRetryStrategy):
    """Retry with exponential backoff; a provider's ``Retry-After`` when it said one.

    A dead grant (`AuthError`) or a missing developer app (`ConfigError`) is not retried:
    nothing changes until the person reconnects (which enqueues a backfill) or the
    operator fixes the configuration (the periodic reconciliation then catches up).
    """

    def __init__(self, *, max_attempts: int = 10, base_s: float = 2.0, cap_s: float = 3600.0):
        """Retry up to ``max_attempts`` times, waiting ``base_s ** (attempt + 1)`` (capped)."""
        self.max_attempts = max_attempts
        self.base_s = base_s
        self.cap_s = cap_s

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        """When to run ``job`` again after ``exception`` (``None``: give up)."""
        if job.attempts >= self.max_attempts or isinstance(exception, (AuthError, ConfigError)):
            return None
        wait = min(self.cap_s, self.base_s ** (job.attempts + 1))
        if isinstance(exception, ProviderRateLimited):
            wait = max(wait, exception.retry_after)
        return RetryDecision(retry_at=datetime.now(UTC) + timedelta(seconds=wait))


def _connector(ctx: CloudContext) -> BaseConnector:
    if ctx.settings.queue_in_memory:
        return InMemoryConnector()
    # libpq takes the URL as SQLAlchemy writes it, without the driver name.
    scheme, _, rest = ctx.settings.effective_database_url.partition("://")
    conninfo = f"{scheme.split('+', 1)[0]}://{rest}"
    return PsycopgConnector(
        conninfo=conninfo,
        min_size=1,
        max_size=max(2, ctx.settings.jobs_concurrency + 2),
        name="wellpipe-jobs",
    )


@dataclass
class JobQueue:
    """The procrastinate app of one service process, with its tasks registered.

    Attributes:
        ctx: The service.
        app: The procrastinate app (`tasks.register` added the tasks).
        in_memory: Whether jobs live in this process only (the embedded default).
        opened: Whether the connector is open.
        extras: Per-process caches of the handlers (Google's keyset, …).
    """

    ctx: CloudContext
    app: App
    in_memory: bool
    opened: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    async def open(self) -> None:
        """Open the connector (a pool of connections on PostgreSQL)."""
        if not self.opened:
            await self.app.open_async()
            self.opened = True

    async def close(self) -> None:
        """Close the connector."""
        if self.opened:
            self.opened = False
            await self.app.close_async()

    async def defer(
        self,
        task: str,
        *,
        queueing_lock: str | None = None,
        lock: str | None = None,
        priority: int = 0,
        schedule_in_s: float | None = None,
        **kwargs: Any,
    ) -> int | None:
        """Queue one job of ``task``; ``None`` when an identical one is already waiting.

        Raises:
            procrastinate.exceptions.ConnectorException: the queue could not be reached.
        """
        await self.open()
        options: dict[str, Any] = {
            "queueing_lock": queueing_lock,
            "lock": lock,
            "priority": priority,
            "queue": QUEUE,
        }
        if schedule_in_s:
            options["schedule_in"] = {"seconds": schedule_in_s}
        try:
            return await self.app.configure_task(task, **options).defer_async(**kwargs)
        except AlreadyEnqueued:
            return None

    async def recover_stalled(self) -> int:
        """Put back the running jobs of workers whose heartbeat stopped; how many.

        A worker killed mid-job leaves its job ``doing``; once its heartbeat is older
        than ``jobs_stalled_after_s`` the job is retried (at-least-once).
        """
        await self.open()
        stalled = await self.app.job_manager.get_stalled_jobs(
            seconds_since_heartbeat=self.ctx.settings.jobs_stalled_after_s
        )
        count = 0
        for job in stalled:
            await self.app.job_manager.retry_job(job)
            count += 1
        if count:
            logger.warning(
                "Put %d job(s) of stopped workers back in the queue (their worker's "
                "heartbeat stopped for over %.0f s)",
                count,
                self.ctx.settings.jobs_stalled_after_s,
            )
        return count

    async def run_worker(
        self,
        *,
        name: str = "wellpipe",
        wait: bool = True,
        reconcile_at_start: bool = True,
        graceful_s: float = 2.0,
    ) -> None:
        """Run a worker until cancelled (or, with ``wait=False``, until the queue is empty).

        Stalled jobs of dead workers are put back first; on the in-memory queue a
        reconciliation of every connection is enqueued (what a restart lost), unless
        ``reconcile_at_start`` is off. Cancelled, the worker gives the jobs it runs
        ``graceful_s`` to finish, then cancels them (every job resumes or runs again).
        """
        from wellpipe.cloud.jobs import tasks

        await self.open()
        await self.recover_stalled()
        if self.in_memory and reconcile_at_start:
            await tasks.enqueue_reconciliations(self.ctx)
        worker = asyncio.create_task(
            self.app.run_worker_async(
                **self._worker_options(name=name, wait=wait, graceful_s=graceful_s)
            ),
            name=f"procrastinate worker {name}",
        )
        # procrastinate stops gracefully on one cancellation; anyio's cancel scopes
        # cancel again at every await, so the worker runs in a task of its own and is
        # cancelled exactly once, then given a few seconds to finish its jobs.
        try:
            await asyncio.shield(worker)
        finally:
            if not worker.done():
                worker.cancel()
                with anyio.CancelScope(shield=True):
                    await asyncio.wait({worker}, timeout=5.0)

    def _worker_options(self, *, name: str, wait: bool, graceful_s: float) -> dict[str, Any]:
        settings = self.ctx.settings
        return {
            "name": name,
            "queues": [QUEUE],
            "wait": wait,
            # Told not to wait, procrastinate stops as soon as an idle slot finds the queue
            # empty, cancelling what the others still run: drain it one job at a time.
            "concurrency": settings.jobs_concurrency if wait else 1,
            "install_signal_handlers": False,
            "additional_context": {"ctx": self.ctx},
            "update_heartbeat_interval": settings.jobs_heartbeat_s,
            "stalled_worker_timeout": settings.jobs_stalled_after_s,
            "fetch_job_polling_interval": 1.0,
            "abort_job_polling_interval": 5.0,
            "shutdown_graceful_timeout": graceful_s,
            "delete_jobs": "always" if self.in_memory else "successful",
        }


def context_of(job: JobContext) -> CloudContext:
    """The service a job runs for (the worker's ``additional_context``)."""
    extra: Mapping[str, Any] = job.additional_context or {}
    ctx = extra.get("ctx")
    if not isinstance(ctx, CloudContext):  # pragma: no cover - a wiring mistake
        raise RuntimeError("this worker was started without the Wellpipe context")
    return ctx


_QUEUES: dict[int, JobQueue] = {}


def queue_for(ctx: CloudContext) -> JobQueue:
    """This process's `JobQueue` for ``ctx`` (made, with its tasks, on first use)."""
    found = _QUEUES.get(id(ctx))
    if found is None or found.ctx is not ctx:
        from wellpipe.cloud.jobs import tasks

        connector = _connector(ctx)
        app = App(connector=connector, periodic_defaults={"max_delay": 30})
        tasks.register(app, ctx.settings)
        found = JobQueue(ctx=ctx, app=app, in_memory=isinstance(connector, InMemoryConnector))
        _QUEUES[id(ctx)] = found
        weakref.finalize(ctx, _QUEUES.pop, id(ctx), None)
    return found


def forget_queue(ctx: CloudContext) -> None:
    """Drop this process's queue for ``ctx`` (after closing it)."""
    _QUEUES.pop(id(ctx), None)
