"""A scale run on this machine: users backfilling while webhooks arrive and people ask.

Everything is real and on loopback: PostgreSQL (a database of its own, dropped at the
end), the WHOOP sandbox in its own process (``scale_support:sandbox_app``: ``--users``
members, ``--days`` of history each, WHOOP's app limits enforced), the API as
``uvicorn --factory … --workers 2`` (``create_app``, as ``wellpipe cloud serve`` runs it)
and ``--job-workers`` ``wellpipe cloud worker`` processes. The bench then:

1. creates ``--users`` PRO accounts, each with an API key and a WHOOP connection to its
   own sandbox member (tokens minted by the sandbox, as if the person had just
   authorized), and queues each one's backfill — what connecting does;
2. for ``--seconds``, at once: asks questions (``GET /api/v1/health?type=summary&days=7``,
   one in five ``days=30``) of random users at ``--question-rate`` a second, open loop;
   sends signed WHOOP webhooks (``workout.updated``, ``sleep.updated``,
   ``recovery.updated`` about a random user's existing record, signed as
   `wellpipe.sandbox.webhooks.WebhookSender` signs) to ``POST /webhooks/whoop`` at
   ``--webhook-rate`` a second; and lets the job workers run the backfills;
   (before the clock starts, every key is verified once by the API processes: a key's
   first request in a process pays a cost-12 bcrypt, see `warm_up`);
3. reads back: the jobs' life from a trigger on ``procrastinate_jobs`` (successful jobs
   are deleted by the workers, so counting rows at the end would miss them), the records
   stored, the sandbox's own log of every WHOOP request by arrival time, what the shared
   budget counted (its daily counters in Redis), and the CPU each part used during the
   load (``/proc``; "the rest" is PostgreSQL, Redis and anything else on the machine).

"While backfilling" is the time until the last backfill finished (the whole run when
some did not). The WHOOP budget is checked on the sandbox's side: the most requests in
one epoch-aligned minute (how WHOOP's headers and the sandbox count), the most in any
sliding 60 s, the 429s, and the run's total against the day's limit. ``--per-minute`` and
``--per-day`` change the app's limits on both sides at once (the sandbox enforces them,
the cloud's shared budget counts against them): WHOOP's are 100 and 10,000, under which
a 60-day backfill of 200 people (~2,400 requests) alone takes ~30 minutes.

    python bench/history_scale.py [--users 200] [--seconds 120] [--days 60]
        [--question-rate 10] [--webhook-rate 5] [--per-minute 100] [--per-day 10000]
        [--job-workers 2] [--api-workers 2] [--postgres postgresql://127.0.0.1:5432/postgres]
        [--redis redis://127.0.0.1:6379/11 | --redis '']

``--redis`` is the production setup the README's checklist asks for with more than one
worker: the WHOOP budget and the burst limiter counted in Redis (that database is emptied
before and after the run). ``--redis ''`` counts them in PostgreSQL instead.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from base64 import urlsafe_b64encode
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import psycopg
from rich.console import Console
from rich.table import Table

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from scale_support import (  # noqa: E402
    CLIENT_ID,
    CLIENT_SECRET,
    cpu_of,
    issued_tokens,
    settings_from_env,
)

WHOOP_EVENTS = ("workout.updated", "sleep.updated", "recovery.updated")
QUESTION_7 = "/api/v1/health?type=summary&days=7"
QUESTION_30 = "/api/v1/health?type=summary&days=30"
MAX_IN_FLIGHT = 256
"""Open-loop load: requests beyond this many in flight are counted as dropped, not sent."""

JOB_LOG_SQL = """
CREATE TABLE bench_job_log (
    job_id bigint, task_name text, old_status text, new_status text, attempts int,
    at timestamptz DEFAULT clock_timestamp()
);
CREATE FUNCTION bench_log_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO bench_job_log(job_id, task_name, old_status, new_status, attempts)
        VALUES (OLD.id, OLD.task_name, OLD.status::text, 'deleted', OLD.attempts);
        RETURN OLD;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO bench_job_log(job_id, task_name, old_status, new_status, attempts)
        VALUES (NEW.id, NEW.task_name, NULL, NEW.status::text, NEW.attempts);
    ELSIF OLD.status IS DISTINCT FROM NEW.status THEN
        INSERT INTO bench_job_log(job_id, task_name, old_status, new_status, attempts)
        VALUES (NEW.id, NEW.task_name, OLD.status::text, NEW.status::text, NEW.attempts);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER bench_log_job AFTER INSERT OR UPDATE OR DELETE ON procrastinate_jobs
    FOR EACH ROW EXECUTE FUNCTION bench_log_job();
