"""``wellpipe serve --demo`` over real stdio, in a subprocess: the fast front plus the SDK.

The SDK's own client drives it in both protocol eras; a raw newline-delimited
driver checks what only the wire shows (R-5.1, T-5.1): every stdout line is a
JSON-RPC message, every request gets exactly one answer, the front's internal
replay never leaks, logs go to stderr only, and EOF ends the process promptly.
Answers the front gives in place of the SDK are checked against the SDK
itself, run in memory in this process.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

import mcp_types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client._memory import InMemoryTransport  # the SDK's own in-process transport
from mcp.shared.message import SessionMessage

from wellpipe.core.ports import HealthProvider
from wellpipe.mcp.server import build_server
from wellpipe.mcp.static import load
from wellpipe.mcp.tools import TOOLS

pytestmark = pytest.mark.timeout(60)

TOOL_NAMES = [tool.name for tool in TOOLS]
REPLAY_ID = "wellpipe-stdio-front-initialize"
HANDSHAKE_VERSION = "2025-11-25"
Message = dict[str, Any]


def initialize(ident: int | str = 0, version: str = HANDSHAKE_VERSION) -> Message:
    return {
        "jsonrpc": "2.0",
        "id": ident,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": "wellpipe-tests", "version": "0"},
        },
    }


INITIALIZED: Message = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def request(ident: int | str, method: str, params: Any = None) -> Message:
    message: Message = {"jsonrpc": "2.0", "id": ident, "method": method}
    if params is not None:
        message["params"] = params
    return message


def tool_call(ident: int | str, name: str, arguments: Any) -> Message:
    return request(ident, "tools/call", {"name": name, "arguments": arguments})


# --------------------------------------------------------------- the wire
class Wire:
    """``python -m wellpipe <args>`` with its stdin, stdout and stderr as pipes.

    Threads drain stdout (each line, parsed, onto a queue) and stderr (kept
    whole), so reads have timeouts and the child never blocks on a full pipe.
    """

    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None) -> None:
        env = {**os.environ, "WELLPIPE_HOME": str(home), **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wellpipe", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert self.proc.stdin is not None
        self._stdin: IO[bytes] = self.proc.stdin
        self.raw_lines: list[bytes] = []
        self._stderr: list[bytes] = []
        self._lines: queue.Queue[Message | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._drain_stdout, daemon=True),
            threading.Thread(target=self._drain_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _drain_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw_lines.append(line)
            try:
                parsed = json.loads(line)
            except ValueError:
                parsed = {"unparsable": line.decode("utf-8", "replace")}
            self._lines.put(parsed)
        self._lines.put(None)

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return b"".join(self._stderr).decode("utf-8", "replace")

    def send(self, *messages: Message | str) -> None:
        for message in messages:
            text = message if isinstance(message, str) else json.dumps(message)
            self._stdin.write(text.encode() + b"\n")
        self._stdin.flush()

    def receive(self, timeout: float = 15.0) -> Message:
        try:
            message = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no answer within {timeout} s; stderr:\n{self.stderr}") from None
        assert message is not None, f"stdout closed early; stderr:\n{self.stderr}"
        return message

    def ask(self, message: Message, timeout: float = 15.0) -> Message:
        """Send one request and return its answer (nothing else may come first)."""
        self.send(message)
        answer = self.receive(timeout)
        assert answer.get("id") == message["id"], answer
        return answer

    def close_stdin(self) -> None:
        self._stdin.close()

    def wait(self, timeout: float) -> int:
        """The exit code, once the process has exited and both pipes are drained."""
        code = self.proc.wait(timeout)
        for thread in self._threads:
            thread.join(timeout)
        return code

    def rest(self) -> list[Message]:
        """Whatever stdout carried that was not received yet (call after `wait`)."""
        left: list[Message] = []
        while (message := self._lines.get_nowait()) is not None:
            left.append(message)
        return left

    def shut(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for thread in self._threads:
            thread.join(5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def wire(tmp_path: Path) -> Iterator[Any]:
    """Start ``python -m wellpipe <args>``; the test gets a function that starts one."""
    started: list[Wire] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Wire:
        started.append(Wire(tmp_path, *args, env=env))
        return started[-1]

    yield start
    for each in started:
        each.shut()


def assert_jsonrpc(message: Message) -> None:
    """The SDK's own validator accepts it, and it says JSON-RPC 2.0."""
    assert message.get("jsonrpc") == "2.0", message
    mcp_types.jsonrpc_message_adapter.validate_python(message)


