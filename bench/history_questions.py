"""Questions before and after the history store: requests to WHOOP and time, first and repeated.

"Before" is the provider read live for every question (what Wellpipe did until issue 15);
"after" is the same provider behind `StoredProvider` and a `LocalHistory` file, the way
`wellpipe serve` reads now. WHOOP is the sandbox served over loopback HTTP (uvicorn), so
every request is a real one and is counted on arrival. Each question is the daily summary
(every WHOOP collection) through the `Reader` and the MCP table renderer, as a tool call
answers it, minus the MCP framing.

Rows:

* the last 7 days, asked for the first time and then again;
* the last 30 days after the 7 (the store reads only the 23 days it lacks);
* a year: live, and from a synced store (the year written by one backfill first).

    python bench/history_questions.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import anyio
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from mcp_server import LoopbackSandbox
from wellpipe.core import MemoryTokenProvider, SystemClock, TokenSet
from wellpipe.core.history import HistoryStore
from wellpipe.core.ports import HealthProvider
from wellpipe.core.reading import Reader, Reading
from wellpipe.core.stored import StoredProvider
from wellpipe.core.sync import backfill
from wellpipe.history.local import LocalHistory
from wellpipe.mcp.tools import reading_table
from wellpipe.oauth import ClientCredentials
from wellpipe.providers.whoop import WhoopProvider, WhoopSettings, open_whoop
from wellpipe.sandbox import WhoopSandbox

CREDENTIALS = ClientCredentials("bench", "bench-secret", "http://127.0.0.1:8976/callback")
TARGET_REPEAT_REQUESTS = 0
TARGET_SYNCED_YEAR_MS = 250.0


@dataclass
class Measure:
    """Requests and milliseconds of one question, over runs."""

    requests: list[int]
    ms: list[float]

    def cells(self) -> tuple[str, str]:
        requests = sorted(set(self.requests))
        shown = str(requests[0]) if len(requests) == 1 else f"{requests[0]}-{requests[-1]}"
        return shown, f"{statistics.median(self.ms):,.0f}"


@asynccontextmanager
async def whoop_at(loop: LoopbackSandbox) -> AsyncIterator[WhoopProvider]:
    clock = SystemClock()
    issued = loop.sandbox.issue_tokens(client_id=CREDENTIALS.client_id)
    tokens = MemoryTokenProvider(
        TokenSet(issued["access_token"], issued["refresh_token"], clock.now() + timedelta(hours=1)),
        clock=clock,
    )
    async with open_whoop(
        credentials=CREDENTIALS,
        tokens=tokens,
        settings=WhoopSettings.for_origin(loop.origin),
        clock=clock,
    ) as whoop:
        yield whoop


async def ask(
    loop: LoopbackSandbox,
    provider: HealthProvider,
    question: Callable[[Reader], Awaitable[Reading]],
) -> tuple[int, float]:
    """Requests and milliseconds of one question, answered as a table."""
    mark = loop.request_count
    started = time.perf_counter()
    reading = await question(Reader([provider], clock=SystemClock()))
    reading_table(reading)
    elapsed = (time.perf_counter() - started) * 1000
    data = [p for p in loop.requests_since(mark) if p.startswith("/developer/")]
    return len(data), elapsed


def last(days: int) -> Callable[[Reader], Awaitable[Reading]]:
    async def question(reader: Reader) -> Reading:
        return await reader.recent("summary", days)

    return question


def year(today: date) -> Callable[[Reader], Awaitable[Reading]]:
    async def question(reader: Reader) -> Reading:
        return await reader.between("summary", today - timedelta(days=364), today)

    return question


async def run(runs: int) -> list[tuple[str, Measure, Measure]]:
    rows: dict[str, tuple[Measure, Measure]] = {
        name: (Measure([], []), Measure([], []))
        for name in (
            "last 7 days, first time",
            "last 7 days, again",
            "last 30 days, after the 7",
            "a year (summary, weekly rows)",
        )
    }
    today = datetime.now(UTC).date()
    with LoopbackSandbox(WhoopSandbox(seed=42, rate_limits=())) as loop:
        for _ in range(runs):
            async with whoop_at(loop) as whoop:
                # Before: every question goes to WHOOP.
                for name, question in (
                    ("last 7 days, first time", last(7)),
                    ("last 7 days, again", last(7)),
                    ("last 30 days, after the 7", last(30)),
                    ("a year (summary, weekly rows)", year(today)),
                ):
                    requests, ms = await ask(loop, whoop, question)
                    rows[name][0].requests.append(requests)
                    rows[name][0].ms.append(ms)
                # After: the same questions through the history store.
                with tempfile.TemporaryDirectory() as folder:
                    async with LocalHistory(Path(folder) / "history.sqlite3") as store:
                        stored = StoredProvider(whoop, store, clock=SystemClock())
                        for name, question in (
                            ("last 7 days, first time", last(7)),
                            ("last 7 days, again", last(7)),
                            ("last 30 days, after the 7", last(30)),
                        ):
                            requests, ms = await ask(loop, stored, question)
                            rows[name][1].requests.append(requests)
                            rows[name][1].ms.append(ms)
                        await synced(whoop, store)
                        requests, ms = await ask(loop, stored, year(today))
                        rows["a year (summary, weekly rows)"][1].requests.append(requests)
                        rows["a year (summary, weekly rows)"][1].ms.append(ms)
    return [(name, before, after) for name, (before, after) in rows.items()]


async def synced(whoop: WhoopProvider, store: HistoryStore) -> None:
    """The store after one backfill (what `wellpipe sync` leaves)."""
    await backfill(whoop, store, clock=SystemClock())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    rows = anyio.run(run, args.runs)
    table = Table(title=f"Questions before and after the history store (median of {args.runs})")
    for column in ("question", "before: requests", "before: ms", "after: requests", "after: ms"):
        table.add_column(column, justify="left" if column == "question" else "right")
    for name, before, after in rows:
        table.add_row(name, *before.cells(), *after.cells())
    console = Console()
    console.print(table)
    console.print(
        f"Targets: a repeated question makes {TARGET_REPEAT_REQUESTS} requests; a synced year "
        f"answers within {TARGET_SYNCED_YEAR_MS:.0f} ms."
    )


if __name__ == "__main__":
    main()