"""


# ---------------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def child(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child process in its own process group (so Ctrl-C here reaches it only through us);
    the whole group is stopped on the way out, whatever happened."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:
                process.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue


def uvicorn_argv(factory: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        f"scale_support:{factory}",
        "--app-dir",
        str(BENCH),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "3",
    ]


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited; see {log}")
        try:
            if httpx2.get(url, timeout=2).status_code < 500:
                return
        except httpx2.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not start within {seconds:.0f} s; see {log}")
        time.sleep(0.2)  # noqa: TID251 - a script waiting for a child process


# ---------------------------------------------------------------------- database
@contextmanager
def bench_database(admin_url: str, console: Console) -> Iterator[tuple[str, str]]:
    """A fresh database (libpq URL, SQLAlchemy URL), dropped on the way out."""
    name = f"wellpipe_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0]
    libpq = f"{base}/{name}"
    console.print(f"Database {name}")
    try:
        yield libpq, libpq.replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def empty_redis(url: str, console: Console) -> Iterator[None]:
    """The Redis database at ``url``, emptied before and after the run."""
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    console.print(f"Redis {url} (emptied)")
    try:
        yield
    finally:
        client.flushdb()
        client.close()


def budget_counted(url: str) -> int:
    """Requests the shared budget let through in the run: its daily WHOOP counters in Redis
    (emptied before the run; the warm-up asks WHOOP nothing)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match="wellpipe:upstream:whoop:86400:*"))
        return sum(int(client.get(key) or 0) for key in keys)
    finally:
        client.close()


def cloud_env(home: Path, database: str, whoop: str, args: argparse.Namespace) -> dict[str, str]:
    return {
        "WELLPIPE_HOME": str(home),
        "WELLPIPE_DATABASE_URL": database,
        "WELLPIPE_ENCRYPTION_KEYS": f"k1:{urlsafe_b64encode(secrets.token_bytes(32)).decode()}",
        "WELLPIPE_API_KEY_PEPPER": secrets.token_urlsafe(32),
        "WELLPIPE_PUBLIC_URL": "http://127.0.0.1:8000",
        "WELLPIPE_SANDBOX": "false",
        "WELLPIPE_WHOOP_CLIENT_ID": CLIENT_ID,
        "WELLPIPE_WHOOP_CLIENT_SECRET": CLIENT_SECRET,
        "WELLPIPE_WHOOP_BASE_URL": whoop,
        "WELLPIPE_AUTO_MIGRATE": "0",
        "WELLPIPE_JOBS_IN_PROCESS": "0",
        "WELLPIPE_BENCH_PER_MINUTE": str(args.per_minute),
        "WELLPIPE_BENCH_PER_DAY": str(args.per_day),
        "WELLPIPE_BENCH_MEMBERS": str(args.users),
        "WELLPIPE_BENCH_DAYS": str(args.days),
        **({"WELLPIPE_REDIS_URL": args.redis} if args.redis else {}),
    }


@dataclass(frozen=True)
class Person:
    user_id: str
    key: str
    member: int


async def migrate_and_prepare(env: dict[str, str], tokens: list[dict[str, Any]]) -> list[Person]:
    """Schema, the job log trigger, then one PRO account per member: key and connection."""
    from wellpipe.cloud.db import upgrade_to_head
    from wellpipe.cloud.db.tables import User
    from wellpipe.cloud.jobs.runner import worker_context
    from wellpipe.cloud.services.keys import create_key
    from wellpipe.cloud.services.tokens import save_connection

    people: list[Person] = []
    async with worker_context(settings_from_env(env)) as ctx:
        await upgrade_to_head(ctx.db)
        now = ctx.clock.now()
        for issued in tokens:
            user_id = secrets.token_hex(16)
            async with ctx.db.transaction() as session:  # as the tests do: no argon2 per user
                session.add(
                    User(
                        id=user_id,
                        email=f"{user_id}@example.com",
                        password_hash=None,
                        google_subject=None,
                        plan="PRO",
                        created_at=now,
                    )
                )
            await save_connection(
                ctx,
                user_id=user_id,
                provider="whoop",
                tokens=issued_tokens(issued, now),
                provider_user_id=str(issued["user_id"]),
            )
            key = (await create_key(ctx, user_id=user_id, name="bench")).full_key
            people.append(Person(user_id, key, int(issued["user_id"])))
    return people