# ------------------------------------------------------- the SDK as oracle
def _unusable(_provider: str | None) -> AbstractAsyncContextManager[Sequence[HealthProvider]]:
    raise AssertionError("the handshake never reads data")


async def sdk_says(messages: list[Message], server: Any = None) -> dict[Any, Message]:
    """What the SDK server (in memory, no front) answers to ``messages``, by request id.

    ``server`` defaults to one that reads no data. Answers are dumped as the SDK's
    stdio transport writes them.
    """
    answers: dict[Any, Message] = {}
    async with InMemoryTransport(server or build_server(connect=_unusable)) as (read, write):
        for message in messages:
            payload = mcp_types.jsonrpc_message_adapter.validate_python(message)
            await write.send(SessionMessage(payload))
            if "id" in message:
                answer = await read.receive()
                assert isinstance(answer, SessionMessage)
                answers[message["id"]] = answer.message.model_dump(
                    mode="json", by_alias=True, exclude_unset=True
                )
    return answers


# ------------------------------------------------------- the SDK's client
@asynccontextmanager
async def sdk_client(home: Path, mode: str) -> AsyncIterator[Client]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "wellpipe", "serve", "--demo"],
        env={"WELLPIPE_HOME": str(home)},
    )
    async with Client(params, mode=mode) as client:
        yield client


@pytest.mark.parametrize(
    ("mode", "era"), [("legacy", HANDSHAKE_VERSION), ("auto", "2026-07-28")], ids=["legacy", "auto"]
)
async def test_sdk_client_lists_and_calls_tools_over_stdio(
    tmp_path: Path, mode: str, era: str
) -> None:
    async with sdk_client(tmp_path, mode) as client:
        assert client.protocol_version == era
        listed = await client.list_tools()
        assert [tool.name for tool in listed.tools] == TOOL_NAMES
        # The front answers tools/list in both eras: the precomputed list.
        dumped = [
            tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in listed.tools
        ]
        assert dumped == load()["lists"]["tools/list"]["tools"]

        summary = await client.call_tool("get-daily-summary", {})
        sleep = await client.call_tool("get-recent-sleep", {"days": 3})
        for result in (summary, sleep):
            assert not result.is_error, result.content
            assert result.structured_content is not None
            assert result.structured_content["columns"]
            assert result.structured_content["rows"]
        assert sleep.structured_content is not None
        assert len(sleep.structured_content["rows"]) >= 2

        bad = await client.call_tool("get-recent-sleep", {"days": 0})
        assert bad.is_error
        [text] = [block.text for block in bad.content if block.type == "text"]
        assert "days" in text
        assert text.endswith(".")
        assert "Traceback" not in text
        assert "\n" not in text


# ------------------------------------------------------- the raw driver
def _calls(today: date) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """~50 tool calls: every tool, several windows (good), and every kind of mistake (bad)."""
    week_ago, fortnight_ago = today - timedelta(days=7), today - timedelta(days=14)
    good: list[tuple[str, Any]] = [("get-daily-summary", {"days": d}) for d in range(1, 8)]
    for name in ("get-recent-sleep", "get-recent-recovery", "get-recent-workouts"):
        good += [(name, {"days": d}) for d in (1, 3, 7)]
    good += [("get-recent-cycles", {}), ("get-recent-cycles", {"days": 30})]
    good += [
        ("get-range", {"kind": kind, "start": str(fortnight_ago), "end": str(week_ago)})
        for kind in ("summary", "sleep", "recovery", "workout", "cycle")
    ]
    good += [("get-profile", {}), ("get-profile", None)]
    bad: list[tuple[str, Any]] = [
        ("get-recent-sleep", {"days": 0}),
        ("get-recent-sleep", {"days": 3661}),
        ("get-recent-sleep", {"days": "a week"}),
        ("get-recent-sleep", {"days": 3, "user_id": 1}),
        ("get-daily-summary", {"days": None}),
        ("get-range", {"kind": "sleep", "start": str(week_ago), "end": str(fortnight_ago)}),
        ("get-range", {"kind": "sleep", "start": str(today + timedelta(days=30)), "end": "x"}),
        ("get-range", {"kind": "steps", "start": str(week_ago), "end": str(today)}),
        ("get-range", {"kind": "sleep", "start": "2020-01-01", "end": "2021-01-01"}),
        ("get-range", {}),
        ("get-record", {"kind": "sleep", "id": "not-a-real-id"}),
        ("get-record", {"kind": "workout", "id": "00000000-0000-0000-0000-000000000000"}),
        ("get-record", {"kind": "cycle", "id": "999999999"}),
        ("get-record", {"kind": "recovery", "id": "nope"}),
        ("get-record", {"kind": "sleep", "id": ""}),
        ("get-record", {"kind": "sleep", "id": "x" * 500}),
        ("get-profile", {"verbose": True}),
        ("delete-everything", {}),
        ("", {}),
    ]
    return good, bad


