"""The stdio server's fast path: answer what Claude Desktop asks first without loading the MCP SDK.

Importing the MCP SDK takes about 0.6 s (its protocol types are hundreds of
pydantic models, built at import), more than a whole first answer may take.
Nothing a client asks first needs it: the handshake and the listings never
change (`wellpipe.mcp.static`, generated from the SDK server), and a tool call
is `ToolRunner`'s work (`wellpipe.mcp.calls`), which the SDK server runs too.
So the front:

1. takes the real stdin/stdout for itself and points file descriptors 0 and 1
   at pipes, which the SDK's stdio transport will use if it is ever needed;
2. answers, in either protocol era (the client's first request decides it,
   as the SDK decides it): the legacy ``initialize`` handshake, ``ping``, the
   2026-07-28 ``server/discover``, the listings, and ``tools/call``;
3. runs tool calls on an event loop of its own thread, where the tool runner
   (and the providers it opens) loads while the handshake is answered;
4. on the first message it does not answer (an unknown method, a malformed or
   unusual request), loads the SDK on that same loop with the same runner,
   replays the handshake into it, drops the SDK's duplicate answer, and from
   then on relays every line both ways.

An answer the front gives is the SDK's answer, byte for byte where it matters:
tests hold the two side by side. Only lines that parse as JSON-RPC reach the
client: anything else written to file descriptor 1 goes to stderr, so stdout
carries protocol only. Until a message needs more, this module imports only
the standard library.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import IO, TYPE_CHECKING, Any

from wellpipe.mcp.static import load

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal

    from wellpipe.mcp.calls import ToolOutcome, ToolRunner

__all__ = ["serve_stdio"]

_REPLAY_ID = "wellpipe-stdio-front-initialize"
_SENTINEL = b'{"wellpipe-stdio-front":"sdk-stopped"}\n'
_SHUTDOWN_GRACE_S = 10.0
_VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
_CAPABILITIES_KEY = "io.modelcontextprotocol/clientCapabilities"
_CLIENT_INFO_KEY = "io.modelcontextprotocol/clientInfo"

OpenRunner = Callable[[], AbstractAsyncContextManager["ToolRunner"]]
RunSdk = Callable[["ToolRunner"], Awaitable[None]]


def _key(ident: Any) -> str:
    return json.dumps(ident)


def _envelope(params: Any) -> dict[str, Any] | None:
    """The 2026-07-28 per-request ``_meta`` of ``params``, if it carries the version key."""
    meta = params.get("_meta") if isinstance(params, dict) else None
    return meta if isinstance(meta, dict) and _VERSION_KEY in meta else None


class _Loop:
    """An event loop on its own thread, holding the tool runner; started once, at spawn.

    Tool calls run here, and so does the SDK after a hand-off, so both share
    one runner (one set of provider connections, one token refresher).
    """

    def __init__(self, open_runner: OpenRunner) -> None:
        self._open_runner = open_runner
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._backlog: list[Callable[[], None]] = []
        self._portal_cm: AbstractContextManager[BlockingPortal] | None = None
        self._runner_cm: AbstractContextManager[ToolRunner] | None = None
        self.portal: BlockingPortal | None = None
        self.runner: ToolRunner | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin loading (imports, the runner) in the background; idempotent."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._open, name="mcp-tools", daemon=True)
                self._thread.start()

    def _open(self) -> None:
        # What loads here (modules, pydantic's models) lives as long as the process:
        # the cyclic collector would only walk it again and again while it loads. So
        # it is off for the load, and what was made is frozen out of its way after.
        gc.disable()
        try:
            from anyio.from_thread import start_blocking_portal

            self._portal_cm = start_blocking_portal()
            self.portal = self._portal_cm.__enter__()
            self._runner_cm = self.portal.wrap_async_context_manager(self._open_runner())
            self.runner = self._runner_cm.__enter__()
        except BaseException as exc:  # every call then gets the unexpected-error answer
            sys.stderr.write(f"wellpipe: the MCP server could not start: {exc}\n")
        finally:
            gc.freeze()
            gc.enable()
        with self._lock:
            self._ready.set()
            backlog, self._backlog = self._backlog, []
        for job in backlog:
            job()

    def when_ready(self, job: Callable[[], None]) -> None:
        """Run ``job`` (on this thread or the loader's) once the runner is open or failed."""
        self.start()
        with self._lock:
            if not self._ready.is_set():
                self._backlog.append(job)
                return
        job()

    def close(self) -> None:
        """Close the runner (its providers' connections) and stop the loop."""
        if not self._ready.is_set():
            return  # still importing: nothing was opened, and the process is about to end
        for manager in (self._runner_cm, self._portal_cm):
            if manager is not None:
                try:
                    manager.__exit__(None, None, None)
                except Exception as exc:  # closing must not hide the answers already sent
                    sys.stderr.write(f"wellpipe: closing the MCP server: {exc}\n")


class _Front:
    def __init__(self, open_runner: OpenRunner, run_sdk: RunSdk) -> None:
        self._loop = _Loop(open_runner)
        self._loop.start()  # first: the runner loads while the handshake is answered
        self._static = load()
        self._modern = self._static["modern"]
        self._run_sdk = run_sdk
        self._client_in: IO[bytes] = os.fdopen(os.dup(0), "rb")
        self._client_out: IO[bytes] = os.fdopen(os.dup(1), "wb")
        sdk_in_r, self._sdk_in_w = os.pipe()
        self._sdk_out_r, sdk_out_w = os.pipe()
        os.dup2(sdk_in_r, 0)
        os.dup2(sdk_out_w, 1)
        os.close(sdk_in_r)
        os.close(sdk_out_w)
        self._out_lock = threading.Lock()
        self._era: str | None = None  # "legacy" or "modern", fixed by the first request
        self._initialized = False
        self._replay: list[dict[str, Any]] = []  # what the SDK must see first at a hand-off
        self._handed_off = False
        self._settled = threading.Condition()
        self._pending: set[str] = set()  # ids of forwarded requests the SDK has not answered
        self._calls: dict[str, Future[ToolOutcome] | None] = {}  # the front's own tool calls
        self._relay_done = False
        self._relay = threading.Thread(target=self._relay_sdk, name="mcp-relay", daemon=True)

    # ---------------------------------------------------------------- the SDK, on hand-off
    def _relay_sdk(self) -> None:
        drop_replay = True
        try:
            with os.fdopen(self._sdk_out_r, "rb") as sdk_out:
                for line in sdk_out:
                    if line == _SENTINEL:
                        break
                    try:
                        message = json.loads(line)
                    except (ValueError, RecursionError):
                        sys.stderr.write(line.decode("utf-8", "replace"))
                        continue
                    if (
                        drop_replay
                        and isinstance(message, dict)
                        and message.get("id") == _REPLAY_ID
                    ):
                        drop_replay = False  # the client already has our answer
                        continue
                    self._send_raw(line if line.endswith(b"\n") else line + b"\n")
                    if isinstance(message, dict) and "method" not in message and "id" in message:
                        self._settle(message["id"])
        finally:
            with self._settled:
                self._relay_done = True
                self._settled.notify_all()

    def _start_sdk(self) -> None:
        loop = self._loop

        def run() -> None:
            if loop.portal is None or loop.runner is None:
                os.write(1, _SENTINEL)  # nothing to run it on: the failure is on stderr
                return
            future = loop.portal.start_task_soon(self._run_sdk, loop.runner)
            future.add_done_callback(self._sdk_stopped)

        loop.when_ready(run)

    def _sdk_stopped(self, future: Future[None]) -> None:
        if not future.cancelled() and future.exception() is not None:
            exc = future.exception()
            sys.stderr.write(f"wellpipe: the MCP server stopped: {type(exc).__name__}: {exc}\n")
        # The SDK keeps a private copy of fd 1 open for good, so the relay never
        # sees EOF; a sentinel after the SDK's last line tells it to stop instead.
        os.write(1, _SENTINEL)

    def _settle(self, ident: Any) -> None:
        with self._settled:
            self._pending.discard(_key(ident))
            self._settled.notify_all()

    def _track(self, line: bytes) -> None:
        """Note a forwarded request (the SDK owes it an answer) or a cancellation."""
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            return
        if not isinstance(message, dict) or not isinstance(message.get("method"), str):
            return
        if not isinstance(message.get("params"), dict | None):
            return  # the SDK drops these without an answer: nothing to wait for
        if "id" in message:
            with self._settled:
                self._pending.add(_key(message["id"]))
        elif message["method"] == "notifications/cancelled":
            params = message.get("params")
            if isinstance(params, dict) and "requestId" in params:
                self._settle(params["requestId"])
                self._cancel(params["requestId"])

    def _forward(self, line: bytes) -> None:
        os.write(self._sdk_in_w, line if line.endswith(b"\n") else line + b"\n")

    def _hand_off(self) -> None:
        self._handed_off = True
        self._start_sdk()
        for message in self._replay:
            self._forward(json.dumps(message, separators=(",", ":")).encode())

    # ---------------------------------------------------------------- output
    def _send_raw(self, line: bytes) -> None:
        with self._out_lock:
            self._client_out.write(line)
            self._client_out.flush()

    def _send(self, message: dict[str, Any]) -> None:
        self._send_raw(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    def _result(self, ident: Any, result: dict[str, Any]) -> None:
        self._send({"jsonrpc": "2.0", "id": ident, "result": result})

    # ---------------------------------------------------------------- tool calls
    def _call(self, ident: Any, params: dict[str, Any], extra: dict[str, Any]) -> None:
        key = _key(ident)
        with self._settled:
            self._calls[key] = None
        loop = self._loop

        def submit() -> None:
            with self._settled:
                if key not in self._calls:
                    return  # cancelled while the runner was loading
            if loop.portal is None or loop.runner is None:
                self._answer_unexpected(ident, extra)
                return
            future = loop.portal.start_task_soon(
                loop.runner.call, params["name"], params.get("arguments")
            )
            with self._settled:
                if key not in self._calls:
                    future.cancel()
                    return
                self._calls[key] = future
            future.add_done_callback(lambda done: self._done(ident, done, extra))

        loop.when_ready(submit)

    def _done(self, ident: Any, future: Future[ToolOutcome], extra: dict[str, Any]) -> None:
        if future.cancelled():
            return  # a cancelled request is never answered
        failure = future.exception()
        if failure is None:
            self._answer_call(ident, future.result(), extra)
            return
        sys.stderr.write(f"wellpipe: a tool call failed: {type(failure).__name__}\n")
        self._answer_unexpected(ident, extra)

    def _answer_unexpected(self, ident: Any, extra: dict[str, Any]) -> None:
        from wellpipe.mcp.calls import UNEXPECTED, ToolOutcome

        self._answer_call(ident, ToolOutcome.error(UNEXPECTED), extra)

    def _answer_call(self, ident: Any, outcome: ToolOutcome, extra: dict[str, Any]) -> None:
        with self._settled:
            if self._calls.pop(_key(ident), False) is False:
                return  # cancelled meanwhile
            self._result(ident, {**outcome.wire(), **extra})
            self._settled.notify_all()

    def _cancel(self, ident: Any) -> None:
        with self._settled:
            key = _key(ident)
            if key not in self._calls:
                return
            future = self._calls.pop(key)
            self._settled.notify_all()
        if future is not None:
            future.cancel()

    # ---------------------------------------------------------------- input
    def _answer(self, message: Any) -> bool:
        """Answer ``message`` without the SDK if it can be; ``False`` hands off."""
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return False
        method, ident, params = message.get("method"), message.get("id"), message.get("params")
        if not isinstance(method, str) or not isinstance(params, dict | None):
            return False  # malformed: the SDK decides
        if ident is None:
            return self._notified(method, message)
        if not isinstance(ident, str | int) or isinstance(ident, bool):
            return False
        envelope = _envelope(params)
        if self._era is None:
            self._era = "modern" if envelope is not None and method != "initialize" else "legacy"
        if self._era == "modern":
            return self._answer_modern(message, method, ident, params or {}, envelope)
        if envelope is not None:
            return False  # an enveloped request on a legacy connection: the SDK refuses it
        return self._answer_legacy(message, method, ident, params or {})

    def _notified(self, method: str, message: dict[str, Any]) -> bool:
        if method == "notifications/initialized" and self._era == "legacy" and self._initialized:
            self._replay.append(message)
            return True
        if method == "notifications/cancelled":
            params = message.get("params")
            if isinstance(params, dict) and "requestId" in params:
                self._cancel(params["requestId"])
                return True
        return False

    def _answer_legacy(
        self, message: dict[str, Any], method: str, ident: str | int, params: dict[str, Any]
    ) -> bool:
        if method == "initialize" and not self._initialized:
            requested = params.get("protocolVersion")
            negotiated = self._static["negotiated"]
            if not isinstance(requested, str) or requested > max(negotiated.values()):
                return False  # a modern client, or a malformed request: the SDK decides
            result = {**self._static["initialize"], "protocolVersion": negotiated.get(requested)}
            if result["protocolVersion"] is None:
                result["protocolVersion"] = negotiated["*"]
            self._initialized = True
            self._replay.append({**message, "id": _REPLAY_ID})
            self._result(ident, result)
            return True
        if not self._initialized:
            return False
        if method == "ping":
            self._result(ident, {})
            return True
        return self._answer_common(self._static["lists"], method, ident, params, {}, list_extra={})

    def _answer_modern(
        self,
        message: dict[str, Any],
        method: str,
        ident: str | int,
        params: dict[str, Any],
        envelope: dict[str, Any] | None,
    ) -> bool:
        if envelope is None or envelope.get(_VERSION_KEY) not in self._modern["versions"]:
            return False  # the SDK explains what is missing or unsupported
        if not isinstance(envelope.get(_CAPABILITIES_KEY), dict):
            return False
        if not isinstance(envelope.get(_CLIENT_INFO_KEY, {}), dict):
            return False
        if not self._replay:  # what the SDK must see first to serve this era
            self._replay.append(
                {
                    "jsonrpc": "2.0",
                    "id": _REPLAY_ID,
                    "method": "server/discover",
                    "params": {"_meta": envelope},
                }
            )
        if method == "server/discover":
            self._result(ident, self._modern["discover"])
            return True
        return self._answer_common(
            self._static["lists"],
            method,
            ident,
            params,
            self._modern["call_extra"],
            list_extra=self._modern["lists"],
        )

    def _answer_common(
        self,
        lists: dict[str, Any],
        method: str,
        ident: str | int,
        params: dict[str, Any],
        extra: dict[str, Any],
        *,
        list_extra: dict[str, Any],
    ) -> bool:
        listed = lists.get(method)
        if listed is not None and not params.get("cursor"):
            self._result(ident, {**listed, **list_extra})
            return True
        if method == "tools/call":
            if not isinstance(params.get("name"), str):
                return False
            if not isinstance(params.get("arguments"), dict | None):
                return False
            if _key(ident) in self._calls:
                return False  # a duplicate id: the SDK answers as the protocol says
            self._call(ident, params, extra)
            return True
        return False

    def run(self) -> None:
        self._relay.start()
        for line in self._client_in:
            if not line.strip():
                continue
            if not self._handed_off:
                try:
                    message = json.loads(line)
                except (ValueError, RecursionError):
                    message = None
                if message is not None and self._answer(message):
                    continue
                self._hand_off()
            self._track(line)
            self._forward(line)
        with self._settled:  # answer what the client asked before it left
            self._settled.wait_for(
                lambda: not self._calls and (not self._pending or self._relay_done),
                timeout=_SHUTDOWN_GRACE_S,
            )
        os.close(self._sdk_in_w)  # EOF for the SDK: it stops and returns
        if self._handed_off:
            self._relay.join(_SHUTDOWN_GRACE_S)
        self._loop.close()


def serve_stdio(open_runner: OpenRunner, run_sdk: RunSdk) -> None:
    """Serve MCP on this process's stdin/stdout.

    Args:
        open_runner: Opens the tool runner (and closes it after the last call);
            called on the front's event loop thread, where it may import what
            it needs.
        run_sdk: Runs the SDK server on stdio with that runner until stdin
            closes; awaited on the same loop, only if a message needs the SDK.
    """
    front = _Front(open_runner, run_sdk)
    try:
        front.run()
    finally:
        sys.stderr.flush()
    # A daemon thread may still be importing when a client only listed tools and
    # left; nothing is left to do, so do not wait for it.
    os._exit(0)
