"""``wellpipe serve`` / ``wellpipe demo``: local streamable HTTP (T-5.2) and the CLI wiring.

The HTTP app is the real one (`http_app`) under uvicorn on 127.0.0.1, in this
process, with tools reading the WHOOP sandbox. The CLI is also run for real as
a subprocess: its banner, its /mcp endpoint, and ``wellpipe demo`` choosing
stdio when started by a client.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2
import pytest
import uvicorn
from click.testing import CliRunner
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import connect
from tests.fakes import FakeClock
from wellpipe.cli import main
from wellpipe.cli.local_server import HTTP_TOKEN_ENV, _bind, _server, http_app
from wellpipe.cli.serve_command import STDIO_DEMO_NOTICE
from wellpipe.cli.server_plan import ServerPlan
from wellpipe.core.errors import ConfigError
from wellpipe.core.ports import HealthProvider
from wellpipe.mcp.server import WellpipeServer, build_server, single_provider
from wellpipe.mcp.static import load
from wellpipe.mcp.tools import TOOLS
from wellpipe.sandbox import WhoopSandbox

pytestmark = pytest.mark.timeout(60)

TOKEN = "test-token-0123456789"
TOOL_NAMES = [tool.name for tool in TOOLS]
MODERN = "2026-07-28"
ACCEPT = "application/json, text/event-stream"


# ------------------------------------------------------------------ serving
@dataclass(frozen=True)
class Local:
    """A running local HTTP server."""

    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"


@asynccontextmanager
async def serving(server: WellpipeServer, *, token: str | None) -> AsyncIterator[Local]:
    """`http_app` under uvicorn on 127.0.0.1 (a free port) while the block runs.

    The socket is bound and listening before the block starts (as ``run_http``
    does), so requests never race the start-up; uvicorn runs the app's lifespan.
    """
    sock = _bind(0)
    port: int = sock.getsockname()[1]
    app = http_app(server, port=port, token=token)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", log_config=None)
    runner = uvicorn.Server(config)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(runner.serve, [sock])
            try:
                yield Local(port)
            finally:
                runner.should_exit = True
    finally:
        sock.close()


def sandbox_server(sandbox: WhoopSandbox, clock: FakeClock) -> WellpipeServer:
    def open_provider() -> AbstractAsyncContextManager[HealthProvider]:
        return connect(sandbox, clock)

    return build_server(connect=single_provider(open_provider), clock=clock)


@pytest.fixture
async def gated(sandbox: WhoopSandbox, clock: FakeClock) -> AsyncIterator[Local]:
    """The app as ``wellpipe serve --transport http`` runs it for real data: token required."""
    async with serving(sandbox_server(sandbox, clock), token=TOKEN) as local:
        yield local


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------- raw requests
def era_request(era: str) -> tuple[dict[str, str], dict[str, Any]]:
    """The first POST a client of ``era`` sends: headers and JSON body."""
    if era == "legacy":
        return {}, {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "wellpipe-tests", "version": "0"},
            },
        }
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "wellpipe-tests", "version": "0"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    headers = {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/list"}
    return headers, {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}


async def post(url: str, era: str, headers: dict[str, str]) -> httpx2.Response:
    extra, body = era_request(era)
    async with httpx2.AsyncClient() as http:
        return await http.post(
            url,
            json=body,
            headers={"Accept": ACCEPT, **extra, **headers},
        )


def rpc_answer(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC message in a JSON or a one-event SSE response."""
    if response.headers["content-type"].startswith("application/json"):
        answer: dict[str, Any] = response.json()
        return answer
    data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
    messages = [json.loads(chunk) for chunk in data if chunk]
    [answer] = [message for message in messages if "id" in message]
    return answer


ERAS = pytest.mark.parametrize("era", ["legacy", "modern"])


