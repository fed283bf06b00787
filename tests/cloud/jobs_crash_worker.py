"""A worker process for the crash test: its one task blocks on the first attempt."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
from procrastinate import JobContext
from pydantic import SecretStr

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db import Database
from wellpipe.cloud.jobs.queue import queue_for
from wellpipe.cloud.settings import CloudSettings
from wellpipe.core.clock import SystemClock


async def main(url: str, folder: str) -> None:
    marks = Path(folder)
    settings = CloudSettings(
        home=marks,
        database_url=url,
        encryption_keys=SecretStr("k1:" + "A" * 43 + "="),
        api_key_pepper=SecretStr("p" * 32),
        jobs_heartbeat_s=0.2,
        jobs_stalled_after_s=1.0,
    )
    ctx = CloudContext(settings=settings, db=Database(url), clock=SystemClock())
    queue = queue_for(ctx)

    async def crash_test(job: JobContext, *, name: str) -> str:
        if job.job.attempts == 0:
            (marks / "started").write_text(str(job.job.id))
            await anyio.sleep_forever()  # killed here
        (marks / "finished").write_text(f"{name}:{job.job.attempts}")
        return "done"

    queue.app.task(name="crash_test", pass_context=True)(crash_test)
    await queue.run_worker(name=f"crash-{sys.argv[3]}")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2])
