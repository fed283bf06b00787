"""The processes `history_scale.py` starts: the WHOOP sandbox, the API, a job worker.

Each reads its knobs from ``WELLPIPE_BENCH_*`` environment variables (the service itself
reads its usual ``WELLPIPE_*`` ones):

* ``sandbox_app`` (``uvicorn --factory scale_support:sandbox_app``): WHOOP's sandbox with
  ``WELLPIPE_BENCH_MEMBERS`` members and ``WELLPIPE_BENCH_DAYS`` days of history (the
  generator's 180 days cut down to the newest ``DAYS``), enforcing the app limits
  ``WELLPIPE_BENCH_PER_MINUTE`` / ``WELLPIPE_BENCH_PER_DAY`` (WHOOP's: 100 and 10,000),
  pinned to the bench's developer app. Beside WHOOP's routes it serves ``/_bench/*``:
  every member's tokens, record ids to send webhooks about, and a timestamped log of
  every request it answered, by arrival time (the sandbox's own log has no times).
* ``cloud_app`` (``uvicorn --factory scale_support:cloud_app --workers 2``): the service
  exactly as ``create_app`` makes it.
* ``python bench/scale_support.py worker``: ``wellpipe cloud worker``, the real command.

When the app limits differ from WHOOP's published ones, the API and the workers count
against those instead (`use_limits`: the published limits are swapped in the one place the
shared budget reads them), so the cloud and the sandbox always agree on the limit.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CLIENT_ID = "wellpipe-bench"
CLIENT_SECRET = "wellpipe-bench-secret"
GENERATED_DAYS = 180
"""The sandbox generator's shortest history; the bench cuts it down to ``--days``."""


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(f"WELLPIPE_BENCH_{name}", default))


def limits() -> tuple[Any, ...]:
    """The WHOOP app's limits for this run (per minute, per day)."""
    from wellpipe.core.provider_info import RateLimit

    return (
        RateLimit(_env_int("PER_MINUTE", 100), 60),
        RateLimit(_env_int("PER_DAY", 10_000), 86_400),
    )


def use_limits() -> None:
    """Make the shared WHOOP budget count against `limits` (a no-op at WHOOP's own)."""
    from wellpipe.cloud.services import upstream
    from wellpipe.providers import get_provider_info

    chosen = limits()
    if tuple(get_provider_info("whoop").rate_limits) == chosen:
        return
    original = get_provider_info

    def patched(name: str) -> Any:
        info = original(name)
        return dataclasses.replace(info, rate_limits=chosen) if name == "whoop" else info

    setattr(upstream, "get_provider_info", patched)  # noqa: B010  # the one place it is read


# ---------------------------------------------------------------------- the service's side
def settings_from_env(env: dict[str, str]) -> Any:
    """The `CloudSettings` of a bench's ``WELLPIPE_*`` environment (to prepare its data
    in the bench's own process, through `wellpipe.cloud.jobs.runner.worker_context`)."""
    from pydantic import SecretStr

    from wellpipe.cloud.settings import CloudSettings

    return CloudSettings(
        home=Path(env["WELLPIPE_HOME"]),
        database_url=env["WELLPIPE_DATABASE_URL"],
        encryption_keys=SecretStr(env["WELLPIPE_ENCRYPTION_KEYS"]),
        api_key_pepper=SecretStr(env["WELLPIPE_API_KEY_PEPPER"]),
        public_url=env["WELLPIPE_PUBLIC_URL"],
        sandbox=False,
    )


def issued_tokens(issued: dict[str, Any], now: datetime) -> Any:
    """The `TokenSet` of tokens a sandbox issued (its token endpoint's JSON)."""
    from wellpipe.core.tokens import TokenSet

    return TokenSet(
        access_token=issued["access_token"],
        refresh_token=issued.get("refresh_token"),
        expires_at=now + timedelta(seconds=int(issued["expires_in"])),
        scopes=frozenset(str(issued.get("scope", "")).split()),
    )


