"""One worker process of the cross-process quota test.

``python -m tests.cloud.limits_worker URL USER_ID COUNT LIMIT INSTANT [KEY]``: opens its own
engine, warms its pool, prints ``ready``, waits for a line on stdin, then fires COUNT
concurrent charges for USER_ID at the given instant and prints ``{"allowed": a, "refused":
r}``. With KEY (one of USER_ID's API keys) each charge goes the way a data request's does
once the key is known: `admit`, the key confirmed in the statement that counts.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

import anyio
from pydantic import SecretStr
from sqlalchemy import text

from tests.fakes import FakeClock
from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db import Database
from wellpipe.cloud.services.keys import Principal, authenticate, recall
from wellpipe.cloud.services.limits import admit, charge
from wellpipe.cloud.settings import CloudSettings


async def main(url: str, user_id: str, count: int, limit: int, instant: str, key: str) -> None:
    settings = CloudSettings(
        database_url=url,
        free_monthly_limit=limit,
        burst_per_minute=1_000_000,
        api_key_pepper=SecretStr("worker"),
    )
    db = Database(url)
    ctx = CloudContext(settings=settings, db=db, clock=FakeClock(datetime.fromisoformat(instant)))
    principal = Principal(user_id=user_id, key_id="worker", plan="FREE")

    async def warm() -> None:
        async with db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            await anyio.sleep(0.2)  # hold it, so the pool opens several connections

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(warm)
    if key:
        assert await authenticate(ctx, key) is not None  # verified once: now recalled
    claim = recall(ctx, key) if key else None
    assert bool(claim) == bool(key)
    print("ready", flush=True)  # noqa: T201
    await anyio.to_thread.run_sync(sys.stdin.readline)

    outcomes: list[bool] = []
    # As many in flight as the pool has connections (the rest queue here, not in the pool,
    # whose 30 s checkout timeout is not what this test is about).
    in_flight = anyio.CapacityLimiter(20)

    async def one() -> None:
        async with in_flight:
            if claim is None:
                outcomes.append((await charge(ctx, principal, "test:worker")).allowed)
                return
            admitted = await admit(ctx, claim, "test:worker")
            assert admitted is not None  # the key stays valid throughout
            outcomes.append(admitted.charge.allowed)

    async with anyio.create_task_group() as group:
        for _ in range(count):
            group.start_soon(one)
    await db.dispose()
    print(json.dumps({"allowed": sum(outcomes), "refused": outcomes.count(False)}), flush=True)  # noqa: T201


if __name__ == "__main__":
    url, user_id, count, limit, instant = sys.argv[1:6]
    anyio.run(main, url, user_id, int(count), int(limit), instant, "".join(sys.argv[6:7]))