async def enqueue_backfills(env: dict[str, str], people: list[Person]) -> int:
    """What connecting does for each person: queue the backfill of their connection."""
    from wellpipe.cloud.jobs.runner import close_jobs, worker_context
    from wellpipe.cloud.jobs.tasks import enqueue_backfill

    queued = 0
    async with worker_context(settings_from_env(env)) as ctx:
        try:
            for person in people:
                if await enqueue_backfill(ctx, user_id=person.user_id, provider="whoop"):
                    queued += 1
        finally:
            await close_jobs(ctx)
    return queued


# ---------------------------------------------------------------------- load
@dataclass
class Sample:
    at: float  # seconds since the load started
    latency: float
    outcome: str  # "200", "503 provider-busy", "error ReadTimeout", ...
    tag: str = ""  # what was asked ("7 days", "30 days")


@dataclass
class Load:
    questions: list[Sample] = field(default_factory=list)
    webhooks: list[Sample] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    progress: list[tuple[float, dict[str, int]]] = field(default_factory=list)


async def outcome_of(response: httpx2.Response) -> str:
    if response.status_code < 400:
        return str(response.status_code)
    try:
        kind = str(response.json().get("type", "")).rsplit("/", 1)[-1]
    except ValueError:
        kind = ""
    return f"{response.status_code} {kind}".strip()


async def open_loop(
    rate: float,
    seconds: float,
    started: float,
    send: Any,
    samples: list[Sample],
    dropped: Counter[str],
    name: str,
) -> None:
    """Call ``send()`` at ``rate`` a second (Poisson arrivals) for ``seconds``; keep samples."""
    if rate <= 0:
        return
    in_flight: set[asyncio.Task[None]] = set()
    rng = random.Random(hash(name))

    async def one() -> None:
        began = time.perf_counter()
        tag = ""
        try:
            outcome, tag = await send()
        except httpx2.HTTPError as error:
            outcome = f"error {type(error).__name__}"
        samples.append(Sample(began - started, time.perf_counter() - began, outcome, tag))

    next_at = time.perf_counter()
    while (now := time.perf_counter()) < started + seconds:
        if next_at > now:
            await asyncio.sleep(next_at - now)
        next_at += rng.expovariate(rate)
        if len(in_flight) >= MAX_IN_FLIGHT:
            dropped[name] += 1
            continue
        task = asyncio.create_task(one())
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(in_flight, timeout=60)


