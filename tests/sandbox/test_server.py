from __future__ import annotations

import gc
import socket

import httpx2

from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.server import serve_in_background


async def test_the_sandbox_serves_real_http_on_loopback_without_nagle_delays(
    sandbox: WhoopSandbox,
) -> None:
    token = sandbox.issue_tokens()["access_token"]
    async with serve_in_background(sandbox) as origin:
        assert origin.startswith("http://127.0.0.1:")
        async with httpx2.AsyncClient(base_url=origin) as http:
            response = await http.get(
                "/developer/v2/user/profile/basic", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.json()["first_name"] == "Alex"
            landing = await http.get("/")
            assert f"export WELLPIPE_WHOOP_BASE_URL={origin}" in landing.text
            # The server side of our connection must have Nagle off, or every response
            # waits ~40 ms for a delayed ACK.
            server_sockets = [
                s
                for s in _peer_sockets(origin)
                if s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            ]
            assert server_sockets


def _peer_sockets(origin: str) -> list[socket.socket]:
    """The server ends of live connections to ``origin`` (found among live socket objects)."""
    port = int(origin.rsplit(":", 1)[1])
    found = []
    for obj in gc.get_objects():
        if isinstance(obj, socket.socket) and obj.fileno() != -1:
            try:
                local = obj.getsockname()
            except OSError:
                continue
            if isinstance(local, tuple) and local[1] == port and obj.type == socket.SOCK_STREAM:
                try:
                    obj.getpeername()
                except OSError:
                    continue
                found.append(obj)
    return found
