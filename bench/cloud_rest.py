"""The cloud's REST API under load, beside a bare Starlette endpoint on the same machine.

Every row is one ``uvicorn`` process with the same settings (one worker, 127.0.0.1, no
access log), started by this script and driven over loopback by the same load generator:
an `httpx2.AsyncClient` keeping ``--connections`` requests in flight for ``--seconds``
after a warm-up. All servers run side by side and ``--rounds`` rounds go over the rows in
turn, so a slow patch of the machine hits every row alike; each row shows its median
round (latency percentiles over all rounds). The rows:

* ``bare``: a Starlette app answering a small JSON body: the ceiling of this stack here.
* ``cloud, cache on``: ``GET /api/v1/health?type=profile&days=1`` with a real API key:
  key check (bcrypt once, then the per-process verification cache, the key row checked
  in the same statement that counts the request), the monthly, daily and burst
  counters, the connection lookup, the answer cache, the ``data.accessed`` audit row
  (group-committed), problem-details middleware. WHOOP is only asked when the
  cached answer (``WELLPIPE_CACHE_TTL_S``) expires.
* ``cloud, cache off``: the same with every request also reading WHOOP (the sandbox, in
  its own process over loopback: profile + body measurement, two requests) through the
  shared upstream budget and the user's stored, decrypted token.

The sandbox is not WHOOP: its rate limits are off and the cloud's shared WHOOP budget is
lifted for this run (``bench_cloud_app``), otherwise the real 100 requests a minute would
be the whole story. The user is on PRO with a high burst limit for the same reason.

    python bench/cloud_rest.py [--seconds 10] [--rounds 3] [--connections 32] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from base64 import urlsafe_b64encode
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
from rich.console import Console
from rich.table import Table
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TARGET_SHARE = 0.40
CLIENT_ID = "wellpipe-bench"
CLIENT_SECRET = "wellpipe-bench-secret"
CLOUD_PATH = "/api/v1/health?type=profile&days=1"
BENCH = Path(__file__).resolve().parent


# ---------------------------------------------------------------------- the served apps
def bare_app() -> Starlette:
    """The ceiling: one route, a small JSON answer, nothing else."""

    async def profile(_request: Request) -> JSONResponse:
        return JSONResponse(
            {"type": "profile", "provider": "whoop", "profile": {"first_name": "Alex"}}
        )

    return Starlette(routes=[Route("/api/v1/health", profile)])


def sandbox_app() -> Any:
    """WHOOP's sandbox without rate limits (the budget is not what is measured)."""
    from wellpipe.sandbox import WhoopSandbox

    return WhoopSandbox(rate_limits=(), seed=42)


def bench_cloud_app() -> Any:
    """The service from its environment, with the shared WHOOP budget lifted (see above)."""
    from wellpipe.cloud.app import create_app
    from wellpipe.cloud.services.upstream import UpstreamBudget, install_budget
    from wellpipe.core.provider_info import RateLimit

    app = create_app()
    ctx = app.state.ctx
    lifted = UpstreamBudget(ctx, provider="whoop", limits=(RateLimit(10**9, 60),), user_share=1)
    install_budget(ctx, lifted)
    return app


# ---------------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    origin: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process used so far (Linux ``/proc``)."""
        from scale_support import cpu_of

        return cpu_of(self.pid, children=False)