@pytest.mark.timeout(60)
def test_stdout_carries_only_json_rpc_and_every_request_one_answer(wire: Any) -> None:
    static = load()
    server = wire("-vv", "serve", "--demo")

    # The handshake, answered by the front: exactly what the SDK would say.
    answer = server.ask(initialize(0))
    expected = {**static["initialize"], "protocolVersion": static["negotiated"][HANDSHAKE_VERSION]}
    assert answer == {"jsonrpc": "2.0", "id": 0, "result": expected}
    server.send(INITIALIZED)
    assert server.ask(request(1, "tools/list")) == {
        "jsonrpc": "2.0",
        "id": 1,
        "result": static["lists"]["tools/list"],
    }

    # One call first (the front answers it), for ids that get-record can look up.
    listed = server.ask(tool_call(2, "get-recent-workouts", {"days": 14}))
    table = listed["result"]["structuredContent"]
    ids = [row[table["columns"].index("id")] for row in table["rows"]]
    assert ids, "the demo history has workouts in the last two weeks"

    good, bad = _calls(date.today())
    good += [("get-record", {"kind": "workout", "id": ident}) for ident in ids[:3]]
    sent: dict[int, tuple[str, Any, bool]] = {}
    for number, (name, arguments) in enumerate(good + bad, start=3):
        sent[number] = (name, arguments, number - 3 < len(good))
        if number - 3 == len(good):
            # A method only the SDK answers: the front hands off, mid-stream, and the
            # SDK answers the rest (the front's calls still in flight answer too).
            server.send(request("level", "logging/setLevel", {"level": "debug"}))
        server.send(tool_call(number, name, arguments))
    server.send(request("ping-after", "ping"), request("resources-after", "resources/list"))
    pending = {*sent, "level", "ping-after", "resources-after"}
    answers: dict[Any, Message] = {}
    while pending:
        message = server.receive()
        assert_jsonrpc(message)
        assert message.get("id") in pending, message
        pending.discard(message["id"])
        answers[message["id"]] = message
    assert len(sent) >= 45

    # Every answer is a tool result (never a JSON-RPC error); errors are one sentence.
    for number, (name, arguments, ok) in sent.items():
        result = answers[number]["result"]
        [block] = result["content"]
        text = block["text"]
        assert result["isError"] is not ok, (name, arguments, text)
        assert "Traceback" not in text, (name, arguments, text)
        if ok:
            assert "structuredContent" in result, (name, arguments)
        else:
            assert text.endswith("."), (name, arguments, text)
            assert "\n" not in text, (name, arguments, text)
    assert answers["level"]["error"]["code"] == -32601  # the SDK's answer: no logging here
    assert answers["ping-after"]["result"] == {}
    assert answers["resources-after"]["result"] == {"resources": []}

    # EOF once everything is answered: a clean, quick exit and nothing more on stdout.
    started = time.monotonic()
    server.close_stdin()
    assert server.wait(10) == 0
    assert time.monotonic() - started < 5
    assert server.rest() == []

    # Every line was protocol; the ids are exactly those sent, each answered once.
    lines = [json.loads(line) for line in server.raw_lines]
    for line in lines:
        assert_jsonrpc(line)
    answered = [json.dumps(line["id"]) for line in lines if "id" in line]
    assert sorted(answered) == sorted(json.dumps(ident) for ident in (0, 1, 2, *answers))
    assert REPLAY_ID.encode() not in b"".join(server.raw_lines)

    # -vv logging was on (httpx2's request lines show only then), and went to stderr.
    assert "INFO httpx2: HTTP Request: GET http://sandbox.whoop.invalid/" in server.stderr