# ------------------------------------------------------ Host, Origin, token
# One server per test and a table of cases: uvicorn takes ~0.2 s to stop.
HOST_ORIGIN_CASES: list[tuple[str, dict[str, str], int]] = [
    ("foreign host", {"Host": "evil.com"}, 421),
    ("foreign host, same port", {"Host": "evil.com:{port}"}, 421),
    ("loopback, other port", {"Host": "127.0.0.1:1"}, 421),
    ("foreign origin", {"Origin": "http://evil.com"}, 403),
    ("null origin", {"Origin": "null"}, 403),
    ("loopback origin, other port", {"Origin": "http://127.0.0.1:1"}, 403),
    ("https origin", {"Origin": "https://127.0.0.1:{port}"}, 403),
    ("no origin", {}, 200),
    ("own origin", {"Origin": "http://127.0.0.1:{port}"}, 200),
    ("localhost", {"Host": "localhost:{port}", "Origin": "http://localhost:{port}"}, 200),
]


@ERAS
async def test_host_and_origin_are_pinned_to_loopback(gated: Local, era: str) -> None:
    statuses: dict[str, int] = {}
    for case, headers, expected in HOST_ORIGIN_CASES:
        sent = {name: value.format(port=gated.port) for name, value in headers.items()}
        response = await post(gated.url, era, {**bearer(), **sent})
        statuses[case] = response.status_code
        if response.status_code == expected == 200:
            answer = rpc_answer(response)
            assert answer["id"] == 1, answer
            assert "result" in answer, answer
    assert statuses == {case: expected for case, _, expected in HOST_ORIGIN_CASES}


TOKEN_CASES: dict[str, str | None] = {
    "missing": None,
    "wrong": "Bearer wrong-token",
    "longer": f"Bearer {TOKEN}x",
    "prefix": f"Bearer {TOKEN[:-1]}",
    "no scheme": TOKEN,
    "scheme only": "Bearer",
    "basic": f"Basic {TOKEN}",
}


@ERAS
async def test_requests_without_the_token_get_401_saying_what_to_do(gated: Local, era: str) -> None:
    for case, authorization in TOKEN_CASES.items():
        headers = {} if authorization is None else {"Authorization": authorization}
        response = await post(gated.url, era, headers)
        assert response.status_code == 401, case
        assert response.headers["content-type"] == "application/json"
        assert response.headers["www-authenticate"].startswith("Bearer")
        body = response.json()
        assert body["error"] == "unauthorized"
        assert "bearer token" in body["detail"]
        assert HTTP_TOKEN_ENV in body["detail"]
        assert TOKEN not in response.text


async def test_every_path_and_method_needs_the_token(gated: Local) -> None:
    stream = {"Accept": "text/event-stream"}
    async with httpx2.AsyncClient() as http:
        for method, path, headers in [
            ("GET", "/mcp", stream),
            ("DELETE", "/mcp", {}),
            ("POST", "/mcp", {"Accept": ACCEPT}),
            ("GET", "/x", {}),
            ("GET", "/mcp", {"Host": "evil.com"}),  # no page for a foreign Host
        ]:
            url = f"http://127.0.0.1:{gated.port}{path}"
            response = await http.request(method, url, headers=headers)
            assert response.status_code == 401, (method, path, headers)


# ------------------------------------------------------------- a person's GET
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def test_a_browser_gets_a_page_saying_how_to_connect_to_the_demo(
    sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    async with (
        serving(sandbox_server(sandbox, clock), token=None) as local,
        httpx2.AsyncClient(timeout=10) as http,
    ):
        page = await http.get(local.url, headers={"Accept": BROWSER})
        curl = await http.get(local.url, headers={"Accept": "*/*"})
        root = await http.get(f"http://127.0.0.1:{local.port}/", headers={"Accept": BROWSER})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert "<title>Wellpipe MCP server" in page.text
    for said in (page.text, curl.text):
        assert local.url in said
        assert "MCP clients" in said
        assert "npx @modelcontextprotocol/inspector" in said
        assert "wellpipe claude install --demo" in said
    assert curl.status_code == 200
    assert curl.headers["content-type"].startswith("text/plain")
    assert root.status_code == 200
    assert local.url in root.text


async def test_the_page_of_the_real_server_needs_no_token_and_shows_none(gated: Local) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        page = await http.get(gated.url, headers={"Accept": BROWSER})
        curl = await http.get(gated.url)  # httpx sends Accept: */*
    for response in (page, curl):
        assert response.status_code == 200
        assert TOKEN not in response.text
        assert "bearer token" in response.text
        assert "wellpipe claude install" in response.text
        assert "--demo" not in response.text
        assert "Alex" not in response.text  # no data either


@pytest.mark.parametrize("token", [None, TOKEN], ids=["demo", "real"])
async def test_an_mcp_clients_get_still_opens_the_event_stream(
    sandbox: WhoopSandbox, clock: FakeClock, token: str | None
) -> None:
    async with serving(sandbox_server(sandbox, clock), token=token) as local:
        headers = {"Accept": "text/event-stream", **(bearer() if token else {})}
        async with (
            httpx2.AsyncClient(timeout=10) as http,
            http.stream("GET", local.url, headers=headers) as response,
        ):
            status, kind = response.status_code, response.headers.get("content-type", "")
    assert status == 200
    assert kind.startswith("text/event-stream")  # the stream, not the page


# --------------------------------------------------------------- end to end
@asynccontextmanager
async def http_client(
    url: str, mode: str, headers: dict[str, str] | None = None
) -> AsyncIterator[Client]:
    # The demo's first call builds every sandbox's history: seconds on a loaded machine,
    # more than httpx's default 5 s read timeout.
    async with httpx2.AsyncClient(headers=headers or {}, timeout=30) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode) as client:
            yield client


