"""The MCP server as an assistant meets it: start-up, tool list, latency, answer size, WHOOP load.

The WHOOP sandbox is served on loopback from this process (so every request the server
makes is counted), and ``wellpipe serve`` runs as a separate process that Wellpipe's own
config (a throw-away ``WELLPIPE_HOME`` whose ``.env`` holds a developer app and tokens
the sandbox issued) points at it, exactly as Claude Desktop would start it. The server
is driven with raw newline-delimited JSON-RPC over its stdin/stdout (no SDK client), so
the times are the server's. Start-up is also measured for ``wellpipe serve --demo``
(its own sandbox, in process) and for ``--transport http`` (streamable HTTP at /mcp,
driven with plain POSTs), where one tool's latency is measured too.

Tokens are OpenAI's o200k_base, counted offline (bench/tokens.py).

    python bench/mcp_server.py [--runs 15] [--call-runs 5] [--warm 10] [--no-demo] [--no-http]
                               [--show] [--command "python -m wellpipe serve"]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import select
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2
from rich.console import Console
from rich.table import Table
from starlette.types import Receive, Scope, Send

from tokens import count_tokens
from wellpipe.cli.env_tokens import store_tokens
from wellpipe.cli.home import LocalPaths
from wellpipe.core import DayRange, Recovery, Sleep, TokenSet, Workout
from wellpipe.core.provider_info import RateLimit
from wellpipe.providers.whoop import mapping
from wellpipe.providers.whoop import schemas as wire
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.server import serve_in_background

PROTOCOL_VERSION = "2025-11-25"
"""What Claude and ChatGPT speak today (the handshake era)."""

CLIENT_ID = "wellpipe-bench"
CLIENT_SECRET = "wellpipe-bench-secret"
REDIRECT_URI = "http://127.0.0.1:8976/callback/whoop"
SEED = 42

TARGET_COLD_START_MS = 400.0
TARGET_TOOLS_LIST_TOKENS = 1260
"""13 tools: ChatGPT's search and fetch (~157 tokens) after Oura and Fitbit's 11.

The budget was 900 for WHOOP's 8 tools; the three new tools and the argument cost ~240
(1,000 for 11 tools, 956 used); search and fetch brought it to 1,150 (1,113 used); the
provider enum (+143) was paid for by leaner copy (1,145 used). Issue 15's `fresh` argument on
the nine reading tools and the long-period copy cost 108 (1,253 used; budget 1,260).
"""
TARGET_ANSWER_RATIO = 1 / 3
TARGET_FIRST_ANSWER_MS = 475.0
"""The fastest peer (whoop-ai-mcp, Node) on this machine and sandbox, median of 5 (issue 14)."""

COLLECTIONS = {
    "cycle": "/developer/v2/cycle",
    "recovery": "/developer/v2/recovery",
    "sleep": "/developer/v2/activity/sleep",
    "workout": "/developer/v2/activity/workout",
}


def compact(value: object) -> str:
    """JSON as WHOOP and MCP servers send it: no spaces, UTF-8 kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------------- the WHOOP sandbox
class CountingApp:
    """The sandbox's ASGI app, logging each request as it *arrives*.

    Counting on arrival (not when the response is done, as ``WhoopSandbox.requests``
    does) means a request is logged before the MCP server can have its answer, so the
    count taken when a tool call returns is complete.
    """

    def __init__(self, app: WhoopSandbox) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append(str(scope["path"]))
        await self.app(scope, receive, send)


class LoopbackSandbox:
    """A `WhoopSandbox` served over real HTTP on 127.0.0.1 from a background thread."""

    def __init__(self, sandbox: WhoopSandbox) -> None:
        self.sandbox = sandbox
        self.app = CountingApp(sandbox)
        self.origin = ""
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="whoop-sandbox", daemon=True)

    def _run(self) -> None:
        async def serve() -> None:
            async with serve_in_background(self.app) as origin:
                self.origin = origin
                self._ready.set()
                await anyio.to_thread.run_sync(self._stop.wait)

        try:
            anyio.run(serve)
        except BaseException as exc:  # reported to the main thread
            self._failure = exc
            self._ready.set()

    def __enter__(self) -> LoopbackSandbox:
        self._thread.start()
        if not self._ready.wait(30) or self._failure is not None:
            raise RuntimeError(f"the sandbox did not start: {self._failure!r}")
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    @property
    def request_count(self) -> int:
        return len(self.app.paths)

    def requests_since(self, mark: int) -> list[str]:
        return self.app.paths[mark:]