# ------------------------------------------------------------- the handshake
LISTINGS = ("tools/list", "prompts/list", "resources/list", "resources/templates/list")


async def test_eof_after_the_handshake_exits_at_once(wire: Any) -> None:
    handshake: list[Message] = [
        initialize(0),
        INITIALIZED,
        *(request(number, method) for number, method in enumerate(LISTINGS, start=1)),
        request("p", "ping"),
    ]
    expected = await sdk_says(handshake)
    server = wire("serve", "--demo")
    for message in handshake:
        if "id" in message:
            assert server.ask(message) == expected[message["id"]], message["method"]
        else:
            server.send(message)

    started = time.monotonic()
    server.close_stdin()
    assert server.wait(5) == 0
    assert time.monotonic() - started < 1.0  # not waiting for the SDK, still importing
    assert server.rest() == []
    assert server.stderr == ""


async def test_an_unknown_old_protocol_version_is_answered_as_the_sdk_would(
    wire: Any,
) -> None:
    opening = initialize(0, version="1999-01-01")
    expected = await sdk_says([opening])
    server = wire("serve", "--demo")
    answer = server.ask(opening)  # by the front
    assert answer == expected[0]
    assert answer["result"]["protocolVersion"] == load()["negotiated"]["*"]
    server.send(INITIALIZED)

    # The SDK gets the same handshake replayed, accepts it, and serves the call.
    result = server.ask(tool_call(1, "get-recent-sleep", {"days": 3}))["result"]
    assert not result["isError"], result
    assert result["structuredContent"]["rows"]

    server.close_stdin()
    assert server.wait(10) == 0
    assert server.rest() == []


async def test_listing_before_initialize_and_a_future_version_are_the_sdks_to_answer(
    wire: Any,
) -> None:
    conversation: list[Message] = [
        request("early", "tools/list"),  # before initialize: the front hands off at once
        initialize(0, version="2099-01-01"),  # newer than any handshake revision
        INITIALIZED,
        request(1, "tools/list"),
        request(2, "ping"),
    ]
    expected = await sdk_says(conversation)
    assert "error" in expected["early"]  # what the SDK says, whatever it is
    server = wire("serve", "--demo")
    for message in conversation:
        if "id" in message:
            assert server.ask(message) == expected[message["id"]], message
        else:
            server.send(message)
    answer = server.ask(tool_call(3, "get-profile", {}))
    assert not answer["result"]["isError"], answer

    server.close_stdin()
    assert server.wait(10) == 0
    assert server.rest() == []
    assert REPLAY_ID.encode() not in b"".join(server.raw_lines)


# ------------------------------------------------------------------ bugs
def test_calls_in_flight_at_eof_are_all_answered(wire: Any) -> None:
    server = wire("serve", "--demo")
    server.ask(initialize(0))
    server.send(INITIALIZED)
    numbers = range(1, 6)
    server.send(*(tool_call(n, "get-daily-summary", {"days": n}) for n in numbers))
    server.close_stdin()  # the client leaves right after asking (e.g. a piped one-shot)

    assert server.wait(15) == 0
    answers = {message["id"]: message for message in server.rest()}
    assert set(answers) == set(numbers), f"answered: {sorted(answers)}"
    for answer in answers.values():
        assert not answer["result"]["isError"], answer


def test_malformed_messages_do_not_kill_the_server(wire: Any) -> None:
    server = wire("serve", "--demo")
    server.ask(initialize(0))
    server.send(INITIALIZED)
    # The SDK drops what it cannot parse as JSON-RPC, without an answer.
    server.send(request(1, "tools/list", [1]))
    server.send({"jsonrpc": "2.0", "id": 2, "method": ["tools/list"]})
    server.send("[" * 100_000)
    assert server.ask(request(3, "ping"), timeout=10) == {"jsonrpc": "2.0", "id": 3, "result": {}}
    assert server.ask(request(4, "tools/list"))["result"] == load()["lists"]["tools/list"]
    assert "Traceback" not in server.stderr


# ------------------------------------------------- tool calls without the SDK
MODERN_VERSION = "2026-07-28"
ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "wellpipe-tests", "version": "0"},
}


def modern(ident: int | str, method: str, params: dict[str, Any] | None = None) -> Message:
    return request(ident, method, {**(params or {}), "_meta": dict(ENVELOPE)})