MODES = pytest.mark.parametrize(("mode", "era"), [("legacy", "2025-11-25"), (MODERN, MODERN)])


@MODES
async def test_with_the_token_mcp_works_end_to_end(gated: Local, mode: str, era: str) -> None:
    async with http_client(gated.url, mode, bearer()) as client:
        listed = await client.list_tools()
        assert [tool.name for tool in listed.tools] == TOOL_NAMES
        summary = await client.call_tool("get-daily-summary", {"days": 3})
        assert not summary.is_error, summary.content
        assert summary.structured_content is not None
        assert summary.structured_content["columns"][0] == "day"
        assert len(summary.structured_content["rows"]) == 3
        sleep = await client.call_tool("get-recent-sleep", {"days": 3})
        assert not sleep.is_error
        assert sleep.structured_content is not None
        assert sleep.structured_content["rows"]
        bad = await client.call_tool("get-recent-sleep", {"days": 0})
        assert bad.is_error
        # The client's protocol is the era asked for (checked last: the modern client
        # only knows it once it has spoken).
        assert client.protocol_version == era


@MODES
async def test_the_demo_app_needs_no_token(
    sandbox: WhoopSandbox, clock: FakeClock, mode: str, era: str
) -> None:
    async with serving(sandbox_server(sandbox, clock), token=None) as local:
        for which in ("legacy", "modern"):
            assert (await post(local.url, which, {})).status_code == 200
        # ... but Host and Origin are still pinned.
        assert (await post(local.url, "legacy", {"Host": "evil.com"})).status_code == 421
        assert (await post(local.url, "legacy", {"Origin": "null"})).status_code == 403
        async with http_client(local.url, mode) as client:
            profile = await client.call_tool("get-profile", {})
            assert not profile.is_error, profile.content
            assert client.protocol_version == era


# ------------------------------------------------------------------ binding
@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port: int = taken.getsockname()[1]
        yield port


def test_bind_on_a_taken_port_says_which_and_how_to_choose(taken_port: int) -> None:
    with pytest.raises(ConfigError) as caught:
        _bind(taken_port)
    sentence = str(caught.value)
    assert f"Port {taken_port}" in sentence
    assert "--port" in sentence
    assert "\n" not in sentence
    assert sentence.endswith(".")


def test_bind_listens_on_loopback_only() -> None:
    sock = _bind(0)
    try:
        host, port = sock.getsockname()
        assert host == "127.0.0.1"
        assert port > 0
    finally:
        sock.close()


def test_serve_http_on_a_taken_port_exits_78_with_the_sentence(
    taken_port: int, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        main,
        ["serve", "--demo", "--transport", "http", "--port", str(taken_port)],
        env={"WELLPIPE_HOME": str(tmp_path)},
    )
    assert result.exit_code == 78, result.output
    assert f"Port {taken_port}" in result.output
    assert "--port" in result.output
    assert "Traceback" not in result.output


