"""``wellpipe cloud serve`` / ``migrate`` for real, as a newcomer runs them: embedded defaults.

A fresh home, no settings: SQLite in the home, keys generated 0600 with a loud warning,
the built-in WHOOP sandbox, several workers on one database; Ctrl-C stops it cleanly, within
seconds even with a request in flight, and a restart on the same home keeps every connection
(the sandboxes keep their grants in ``<home>/sandbox/``).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
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


# ---------------------------------------------------------------- a user's whole first day
PROVIDERS = ("whoop", "oura", "fitbit")
EMAIL = "ada@example.com"
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FULL_KEY = re.compile(r"wp_live_[A-Za-z0-9]+_[A-Za-z0-9]{20,}")
CARD = re.compile(r'data-provider="(\w+)">.*?<span class="badge [\w-]+">([^<]+)</span>', re.S)
WHOOP_LINE = re.compile(r"WHOOP +built-in sandbox at (http://127\.0\.0\.1:\d+)")
STOP_WITHIN_S = 5.0
SERVE = [sys.executable, "-m", "wellpipe", "cloud", "serve"]


def start_serve(home: Path, port: int, *, workers: int = 1) -> subprocess.Popen[str]:
    """``wellpipe cloud serve`` on ``home``; its stderr goes to ``home/serve-<port>.log``."""
    with (home / f"serve-{port}.log").open("a") as log:
        return subprocess.Popen(
            [*SERVE, "--port", str(port), "--workers", str(workers)],
            env=clean_env(home),
            stdout=subprocess.DEVNULL,
            stderr=log,
            text=True,
        )


def interrupt(process: subprocess.Popen[str]) -> float:
    """Ctrl-C the server; the seconds it took to exit (it must within `STOP_WITHIN_S`)."""
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"Ctrl-C did not stop the server within {STOP_WITHIN_S} s") from None
    return time.monotonic() - started


def form(client: httpx2.Client, url: str, path: str, page: str, **fields: str) -> httpx2.Response:
    """Submit a dashboard form as the browser does: the page's CSRF token, our own Origin."""
    found = CSRF.search(client.get(url + page).text)
    assert found is not None, f"no CSRF token on {page}"
    return client.post(
        url + path, data={"csrf_token": found.group(1), **fields}, headers={"Origin": url}
    )


def statuses(dashboard: str) -> dict[str, str]:
    """Each provider card's badge: ``Connected``, ``Reconnect needed`` or ``Not connected``."""
    return dict(CARD.findall(dashboard))


def sign_up_connect_and_create_key(
    client: httpx2.Client, url: str, providers: tuple[str, ...]
) -> str:
    """Sign up, connect ``providers`` through their sandboxes' consent, and mint a key."""
    signed_up = form(
        client,
        url,
        "/signup",
        "/signup",
        email=EMAIL,
        password=PASSWORD,
        password_confirm=PASSWORD,
    )
    assert signed_up.url.path == "/dashboard", signed_up.text[:500]
    for provider in providers:  # the sandbox consents at once and sends the browser back
        connected = form(client, url, f"/connect/{provider}", "/dashboard")
        assert connected.url.path == "/dashboard", connected.text[:500]
        assert statuses(connected.text)[provider] == "Connected", provider
    created = form(client, url, "/keys", "/dashboard", name="restart test")
    key = FULL_KEY.search(created.text)
    assert key is not None, "the new key is not shown"
    return key.group(0)


def read_profile(url: str, key: str) -> httpx2.Response:
    with httpx2.Client(timeout=30) as client:
        return client.get(
            url + "/api/v1/health",
            params={"type": "profile", "days": 1},
            headers={"Authorization": f"Bearer {key}"},
        )