def make_home(folder: Path, sandbox: LoopbackSandbox) -> dict[str, str]:
    """A Wellpipe home connected to the sandbox; returns the environment for ``wellpipe``."""
    paths = LocalPaths(home=folder)
    paths.ensure_home()
    paths.env_file.write_text(
        f"WHOOP_CLIENT_ID={CLIENT_ID}\n"
        f"WHOOP_CLIENT_SECRET={CLIENT_SECRET}\n"
        f"WHOOP_REDIRECT_URI={REDIRECT_URI}\n"
        f"WELLPIPE_WHOOP_BASE_URL={sandbox.origin}\n",
        encoding="utf-8",
    )
    os.chmod(paths.env_file, 0o600)
    issued = sandbox.sandbox.issue_tokens(client_id=CLIENT_ID)
    store_tokens(
        paths,
        TokenSet(
            access_token=issued["access_token"],
            refresh_token=issued.get("refresh_token"),
            expires_at=datetime.now(UTC) + timedelta(seconds=int(issued["expires_in"])),
            scopes=frozenset(str(issued.get("scope", "")).split()),
        ),
    )
    return {"WELLPIPE_HOME": str(folder), "WELLPIPE_WHOOP_BASE_URL": sandbox.origin}


# ---------------------------------------------------------------------- raw JSON-RPC over stdio
class ServerFailed(RuntimeError):
    """The server exited, answered with an error, or took too long."""


class StdioServer:
    """One ``wellpipe serve`` process and newline-delimited JSON-RPC on its stdin/stdout."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], stderr_log: Path) -> None:
        self._stderr_log = stderr_log
        with stderr_log.open("ab") as stderr:
            self.process = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
                bufsize=0,
            )
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self._stdin = self.process.stdin
        self._stdout = self.process.stdout.fileno()
        self._buffer = b""
        self._ids = 0

    def send(self, message: dict[str, Any]) -> None:
        self._stdin.write(compact(message).encode() + b"\n")

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, **({"params": params} if params else {})})

    def request(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        timeout: float = 60.0,
        allow_error: bool = False,
    ) -> dict[str, Any]:
        self._ids += 1
        ident = self._ids
        self.send({"jsonrpc": "2.0", "id": ident, "method": method, "params": params or {}})
        deadline = time.monotonic() + timeout
        while True:
            message = self._read(deadline, method)
            if "method" in message:  # the server asks or tells us something
                if "id" in message:
                    self._answer(message)
                continue
            if message.get("id") != ident:
                continue
            if "error" in message:
                if allow_error:
                    return {"error": message["error"]}
                raise ServerFailed(f"{method}: {compact(message['error'])}")
            result: dict[str, Any] = message["result"]
            return result

    def _answer(self, message: dict[str, Any]) -> None:
        if message["method"] == "ping":
            self.send({"jsonrpc": "2.0", "id": message["id"], "result": {}})
        else:
            error = {"code": -32601, "message": f"the benchmark does not do {message['method']}"}
            self.send({"jsonrpc": "2.0", "id": message["id"], "error": error})

    def _read(self, deadline: float, method: str) -> dict[str, Any]:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._stdout], [], [], max(0.0, remaining))
            if not ready:
                raise ServerFailed(f"{method}: no answer in time{self._stderr_tail()}")
            chunk = os.read(self._stdout, 1 << 16)
            if not chunk:
                raise ServerFailed(f"{method}: the server exited{self._stderr_tail()}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        if not line.strip():
            return self._read(deadline, method)
        parsed: dict[str, Any] = json.loads(line)
        return parsed

    def _stderr_tail(self) -> str:
        try:
            tail = self._stderr_log.read_text(encoding="utf-8", errors="replace")[-1500:]
        except OSError:
            return ""
        return f"; its stderr ends:\n{tail}" if tail.strip() else ""

    def initialize(self) -> dict[str, Any]:
        result = self.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "wellpipe-bench", "version": "0"},
            },
        )
        self.notify("notifications/initialized")
        return result

    def settle(self) -> None:
        """Wait until the whole server is up, not just the part that answers the handshake.

        ``wellpipe serve`` answers the handshake, the list methods and ``ping`` from a
        precomputed file and loads the SDK only after ``tools/list``; a method nobody
        knows has to wait for the SDK, which answers it with an error.
        """
        self.request("wellpipe-bench/settle", allow_error=True)

    def close(self) -> None:
        with suppress(OSError):
            self._stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def running(argv: Sequence[str], env: dict[str, str], log: Path) -> Iterator[StdioServer]:
    server = StdioServer(argv, env, log)
    try:
        yield server
    finally:
        server.close()


# ---------------------------------------------------------------------- streamable HTTP
HTTP_TOKEN = "wellpipe-bench-http-token"


class HttpServer:
    """One ``wellpipe serve --transport http --port 0`` process and JSON-RPC POSTs to /mcp."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], stderr_log: Path) -> None:
        with stderr_log.open("ab") as stderr:
            self.process = subprocess.Popen(
                [*argv, "--transport", "http", "--port", "0"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env={**env, "WELLPIPE_HTTP_TOKEN": HTTP_TOKEN, "COLUMNS": "400"},
            )
        self._ids = 0
        self.url = self._url_from_banner()
        self._http = httpx2.Client(
            timeout=60,
            headers={
                "Authorization": f"Bearer {HTTP_TOKEN}",
                "Accept": "application/json, text/event-stream",
            },
        )
        self._protocol: str | None = None

    def _url_from_banner(self) -> str:
        """The banner names the URL once the port is bound (requests queue until it serves)."""
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            found = re.search(rb"http://127\.0\.0\.1:\d+/mcp", raw)
            if found:
                return found.group().decode()
        raise ServerFailed("the HTTP server exited before printing its URL")

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._ids += 1
        headers = {"MCP-Protocol-Version": self._protocol} if self._protocol else {}
        body = {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params or {}}
        response = self._http.post(self.url, json=body, headers=headers)
        response.raise_for_status()
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            data = [
                line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")
            ]
            messages = [json.loads(d) for d in data if d]
            message = next(m for m in messages if m.get("id") == self._ids)
        else:
            message = response.json()
        if "error" in message:
            raise ServerFailed(f"{method}: {compact(message['error'])}")
        result: dict[str, Any] = message["result"]
        return result

    def initialize(self) -> None:
        result = self.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "wellpipe-bench", "version": "0"},
            },
        )
        self._protocol = str(result["protocolVersion"])
        headers = {"MCP-Protocol-Version": self._protocol}
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        self._http.post(self.url, json=note, headers=headers).raise_for_status()

    def close(self) -> None:
        self._http.close()
        self.process.terminate()  # Ctrl-C is how this server is stopped
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@dataclass
class HttpRuns:
    to_tools_s: list[float] = field(default_factory=list)
    first_call_s: list[float] = field(default_factory=list)
    warm_s: list[float] = field(default_factory=list)
    first_requests: list[str] = field(default_factory=list)


def measure_http(
    argv: Sequence[str],
    env: dict[str, str],
    log: Path,
    runs: int,
    warm: int,
    first: tuple[str, dict[str, Any]],
    sandbox: LoopbackSandbox,
) -> HttpRuns:
    """Spawn -> initialize -> tools/list over HTTP; the first call then; warm repeats."""
    measured = HttpRuns()
    for run in range(runs):
        began = time.perf_counter()
        server = HttpServer(argv, env, log)
        try:
            server.initialize()
            server.request("tools/list")
            mark = sandbox.request_count
            listed = time.perf_counter()
            result = server.request("tools/call", {"name": first[0], "arguments": first[1]})
            measured.first_call_s.append(time.perf_counter() - listed)
            measured.first_requests = sandbox.requests_since(mark)
            measured.to_tools_s.append(listed - began)
            if result.get("isError"):
                raise ServerFailed(f"{first[0]} over HTTP: {compact(result)}")
            for _ in range(warm if run == 0 else 0):
                began = time.perf_counter()
                server.request("tools/call", {"name": first[0], "arguments": first[1]})
                measured.warm_s.append(time.perf_counter() - began)
        finally:
            server.close()
    return measured


# ---------------------------------------------------------------------- measurements
@dataclass
class ColdStart:
    to_initialize_s: list[float] = field(default_factory=list)
    to_tools_s: list[float] = field(default_factory=list)
    to_ready_s: list[float] = field(default_factory=list)
    """Spawn -> the whole server answering (see `StdioServer.settle`)."""
    tools: list[dict[str, Any]] = field(default_factory=list)


def measure_cold_start(argv: Sequence[str], env: dict[str, str], log: Path, runs: int) -> ColdStart:
    """Spawn -> initialize -> tools/list (-> fully up), ``runs`` times, each in a new process."""
    measured = ColdStart()
    for _ in range(runs):
        began = time.perf_counter()
        with running(argv, env, log) as server:
            server.initialize()
            initialized = time.perf_counter()
            listed = server.request("tools/list")
            done = time.perf_counter()
            server.settle()
            ready = time.perf_counter()
        measured.to_initialize_s.append(initialized - began)
        measured.to_tools_s.append(done - began)
        measured.to_ready_s.append(ready - began)
        measured.tools = list(listed["tools"])
    return measured


@dataclass
class CallRuns:
    name: str
    arguments: dict[str, Any]
    cold_s: list[float] = field(default_factory=list)
    warm_s: list[float] = field(default_factory=list)
    cold_requests: list[list[str]] = field(default_factory=list)
    warm_requests: list[int] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)


def call(server: StdioServer, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = server.request("tools/call", {"name": name, "arguments": arguments})
    if result.get("isError"):
        raise ServerFailed(f"{name} {compact(arguments)}: {compact(result)}")
    return result


def measure_first_answer(
    argv: Sequence[str],
    env: dict[str, str],
    log: Path,
    runs: int,
    first: tuple[str, dict[str, Any]],
) -> list[float]:
    """Spawn -> initialize -> tools/list -> a tool call sent at once, answered."""
    seconds: list[float] = []
    for _ in range(runs):
        began = time.perf_counter()
        with running(argv, env, log) as server:
            server.initialize()
            server.request("tools/list")
            call(server, *first)
            seconds.append(time.perf_counter() - began)
    return seconds


@dataclass
class SdkFirstAnswer:
    """Spawn -> connected -> the first tool call answered, by the official client, per mode."""

    connect_s: dict[str, list[float]] = field(default_factory=dict)
    answer_s: dict[str, list[float]] = field(default_factory=dict)


SDK_MODES = ("auto", "legacy")
"""The `mcp` client's default (``server/discover`` first, then the handshake), and the handshake."""


def measure_sdk_first_answer(
    argv: Sequence[str],
    env: dict[str, str],
    log: Path,
    runs: int,
    first: tuple[str, dict[str, Any]],
) -> SdkFirstAnswer:
    """What a user waits for: the official `mcp` client spawns the server and asks one thing.

    The client connects in its own way (``auto`` probes ``server/discover`` first), lists
    nothing, and calls ``first``; the figure is spawn until that answer is in hand.
    """
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client

    async def once(mode: str) -> tuple[float, float]:
        params = StdioServerParameters(command=argv[0], args=list(argv[1:]), env=env)
        with log.open("a", encoding="utf-8") as errlog:
            began = time.perf_counter()
            async with Client(stdio_client(params, errlog=errlog), mode=mode) as client:
                connected = time.perf_counter()
                result = await client.call_tool(*first)
                answered = time.perf_counter()
        if result.is_error:
            raise ServerFailed(f"{first[0]}: {result.content}")
        return connected - began, answered - began

    measured = SdkFirstAnswer()
    for _ in range(runs):
        for mode in SDK_MODES:  # alternating, so a slow spell of the machine hits both
            connect, answer = anyio.run(once, mode)
            measured.connect_s.setdefault(mode, []).append(connect)
            measured.answer_s.setdefault(mode, []).append(answer)
    return measured


def measure_calls(
    argv: Sequence[str],
    env: dict[str, str],
    log: Path,
    calls: Sequence[tuple[str, dict[str, Any]]],
    *,
    runs: int,
    warm: int,
    sandbox: LoopbackSandbox | None,
) -> list[CallRuns]:
    """Each call first in a fresh server that is fully up (cold), then repeated in it (warm).

    Warm repeats stop short of 90 WHOOP requests per process: the server's client-side
    throttle allows 100 a minute, and the benchmark measures answers, not waiting.
    """
    measured: list[CallRuns] = []
    for name, arguments in calls:
        runs_of_call = CallRuns(name, arguments)
        for run in range(runs):
            with running(argv, env, log) as server:
                server.initialize()
                server.request("tools/list")
                server.settle()
                mark = sandbox.request_count if sandbox else 0
                began = time.perf_counter()
                runs_of_call.result = call(server, name, arguments)
                runs_of_call.cold_s.append(time.perf_counter() - began)
                used = 0
                if sandbox is not None:
                    runs_of_call.cold_requests.append(sandbox.requests_since(mark))
                    used = len(runs_of_call.cold_requests[-1])
                if run > 0:
                    continue
                per_call = max(1, used)
                for _ in range(warm):
                    if used + per_call > 90:
                        break
                    mark = sandbox.request_count if sandbox else 0
                    began = time.perf_counter()
                    call(server, name, arguments)
                    runs_of_call.warm_s.append(time.perf_counter() - began)
                    if sandbox is not None:
                        sent = sandbox.request_count - mark
                        runs_of_call.warm_requests.append(sent)
                        used += sent
        measured.append(runs_of_call)
    return measured


# ---------------------------------------------------------------------- WHOOP's own JSON
@dataclass
class Window:
    """The records of a "last N days" question, as WHOOP sends them and as Wellpipe dates them."""

    kind: str
    days: DayRange
    raw: list[dict[str, Any]]
    ids: list[str]
    core: list[Sleep | Recovery | Workout]


def fetch_collection(
    http: httpx2.Client, path: str, start: datetime, end: datetime
) -> tuple[list[dict[str, Any]], int]:
    """Every record of a WHOOP collection in [start, end), 25 a page; and the page count."""
    records: list[dict[str, Any]] = []
    params: dict[str, str] = {
        "start": start.isoformat().replace("+00:00", "Z"),
        "end": end.isoformat().replace("+00:00", "Z"),
        "limit": "25",
    }
    pages = 0
    while True:
        response = http.get(path, params=params)
        response.raise_for_status()
        body = response.json()
        pages += 1
        records.extend(body["records"])
        if not body.get("next_token"):
            return records, pages
        params["nextToken"] = body["next_token"]


def whoop_windows(
    sandbox: LoopbackSandbox, questions: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], Window]:
    """For each (kind, days): WHOOP's records of those local days, fetched over loopback.

    "Today" is today where the member's newest sleep ended (as ``wellpipe demo`` does);
    each record's day is the one Wellpipe's mapping gives it.
    """
    token = sandbox.sandbox.issue_tokens(client_id=f"{CLIENT_ID}-raw")["access_token"]
    longest = max(days for _, days in questions)
    now = datetime.now(UTC)
    widest = DayRange.last_days(longest, now=now).query_window()
    with httpx2.Client(
        base_url=sandbox.origin, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        raw = {
            kind: fetch_collection(http, path, widest.start, widest.end)[0]
            for kind, path in COLLECTIONS.items()
        }
    sleeps = [wire.Sleep.model_validate_json(compact(r)) for r in raw["sleep"]]
    cycles = {c.id: c for c in (wire.Cycle.model_validate_json(compact(r)) for r in raw["cycle"])}
    sleep_by_id = {str(s.id): s for s in sleeps}
    newest = max(sleeps, key=lambda s: s.end)
    local: tzinfo | None = mapping.sleep_to_core(newest).end.tzinfo

    def core_of(kind: str, record: dict[str, Any]) -> Sleep | Recovery | Workout:
        if kind == "sleep":
            return mapping.sleep_to_core(wire.Sleep.model_validate_json(compact(record)))
        if kind == "workout":
            return mapping.workout_to_core(wire.WorkoutV2.model_validate_json(compact(record)))
        recovery = wire.Recovery.model_validate_json(compact(record))
        return mapping.recovery_to_core(
            recovery,
            sleep=sleep_by_id.get(str(recovery.sleep_id)),
            cycle=cycles.get(recovery.cycle_id),
        )

    windows: dict[tuple[str, int], Window] = {}
    for kind, days in questions:
        day_range = DayRange.last_days(days, now=now, tz=local)
        kept = [(r, core_of(kind, r)) for r in raw[kind]]
        kept = [(r, c) for r, c in kept if day_range.includes(c.day)]
        windows[(kind, days)] = Window(
            kind=kind,
            days=day_range,
            raw=[r for r, _ in kept],
            ids=[c.source_id for _, c in kept],
            core=[c for _, c in kept],
        )
    return windows


# ---------------------------------------------------------------------- what an answer holds
def text_of(result: dict[str, Any]) -> str:
    blocks = result.get("content", [])
    return "\n".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")


def _duration_forms(minutes: float) -> set[str]:
    whole = round(minutes)
    return {
        str(whole),
        f"{whole // 60}h{whole % 60:02d}",
        f"{whole // 60}h {whole % 60:02d}m",
        f"{whole // 60}:{whole % 60:02d}",
        f"{minutes / 60:.1f}",
    }


def _number_forms(value: float) -> set[str]:
    return {str(round(value)), f"{value:.1f}", str(round(value, 1)), str(value)}


def _shows(line: str, form: str) -> bool:
    """Whether ``form`` stands in ``line`` on its own (``6`` is not in ``66`` or ``6.5``)."""
    if not form[:1].isdigit():
        return form.casefold() in line.casefold()
    return re.search(rf"(?<![\d.]){re.escape(form)}(?![\d]|\.\d)", line) is not None


Reader = Callable[[Any], "float | str | None"]
FIELDS: dict[str, list[tuple[str, Reader, str]]] = {
    "sleep": [
        ("asleep", lambda r: r.score and r.score.asleep_duration_min, "duration"),
        ("performance", lambda r: r.score and r.score.sleep_performance_pct, "number"),
        ("efficiency", lambda r: r.score and r.score.sleep_efficiency_pct, "number"),
        ("deep", lambda r: r.score and r.score.deep_sleep_duration_min, "duration"),
        ("REM", lambda r: r.score and r.score.rem_sleep_duration_min, "duration"),
        ("bedtime", lambda r: f"{r.start:%H:%M}", "text"),
        ("wake", lambda r: f"{r.end:%H:%M}", "text"),
    ],
    "recovery": [
        ("recovery", lambda r: r.score and r.score.recovery_score_pct, "number"),
        ("HRV", lambda r: r.score and r.score.hrv_rmssd_ms, "number"),
        ("resting HR", lambda r: r.score and r.score.resting_heart_rate_bpm, "number"),
    ],
    "workout": [
        ("sport", lambda r: r.sport, "text"),
        ("start", lambda r: f"{r.start:%H:%M}", "text"),
        ("end", lambda r: f"{r.end:%H:%M}", "text"),
        ("strain", lambda r: r.score and r.score.strain, "number"),
        ("avg HR", lambda r: r.score and r.score.avg_heart_rate_bpm, "number"),
        ("kcal", lambda r: r.score and r.score.energy_kcal, "number"),
    ],
}
"""What a person asks about, per kind: a label, how to read it off a core record, its form."""


@dataclass(frozen=True)
class Coverage:
    """How much of a window an answer's text holds."""

    records: int
    rows: int
    """Records whose id is on a line of the text."""
    values: int
    found: int
    """Of ``values`` (record x field), how many stand on that record's line."""
    missing: list[str]


def coverage(text: str, window: Window) -> Coverage:
    """Every record's line (found by its id), and the asked-about fields on it."""
    lines = text.splitlines()
    rows = values = found = 0
    missing: Counter[str] = Counter()
    for ident, record in zip(window.ids, window.core, strict=True):
        line = next((candidate for candidate in lines if ident in candidate), None)
        rows += line is not None
        for label, read, form in FIELDS[window.kind]:
            value = read(record)
            if value is None:
                continue
            values += 1
            if isinstance(value, str):
                forms = {value}
            elif form == "duration":
                forms = _duration_forms(value)
            else:
                forms = _number_forms(value)
            if line is not None and any(_shows(line, f) for f in forms):
                found += 1
            else:
                missing[label] += 1
    return Coverage(
        records=len(window.ids),
        rows=rows,
        values=values,
        found=found,
        missing=[f"{label} x{n}" for label, n in missing.most_common()],
    )


def structured_ids(structured: str, window: Window) -> int:
    return sum(1 for ident in window.ids if ident in structured)


# ---------------------------------------------------------------------- report
def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def spread(values: Sequence[float]) -> tuple[str, str, str]:
    """Median, p90 and min in ms."""
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]
    return ms(statistics.median(ordered)), ms(p90), ms(ordered[0])


def verdict(ok: bool) -> str:
    return "[green]PASS[/]" if ok else "[red]FAIL[/]"


def model_facing(tool: dict[str, Any]) -> dict[str, Any]:
    """What a host puts in front of the model for one tool."""
    return {
        "name": tool["name"],
        "description": tool.get("description", ""),
        "input_schema": tool.get("inputSchema", {}),
    }


def whoop_calls(paths: Sequence[str]) -> str:
    """Requests by what they asked for: ``2 recovery, 2 sleep``."""
    named: list[str] = []
    for path in paths:
        name = next(
            (
                kind if path == prefix else f"{kind} by id"
                for kind, prefix in COLLECTIONS.items()
                if path.startswith(prefix)
            ),
            path.removeprefix("/developer/v2/"),
        )
        named.append(name)
    return ", ".join(f"{n} {name}" for name, n in sorted(Counter(named).items())) or "none"


QUESTIONS: list[tuple[str, str, int]] = [
    ("sleep, last 7 days", "sleep", 7),
    ("recovery, last 30 days", "recovery", 30),
    ("workouts, last 30 days", "workout", 30),
]
TOOL_OF = {
    "sleep": "get-recent-sleep",
    "recovery": "get-recent-recovery",
    "workout": "get-recent-workouts",
}


def other_calls(windows: dict[tuple[str, int], Window]) -> list[tuple[str, dict[str, Any]]]:
    sleep_window = windows[("sleep", 7)]
    newest = max(sleep_window.core, key=lambda s: s.start)
    last: date = sleep_window.days.last
    fortnight = {"start": (last - timedelta(days=13)).isoformat(), "end": last.isoformat()}
    return [
        ("get-recent-cycles", {"days": 7}),
        ("get-daily-summary", {"days": 7}),
        ("get-profile", {}),
        ("get-record", {"kind": "sleep", "id": newest.source_id}),
        ("get-range", {"kind": "sleep", **fortnight}),
    ]


@dataclass
class Results:
    runs: int
    call_runs: int
    cold: ColdStart
    demo: ColdStart | None
    first_answer_s: list[float]
    sdk_first: SdkFirstAnswer
    http: HttpRuns | None
    calls: list[CallRuns]
    windows: dict[tuple[str, int], Window]


def measure(args: argparse.Namespace, console: Console) -> Results:
    wellpipe = Path(sys.executable).parent / "wellpipe"
    argv = shlex.split(args.command) if args.command else [str(wellpipe), "serve"]
    sandbox_app = WhoopSandbox(
        seed=SEED,
        # Far above WHOOP's 100 a minute: the benchmark starts dozens of servers, and each
        # has its own client-side throttle that keeps it under WHOOP's real limits.
        rate_limits=(RateLimit(1_000_000, 60),),
    )
    with (
        tempfile.TemporaryDirectory(prefix="wellpipe-bench-") as scratch,
        LoopbackSandbox(sandbox_app) as sandbox,
    ):
        folder = Path(scratch)
        env = {**os.environ, **make_home(folder / "home", sandbox)}
        log = folder / "server-stderr.log"
        console.print(f"WHOOP sandbox on {sandbox.origin}; server: {shlex.join(argv)}")
        windows = whoop_windows(sandbox, [(kind, days) for _, kind, days in QUESTIONS])
        answer_calls = [(TOOL_OF[kind], {"days": days}) for _, kind, days in QUESTIONS]
        cold = measure_cold_start(argv, env, log, args.runs)
        demo = None
        if not args.no_demo:
            demo = measure_cold_start([*argv, "--demo"], env, log, args.runs)
        first_answer = measure_first_answer(argv, env, log, args.runs, answer_calls[0])
        home_env = make_home_env(env)
        sdk_first = measure_sdk_first_answer(argv, home_env, log, args.call_runs, answer_calls[0])
        http = None
        if not args.no_http:
            http = measure_http(argv, env, log, args.call_runs, args.warm, answer_calls[0], sandbox)
        calls = measure_calls(
            argv,
            env,
            log,
            answer_calls + other_calls(windows),
            runs=args.call_runs,
            warm=args.warm,
            sandbox=sandbox,
        )
    return Results(
        args.runs, args.call_runs, cold, demo, first_answer, sdk_first, http, calls, windows
    )