@contextmanager
def uvicorn_process(
    factory: str, env: dict[str, str], log: Path, *, ready_path: str = "/"
) -> Iterator[Server]:
    """``uvicorn --factory bench.cloud_rest:<factory>`` on a free port; yields its origin."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        factory if ":" in factory else f"cloud_rest:{factory}",
        "--app-dir",
        str(BENCH),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with log.open("ab") as errors:
        process = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=errors, stderr=subprocess.STDOUT
        )
    origin = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{factory} exited; see {log}")
            try:
                httpx2.get(origin + ready_path, timeout=1)
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{factory} did not start; see {log}") from None
                time.sleep(0.1)  # noqa: TID251 - a script waiting for a child process
        yield Server(origin, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------------- set-up
def cloud_env(folder: Path, database: str | None, whoop: str, cache_ttl_s: float) -> dict[str, str]:
    keys = f"k1:{urlsafe_b64encode(secrets.token_bytes(32)).decode()}"
    return {
        "WELLPIPE_HOME": str(folder),
        "WELLPIPE_DATABASE_URL": database or f"sqlite+aiosqlite:///{folder / 'cloud.db'}",
        "WELLPIPE_ENCRYPTION_KEYS": keys,
        "WELLPIPE_API_KEY_PEPPER": secrets.token_urlsafe(32),
        "WELLPIPE_PUBLIC_URL": "http://127.0.0.1:8000",
        "WELLPIPE_SANDBOX": "false",
        "WELLPIPE_WHOOP_CLIENT_ID": CLIENT_ID,
        "WELLPIPE_WHOOP_CLIENT_SECRET": CLIENT_SECRET,
        "WELLPIPE_WHOOP_BASE_URL": whoop,
        "WELLPIPE_BURST_PER_MINUTE": str(10**9),
        "WELLPIPE_CACHE_TTL_S": str(cache_ttl_s),
        "WELLPIPE_AUTO_MIGRATE": "0",
    }


async def prepare(env: dict[str, str], whoop: str) -> str:
    """Migrate, then a PRO user connected to the sandbox's first member; returns their key."""
    from scale_support import issued_tokens, settings_from_env
    from wellpipe.cloud.db import upgrade_to_head
    from wellpipe.cloud.jobs.runner import worker_context
    from wellpipe.cloud.services.accounts import create_user, set_plan
    from wellpipe.cloud.services.keys import create_key
    from wellpipe.cloud.services.tokens import save_connection

    async with worker_context(settings_from_env(env)) as ctx:
        await upgrade_to_head(ctx.db)
        email = f"bench-{secrets.token_hex(4)}@example.com"
        user = await create_user(ctx, email=email, password=secrets.token_urlsafe(16))
        await set_plan(ctx, user_id=user.id, plan="PRO")
        async with httpx2.AsyncClient(base_url=whoop) as http:
            issued = (await http.post("/_sandbox/tokens", json={})).json()
        await save_connection(
            ctx,
            user_id=user.id,
            provider="whoop",
            tokens=issued_tokens(issued, datetime.now(UTC)),
            provider_user_id=None,
        )
        return (await create_key(ctx, user_id=user.id, name="bench")).full_key


# ---------------------------------------------------------------------- load
@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies: list[float]
    statuses: Counter[int]
    server_cpu_s: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def hammer(
    name: str,
    server: Server,
    path: str,
    headers: dict[str, str],
    connections: int,
    seconds: float,
    warmup: float,
) -> Result:
    limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    url = server.origin + path
    cpu: list[float] = []
    async with httpx2.AsyncClient(limits=limits, headers=headers, timeout=30) as client:
        start = time.perf_counter()
        measure_from = start + warmup
        stop = measure_from + seconds

        async def worker() -> None:
            while (now := time.perf_counter()) < stop:
                response = await client.get(url)
                done = time.perf_counter()
                if now >= measure_from:
                    latencies.append(done - now)
                    statuses[response.status_code] += 1

        async def meter() -> None:
            await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
            cpu.append(server.cpu_seconds())
            await asyncio.sleep(max(0.0, stop - time.perf_counter()))
            cpu.append(server.cpu_seconds())

        await asyncio.gather(meter(), *(worker() for _ in range(connections)))
    return Result(name, len(latencies), seconds, latencies, statuses, cpu[1] - cpu[0])


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def report(results: list[Result], console: Console, args: argparse.Namespace) -> None:
    bare = results[0].rate
    table = Table(
        title=(
            f"REST throughput: {args.connections} connections, median of {args.rounds} rounds "
            f"of {args.seconds:g} s (after {args.warmup:g} s warm-up), 1 uvicorn worker, "
            f"loopback, {os.cpu_count()} CPUs"
        )
    )
    columns = (
        "endpoint",
        "req/s",
        "p50 ms",
        "p99 ms",
        "server CPU ms/req",
        "statuses",
        "share of bare",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in {"endpoint", "statuses"} else "right")
    for result in results:
        share = result.rate / bare
        mark = "" if result is results[0] else (" ok" if share >= TARGET_SHARE else " BELOW TARGET")
        table.add_row(
            result.name,
            f"{result.rate:,.0f}",
            ms(result.percentile(0.50)),
            ms(result.percentile(0.99)),
            ms(result.server_cpu_s / max(1, result.requests)),
            ", ".join(f"{code} x{count}" for code, count in sorted(result.statuses.items())),
            f"{share:.0%}{mark}",
        )
    console.print(table)
    console.print(
        f"Target: an authenticated, counted call at ≥ {TARGET_SHARE:.0%} of the bare endpoint's "
        "throughput. Database: " + (args.database or "SQLite (the default)") + "."
    )
    mean = statistics.fmean(results[1].latencies) if len(results) > 1 else 0.0
    console.print(f"Mean latency, cloud with cache: {ms(mean)} ms.")


