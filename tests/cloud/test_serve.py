"""``wellpipe cloud serve`` / ``migrate`` for real, as a newcomer runs them: embedded defaults.

A fresh home, no settings: SQLite in the home, keys generated 0600 with a loud warning,
the built-in WHOOP sandbox, several workers on one database; Ctrl-C stops it cleanly.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner

from tests.cloud.conftest import drop_postgres_database, fresh_postgres_database
from wellpipe.cli import main

pytestmark = pytest.mark.timeout(90)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WELLPIPE_")}
    env["WELLPIPE_HOME"] = str(home)
    return env


def wait_healthy(url: str, process: subprocess.Popen[str], *, deadline_s: float = 60) -> None:
    """Poll ``/healthz`` until it answers; between tries, wait on the process itself.

    ``process.wait(timeout=...)`` returns at once if the server dies, so a crash is
    reported with its stderr instead of a timeout.
    """
    start = time.monotonic()
    with httpx2.Client(timeout=1.0) as client:
        while time.monotonic() - start < deadline_s:
            try:
                if client.get(url + "/healthz").status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            try:
                process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
            _, stderr = process.communicate()
            raise AssertionError(f"serve exited with {process.returncode}:\n{stderr}")
    raise AssertionError("the service did not become healthy within a minute")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "wellpipe", "cloud", "serve", "--port", str(port), "--workers", "2"],
        env=clean_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield url, process, tmp_path
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_serve_runs_on_embedded_defaults_with_two_workers(
    served: tuple[str, subprocess.Popen[str], Path],
) -> None:
    url, process, home = served
    with httpx2.Client(timeout=5) as client:
        statuses = {client.get(url + "/healthz").status_code for _ in range(20)}
        assert statuses == {200}
        assert client.get(url + "/openapi.json").json()["info"]["title"] == "Wellpipe API"
    secrets_file = home / "cloud-secrets.env"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "cloud.db").stat().st_mode) == 0o600
    assert "WELLPIPE_ENCRYPTION_KEYS=k1:" in secrets_file.read_text()

    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "WARNING: Generated keys" in stderr
    assert "production must set its own keys" in stderr
    assert "built-in sandbox" in stderr
    assert "k1:" not in stderr  # the warning names the file, never the key


def test_second_start_reuses_the_generated_keys(tmp_path: Path) -> None:
    runner = CliRunner()
    env = clean_env(tmp_path)
    first = runner.invoke(main, ["cloud", "migrate"], env=env)
    assert first.exit_code == 0, first.output
    assert "is at revision" in first.output
    again = runner.invoke(main, ["cloud", "migrate"], env=env)
    assert again.exit_code == 0, again.output


@pytest.mark.postgres
def test_migrate_on_postgresql(postgres_server: str, tmp_path: Path) -> None:
    name, url = fresh_postgres_database(postgres_server)
    try:
        env = clean_env(tmp_path) | {"WELLPIPE_DATABASE_URL": url}
        result = CliRunner().invoke(main, ["cloud", "migrate"], env=env)
        assert result.exit_code == 0, result.output
        assert "postgresql+psycopg://" in result.output
        assert "is at revision 0001" in result.output or "is at revision" in result.output
    finally:
        drop_postgres_database(postgres_server, name)


def test_serve_refuses_a_weak_key_ring_without_printing_it(tmp_path: Path) -> None:
    weak = "k1:" + "A" * 43 + "="  # 32 zero bytes
    env = clean_env(tmp_path) | {"WELLPIPE_ENCRYPTION_KEYS": weak}
    result = CliRunner().invoke(main, ["cloud", "serve", "--port", "1"], env=env)
    assert result.exit_code != 0
    assert "WELLPIPE_ENCRYPTION_KEYS" in result.output
    assert "A" * 20 not in result.output
