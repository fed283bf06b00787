"""Background work on procrastinate, a PostgreSQL job queue (in memory on SQLite).

Why procrastinate: it is a maintained, widely used queue whose only moving part is the
PostgreSQL the service already runs (no broker to operate); it gives retries with
backoff, scheduled and periodic jobs (deferred once per tick however many workers run),
queueing locks (no duplicate of an identical waiting job), exclusive locks, worker
heartbeats to find jobs of crashed workers, and an in-memory connector for the embedded
default. Workers on many machines share it through the database.

* `queue` — the `JobQueue` (connector, worker, deferral, stalled-job recovery);
* `tasks` — the tasks and the calls that enqueue them;
* `work` — what the tasks do (webhook fetches, backfill, reconciliation);
* `oura` — Oura subscriptions (created and renewed by a periodic job);
* `runner` — ``wellpipe cloud worker`` and the in-process worker of ``cloud serve``.
"""

from wellpipe.cloud.jobs.queue import JobQueue, queue_for

__all__ = ["JobQueue", "queue_for"]