def test_a_restart_keeps_every_connection_and_ctrl_c_is_quick(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = start_serve(tmp_path, port)
    try:
        wait_healthy(url, first)
        with httpx2.Client(timeout=30, follow_redirects=True) as browser:
            key = sign_up_connect_and_create_key(browser, url, PROVIDERS)
            before = read_profile(url, key)
            assert before.status_code == 200, before.text
            stopped_in = interrupt(first)
            assert first.returncode == 0

            grants = tmp_path / "sandbox"
            assert stat.S_IMODE(grants.stat().st_mode) == 0o700
            for provider in PROVIDERS:
                kept = grants / f"{provider}-grants.json"
                assert stat.S_IMODE(kept.stat().st_mode) == 0o600
                assert '"refresh_tokens"' in kept.read_text()

            second = start_serve(tmp_path, port)
            try:
                restarted = time.monotonic()
                wait_healthy(url, second)
                healthy_in = time.monotonic() - restarted
                after = read_profile(url, key)
                answered_in = time.monotonic() - restarted - healthy_in
                assert after.status_code == 200, after.text
                assert after.json() == before.json()  # same members, same seeded history
                dashboard = browser.get(url + "/dashboard").text
                assert statuses(dashboard) == dict.fromkeys(PROVIDERS, "Connected")
                assert answered_in < STOP_WITHIN_S  # no reconnecting, no refresh storm
                assert interrupt(second) < STOP_WITHIN_S
            finally:
                if second.poll() is None:
                    second.kill()
                    second.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    log = "".join(path.read_text() for path in tmp_path.glob("serve-*.log"))
    assert "database is locked" not in log
    assert "Traceback" not in log, log
    print(  # noqa: T201
        f"Ctrl-C: {stopped_in:.2f} s; restart: healthy in {healthy_in:.2f} s, "
        f"then a 200 in {answered_in:.2f} s"
    )


def worker_pids(parent: int) -> list[int]:
    """The uvicorn worker processes (``multiprocessing`` spawn children) of ``parent``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat_fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            command = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat_fields[1]) == parent and b"spawn_main" in command:
            found.append(int(proc.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux's /proc")
def test_ctrl_c_with_a_request_in_flight_stops_every_worker_within_seconds(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_serve(tmp_path, port, workers=2)
    try:
        wait_healthy(url, server)
        with httpx2.Client(timeout=30, follow_redirects=True) as browser:
            key = sign_up_connect_and_create_key(browser, url, ("whoop",))
        banner = WHOOP_LINE.search((tmp_path / f"serve-{port}.log").read_text())
        assert banner is not None
        faults = banner.group(1) + "/_sandbox/faults"
        workers = worker_pids(server.pid)
        assert len(workers) == 2

        outcome: list[object] = []

        def ask() -> None:
            try:
                outcome.append(read_profile(url, key).status_code)
            except httpx2.TransportError as error:  # the server went away mid-answer
                outcome.append(error)

        with httpx2.Client(timeout=5) as control:
            # The next WHOOP data request takes a minute. A probe fault never fires (nothing
            # under /_sandbox is faulted), so "pending" equals the probes once it was taken.
            hold = {"path_prefix": "/developer/v2", "latency_s": 60, "times": 1}
            assert control.post(faults, json=hold).status_code == 201
            in_flight = threading.Thread(target=ask, daemon=True)
            in_flight.start()
            probes, deadline = 0, time.monotonic() + 30
            while True:
                probes += 1
                probe = {"path_prefix": "/_sandbox/probe", "status": 500}
                if control.post(faults, json=probe).json()["pending"] == probes:
                    break
                assert time.monotonic() < deadline, "the request never reached the sandbox"
                with contextlib.suppress(subprocess.TimeoutExpired):
                    server.wait(timeout=0.05)  # paces the probes; returns at once on a crash
                assert server.poll() is None, "the server died"
        assert not outcome  # still waiting for WHOOP
        stopped_in = interrupt(server)
        in_flight.join(timeout=STOP_WITHIN_S)
        assert not in_flight.is_alive()
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
        print(f"Ctrl-C with a request in flight: {stopped_in:.2f} s")  # noqa: T201
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
