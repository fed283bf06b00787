"""A fast front for stdio: answer the handshake at once, hand everything else to the SDK.

Importing the MCP SDK takes about a second, while a client's first messages
(``initialize``, ``notifications/initialized``, ``tools/list`` and the other
listings, ``ping``) have
answers that never change (`wellpipe.mcp.static`). So the front:

1. takes the real stdin/stdout for itself and points file descriptors 0 and 1
   at pipes, which the SDK's own stdio transport will use;
2. answers the handshake messages from ``static.json``;
3. starts the SDK server on a background thread once the handshake is over (it
   imports while the client waits for its user);
4. on the first message it cannot answer (a tool call, a modern-era request,
   anything unknown), replays the handshake into the SDK, drops the SDK's
   duplicate answer, and from then on relays every line both ways.

Only lines that parse as JSON-RPC reach the client: anything else written to
file descriptor 1 goes to stderr, so stdout carries protocol only. This module
imports nothing but the standard library.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

from wellpipe.mcp.static import load

__all__ = ["serve_stdio"]

_REPLAY_ID = "wellpipe-stdio-front-initialize"
_SENTINEL = b'{"wellpipe-stdio-front":"sdk-stopped"}\n'
_SHUTDOWN_GRACE_S = 10.0


class _Front:
    def __init__(self, start_sdk: Callable[[], None]) -> None:
        self._static = load()
        self._start_sdk = start_sdk
        self._client_in: IO[bytes] = os.fdopen(os.dup(0), "rb")
        self._client_out: IO[bytes] = os.fdopen(os.dup(1), "wb")
        sdk_in_r, self._sdk_in_w = os.pipe()
        self._sdk_out_r, sdk_out_w = os.pipe()
        os.dup2(sdk_in_r, 0)
        os.dup2(sdk_out_w, 1)
        os.close(sdk_in_r)
        os.close(sdk_out_w)
        self._out_lock = threading.Lock()
        self._handshake: list[dict[str, Any]] = []
        self._handed_off = False
        self._pending: set[str] = set()  # ids of forwarded requests the SDK has not answered
        self._settled = threading.Condition()
        self._relay_done = False
        self._sdk = threading.Thread(target=self._run_sdk, name="mcp-sdk", daemon=True)
        self._relay = threading.Thread(target=self._relay_sdk, name="mcp-relay", daemon=True)

    # ---------------------------------------------------------------- threads
    def _run_sdk(self) -> None:
        try:
            self._start_sdk()
        except BaseException as exc:  # the front must report, not crash silently
            sys.stderr.write(f"wellpipe: the MCP server stopped: {type(exc).__name__}: {exc}\n")
        finally:
            # The SDK keeps a private copy of fd 1 open for good, so the relay never
            # sees EOF; a sentinel after the SDK's last line tells it to stop instead.
            os.write(1, _SENTINEL)

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

    def _settle(self, ident: Any) -> None:
        with self._settled:
            self._pending.discard(json.dumps(ident))
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
                self._pending.add(json.dumps(message["id"]))
        elif message["method"] == "notifications/cancelled":
            params = message.get("params")
            if isinstance(params, dict) and "requestId" in params:
                self._settle(params["requestId"])

    # ---------------------------------------------------------------- output
    def _send_raw(self, line: bytes) -> None:
        with self._out_lock:
            self._client_out.write(line)
            self._client_out.flush()

    def _send(self, message: dict[str, Any]) -> None:
        self._send_raw(json.dumps(message, separators=(",", ":")).encode() + b"\n")

    # ---------------------------------------------------------------- input
    def _answer(self, message: Any) -> bool:
        """Answer ``message`` from the static file if it can be; ``False`` hands off."""
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return False
        method, ident, params = message.get("method"), message.get("id"), message.get("params")
        if not isinstance(method, str) or not isinstance(params, dict | None):
            return False  # malformed: the SDK decides
        initialized = bool(self._handshake)
        if method == "initialize" and ident is not None and not initialized:
            requested = params.get("protocolVersion") if isinstance(params, dict) else None
            negotiated = self._static["negotiated"]
            if not isinstance(requested, str) or requested > max(negotiated.values()):
                return False  # a modern client, or a malformed request: the SDK decides
            result = {**self._static["initialize"], "protocolVersion": negotiated.get(requested)}
            if result["protocolVersion"] is None:
                result["protocolVersion"] = negotiated["*"]
            self._handshake.append({**message, "id": _REPLAY_ID})
            self._send({"jsonrpc": "2.0", "id": ident, "result": result})
            return True
        if not initialized:
            return False
        if method == "notifications/initialized" and ident is None:
            self._handshake.append(message)
            return True
        listed = self._static["lists"].get(method)
        if listed is not None and ident is not None and not (params or {}).get("cursor"):
            self._send({"jsonrpc": "2.0", "id": ident, "result": listed})
            self._start_sdk_soon()
            return True
        if method == "ping" and ident is not None:
            self._send({"jsonrpc": "2.0", "id": ident, "result": {}})
            return True
        return False

    def _start_sdk_soon(self) -> None:
        """Start loading the SDK once the handshake is over.

        Loading earlier would compete with the handshake answers for the
        interpreter (imports hold the GIL for long stretches); right after
        ``tools/list`` the client is usually idle, waiting for its user.
        """
        if not self._sdk.is_alive() and self._sdk.ident is None:
            self._sdk.start()

    def _forward(self, line: bytes) -> None:
        os.write(self._sdk_in_w, line if line.endswith(b"\n") else line + b"\n")

    def _hand_off(self) -> None:
        self._handed_off = True
        self._start_sdk_soon()
        for message in self._handshake:
            self._forward(json.dumps(message, separators=(",", ":")).encode())

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
        with self._settled:  # let the SDK answer what the client asked before it left
            self._settled.wait_for(
                lambda: not self._pending or self._relay_done, timeout=_SHUTDOWN_GRACE_S
            )
        os.close(self._sdk_in_w)  # EOF for the SDK: it stops and returns
        if self._handed_off:
            self._sdk.join(_SHUTDOWN_GRACE_S)
            self._relay.join(_SHUTDOWN_GRACE_S)


def serve_stdio(start_sdk: Callable[[], None]) -> None:
    """Serve MCP on this process's stdin/stdout.

    Args:
        start_sdk: Runs the SDK server's stdio transport until stdin closes
            (for example ``anyio.run(server.run_stdio_async)``). It runs on a
            background thread from the start and may import whatever it needs.
    """
    front = _Front(start_sdk)
    try:
        front.run()
    finally:
        sys.stderr.flush()
    # The SDK thread may still be importing when a client only listed tools and
    # left; nothing is left to do, so do not wait for it.
    os._exit(0)
