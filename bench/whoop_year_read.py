"""How many requests and how long a 365-day read of all four WHOOP collections takes.

Runs the real client against the WHOOP sandbox, in process (ASGI transport) and over
loopback HTTP (uvicorn), and prints a table. The target is the minimum number of
requests: ceil(records / 25) per collection.

    python bench/whoop_year_read.py [--runs 5]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import anyio
import httpx2
from rich.console import Console
from rich.table import Table

from wellpipe.core import DataKind, MemoryTokenProvider, SystemClock, TimeWindow, TokenSet
from wellpipe.oauth import ClientCredentials
from wellpipe.providers.whoop import WhoopProvider, WhoopSettings, open_whoop
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.server import serve_in_background

COLLECTIONS = {
    "cycle": "/developer/v2/cycle",
    "recovery": "/developer/v2/recovery",
    "sleep": "/developer/v2/activity/sleep",
    "workout": "/developer/v2/activity/workout",
}
CREDENTIALS = ClientCredentials("bench", "bench-secret", "http://127.0.0.1:8976/callback")


@asynccontextmanager
async def connected(
    sandbox: WhoopSandbox, transport: httpx2.AsyncBaseTransport | None, origin: str
) -> AsyncIterator[WhoopProvider]:
    clock = SystemClock()
    issued = sandbox.issue_tokens(client_id=CREDENTIALS.client_id)
    tokens = MemoryTokenProvider(
        TokenSet(issued["access_token"], issued["refresh_token"], clock.now() + timedelta(hours=1)),
        clock=clock,
    )
    settings = WhoopSettings.for_origin(origin)
    async with open_whoop(
        credentials=CREDENTIALS, tokens=tokens, settings=settings, clock=clock, transport=transport
    ) as whoop:
        yield whoop


async def read_year_with_client(whoop: WhoopProvider, window: TimeWindow) -> dict[str, int]:
    """The four collections one after another, through the WHOOP client (wire models)."""
    client = whoop.client
    start, end = window.start, window.end
    return {
        "cycle": len([c async for c in client.cycles(start=start, end=end)]),
        "recovery": len([r async for r in client.recoveries(start=start, end=end)]),
        "sleep": len([s async for s in client.sleeps(start=start, end=end)]),
        "workout": len([w async for w in client.workouts(start=start, end=end)]),
    }


async def read_year_with_provider(whoop: WhoopProvider, window: TimeWindow) -> dict[str, int]:
    """All four at once through `WhoopProvider.read` (concurrent, mapped to core records)."""
    kinds = {DataKind.CYCLE, DataKind.RECOVERY, DataKind.SLEEP, DataKind.WORKOUT}
    records = await whoop.read(kinds, window)
    return {
        "cycle": len(records.cycles),
        "recovery": len(records.recoveries),
        "sleep": len(records.sleeps),
        "workout": len(records.workouts),
    }


Reader = Callable[[WhoopProvider, TimeWindow], Awaitable[dict[str, int]]]


async def measure(
    reader: Reader, *, over_http: bool, runs: int
) -> tuple[dict[str, int], dict[str, int], list[float]]:
    seconds: list[float] = []
    counts: dict[str, int] = {}
    requests: dict[str, int] = {}
    for _ in range(runs):
        sandbox = WhoopSandbox(seed=42)
        window = TimeWindow(
            start=sandbox.history.now - timedelta(days=365), end=sandbox.history.now
        )
        if over_http:
            async with (
                serve_in_background(sandbox) as origin,
                connected(sandbox, None, origin) as w,
            ):
                began = time.perf_counter()
                counts = await reader(w, window)
                seconds.append(time.perf_counter() - began)
        else:
            async with connected(sandbox, sandbox.transport(), "http://whoop.sandbox") as w:
                began = time.perf_counter()
                counts = await reader(w, window)
                seconds.append(time.perf_counter() - began)
        requests = {
            name: sum(1 for r in sandbox.requests if r.path == path)
            for name, path in COLLECTIONS.items()
        }
    return counts, requests, seconds


async def main(runs: int) -> None:
    console = Console()
    scenarios: list[tuple[str, Reader, bool]] = [
        ("client, in process", read_year_with_client, False),
        ("client, loopback HTTP", read_year_with_client, True),
        ("provider (concurrent + mapping), in process", read_year_with_provider, False),
        ("provider (concurrent + mapping), loopback HTTP", read_year_with_provider, True),
    ]
    detail = Table(title="365-day read: requests per collection (target: ceil(records / 25))")
    for column in ("collection", "records", "requests", "minimum", "at minimum"):
        detail.add_column(column, justify="right" if column != "collection" else "left")
    timing = Table(title=f"365-day read of all four collections: wall time over {runs} runs")
    for column in ("scenario", "requests", "median ms", "min ms", "max ms", "requests/s"):
        timing.add_column(column, justify="right" if column != "scenario" else "left")

    for index, (name, reader, over_http) in enumerate(scenarios):
        counts, requests, seconds = await measure(reader, over_http=over_http, runs=runs)
        if index == 0:
            for collection, records in counts.items():
                minimum = math.ceil(records / 25)
                detail.add_row(
                    collection,
                    str(records),
                    str(requests[collection]),
                    str(minimum),
                    "yes" if requests[collection] == minimum else "NO",
                )
        total = sum(requests.values())
        median = statistics.median(seconds)
        timing.add_row(
            name,
            str(total),
            f"{median * 1000:.0f}",
            f"{min(seconds) * 1000:.0f}",
            f"{max(seconds) * 1000:.0f}",
            f"{total / median:.0f}",
        )
    console.print(detail)
    console.print(timing)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    anyio.run(main, args.runs)
