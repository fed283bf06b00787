"""Running workers: ``wellpipe cloud worker``, and the one inside ``cloud serve``.

On PostgreSQL, start as many ``wellpipe cloud worker`` processes as you like, on as
many machines: they share the queue in the database. A worker killed mid-job (SIGKILL,
a lost machine) stops sending heartbeats; after ``WELLPIPE_JOBS_STALLED_AFTER_S`` the
next worker to look (at its start, then every minute) puts the job back.

On the embedded SQLite default ``cloud serve`` runs a worker in each service process
over an in-memory queue (`JobQueue`): nothing to start, but queued jobs do not survive a
restart; the reconciliation enqueued at start-up and the store's resumable backfill
cursors make up for it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db import Database
from wellpipe.cloud.jobs.queue import forget_queue, queue_for
from wellpipe.cloud.settings import CloudSettings
from wellpipe.core.clock import SystemClock

__all__ = ["close_jobs", "run_in_process", "run_worker_process", "worker_context"]

logger = logging.getLogger(__name__)


@asynccontextmanager
async def worker_context(settings: CloudSettings) -> AsyncIterator[CloudContext]:
    """The service as ``wellpipe cloud worker`` runs it (closed on the way out).

    Its database and, when ``WELLPIPE_REDIS_URL`` is set, the Redis the web workers count
    the provider budgets in.
    """
    ctx = CloudContext(
        settings=settings,
        db=Database(settings.effective_database_url, pool_size=settings.database_pool_size),
        clock=SystemClock(),
        provider_base_urls=dict(settings.sandbox_origins),
    )
    async with AsyncExitStack() as stack:
        stack.push_async_callback(ctx.db.dispose)
        ctx.connect_redis(stack)
        yield ctx


async def run_in_process(ctx: CloudContext) -> None:
    """Run this service process's worker until cancelled (the lifespan's task group)."""
    queue = queue_for(ctx)
    try:
        # Ctrl-C gives requests in flight 3 s (`GRACEFUL_SHUTDOWN_S`), then this worker's
        # jobs half a second (a transaction under way always ends: it is shielded): the
        # service is gone within 5 s, and the jobs resume at the next start.
        await queue.run_worker(name=f"serve-{os.getpid()}", graceful_s=0.5)
    except Exception:
        logger.exception("The in-process job worker stopped; jobs wait for the next start")
        raise


async def close_jobs(ctx: CloudContext) -> None:
    """Close the queue's connections (at shutdown)."""
    queue = queue_for(ctx)
    try:
        await queue.close()
    finally:
        forget_queue(ctx)


async def run_worker_process(ctx: CloudContext, *, wait: bool = True) -> None:
    """Run one worker process's worker until cancelled (``wellpipe cloud worker``).

    Args:
        ctx: The service (its database must be PostgreSQL: a worker process cannot
            see another process's in-memory queue).
        wait: Keep waiting for jobs (``False``: stop once the queue is empty).

    Raises:
        ValueError: the database is not PostgreSQL.
    """
    queue = queue_for(ctx)
    if queue.in_memory:
        raise ValueError(
            "`wellpipe cloud worker` needs the PostgreSQL queue: set WELLPIPE_DATABASE_URL "
            "to postgresql+psycopg://…; on the embedded SQLite default `wellpipe cloud "
            "serve` runs the jobs itself"
        )
    try:
        await queue.run_worker(name=f"{socket.gethostname()}-{os.getpid()}", wait=wait)
    finally:
        await close_jobs(ctx)
