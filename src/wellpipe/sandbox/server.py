"""Serving a sandbox over real HTTP on loopback: in the foreground (CLI) or beside other work."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

import anyio
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "PortRouter",
    "listening_socket",
    "serve_forever",
    "serve_in_background",
    "serve_many_forever",
]


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening (port 0 picks a free one).

    Raises:
        OSError: the address is not available (the socket is closed first).
    """
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted connections of
    # sockets that say so, and without it Nagle + delayed ACK add ~40 ms to every response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _config(
    app: ASGIApp, *, log_level: str, host: str = "127.0.0.1", port: int = 0
) -> uvicorn.Config:
    return uvicorn.Config(
        app, host=host, port=port, log_level=log_level, lifespan="off", access_log=False
    )


@asynccontextmanager
async def serve_in_background(
    app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
) -> AsyncIterator[str]:
    """Serve ``app`` on ``host`` while the block runs; yields its origin (``http://host:port``).

    The socket is bound and listening before the block starts, so requests made
    inside it never race the server's start-up. Port 0 picks a free port.
    """
    sock = listening_socket(host, port)
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(_config(app, log_level=log_level))
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(server.serve, [sock])
            try:
                yield f"http://{host}:{bound_port}"
            finally:
                server.should_exit = True
    finally:
        sock.close()


def serve_forever(app: ASGIApp, *, host: str, port: int, log_level: str = "info") -> None:
    """Serve ``app`` until interrupted (Ctrl-C)."""
    uvicorn.Server(_config(app, host=host, port=port, log_level=log_level)).run()


class PortRouter:
    """One ASGI app that hands each request to the app serving the port it arrived on."""

    def __init__(self, apps: Mapping[int, ASGIApp]) -> None:
        self._apps = dict(apps)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch on ``scope["server"]``'s port."""
        server = scope.get("server")
        app = self._apps.get(server[1]) if server else None
        if app is None:  # pragma: no cover - uvicorn always says which socket it was
            await send({"type": "http.response.start", "status": 421, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await app(scope, receive, send)


def serve_many_forever(
    apps: Sequence[tuple[ASGIApp, int]],
    *,
    host: str,
    log_level: str = "info",
    ready: Callable[[list[int]], None] | None = None,
) -> None:
    """Serve each ``(app, port)`` on ``host`` in one server until interrupted (Ctrl-C).

    Every socket is bound before ``ready`` is called with the bound ports (port 0
    picks a free one), so what it prints is already reachable.

    Raises:
        OSError: a port is not available (no socket stays open).
    """
    sockets: list[socket.socket] = []
    try:
        for _, port in apps:
            sockets.append(listening_socket(host, port))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    ports = [sock.getsockname()[1] for sock in sockets]
    router = PortRouter({port: app for port, (app, _) in zip(ports, apps, strict=True)})
    if ready is not None:
        ready(ports)
    try:
        uvicorn.Server(_config(router, host=host, log_level=log_level)).run(sockets=sockets)
    finally:
        for sock in sockets:
            sock.close()
