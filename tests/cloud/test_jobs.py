"""The job queue: queueing locks, periodic tasks, backoff, the background lane, and a worker
killed mid-job on PostgreSQL losing no work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from procrastinate.jobs import Job

from tests.cloud.conftest import Cloud
from tests.cloud.data_support import new_tenant
from tests.fakes import FakeClock
from wellpipe.cloud.jobs.queue import Backoff, cron_every, queue_for
from wellpipe.cloud.jobs.tasks import PERIODIC, enqueue_backfill, enqueue_reconciliations
from wellpipe.core.errors import AuthError, ProviderRateLimited
from wellpipe.core.provider_info import RateLimit
from wellpipe.net.throttle import Throttle

ROOT = Path(__file__).resolve().parents[2]


async def test_an_identical_waiting_job_is_not_queued_twice(cloud: Cloud) -> None:
    tenant = await new_tenant(cloud)
    first = await enqueue_backfill(cloud.ctx, user_id=tenant.user_id, provider="whoop")
    again = await enqueue_backfill(cloud.ctx, user_id=tenant.user_id, provider="whoop")
    assert first is not None
    assert again is None
    assert await enqueue_reconciliations(cloud.ctx) == 1
    assert await enqueue_reconciliations(cloud.ctx) == 0
    waiting = await queue_for(cloud.ctx).app.job_manager.list_jobs_async(status="todo")
    assert sorted(job.task_name for job in waiting) == ["backfill", "reconcile"]


async def test_periodic_tasks_are_registered(cloud: Cloud) -> None:
    registry = queue_for(cloud.ctx).app.periodic_registry.periodic_tasks
    assert {periodic_id for _, periodic_id in registry} == set(PERIODIC)


def test_cron_cadences() -> None:
    assert cron_every(300) == "*/5 * * * *"
    assert cron_every(6 * 3600) == "0 */6 * * *"
    assert cron_every(10) == "* * * * * */10"
    assert cron_every(86400 * 2) == "0 0 * * *"


def _job(attempts: int) -> Job:
    return Job(id=1, queue="q", lock=None, queueing_lock=None, task_name="t", attempts=attempts)


def test_backoff_is_exponential_honours_retry_after_and_gives_up_on_dead_grants() -> None:
    backoff = Backoff(max_attempts=5, base_s=2)
    now = datetime.now(UTC)
    first = backoff.get_retry_decision(exception=RuntimeError(), job=_job(0))
    third = backoff.get_retry_decision(exception=RuntimeError(), job=_job(2))
    assert first is not None
    assert first.retry_at is not None
    assert third is not None
    assert third.retry_at is not None
    assert 1 < (first.retry_at - now).total_seconds() < 3
    assert 7 < (third.retry_at - now).total_seconds() < 9
    limited = backoff.get_retry_decision(
        exception=ProviderRateLimited(provider="whoop", endpoint=None, retry_after=120), job=_job(0)
    )
    assert limited is not None
    assert limited.retry_at is not None
    assert (limited.retry_at - now).total_seconds() > 100
    assert (
        backoff.get_retry_decision(exception=AuthError("dead", provider="whoop"), job=_job(0))
        is None
    )
    assert backoff.get_retry_decision(exception=RuntimeError(), job=_job(5)) is None


async def test_background_requests_yield_to_interactive_ones_and_keep_a_reserve() -> None:
    clock = FakeClock(datetime(2026, 11, 21, tzinfo=UTC))
    throttle = Throttle([RateLimit(10, 60)], clock=clock, provider="whoop", max_wait_s=600)
    lane = throttle.background(reserve=0.2)
    for _ in range(8):
        await lane.acquire()
    assert throttle.state.sent == 8
    with anyio.fail_after(5):
        await throttle.acquire()  # the reserve is the interactive requests'
        await throttle.acquire()
    assert throttle.state.sent == 10
    order: list[str] = []

    async def background() -> None:
        await lane.acquire()
        order.append("background")

    async def interactive() -> None:
        await throttle.acquire()
        order.append("interactive")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(interactive)
            await anyio.lowlevel.checkpoint()
            group.start_soon(background)
    assert order == ["interactive", "background"]


@pytest.mark.postgres
async def test_a_worker_killed_mid_job_loses_no_work(
    postgres_server: str, postgres_template: str, tmp_path: Path
) -> None:
    from tests.cloud.conftest import drop_postgres_database, fresh_postgres_database

    name, url = fresh_postgres_database(postgres_server, template=postgres_template)
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}

        def start(tag: str) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "tests.cloud.jobs_crash_worker", url, str(tmp_path), tag],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        import psycopg

        conninfo = url.replace("postgresql+psycopg", "postgresql")
        from procrastinate import App, PsycopgConnector

        app = App(connector=PsycopgConnector(conninfo=conninfo))
        async with app.open_async():
            await app.configure_task("crash_test", queue="wellpipe").defer_async(name="job-1")

        async def wait_for(condition: Callable[[], bool], deadline_s: float) -> None:
            """Poll ``condition`` until it holds (another process: no event to wait on)."""
            with anyio.fail_after(deadline_s):
                while not condition():  # noqa: ASYNC110
                    await anyio.sleep(0.05)

        first = start("a")
        try:
            await wait_for(lambda: (tmp_path / "started").exists(), 60)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            first.kill()

        def heartbeat_stale() -> bool:
            with psycopg.connect(conninfo) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM procrastinate_workers "
                    "WHERE last_heartbeat < now() - interval '1.2 seconds'"
                ).fetchone()
                return bool(row and row[0])

        await wait_for(heartbeat_stale, 10)
        second = start("b")
        try:
            await wait_for(lambda: (tmp_path / "finished").exists(), 60)
        finally:
            second.send_signal(signal.SIGTERM)
            second.kill()
            second.wait(10)
        assert (tmp_path / "finished").read_text() == "job-1:1"  # retried once, done
    finally:
        drop_postgres_database(postgres_server, name)
