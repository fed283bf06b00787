"""The cloud app over real HTTP: uvicorn on a loopback port, in this test's event loop.

Clients connect from any address of 127.0.0.0/8 (``local_address``), so the service sees
distinct client addresses, exactly as it would from the network. Requests carry
``Host: wellpipe.test`` (the public URL's host) so that the Host and Origin checks pass.
`raw_exchange` writes bytes no well-behaved client would (a declared length it never
sends, a chunked body) and parses the answer by hand.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import anyio
import httpx2
import pytest

from tests.cloud.conftest import PUBLIC_URL, Cloud, running
from tests.fakes import FakeClock
from wellpipe.cloud.settings import CloudSettings
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.server import serve_in_background

HOST = urlsplit(PUBLIC_URL).netloc
SAME_ORIGIN = {"Origin": PUBLIC_URL, "Sec-Fetch-Site": "same-origin"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@dataclass
class Served:
    """The app (`Cloud`, for its context) and where it listens."""

    cloud: Cloud
    origin: str
    port: int

    def client(self, address: str = "127.0.0.1") -> httpx2.AsyncClient:
        """A client (with its own cookie jar: one browser) connecting from ``address``."""
        return httpx2.AsyncClient(
            base_url=self.origin,
            headers={"Host": HOST},
            transport=httpx2.AsyncHTTPTransport(local_address=address),
            timeout=30,
        )


@asynccontextmanager
async def served(
    settings: CloudSettings,
    clock: FakeClock,
    sandbox: WhoopSandbox,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[Served]:
    """Run the app on a free loopback port; uvicorn's own log goes to ``caplog`` too."""
    async with running(settings, clock, sandbox) as cloud, serve_in_background(cloud.app) as origin:
        server_log = logging.getLogger("uvicorn")  # does not propagate to the root logger
        server_log.addHandler(caplog.handler)
        try:
            yield Served(cloud=cloud, origin=origin, port=urlsplit(origin).port or 80)
        finally:
            server_log.removeHandler(caplog.handler)


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every record at ERROR or above (a traceback from the app or from the server)."""
    return [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.ERROR
    ]


def csrf_of(html: str) -> str:
    """The CSRF token of the page's form."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class RawResponse:
    """A response read off the socket."""

    status: int
    headers: dict[str, str]
    body: bytes
    set_cookies: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode("utf-8", errors="replace")


def chunked(body: bytes, chunk_size: int = 64 * 1024) -> list[bytes]:
    """``body`` in the ``Transfer-Encoding: chunked`` framing, ending with the last chunk."""
    pieces = [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)]
    return [b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces] + [b"0\r\n\r\n"]


async def raw_exchange(
    port: int,
    head: bytes,
    body: Iterable[bytes] = (),
    *,
    address: str = "127.0.0.1",
) -> RawResponse:
    """Send ``head`` then ``body`` (while reading), and read one response.

    The body is written by a task of its own: a server that answers before reading it
    all is read at once, and a write the server no longer wants is dropped.
    """
    async with await anyio.connect_tcp("127.0.0.1", port, local_host=address) as stream:
        await stream.send(head)

        async def upload() -> None:
            try:
                for piece in body:
                    await stream.send(piece)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                pass  # the server answered and closed; the answer is what counts

        async with anyio.create_task_group() as group:
            group.start_soon(upload)
            with anyio.fail_after(30):
                response = await _read_response(stream)
            group.cancel_scope.cancel()
    return response


async def _read_response(stream: anyio.abc.SocketStream) -> RawResponse:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        buffer += await stream.receive()
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
        if name.strip().lower() == "set-cookie":
            cookies.append(value.strip())
    if "content-length" in headers:
        size = int(headers["content-length"])
        while len(rest) < size:
            rest += await stream.receive()
        body = rest[:size]
    else:  # chunked
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += await stream.receive()
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                rest += await stream.receive()
            body += rest[:size]
            rest = rest[size + 2 :]
            if size == 0:
                break
    return RawResponse(
        status=int(status_line.split(" ")[1]), headers=headers, body=body, set_cookies=cookies
    )