# ---------------------------------------------------------------------- CPU
def _descendants(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child_pid in children:
            found += _descendants(int(child_pid))
    return found


def cpu_of(pid: int, *, children: bool = True) -> float:
    """CPU seconds (user + system) of ``pid`` and (``children``) everything it started."""
    total = 0
    for one in _descendants(pid) if children else [pid]:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            if one == pid:
                raise  # the process itself is gone: no figure to give
            continue  # a child that ended meanwhile
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------- the sandbox
def _trimmed(history: Any, days: int) -> Any:
    """``history`` keeping only records that start in the newest ``days`` days."""
    from wellpipe.sandbox.whoop.history import History, MemberHistory

    if days >= history.days:
        return history
    cutoff = history.now - timedelta(days=days)
    members = {}
    for user_id, member in history.members.items():
        kept = MemberHistory(
            spec=member.spec,
            profile=member.profile,
            body_measurement=member.body_measurement,
            cycles=[r for r in member.cycles if r.start >= cutoff],
            sleeps=[r for r in member.sleeps if r.start >= cutoff],
            recoveries=[r for r in member.recoveries if r.start >= cutoff],
            workouts=[r for r in member.workouts if r.start >= cutoff],
        )
        kept.index()
        members[user_id] = kept
    return History(now=history.now, seed=history.seed, days=days, members=members)


class BenchSandbox:
    """WHOOP's sandbox, plus ``/_bench/tokens``, ``/_bench/records`` and ``/_bench/log``."""

    def __init__(self) -> None:
        from wellpipe.sandbox import WhoopSandbox
        from wellpipe.sandbox.whoop import generate_history

        members = _env_int("MEMBERS", 200)
        days = _env_int("DAYS", 60)
        now = datetime.now(UTC)
        history = generate_history(
            now=now, seed=42, days=max(GENERATED_DAYS, days), members=members
        )
        self.sandbox = WhoopSandbox(
            history=_trimmed(history, days),
            rate_limits=limits(),
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            token_ttl_s=6 * 3600,
        )
        self.log: list[tuple[float, str, int]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.sandbox(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/_bench/"):
            await self._bench(path, send)
            return
        status = 0
        arrived = time.time()  # WHOOP counts a request when it arrives, not when answered

        async def noting(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.sandbox(scope, receive, noting)
        finally:
            if not path.startswith("/_sandbox"):
                self.log.append((arrived, path, status))

    async def _bench(self, path: str, send: Any) -> None:
        import json

        if path == "/_bench/tokens":
            body: Any = [
                {
                    "user_id": member,
                    **self.sandbox.issue_tokens(member, client_id=CLIENT_ID),
                }
                for member in self.sandbox.member_ids
            ]
        elif path == "/_bench/records":
            body = {
                str(member_id): {
                    "workout": [r.body["id"] for r in member.workouts[:20]],
                    "sleep": [r.body["id"] for r in member.sleeps[:20] if not r.body["nap"]],
                    "records": len(member.cycles)
                    + len(member.sleeps)
                    + len(member.recoveries)
                    + len(member.workouts),
                }
                for member_id, member in self.sandbox.history.members.items()
            }
        elif path == "/_bench/log":
            body = self.log
        else:
            body = {"message": "unknown bench route"}
        raw = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": raw})


def sandbox_app() -> BenchSandbox:
    """The WHOOP sandbox of this run (see the module docstring)."""
    return BenchSandbox()


# ---------------------------------------------------------------------- the service
def _dump_tasks_on_sigusr1() -> None:
    """``kill -USR1 <pid>`` prints every asyncio task's stack (``WELLPIPE_BENCH_DEBUG=1``)."""
    import asyncio
    import signal

    def dump(_signum: int, _frame: Any) -> None:
        loop = asyncio._get_running_loop()
        tasks = asyncio.all_tasks(loop) if loop is not None else set()
        lines = [f"=== {os.getpid()}: {len(tasks)} tasks"]
        for task in tasks:
            lines.append(f"--- {task.get_name()}")
            awaited: Any = task.get_coro()
            last: Any = None
            while awaited is not None:
                frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
                if frame is not None:
                    code = frame.f_code
                    lines.append(f"  {code.co_filename}:{frame.f_lineno} {code.co_name}")
                last = awaited
                awaited = getattr(awaited, "cr_await", None) or getattr(
                    awaited, "gi_yieldfrom", None
                )
                if awaited is not None and type(awaited).__name__ == "async_generator_asend":
                    # contextlib's __aenter__/__aexit__: go on into the generator itself
                    holder = frame.f_locals.get("self") if frame is not None else None
                    generator = getattr(holder, "gen", None)
                    if generator is not None and generator.ag_frame is not None:
                        gframe = generator.ag_frame
                        code = gframe.f_code
                        lines.append(f"  {code.co_filename}:{gframe.f_lineno} {code.co_name}")
                        awaited = generator.ag_await
            if last is not None and not hasattr(last, "cr_frame"):
                lines.append(f"  waiting on {type(last).__module__}.{type(last).__qualname__}")
        print("\n".join(lines), file=sys.stderr, flush=True)

    signal.signal(signal.SIGUSR1, dump)


def cloud_app() -> Any:
    """The service, as ``wellpipe cloud serve`` runs it (one per uvicorn worker)."""
    use_limits()
    if os.environ.get("WELLPIPE_BENCH_DEBUG"):
        _dump_tasks_on_sigusr1()
    from wellpipe.cloud.app import create_app

    return create_app()


def worker() -> None:
    """``wellpipe cloud worker`` (its own command line, after `use_limits`)."""
    use_limits()
    from wellpipe.cloud.commands import cloud

    cloud.main(["worker", *sys.argv[2:]], prog_name="wellpipe cloud")


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker()
    else:
        raise SystemExit("usage: python bench/scale_support.py worker [--concurrency N]")
