"""Helper process: SIGKILL a refresh between WHOOP's answer and the write to the ``.env``.

Run as ``python -m tests.cli.refresh_crasher`` with ``WELLPIPE_HOME`` set (its ``.env``
names the sandbox). For each line ``SPIN_US`` on stdin it forks a child that refreshes
once through `EnvTokenProvider` and `TokenRefresher`, signalling the moment the token
response has arrived; the parent busy-waits ``SPIN_US`` microseconds after that signal,
SIGKILLs the child, reaps it and prints ``killed``. Forking after the imports keeps a
round to milliseconds.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import anyio
import httpx2

from wellpipe.cli.env_tokens import EnvTokenProvider
from wellpipe.cli.home import LocalPaths
from wellpipe.cli.local_config import LocalConfig
from wellpipe.core.clock import SystemClock
from wellpipe.net import build_http_client
from wellpipe.oauth import TokenRefresher
from wellpipe.providers.whoop.oauth import whoop_oauth_client


class _SignalOnAnswer(httpx2.AsyncBaseTransport):
    """Writes one byte to ``fd`` once a response has been read in full."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, fd: int) -> None:
        self.inner = inner
        self.fd = fd

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        os.write(self.fd, b"R")
        return response


async def _refresh_once_then_wait(
    fd: int, network: httpx2.AsyncBaseTransport
) -> None:  # pragma: no cover - killed
    paths = LocalPaths.from_environ()
    config = LocalConfig.load(paths)
    clock = SystemClock()
    tokens = EnvTokenProvider(paths, clock=clock)
    settings = config.whoop_settings()
    transport = _SignalOnAnswer(network, fd)
    async with build_http_client(base_url=settings.origin, transport=transport) as http:
        oauth = whoop_oauth_client(
            settings=settings, credentials=config.whoop_credentials(), http=http, clock=clock
        )
        await TokenRefresher(tokens=tokens, oauth=oauth).refresh(
            rejected=await tokens.get_access_token()
        )
        os.write(fd, b"W")
        await anyio.sleep_forever()


def main() -> None:
    # Built once before forking: loading the CA bundle costs more than the whole refresh.
    network = httpx2.AsyncHTTPTransport()
    for line in sys.stdin:
        spin_us = int(line)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            os.close(read_end)
            anyio.run(_refresh_once_then_wait, write_end, network)
            os._exit(0)
        os.close(write_end)
        answered = os.read(read_end, 1) == b"R"
        deadline = time.perf_counter() + spin_us / 1e6
        while time.perf_counter() < deadline:
            pass
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_end)
        sys.stdout.write("killed\n" if answered else "no answer\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