# ------------------------------------------------- real data, not set up yet
async def test_real_data_without_setup_tells_the_user_to_run_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WELLPIPE_HOME", str(tmp_path))
    arguments: dict[str, dict[str, Any]] = {
        "get-range": {"kind": "sleep", "start": "2026-11-01", "end": "2026-11-07"},
        "get-record": {"kind": "sleep", "id": "abc"},
        "search": {"query": "sleep last week"},
        "fetch": {"id": "day:2026-11-01"},
    }
    plan = ServerPlan(demo=False, seed=42, transport="stdio", port=0)
    async with _server(plan) as server, Client(server) as client:
        for name in TOOL_NAMES:
            result = await client.call_tool(name, arguments.get(name, {}))
            assert result.is_error, name
            [text] = [block.text for block in result.content if block.type == "text"]
            assert "`wellpipe init`" in text, (name, text)
            assert "Traceback" not in text
    assert [path async for path in anyio.Path(tmp_path).iterdir()] == []  # nothing written


# ------------------------------------------------------------ the real CLI
@dataclass
class Spawned:
    proc: subprocess.Popen[str]
    banner: str

    async def interrupt(self) -> tuple[int, str]:
        """Press Ctrl-C (as the banner says to); the exit code and everything on stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        code = await anyio.to_thread.run_sync(self.proc.wait, 10)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()

    @property
    def url(self) -> str:
        found = re.search(r"URL:\s+(http://127\.0\.0\.1:\d+/mcp)\s", self.banner)
        assert found, self.banner
        return found.group(1)

    def claude_entry(self) -> dict[str, Any]:
        """The ``claude_desktop_config.json`` snippet the banner shows."""
        lines = self.banner.splitlines()
        start = next(i for i, line in enumerate(lines) if line.strip() == "{")
        end = next(i for i, line in enumerate(lines) if line == "  }" and i > start)
        entry: dict[str, Any] = json.loads("\n".join(lines[start : end + 1]))
        return entry


def _popen_wellpipe(
    args: tuple[str, ...], env: dict[str, str], stdin: int = subprocess.DEVNULL
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "wellpipe", *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., AbstractAsyncContextManager[Spawned]]]:
    procs: list[subprocess.Popen[str]] = []

    @asynccontextmanager
    async def start(
        *args: str, env: dict[str, str] | None = None, stdin: int = subprocess.DEVNULL
    ) -> AsyncIterator[Spawned]:
        proc = _popen_wellpipe(args, {"WELLPIPE_HOME": str(tmp_path), **(env or {})}, stdin)
        procs.append(proc)
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or "Ctrl-C stops the server." not in lines[-1]:
            line = await anyio.to_thread.run_sync(proc.stdout.readline)
            assert line, (
                f"exited early: {proc.wait()}, stderr: {proc.stderr and proc.stderr.read()}"
            )
            lines.append(line)
        spawned = Spawned(proc, "".join(lines))
        yield spawned
        _code, stderr = await spawned.interrupt()
        assert "Traceback" not in stderr, stderr

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


async def test_serve_demo_over_http_prints_the_banner_and_serves_mcp(spawn: Any) -> None:
    async with spawn("serve", "--demo", "--transport", "http", "--port", "0") as served:
        url = served.url
        port = int(url.split(":")[2].split("/")[0])
        assert port != 0
        assert "the built-in " in served.banner
        assert "WHOOP" in served.banner.split("the built-in ", 1)[1].split("(synthetic")[0]
        assert "Token:" not in served.banner
        assert "Authorization" not in served.banner
        assert (
            f"npx @modelcontextprotocol/inspector --cli {url} --transport http "
            "--method tools/call --tool-name get-daily-summary" in served.banner
        )
        assert "wellpipe claude install --demo" in served.banner
        entry = served.claude_entry()["mcpServers"]["wellpipe"]
        assert entry["args"][-2:] == ["serve", "--demo"]
        assert os.path.isabs(entry["command"])

        async with http_client(url, "legacy") as client:
            listed = await client.list_tools()
            assert [tool.name for tool in listed.tools] == TOOL_NAMES
            summary = await client.call_tool("get-daily-summary", {"days": 2})
            assert not summary.is_error, summary.content
        assert (await post(url, "legacy", {"Origin": "http://evil.com"})).status_code == 403


async def test_serve_real_data_over_http_needs_its_token_and_asks_for_init(spawn: Any) -> None:
    env = {HTTP_TOKEN_ENV: TOKEN}
    async with spawn("serve", "--transport", "http", "--port", "0", env=env) as served:
        url = served.url
        assert "your accounts (none connected yet" in served.banner
        assert f"Token: {TOKEN}" in served.banner
        assert f'--header "Authorization: Bearer {TOKEN}"' in served.banner
        entry = served.claude_entry()["mcpServers"]["wellpipe"]
        assert entry["args"][-1] == "serve"

        assert (await post(url, "legacy", {})).status_code == 401
        async with http_client(url, MODERN, bearer()) as client:
            result = await client.call_tool("get-daily-summary", {})
            assert result.is_error
            [text] = [block.text for block in result.content if block.type == "text"]
            assert "`wellpipe init`" in text


async def test_ctrl_c_stops_the_http_server_cleanly(spawn: Any) -> None:
    async with spawn("demo", "--transport", "http", "--port", "0") as served:
        code, stderr = await served.interrupt()
    assert "Aborted!" not in stderr
    assert code == 0


STDIO_OPENING = [
    {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "wellpipe-tests", "version": "0"},
        },
    },
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 8, "method": "tools/list"},
]


def test_demo_with_transport_stdio_speaks_stdio_and_says_so_on_stderr(tmp_path: Path) -> None:
    static = load()
    done = subprocess.run(
        [sys.executable, "-m", "wellpipe", "demo", "--transport", "stdio"],
        input="".join(json.dumps(message) + "\n" for message in STDIO_OPENING),
        capture_output=True,
        text=True,
        timeout=20,
        env={**os.environ, "WELLPIPE_HOME": str(tmp_path)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]  # protocol only
    assert answers == [
        {
            "jsonrpc": "2.0",
            "id": 7,
            "result": {**static["initialize"], "protocolVersion": "2025-06-18"},
        },
        {"jsonrpc": "2.0", "id": 8, "result": static["lists"]["tools/list"]},
    ]
    notice = [line for line in done.stderr.splitlines() if "Wellpipe demo" in line]
    assert notice == [STDIO_DEMO_NOTICE]
    assert "MCP on stdio" in notice[0]
    assert "Wellpipe MCP server on" not in done.stdout + done.stderr  # no HTTP banner


def test_demo_with_transport_stdio_and_nothing_to_read_still_says_so(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wellpipe", "demo", "--transport", "stdio"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=20,
        env={**os.environ, "WELLPIPE_HOME": str(tmp_path)},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert STDIO_DEMO_NOTICE in done.stderr.splitlines()


async def test_demo_without_a_terminal_serves_http_like_in_one(spawn: Any) -> None:
    """From an IDE, nohup or CI (stdin not a terminal) the quick start does what it says."""
    async with spawn("demo", "--port", "0") as served:  # stdin is /dev/null
        assert "Wellpipe MCP server on the built-in" in served.banner
        async with http_client(served.url, "legacy") as client:
            listed = await client.list_tools()
            assert [tool.name for tool in listed.tools] == TOOL_NAMES


async def test_demo_in_a_terminal_serves_http_too(spawn: Any) -> None:
    import pty

    controller, terminal = pty.openpty()
    try:
        async with spawn("demo", "--port", "0", stdin=terminal) as served:
            assert "Wellpipe MCP server on the built-in" in served.banner
            async with httpx2.AsyncClient(timeout=10) as http:
                page = await http.get(served.url, headers={"Accept": BROWSER})
            assert page.status_code == 200
            assert served.url in page.text
    finally:
        os.close(terminal)
        os.close(controller)


async def test_the_demo_banner_and_claude_install_demo_write_the_same_entry(
    spawn: Any, tmp_path: Path
) -> None:
    env = {"WELLPIPE_HOME": str(tmp_path / "home")}
    async with spawn("demo", "--port", "0", env=env) as served:
        printed = served.claude_entry()["mcpServers"]
    config = tmp_path / "claude_desktop_config.json"
    installed = await anyio.run_process(
        [sys.executable, "-m", "wellpipe", "claude", "install", "--demo", "--config", str(config)],
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
        check=False,
    )
    assert installed.returncode == 0, installed.stderr.decode()
    written = json.loads(config.read_text())["mcpServers"]
    assert printed == written  # name, command, args and env, exactly
    [entry] = written.values()
    assert entry["args"][-2:] == ["serve", "--demo"]