def median_result(rounds: list[Result]) -> Result:
    """One row from several rounds: the median round's rate, every round's latencies."""
    middle = sorted(rounds, key=lambda result: result.rate)[len(rounds) // 2]
    statuses: Counter[int] = Counter()
    for result in rounds:
        statuses.update(result.statuses)
    return Result(
        name=middle.name,
        requests=middle.requests,
        seconds=middle.seconds,
        latencies=[latency for result in rounds for latency in result.latencies],
        statuses=statuses,
        server_cpu_s=middle.server_cpu_s,
    )


async def run(args: argparse.Namespace, console: Console) -> list[Result]:
    folder = Path(tempfile.mkdtemp(prefix="wellpipe-bench-"))
    log = folder / "servers.log"
    console.print(f"Logs in {log}")
    load = (args.connections, args.seconds, args.warmup)
    with ExitStack() as servers:
        serve = servers.enter_context
        bare = serve(uvicorn_process("bare_app", {}, log, ready_path="/api/v1/health"))
        whoop = serve(uvicorn_process("sandbox_app", {}, log, ready_path="/_sandbox"))
        targets: list[tuple[str, Server, str, dict[str, str]]] = [
            ("bare Starlette", bare, "/api/v1/health", {})
        ]
        rows = ((120.0, "cloud, cache on"), (0.0, "cloud, cache off"))
        for number, (cache_ttl_s, label) in enumerate(rows):
            home = folder / f"cloud-{number}"
            home.mkdir()
            env = cloud_env(home, args.database, whoop.origin, cache_ttl_s)
            key = await prepare(env, whoop.origin)
            cloud = serve(uvicorn_process("bench_cloud_app", env, log, ready_path="/healthz"))
            targets.append((label, cloud, CLOUD_PATH, {"Authorization": f"Bearer {key}"}))
        # Rounds alternate between the rows, so a slow patch of the machine hits all alike.
        rounds: dict[str, list[Result]] = {label: [] for label, *_ in targets}
        for number in range(args.rounds):
            console.print(f"Round {number + 1} of {args.rounds}")
            for label, server, path, headers in targets:
                rounds[label].append(await hammer(label, server, path, headers, *load))
    return [median_result(results) for results in rounds.values()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per row")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--connections", type=int, default=32, help="requests in flight")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds over all rows; each row shows its median"
    )
    parser.add_argument(
        "--database",
        default=None,
        help="SQLAlchemy URL of an empty database (default: SQLite in a temporary folder)",
    )
    args = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 150)
    report(asyncio.run(run(args, console)), console, args)


if __name__ == "__main__":
    main()