def make_home_env(env: dict[str, str]) -> dict[str, str]:
    """What the SDK client adds to its allow-listed environment: Wellpipe's own variables."""
    return {key: value for key, value in env.items() if key.startswith("WELLPIPE_")}


def report(results: Results, console: Console, *, show: bool) -> None:
    startup = Table(title=f"Start-up, {results.runs} new processes each (ms)")
    for column in ("what", "median", "p90", "min", "target"):
        startup.add_column(column, justify="left" if column == "what" else "right")
    modes = [("serve (sandbox on loopback)", results.cold)]
    if results.demo is not None:
        modes.append(("serve --demo", results.demo))
    for label, measured in modes:
        median = statistics.median(measured.to_tools_s) * 1000
        startup.add_row(
            f"{label}: spawn -> initialize -> tools/list",
            *spread(measured.to_tools_s),
            f"<= {TARGET_COLD_START_MS:.0f} {verdict(median <= TARGET_COLD_START_MS)}",
        )
    for label, measured in modes:
        startup.add_row(
            f"{label}: spawn -> ... -> the SDK answers too", *spread(measured.to_ready_s), ""
        )
    sleep_call = f"{TOOL_OF['sleep']} {{days: 7}}"
    startup.add_row(
        f"serve: spawn -> initialize -> tools/list -> {sleep_call} answered",
        *spread(results.first_answer_s),
        "",
    )
    if results.http is not None:
        startup.add_row(
            f"serve --transport http: spawn -> initialize -> tools/list "
            f"({len(results.http.to_tools_s)} runs)",
            *spread(results.http.to_tools_s),
            "",
        )

    first_answer = Table(
        title=f"Time to first answer: the official mcp client spawns `wellpipe serve` and calls "
        f"{sleep_call}, {results.call_runs} runs per mode (ms)"
    )
    first_answer.add_column("what")
    for mode in SDK_MODES:
        first_answer.add_column(f"{mode} mode", justify="right")
    first_answer.add_column("target", justify="right")
    medians = {m: statistics.median(results.sdk_first.answer_s[m]) * 1000 for m in SDK_MODES}
    for label, pick in (("median", statistics.median), ("min", min), ("max", max)):
        first_answer.add_row(
            f"spawn -> first answer, {label}",
            *(ms(pick(results.sdk_first.answer_s[m])) for m in SDK_MODES),
            f"<= {TARGET_FIRST_ANSWER_MS:.0f} "
            f"{verdict(max(medians.values()) <= TARGET_FIRST_ANSWER_MS)}"
            if label == "median"
            else "",
        )
    first_answer.add_row(
        "spawn -> connected, median",
        *(ms(statistics.median(results.sdk_first.connect_s[m])) for m in SDK_MODES),
        "",
    )

    tools = results.cold.tools
    facing = count_tokens(compact([model_facing(t) for t in tools]))
    full = count_tokens(compact({"tools": tools}))
    listing = Table(title="tools/list in o200k_base tokens")
    for column in ("tool", "model-facing", "whole entry"):
        listing.add_column(column, justify="left" if column == "tool" else "right")
    for tool in tools:
        listing.add_row(
            tool["name"],
            str(count_tokens(compact(model_facing(tool)))),
            str(count_tokens(compact(tool))),
        )
    listing.add_row(
        f"all {len(tools)}, as one JSON array / the whole result",
        f"{facing} (<= {TARGET_TOOLS_LIST_TOKENS} {verdict(facing <= TARGET_TOOLS_LIST_TOKENS)})",
        str(full),
    )

    latency = Table(
        title=f"Tool calls (ms): cold = first call in a new, fully started server "
        f"({results.call_runs} servers); warm = repeats in one server"
    )
    for column in ("call", "cold median", "cold min", "warm median", "warm n", "WHOOP requests"):
        latency.add_column(column, justify="left" if column in ("call",) else "right")
    for one in results.calls:
        first = one.cold_requests[0] if one.cold_requests else []
        warm = f"; warm {statistics.median(one.warm_requests):.0f}" if one.warm_requests else ""
        latency.add_row(
            f"{one.name} {compact(one.arguments)}",
            ms(statistics.median(one.cold_s)),
            ms(min(one.cold_s)),
            ms(statistics.median(one.warm_s)) if one.warm_s else "-",
            str(len(one.warm_s)),
            f"{len(first)}: {whoop_calls(first)}{warm}",
        )

    if results.http is not None:
        http = results.http
        latency.add_row(
            f'{TOOL_OF["sleep"]} {{"days":7}} over streamable HTTP',
            ms(statistics.median(http.first_call_s)),
            ms(min(http.first_call_s)),
            ms(statistics.median(http.warm_s)) if http.warm_s else "-",
            str(len(http.warm_s)),
            f"{len(http.first_requests)}: {whoop_calls(http.first_requests)}",
        )

    answers = Table(title="Answers vs WHOOP's raw JSON for the same records (o200k_base tokens)")
    for column in (
        "question",
        "records",
        "raw JSON",
        "text",
        "text/raw",
        "structured",
        "struct/raw",
        "rows",
        "fields",
        "target",
    ):
        answers.add_column(column, justify="left" if column == "question" else "right")
    shown: list[tuple[str, str]] = []
    by_name = {m.name: m for m in results.calls}
    for question, kind, days in QUESTIONS:
        window = results.windows[(kind, days)]
        result = by_name[TOOL_OF[kind]].result
        text = text_of(result)
        structured = compact(result.get("structuredContent", {}))
        raw = count_tokens(compact(window.raw))
        text_tokens, structured_tokens = count_tokens(text), count_tokens(structured)
        covered = coverage(text, window)
        complete = covered.rows == covered.records
        kept = covered.found == covered.values
        small = text_tokens <= raw * TARGET_ANSWER_RATIO
        fields = f"{covered.found}/{covered.values}"
        if covered.missing:
            fields += f" (missing {', '.join(covered.missing)})"
        answers.add_row(
            question,
            f"{covered.records}",
            str(raw),
            str(text_tokens),
            f"{text_tokens / raw:.2f}",
            str(structured_tokens),
            f"{structured_tokens / raw:.2f}",
            f"{covered.rows}/{covered.records}"
            + f" (ids in structured {structured_ids(structured, window)})",
            fields,
            f"{verdict(small)} size, {verdict(complete)} rows, {verdict(kept)} fields",
        )
        shown.append((question, text))

    for table in (startup, first_answer, listing, latency, answers):
        console.print(table)
    console.print(
        "Start-up: `wellpipe serve` answers initialize, discover, the list methods, ping and "
        "tool calls itself and loads the MCP SDK only for a message it does not answer; 'the "
        "SDK answers too' is spawn until a request only the SDK can answer (an unknown "
        "method) comes back. A cold call "
        "is sent after that, so it is the first call's own cost (opening the WHOOP client, "
        "its first requests); the get-recent-sleep start-up row is the worst case, a call "
        "sent right after tools/list.",
        highlight=False,
    )
    console.print(
        "Model-facing tools/list = each tool's name, description and inputSchema as one "
        "compact JSON array [{name, description, input_schema}], the shape hosts send a model; "
        "the whole result adds titles, annotations and output schemas. Raw JSON = the "
        "window's records exactly as WHOOP's collection endpoints return them, as one compact "
        "JSON array (page wrappers and next_token left out). Text = the result's text "
        "content, which the target is judged on; structured = its structuredContent as "
        "compact JSON. Rows = records of the window whose id is on a line of the text; "
        "fields = the asked-about values (sleep: asleep, performance, efficiency, deep, "
        "REM, bed and wake times; recovery: score, HRV, resting HR; workouts: sport, start, "
        "end, strain, average HR, kcal) found on that record's line.",
        highlight=False,
    )
    if show:
        for question, text in shown:
            console.rule(question)
            console.print(text, markup=False, highlight=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="new processes per start-up row")
    parser.add_argument("--call-runs", type=int, default=5, help="cold calls per tool")
    parser.add_argument("--warm", type=int, default=10, help="warm calls per tool")
    parser.add_argument("--no-demo", action="store_true", help="skip `wellpipe serve --demo`")
    parser.add_argument("--no-http", action="store_true", help="skip `--transport http`")
    parser.add_argument(
        "--command",
        default=None,
        help="the server command (default: the wellpipe script beside this Python, then serve)",
    )
    parser.add_argument("--show", action="store_true", help="print the three answers' text")
    args = parser.parse_args()
    console = Console(width=None if sys.stdout.isatty() else 150)
    report(measure(args, console), console, show=args.show)


if __name__ == "__main__":
    main()
