"""The real service in a subprocess, and Debian's Chromium driven by Playwright (test_browser)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx2

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]


def browser_missing() -> str | None:
    """``None`` when Chromium and Playwright are there, else why the browser test cannot run."""
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        return f"{CHROMIUM} is not installed (Debian package 'chromium')"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


def free_port() -> int:
    """A TCP port nobody listens on right now (127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    """A running ``wellpipe cloud serve``."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        """What the service wrote to stderr/stdout so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _wait_healthy(service: Service, *, deadline_s: float) -> None:
    """Poll ``/healthz`` with short timeouts until it answers, the deadline passes or it dies."""
    start = time.monotonic()
    with httpx2.Client(timeout=0.5) as client:
        while time.monotonic() - start < deadline_s:
            try:
                if client.get(service.url + "/healthz").status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            try:
                service.process.wait(timeout=0.1)  # returns at once if the service died
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(
                f"the service exited with {service.process.returncode}:\n{service.log_text()}"
            )
    raise AssertionError(f"the service was not healthy within {deadline_s:.0f} s")


@contextlib.contextmanager
def serve(
    home: Path, *, deadline_s: float = 40.0, env: dict[str, str] | None = None
) -> Iterator[Service]:
    """Run ``python -m wellpipe cloud serve`` on a free port with ``WELLPIPE_HOME=home``.

    No WHOOP developer app is configured, so the service starts its built-in WHOOP
    sandbox (which approves every authorization at once). ``env`` adds settings.
    """
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WELLPIPE_")}
    environment["WELLPIPE_HOME"] = str(home)
    environment.update(env or {})
    log = home / "service.log"
    home.mkdir(parents=True, exist_ok=True)
    handle: IO[bytes] = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "wellpipe", "cloud", "serve", "--port", str(port)],
        env=environment,
        stdout=handle,
        stderr=subprocess.STDOUT,
        cwd=home,
    )
    service = Service(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        _wait_healthy(service, deadline_s=deadline_s)
        yield service
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a hung shutdown
                process.kill()
                process.wait(timeout=10)
        handle.close()


def launch_options(user_data_dir: Path) -> dict[str, Any]:
    """Keyword arguments for ``chromium.launch_persistent_context`` (sync or async API).

    Debian's Chromium, headless, quiet (no background networking), with a new empty
    profile in ``user_data_dir``.
    """
    user_data_dir.mkdir(parents=True, exist_ok=True)
    return {
        "user_data_dir": str(user_data_dir),
        "executable_path": CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
        "headless": True,
        "args": CHROMIUM_ARGS,
        "viewport": {"width": 1280, "height": 900},
    }


@asynccontextmanager
async def watched_page(profile: Path) -> AsyncIterator[tuple[Any, list[str]]]:
    """A page of a fresh headless Chromium, and the console and page errors it reports."""
    from playwright.async_api import async_playwright

    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch_persistent_context(**launch_options(profile))
        try:
            page = await browser.new_page()
            page.on(
                "console",
                lambda message: problems.append(message.text) if message.type == "error" else None,
            )
            page.on("pageerror", lambda error: problems.append(str(error)))
            yield page, problems
        finally:
            await browser.close()
