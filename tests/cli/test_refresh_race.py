"""T-1.6: four OS processes x 25 concurrent calls at expiry make exactly one refresh.

Negative control (run by hand): start the workers with
``WELLPIPE_RACE_NO_FILE_LOCK="1"`` (see `workers`) and the first round fails: the
processes refresh the same token and the sandbox revokes the grant.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from anyio.abc import Process
from anyio.streams.text import TextReceiveStream

from tests.cli.local_env import CONFIG, connect_home, expire_in_file
from wellpipe.cli.env_file import EnvFile
from wellpipe.cli.home import LocalPaths
from wellpipe.core.clock import SystemClock
from wellpipe.core.provider_info import RateLimit
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.server import serve_in_background
from wellpipe.sandbox.whoop import History

REPO = Path(__file__).resolve().parents[2]
PROCESSES = 4
CALLS = 25
ROUNDS = 10


class Worker:
    """A `tests.cli.race_worker` process, spoken to line by line."""

    def __init__(self, process: Process) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        self.process = process
        self._stdin = process.stdin
        self._stdout = TextReceiveStream(process.stdout)
        self._buffer = ""

    async def line(self) -> str:
        while "\n" not in self._buffer:
            self._buffer += await self._stdout.receive()
        line, self._buffer = self._buffer.split("\n", 1)
        return line

    async def send(self, text: str) -> None:
        await self._stdin.send(text.encode())


@asynccontextmanager
async def workers(home: Path, **env_extra: str) -> AsyncIterator[list[Worker]]:
    """``PROCESSES`` ready workers sharing ``home``; they exit when the block ends."""
    env = {**os.environ, "WELLPIPE_HOME": str(home), **env_extra}
    command = [sys.executable, "-m", "tests.cli.race_worker", str(CALLS)]
    processes = [
        await anyio.open_process(command, cwd=REPO, env=env, stderr=None) for _ in range(PROCESSES)
    ]
    try:
        started = [Worker(process) for process in processes]
        for worker in started:
            assert await worker.line() == "ready"
        yield started
        for worker in started:
            await worker._stdin.aclose()
            assert await worker.process.wait() == 0
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
            await process.aclose()


async def race(started: list[Worker]) -> list[dict[str, object]]:
    """Release every worker at once for one round; what each reports."""
    for worker in started:
        await worker.send("go\n")
    return [json.loads(await worker.line()) for worker in started]


async def test_four_processes_at_expiry_refresh_exactly_once_round_after_round(
    tmp_path: Path, history: History
) -> None:
    clock = SystemClock()
    sandbox = WhoopSandbox(history=history, rate_limits=(RateLimit(1_000_000, 60),))
    paths = LocalPaths(tmp_path / "home")
    async with serve_in_background(sandbox) as origin:
        connect_home(paths, sandbox, clock, origin=origin)
        async with workers(paths.home) as started:
            for round_ in range(ROUNDS):
                sandbox.auth.expire_access_tokens()
                expire_in_file(paths, clock)
                refreshes, token_requests = sandbox.auth.refreshes, sandbox.auth.token_requests

                reports = await race(started)

                assert [r["failures"] for r in reports] == [[]] * PROCESSES, f"round {round_}"
                assert [r["ok"] for r in reports] == [CALLS] * PROCESSES
                assert sandbox.auth.refreshes == refreshes + 1, f"round {round_}"
                assert sandbox.auth.token_requests == token_requests + 1  # so 0 invalid_grant
                env = EnvFile(paths.env_file)
                values = env.read()
                assert env.mode() == 0o600
                assert {k: values[k] for k in CONFIG} == CONFIG
                assert "WHOOP_GRANT_ERROR" not in values
                assert values["WHOOP_TOKEN_EXPIRES_AT"] > clock.now().isoformat()

        # The stored refresh token is the sandbox's latest: it still refreshes (a spent one
        # would be refused with invalid_grant).
        outcome = sandbox.auth.token(
            {
                "grant_type": "refresh_token",
                "refresh_token": EnvFile(paths.env_file).read()["WHOOP_REFRESH_TOKEN"],
                "client_id": CONFIG["WHOOP_CLIENT_ID"],
                "client_secret": CONFIG["WHOOP_CLIENT_SECRET"],
            },
            None,
        )
        assert outcome.status == 200
