"""Injectable faults: statuses, latency and malformed bodies, for a path prefix and a count."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wellpipe.core.ports import Clock

__all__ = ["CONTROL_PREFIX", "BodyFault", "Fault", "FaultInjector", "FaultMiddleware"]

CONTROL_PREFIX = "/_sandbox"
"""The sandbox's own routes; faults never touch them, so they can always be cleared."""

BodyFault = Literal["truncated", "not_json", "empty", "drop_required_field", "wrong_type"]
"""How to spoil a good response body."""

# Required fields, by provider, in the order we look for one to drop (records first, then users).
_DROPPABLE = (
    "start",
    "score_state",
    "user_id",
    "email",
    "height_meter",
    "access_token",
    "day",
    "dataPoints",
    "data",
)
_RETYPABLE = ("user_id", "cycle_id", "max_heart_rate")


@dataclass
class Fault:
    """A scripted misbehaviour.

    Attributes:
        path_prefix: Requests whose path starts with this are affected.
        times: How many requests it affects before it is used up.
        status: Answer with this status (and a small JSON body) instead.
        latency_s: Wait this long first (through the sandbox clock).
        body: Spoil the real response body this way.
        headers: Extra response headers (e.g. ``Retry-After``).
        methods: Only these methods (all when empty).
    """

    path_prefix: str = "/"
    times: int = 1
    status: int | None = None
    latency_s: float = 0.0
    body: BodyFault | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    methods: frozenset[str] = frozenset()
    mutate: Callable[[Any], Any] | None = None
    """Custom body change (Python API only), applied to the parsed JSON."""


class FaultInjector:
    """The list of pending faults; the first matching one fires."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self.fired = 0

    def add(self, fault: Fault) -> Fault:
        """Queue a fault."""
        if fault.times < 1:
            raise ValueError("a fault must fire at least once")
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Drop every pending fault."""
        self._faults.clear()

    @property
    def pending(self) -> list[Fault]:
        """Faults that have not fired their last time yet."""
        return list(self._faults)

    def take(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if any, counting one use of it."""
        for fault in self._faults:
            if path.startswith(fault.path_prefix) and (
                not fault.methods or method in fault.methods
            ):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                self.fired += 1
                return fault
        return None


def spoil(body: bytes, fault: Fault) -> bytes:
    """The body, spoiled as the fault says."""
    if fault.body == "empty":
        return b""
    if fault.body == "not_json":
        return b"<html><body>502 Bad Gateway</body></html>"
    if fault.body == "truncated":
        return body[: max(1, len(body) // 2)]
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if fault.mutate is not None:
        data = fault.mutate(data)
    target = _first_object(data)
    if target is not None and fault.body == "drop_required_field":
        for name in _DROPPABLE:
            if name in target:
                del target[name]
                break
    if target is not None and fault.body == "wrong_type":
        for name in _RETYPABLE:
            if name in target:
                target[name] = str(target[name])
                break
    return json.dumps(data).encode()


def _first_object(data: Any) -> dict[str, Any] | None:
    if isinstance(data, dict):
        records = data.get("records")
        if isinstance(records, list) and records and isinstance(records[0], dict):
            return records[0]
        return data
    return None


class FaultMiddleware:
    """ASGI middleware that applies the injector's faults before anything else runs."""

    def __init__(self, app: ASGIApp, *, injector: FaultInjector, clock: Clock) -> None:
        self.app = app
        self.injector = injector
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve ASGI, misbehaving when a fault matches."""
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        fault = self.injector.take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault.latency_s > 0:
            await self.clock.sleep(fault.latency_s)
        extra = [(k.lower().encode(), v.encode()) for k, v in fault.headers.items()]
        if fault.status is not None:
            payload = json.dumps({"message": f"injected fault: HTTP {fault.status}"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": fault.status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode()),
                        *extra,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": payload})
            return
        if fault.body is None and fault.mutate is None:
            await self.app(scope, receive, _with_headers(send, extra))
            return
        await self._spoiled(scope, receive, send, fault, extra)

    async def _spoiled(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        fault: Fault,
        extra: list[tuple[bytes, bytes]],
    ) -> None:
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        assert start is not None
        body = spoil(b"".join(chunks), fault)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers += [(b"content-length", str(len(body)).encode()), *extra]
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    if not extra:
        return send

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped
