"""A year's backfill per provider into a fresh history file, against the sandbox over loopback.

Runs `wellpipe.core.sync.backfill` (what ``wellpipe sync`` and the cloud's backfill job
run) for each provider against its sandbox served by uvicorn on 127.0.0.1 (real HTTP,
real `LocalHistory` on disk), then a refresh, and prints a table: records kept, requests,
the floor of requests, pages stored and wall time. Sandboxes hold 400 days by default.

    python bench/history_backfill.py [--runs 3] [--days 400]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console
from rich.table import Table

from wellpipe.core import MemoryTokenProvider, SystemClock
from wellpipe.core.sync import SyncableProvider, backfill, refresh
from wellpipe.history.local import LocalHistory
from wellpipe.oauth import ClientCredentials
from wellpipe.providers.connector import get_connector
from wellpipe.sandbox import load_sandbox
from wellpipe.sandbox.server import serve_in_background

CREDENTIALS = ClientCredentials("bench", "bench-secret", "http://127.0.0.1:8976/callback")


def floor(provider: str, counts: dict[str, int], asked: Counter[str]) -> int:
    """The fewest requests the provider's pages allow for what was kept.

    WHOOP: ⌈records / 25⌉ per collection. Oura: ⌈documents / 50⌉ per route (a document a
    day for the daily routes; the sleep route's periods counted as read). Google Health:
    ⌈sessions / 25⌉ for sleep and exercise, one request per daily type, ⌈days / 90⌉ per
    roll-up type (⌈days / 14⌉ for total-calories).
    """
    if provider == "whoop":
        return sum(math.ceil(n / 25) for n in counts.values())
    if provider == "oura":
        days = counts["readiness"]
        routes = ("daily_sleep", "daily_readiness", "daily_spo2", "daily_stress", "vO2_max")
        return (
            math.ceil(counts["activity"] / 50)
            + math.ceil(counts["workout"] / 50)
            + math.ceil(counts["sleep"] / 50)
            + len(routes) * math.ceil(days / 50)
        )
    days = counts["activity"]
    return (
        math.ceil(counts["sleep"] / 25)
        + math.ceil(counts["workout"] / 25)
        + 7
        + 4 * math.ceil(days / 90)
        + math.ceil(days / 14)
    )


async def one_run(name: str, days: int) -> dict[str, Any]:
    """One backfill and one refresh of ``name``'s sandbox over loopback HTTP."""
    clock = SystemClock()
    sandbox_class: Any = load_sandbox(name)
    history_module = __import__(f"wellpipe.sandbox.{name}", fromlist=["generate_history"])
    sandbox = sandbox_class(
        clock=clock, history=history_module.generate_history(now=clock.now(), days=days)
    )
    connector = get_connector(name)
    tokens = MemoryTokenProvider(
        sandbox.issue_token_set(client_id=CREDENTIALS.client_id), clock=clock
    )
    with tempfile.TemporaryDirectory() as folder:
        async with (
            serve_in_background(sandbox) as origin,
            LocalHistory(Path(folder) / "history.sqlite3") as store,
            connector.open_account(
                credentials=CREDENTIALS,
                tokens=tokens,
                location=connector.location(origin),
                clock=clock,
            ) as provider,
        ):
            began = time.perf_counter()
            syncable: SyncableProvider = provider  # type: ignore[assignment]
            report = await backfill(syncable, store, clock=clock)
            seconds = time.perf_counter() - began
            asked = Counter(r.path for r in sandbox.requests)
            before = len(sandbox.requests)
            began = time.perf_counter()
            await refresh(provider, store, clock=clock)
            refresh_seconds = time.perf_counter() - began
            refresh_requests = len(sandbox.requests) - before
            coverage = await store.coverage(name)
    counts = {kind.value: n for kind, n in coverage.counts.items()}
    return {
        "records": coverage.total,
        "requests": report.requests,
        "floor": floor(name, counts, asked),
        "pages": report.pages,
        "seconds": seconds,
        "refresh_requests": refresh_requests,
        "refresh_seconds": refresh_seconds,
    }


async def main(runs: int, days: int) -> None:
    console = Console()
    table = Table(title=f"Backfill of {days} days into a new history, loopback HTTP ({runs} runs)")
    for column in (
        "provider",
        "records",
        "requests",
        "floor",
        "pages",
        "median s",
        "records/s",
        "refresh requests",
        "refresh ms",
    ):
        table.add_column(column, justify="left" if column == "provider" else "right")
    for name in ("whoop", "oura", "fitbit"):
        results = [await one_run(name, days) for _ in range(runs)]
        last = results[-1]
        median = statistics.median(r["seconds"] for r in results)
        table.add_row(
            name,
            f"{last['records']:,}",
            str(last["requests"]),
            str(last["floor"]),
            str(last["pages"]),
            f"{median:.2f}",
            f"{last['records'] / median:,.0f}",
            str(last["refresh_requests"]),
            f"{statistics.median(r['refresh_seconds'] for r in results) * 1000:.0f}",
        )
    console.print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--days", type=int, default=400)
    args = parser.parse_args()
    anyio.run(main, args.runs, args.days)