async def run_load(
    api: str,
    people: list[Person],
    records: dict[str, dict[str, Any]],
    libpq: str,
    args: argparse.Namespace,
    console: Console,
) -> tuple[Load, float]:
    from wellpipe.sandbox.webhooks import WebhookSender

    load = Load()
    sender = WebhookSender(url=f"{api}/webhooks/whoop", client_secret=CLIENT_SECRET)
    rng = random.Random(7)
    limits = httpx2.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=64)
    async with httpx2.AsyncClient(base_url=api, limits=limits, timeout=30) as http:

        async def question() -> tuple[str, str]:
            person = rng.choice(people)
            longer = rng.random() < 0.2
            path = QUESTION_30 if longer else QUESTION_7
            response = await http.get(path, headers={"Authorization": f"Bearer {person.key}"})
            return await outcome_of(response), "30 days" if longer else "7 days"

        async def webhook() -> tuple[str, str]:
            person = rng.choice(people)
            ids = records[str(person.member)]
            event = rng.choice(WHOOP_EVENTS)
            pool = ids["workout"] if event.startswith("workout") else ids["sleep"]
            body, headers = sender.whoop_delivery(
                user_id=person.member, record_id=rng.choice(pool), event=event
            )
            response = await http.post(
                "/webhooks/whoop",
                content=body,
                headers={"Content-Type": "application/json", **headers},
            )
            return await outcome_of(response), event

        async def watch(started: float) -> None:
            async with await psycopg.AsyncConnection.connect(libpq, autocommit=True) as db:
                while True:
                    rows = await (
                        await db.execute(
                            "SELECT task_name, coalesce(old_status, 'new') || '>' || new_status,"
                            " count(*) FROM bench_job_log GROUP BY 1, 2"
                        )
                    ).fetchall()
                    done = {f"{t} {s}": n for t, s, n in rows}
                    elapsed = time.perf_counter() - started
                    load.progress.append((elapsed, done))
                    console.print(
                        f"[dim]{elapsed:5.0f} s  questions {len(load.questions):>6,}  "
                        f"webhooks {len(load.webhooks):>5,}  backfills done "
                        f"{done.get('backfill doing>deleted', 0)}/{len(people)} "
                        f"(put back {done.get('backfill doing>todo', 0)})  webhook jobs done "
                        f"{done.get('webhook_fetch doing>deleted', 0)}/"
                        f"{done.get('webhook_fetch new>todo', 0)}[/dim]"
                    )
                    await asyncio.sleep(10)

        # The backfills are queued at the start of the load, as if everyone connected now.
        started = time.perf_counter()
        watcher = asyncio.create_task(watch(started))
        env = args.env
        queued = await enqueue_backfills(env, people)
        console.print(f"Queued {queued} backfills")
        await asyncio.gather(
            open_loop(
                args.question_rate,
                args.seconds,
                started,
                question,
                load.questions,
                load.dropped,
                "questions",
            ),
            open_loop(
                args.webhook_rate,
                args.seconds,
                started,
                webhook,
                load.webhooks,
                load.dropped,
                "webhooks",
            ),
        )
        watcher.cancel()
        elapsed = time.perf_counter() - started
    return load, elapsed


# ---------------------------------------------------------------------- results
def pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:,.0f}"


def statuses(samples: list[Sample]) -> str:
    counted = Counter(s.outcome for s in samples)
    return ", ".join(f"{k} x{v:,}" for k, v in sorted(counted.items(), key=lambda kv: -kv[1]))


@dataclass
class JobStats:
    done: Counter[str]  # task -> succeeded (deleted after 'doing')
    failed: Counter[str]
    retried: Counter[str]
    waiting: Counter[str]  # task -> still todo/doing at the end
    backfills_done_at: list[float]  # seconds since load start, sorted
    first_at: float | None
    last_at: float | None


async def job_stats(libpq: str, load_started_wall: float) -> JobStats:
    async with await psycopg.AsyncConnection.connect(libpq, autocommit=True) as db:
        log = await (
            await db.execute(
                "SELECT task_name, old_status, new_status, extract(epoch FROM at) "
                "FROM bench_job_log ORDER BY at"
            )
        ).fetchall()
        left = await (
            await db.execute(
                "SELECT task_name, status::text, count(*) FROM procrastinate_jobs GROUP BY 1, 2"
            )
        ).fetchall()
    done: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    retried: Counter[str] = Counter()
    backfills: list[float] = []
    ends: list[float] = []
    for task, old, new, at in log:
        if old == "doing" and new == "deleted":
            done[task] += 1
            ends.append(float(at))
            if task == "backfill":
                backfills.append(float(at) - load_started_wall)
        elif old == "doing" and new == "failed":
            failed[task] += 1
            ends.append(float(at))
        elif old == "doing" and new == "todo":
            retried[task] += 1
    waiting: Counter[str] = Counter()
    for task, status, count in left:
        if status in {"todo", "doing"}:
            waiting[f"{task} ({status})"] += count
    return JobStats(
        done,
        failed,
        retried,
        waiting,
        sorted(backfills),
        min(ends) - load_started_wall if ends else None,
        max(ends) - load_started_wall if ends else None,
    )