# Past days only: today's partial day grows while the two servers answer (steps, energy).
_PAST = {
    "start": str(date.today() - timedelta(days=8)),
    "end": str(date.today() - timedelta(days=2)),
}
FRONT_CALLS: list[tuple[str, Any]] = [
    ("get-range", {"kind": "sleep", **_PAST}),
    ("get-range", {"kind": "summary", **_PAST}),
    ("get-profile", {}),
    ("get-profile", None),
    ("get-recent-sleep", {"days": 0}),
    ("get-recent-sleep", {"days": 3, "user_id": 1}),
    ("get-record", {"kind": "sleep", "id": "not-a-real-id"}),
    ("delete-everything", {}),
]


async def sdk_answers_with_data(messages: list[Message]) -> dict[Any, Message]:
    """What the SDK server over the demo's providers answers, in memory, by request id."""
    from wellpipe.cli.local_server import _server
    from wellpipe.cli.server_plan import ServerPlan

    async with _server(ServerPlan(demo=True, seed=42, transport="stdio", port=0)) as server:
        return await sdk_says(messages, server)


def _conversation(era: str) -> list[Message]:
    if era == "legacy":
        opening: list[Message] = [initialize(0), INITIALIZED]
        calls = [tool_call(n, name, args) for n, (name, args) in enumerate(FRONT_CALLS, 1)]
    else:
        opening = [modern(0, "server/discover")]
        calls = [
            modern(n, "tools/call", {"name": name, "arguments": args})
            for n, (name, args) in enumerate(FRONT_CALLS, 1)
        ]
    return [*opening, *calls]


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_the_front_answers_tool_calls_exactly_as_the_sdk_does(wire: Any, era: str) -> None:
    conversation = _conversation(era)
    expected = await sdk_answers_with_data(conversation)
    server = wire("serve", "--demo")
    server.send(*conversation)
    answers: dict[Any, Message] = {}
    while len(answers) < len(expected):
        answer = server.receive()
        answers[answer["id"]] = answer
    for ident, answer in expected.items():
        assert answers[ident] == answer, ident
    assert not answers[1]["result"]["isError"]
    assert answers[5]["result"]["isError"]
    server.close_stdin()
    assert server.wait(10) == 0
    assert server.rest() == []


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_a_first_answer_loads_neither_the_mcp_sdk_nor_the_cli(
    wire: Any, tmp_path: Path, era: str
) -> None:
    # Packages that cannot be imported: whatever the front answers, it answered without them.
    poisoned = tmp_path / "poisoned"
    for package in ("mcp", "mcp_types", "click", "rich"):
        (poisoned / package).mkdir(parents=True)
        (poisoned / package / "__init__.py").write_text(
            f"raise ImportError('the stdio fast path imported {package}')\n", encoding="utf-8"
        )
    path = os.pathsep.join([str(poisoned), *sys.path])
    server = wire("serve", "--demo", env={"PYTHONPATH": path})
    conversation = _conversation(era)
    if era == "legacy":
        conversation += [request("list", "tools/list"), request("ping", "ping")]
    else:
        conversation += [modern("list", "tools/list")]
    server.send(*conversation)
    expected = {m["id"] for m in conversation if "id" in m}
    answers: dict[Any, Message] = {}
    while len(answers) < len(expected):
        answer = server.receive()
        answers[answer["id"]] = answer
    assert all("result" in answer for answer in answers.values()), answers
    assert not answers[1]["result"]["isError"]
    assert answers[1]["result"]["structuredContent"]["rows"]
    assert "imported mcp" not in server.stderr

    # Only a method the front does not know loads the SDK (which here fails, and says so).
    server.send(request("unknown", "wellpipe/unknown"))
    server.close_stdin()
    assert server.wait(15) == 0
    assert "the stdio fast path imported mcp" in server.stderr


def test_a_cancelled_call_is_never_answered(wire: Any) -> None:
    server = wire("serve", "--demo")
    cancel = {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": 1, "reason": "the user moved on"},
    }
    # All at once: the call is cancelled while the tools are still loading.
    server.send(
        initialize(0),
        INITIALIZED,
        tool_call(1, "get-daily-summary", {"days": 30}),
        cancel,
        tool_call(2, "get-profile", {}),
    )
    assert server.receive()["id"] == 0
    answer = server.receive()
    assert answer["id"] == 2
    assert not answer["result"]["isError"]
    server.close_stdin()
    assert server.wait(10) == 0
    assert server.rest() == []
