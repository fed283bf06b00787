"""Helper process for the SIGKILL atomicity test: forks writers and kills them mid-write.

Run as ``python -m tests.cli.env_crasher PATH``. For each line ``WRITES SPIN_US`` on
stdin it forks a child that rewrites PATH forever, alternating `VERSION_A` and
`VERSION_B` and reporting each completed write; after ``WRITES`` reports and a busy
wait of ``SPIN_US`` microseconds it SIGKILLs the child, reaps it and prints ``killed``.
Forking keeps each round to a millisecond or so instead of a Python start-up.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from wellpipe.cli.env_file import EnvFile, format_value

HEADER = "# written by the crash test\n"
VERSION_A = {f"KEY_{i:02d}": f"A{i:02d}-" + "a" * 60 for i in range(50)}
VERSION_B = {f"KEY_{i:02d}": f"B{i:02d} " + "b#" * 30 for i in range(50)}


def render(values: dict[str, str]) -> str:
    """The exact text an update leaves when the file holds one version's keys."""
    return "".join(f"{key}={format_value(value)}\n" for key, value in values.items())


def _write_forever(env: EnvFile, report: int) -> None:  # pragma: no cover - killed
    while True:
        for version in (VERSION_A, VERSION_B):
            env.update(version)
            os.write(report, b".")


def main() -> None:
    env = EnvFile(Path(sys.argv[1]))
    for line in sys.stdin:
        writes, spin_us = (int(part) for part in line.split())
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            os.close(read_end)
            _write_forever(env, write_end)
        os.close(write_end)
        for _ in range(writes):
            os.read(read_end, 1)
        deadline = time.perf_counter() + spin_us / 1e6
        while time.perf_counter() < deadline:
            pass
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_end)
        sys.stdout.write("killed\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