async def stored_counts(libpq: str) -> tuple[int, int]:
    async with await psycopg.AsyncConnection.connect(libpq, autocommit=True) as db:
        row = await (
            await db.execute("SELECT count(*), count(DISTINCT user_id) FROM history_records")
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@dataclass
class WhoopStats:
    total: int
    data: int
    by_status: Counter[int]
    max_fixed_minute: int
    max_sliding_minute: int
    max_fixed_day: int


def whoop_stats(log: list[list[Any]], since: float, until: float) -> WhoopStats:
    """WHOOP's side: every data/OAuth request the sandbox answered during the run."""
    times = sorted(float(t) for t, path, _ in log if since <= float(t) <= until)
    data = sum(1 for t, path, _ in log if since <= float(t) <= until and "/developer/" in path)
    by_status: Counter[int] = Counter(int(s) for t, _, s in log if since <= float(t) <= until)
    minutes = Counter(int(t // 60) for t in times)
    days = Counter(int(t // 86_400) for t in times)
    sliding = 0
    for index, start in enumerate(times):
        sliding = max(sliding, bisect.bisect_left(times, start + 60, lo=index) - index)
    return WhoopStats(
        total=len(times),
        data=data,
        by_status=by_status,
        max_fixed_minute=max(minutes.values(), default=0),
        max_sliding_minute=sliding,
        max_fixed_day=max(days.values(), default=0),
    )


def report(
    console: Console,
    args: argparse.Namespace,
    load: Load,
    elapsed: float,
    jobs: JobStats,
    whoop: WhoopStats,
    stored: tuple[int, int],
    expected_records: int,
    cpu: str,
    counted: int | None,
) -> None:
    users = args.users
    finished = len(jobs.backfills_done_at)
    cut = jobs.backfills_done_at[-1] if finished == users else elapsed
    during = [s for s in load.questions if s.at < cut]
    after = [s for s in load.questions if s.at >= cut]
    table = Table(
        title=(
            f"Scale run: {users} users, {args.seconds:g} s of load, {args.api_workers} API + "
            f"{args.job_workers} job workers, PostgreSQL"
            + (", budget in Redis" if args.redis else ", budget in PostgreSQL")
            + f", {os.cpu_count()} CPUs, WHOOP app "
            f"{args.per_minute}/min and {args.per_day:,}/day, {args.days} days of history each"
        ),
        show_lines=True,
    )
    table.add_column("what", justify="left")
    table.add_column("count", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    table.add_column("detail", justify="left", max_width=70)

    def row(name: str, samples: list[Sample], extra: str = "") -> None:
        ok = [s.latency for s in samples]
        detail = statuses(samples) + (f"; {extra}" if extra else "")
        table.add_row(name, f"{len(samples):,}", ms(pct(ok, 0.5)), ms(pct(ok, 0.99)), detail)

    row(
        f"questions, all ({args.question_rate:g}/s offered)",
        load.questions,
        f"{load.dropped['questions']} not sent (>{MAX_IN_FLIGHT} in flight)"
        if load.dropped["questions"]
        else "",
    )
    row(f"questions while backfilling (first {cut:,.0f} s)", during)
    ok_during = [s for s in during if s.outcome == "200"]
    row("  of which answered 200", ok_during)
    if after:
        row("questions after every backfill finished", after)
    accepted = sum(s.outcome.startswith("2") for s in load.webhooks)
    row(
        f"webhooks → POST /webhooks/whoop ({args.webhook_rate:g}/s offered)",
        load.webhooks,
        f"2xx share {accepted / max(1, len(load.webhooks)):.1%}",
    )
    span = max(1e-9, elapsed)
    total_done = sum(jobs.done.values())
    table.add_row(
        "jobs completed",
        f"{total_done:,}",
        "",
        "",
        ", ".join(f"{t} {n:,}" for t, n in jobs.done.most_common())
        + f"; {total_done / span:.2f} jobs/s over the run"
        + (
            f"; retried {', '.join(f'{t} {n}' for t, n in jobs.retried.most_common())}"
            if jobs.retried
            else ""
        )
        + (
            f"; failed {', '.join(f'{t} {n}' for t, n in jobs.failed.most_common())}"
            if jobs.failed
            else ""
        )
        + (
            f"; left {', '.join(f'{t} {n}' for t, n in jobs.waiting.most_common())}"
            if jobs.waiting
            else ""
        ),
    )
    last = f"last at {jobs.backfills_done_at[-1]:,.0f} s" if finished else "none finished"
    table.add_row(
        "backfills completed",
        f"{finished}/{users}",
        "",
        "",
        f"{last}; records stored {stored[0]:,} of {expected_records:,} in the sandbox, "
        f"for {stored[1]} users",
    )
    over = whoop.max_sliding_minute > args.per_minute or whoop.by_status.get(429, 0) > 0
    table.add_row(
        "WHOOP requests (sandbox's log)",
        f"{whoop.total:,}",
        "",
        "",
        (f"counted by the shared budget {counted:,}; " if counted is not None else "")
        + f"data {whoop.data:,}; statuses "
        + ", ".join(f"{k} x{v:,}" for k, v in sorted(whoop.by_status.items()))
        + f"; most in one clock minute {whoop.max_fixed_minute} / {args.per_minute}; "
        f"most in any sliding 60 s {whoop.max_sliding_minute} / {args.per_minute}; "
        f"in one day {whoop.max_fixed_day:,} / {args.per_day:,}; "
        f"{whoop.total / span * 60:,.0f}/min on average" + ("  OVER" if over else "  within"),
    )
    table.add_row("CPU during the load", "", "", "", cpu)
    console.print(table)
    console.print(timeline(load.questions, elapsed))


def timeline(samples: list[Sample], elapsed: float, step: float = 20.0) -> Table:
    """Questions by when they were asked: how latency moved through the run, and which
    ones were slow."""
    table = Table(title="Questions through the run", show_lines=False)
    for name in ("asked at", "count", "p50 ms", "p99 ms", "max ms", "slowest 1% (asked; outcome)"):
        table.add_column(name, justify="left" if name.startswith(("asked", "slow")) else "right")
    start = 0.0
    while start < elapsed:
        part = [s for s in samples if start <= s.at < start + step]
        if part:
            latencies = [s.latency for s in part]
            slow = sorted(part, key=lambda s: -s.latency)[: max(1, len(part) // 100)]
            table.add_row(
                f"{start:.0f}-{start + step:.0f} s",
                f"{len(part):,}",
                ms(pct(latencies, 0.5)),
                ms(pct(latencies, 0.99)),
                ms(max(latencies)),
                ", ".join(f"{s.tag}; {s.outcome}" for s in slow),
            )
        start += step
    return table


# ---------------------------------------------------------------------- CPU
def machine_cpu() -> float:
    """CPU seconds every core spent busy since boot (``/proc/stat``: all but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(roles: dict[str, list[int]]) -> dict[str, float]:
    taken = {role: sum(cpu_of(pid) for pid in pids) for role, pids in roles.items()}
    taken["load generator"] = cpu_of(os.getpid(), children=False)  # it started the others
    taken["machine"] = machine_cpu()
    return taken


def cpu_split(before: dict[str, float], after: dict[str, float], seconds: float) -> str:
    """Where the cores went during the load: each role's share of ``seconds`` of one core."""
    used = {role: after[role] - before[role] for role in before}
    rest = used["machine"] - sum(v for k, v in used.items() if k != "machine")
    parts = [f"{role} {value / seconds:.2f}" for role, value in used.items() if role != "machine"]
    parts.append(f"PostgreSQL, Redis and the rest {rest / seconds:.2f}")
    return f"cores busy {used['machine'] / seconds:.2f} of {os.cpu_count()}: " + ", ".join(parts)


# ---------------------------------------------------------------------- the run
async def warm_up(api: str, people: list[Person], console: Console) -> None:
    """Each key verified by the API processes before the clock starts (``GET /api/v1/usage``,
    6 times a key, each on a new connection so that both processes see it: no WHOOP
    request). A key's first request in a process pays one bcrypt (cost 12, ~0.25 s of a
    core here); left to the load, that cold start swamps its first half-minute."""
    began = time.perf_counter()
    gate = asyncio.Semaphore(8)
    seen: Counter[int] = Counter()
    fresh = httpx2.Limits(max_keepalive_connections=0)  # a new connection, any process
    async with httpx2.AsyncClient(base_url=api, timeout=120, limits=fresh) as http:

        async def one(person: Person) -> None:
            async with gate:
                for _ in range(6):
                    answer = await http.get(
                        "/api/v1/usage", headers={"Authorization": f"Bearer {person.key}"}
                    )
                    seen[answer.status_code] += 1

        await asyncio.gather(*(one(person) for person in people))
    console.print(
        f"Warm-up: {sum(seen.values())} requests ({dict(seen)}) in "
        f"{time.perf_counter() - began:.1f} s"
    )


async def measure(
    args: argparse.Namespace,
    console: Console,
    libpq: str,
    api: str,
    people: list[Person],
    records: dict[str, dict[str, Any]],
    sandbox: str,
    roles: dict[str, list[int]],
) -> None:
    await warm_up(api, people, console)
    wall = time.time()
    cpu_before = cpu_snapshot(roles)
    load, elapsed = await run_load(api, people, records, libpq, args, console)
    cpu = cpu_split(cpu_before, cpu_snapshot(roles), elapsed)
    until = time.time()
    counted = budget_counted(args.redis) if args.redis else None
    async with httpx2.AsyncClient(base_url=sandbox, timeout=60) as http:
        log = (await http.get("/_bench/log")).json()
    jobs = await job_stats(libpq, wall)
    stored = await stored_counts(libpq)
    expected = sum(int(records[str(p.member)]["records"]) for p in people)
    report(
        console,
        args,
        load,
        elapsed,
        jobs,
        whoop_stats(log, wall - 1, until + 1),
        stored,
        expected,
        cpu,
        counted,
    )


def run(args: argparse.Namespace, console: Console) -> None:
    folder = Path(tempfile.mkdtemp(prefix="wellpipe-scale-"))
    log = folder / "processes.log"
    console.print(f"Logs in {log}")
    with ExitStack() as stack:
        libpq, database = stack.enter_context(bench_database(args.postgres, console))
        if args.redis:
            stack.enter_context(empty_redis(args.redis, console))
        sandbox_port = free_port()
        sandbox = f"http://127.0.0.1:{sandbox_port}"
        env = cloud_env(folder, database, sandbox, args)
        args.env = env
        began = time.perf_counter()
        whoop = stack.enter_context(child(uvicorn_argv("sandbox_app", sandbox_port, 1), env, log))
        wait_ready(f"{sandbox}/_sandbox", whoop, log, 300)
        console.print(
            f"WHOOP sandbox: {args.users} members x {args.days} days "
            f"({time.perf_counter() - began:.1f} s)"
        )
        tokens = httpx2.post(f"{sandbox}/_bench/tokens", timeout=60).json()
        records = httpx2.get(f"{sandbox}/_bench/records", timeout=60).json()
        began = time.perf_counter()
        people = asyncio.run(migrate_and_prepare(env, tokens))
        with psycopg.connect(libpq, autocommit=True) as db:
            db.execute(JOB_LOG_SQL)
        console.print(
            f"{len(people)} accounts with keys and WHOOP connections "
            f"({time.perf_counter() - began:.1f} s)"
        )
        api_port = free_port()
        api = f"http://127.0.0.1:{api_port}"
        server = stack.enter_context(
            child(uvicorn_argv("cloud_app", api_port, args.api_workers), env, log)
        )
        wait_ready(f"{api}/healthz", server, log, 120)
        workers = [
            stack.enter_context(
                child([sys.executable, str(BENCH / "scale_support.py"), "worker"], env, log)
            ).pid
            for _ in range(args.job_workers)
        ]
        roles = {
            "WHOOP sandbox": [whoop.pid],
            "API": [server.pid],
            "job workers": workers,
        }
        asyncio.run(measure(args, console, libpq, api, people, records, sandbox, roles))
    console.print(f"Processes stopped, database dropped. Logs: {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=200, help="people (sandbox members)")
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the load")
    parser.add_argument("--days", type=int, default=60, help="days of history per person")
    parser.add_argument("--question-rate", type=float, default=10.0, help="questions a second")
    parser.add_argument("--webhook-rate", type=float, default=5.0, help="webhooks a second")
    parser.add_argument("--per-minute", type=int, default=100, help="WHOOP app limit a minute")
    parser.add_argument("--per-day", type=int, default=10_000, help="WHOOP app limit a day")
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--job-workers", type=int, default=2)
    parser.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/11",
        help="Redis for the shared budget (emptied before and after); '' for the database",
    )
    parser.add_argument(
        "--postgres",
        default="postgresql://127.0.0.1:5432/postgres",
        help="a PostgreSQL database to create (and drop) the bench's own database from",
    )
    args = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 160)
    try:
        run(args, console)
    except KeyboardInterrupt:
        console.print("Interrupted: processes stopped, database dropped.")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
