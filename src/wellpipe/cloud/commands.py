"""``wellpipe cloud``: run and operate the cloud service.

Registered with the ``wellpipe`` command through the ``wellpipe.commands`` entry
point, so the self-hosted CLI never imports the cloud. Subcommands load on use.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from wellpipe.cloud.settings import CloudSettings, GeneratedSecrets

__all__ = ["cloud"]

SANDBOX_FOLDER = "sandbox"
"""Folder of the Wellpipe home where the built-in sandboxes keep their grants."""
GRACEFUL_SHUTDOWN_S = 3
"""How long Ctrl-C lets requests in flight finish before they are cancelled."""

# name -> (module, attribute, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": ("wellpipe.cloud.commands", "serve", "Run the service (dashboard, REST, MCP)."),
    "migrate": ("wellpipe.cloud.commands", "migrate", "Bring the database schema up to date."),
    "worker": ("wellpipe.cloud.commands", "worker", "Run background jobs (PostgreSQL)."),
    "user": ("wellpipe.cloud.operator", "user", "Add or delete accounts."),
    "key": ("wellpipe.cloud.operator", "key", "Create API keys for an account."),
    "set-plan": ("wellpipe.cloud.operator", "set_plan", "Put an account on FREE or PRO."),
    "client": ("wellpipe.cloud.operator", "client", "Revoke an assistant's OAuth client."),
    "rotate-keys": (
        "wellpipe.cloud.rotation_command",
        "rotate_keys",
        "Re-encrypt stored tokens under the primary encryption key.",
    ),
}


class _LazyCloudGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        module_name, attribute, _ = SUBCOMMANDS[cmd_name]
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):  # pragma: no cover - a wiring mistake
            raise TypeError(f"{module_name}.{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, _, short) in SUBCOMMANDS.items()])


@click.group(cls=_LazyCloudGroup)
def cloud() -> None:
    """Wellpipe Cloud: the multi-tenant service (accounts, API keys, REST and MCP).

    Settings come from WELLPIPE_* environment variables (see the README's production
    checklist). With none set, it runs on SQLite in the Wellpipe home, with generated
    development keys and the built-in sandbox of every provider without a developer app.
    """


def _say(message: str) -> None:
    click.echo(message, err=True)


def _prepare() -> tuple[CloudSettings, GeneratedSecrets]:
    from wellpipe.cloud.security.crypto import TokenCipher
    from wellpipe.cloud.settings import CloudSettings, ensure_secrets
    from wellpipe.core.errors import ConfigError

    try:
        settings, generated = ensure_secrets(CloudSettings())
        TokenCipher.from_settings(settings)  # fail closed on a weak or malformed key ring
    except ConfigError as weak:
        raise click.ClickException(str(weak)) from None
    except ValueError as invalid:
        raise click.ClickException(f"invalid setting: {invalid}") from None
    return settings, generated


@cloud.command()
def migrate() -> None:
    """Apply the database migrations that are not applied yet (safe to repeat)."""
    import anyio

    from wellpipe.cloud.db.migrate import upgrade_database
    from wellpipe.cloud.settings import CloudSettings

    settings = CloudSettings()
    revision = anyio.run(upgrade_database, settings.effective_database_url)
    _say(f"Database {_safe_url(settings.effective_database_url)} is at revision {revision}.")


@cloud.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=None,
    help="Jobs run at once (default: WELLPIPE_JOBS_CONCURRENCY, 4).",
)
@click.option(
    "--once", is_flag=True, help="Stop when the queue is empty instead of waiting for jobs."
)
def worker(concurrency: int | None, once: bool) -> None:
    """Run background jobs: backfills, webhook fetches, reconciliation, renewals.

    Needs PostgreSQL (WELLPIPE_DATABASE_URL): start as many as you like, on any number
    of machines; they share the queue in the database. On the embedded SQLite default
    `wellpipe cloud serve` runs the jobs itself.
    """
    import signal

    import anyio

    from wellpipe.cloud.db.migrate import upgrade_database
    from wellpipe.cloud.jobs.runner import run_worker_process, worker_context
    from wellpipe.cloud.logs import install_redaction

    settings, _ = _prepare()
    if concurrency is not None:
        settings = settings.model_copy(update={"jobs_concurrency": concurrency})
    if settings.queue_in_memory:
        raise click.ClickException(
            "`wellpipe cloud worker` needs PostgreSQL: set WELLPIPE_DATABASE_URL to "
            "postgresql+psycopg://user:password@host/database. On the embedded SQLite "
            "default, `wellpipe cloud serve` runs the jobs itself."
        )
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # not a line per provider request
    install_redaction()
    anyio.run(upgrade_database, settings.effective_database_url)
    _say(
        f"Wellpipe worker on {_safe_url(settings.effective_database_url)} "
        f"({settings.jobs_concurrency} at once). Press Ctrl-C to stop."
    )

    async def main() -> None:
        async with worker_context(settings) as ctx, anyio.create_task_group() as group:

            async def stop_on_signal() -> None:
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _ in signals:
                        group.cancel_scope.cancel()
                        return

            group.start_soon(stop_on_signal)
            await run_worker_process(ctx, wait=not once)
            group.cancel_scope.cancel()

    anyio.run(main)


def _safe_url(url: str) -> str:
    from wellpipe.cloud.db.urls import safe_url

    return safe_url(url)


def sandbox_grants_file(home: Path, provider: str) -> Path:
    """Where the built-in sandbox of ``provider`` keeps the grants it issued."""
    return home / SANDBOX_FOLDER / f"{provider}-grants.json"


def _sandbox_app(provider: str, home: Path) -> object | None:
    """The built-in sandbox of ``provider`` (``wellpipe.sandbox.<name>``'s ``<Name>Sandbox``).

    Its grants are kept in the home (`sandbox_grants_file`), so a restart keeps every
    connection. ``None`` when this installation has no sandbox for it.
    """
    from wellpipe.cloud.settings import SANDBOX_CLIENT

    try:
        module = importlib.import_module(f"wellpipe.sandbox.{provider}")
    except ImportError:
        return None
    factory = getattr(module, f"{provider.capitalize()}Sandbox", None)
    if factory is None:
        return None
    app: object = factory(
        client_id=SANDBOX_CLIENT[0],
        client_secret=SANDBOX_CLIENT[1],
        grants_file=sandbox_grants_file(home, provider),
    )
    return app


@dataclass(frozen=True)
class _RunningSandbox:
    """A sandbox served in a thread of this process (stopped by `_stop_sandboxes`)."""

    origin: str
    server: Any  # uvicorn.Server (imported on use)
    thread: threading.Thread


def _stop_sandboxes(sandboxes: list[_RunningSandbox]) -> None:
    """Ask every sandbox server to exit, then wait for their threads (about a second).

    Done before the interpreter shuts down: a thread still running uvloop and the C HTTP
    parser while the interpreter finalizes can crash the process (seen as signal 11 on
    Ctrl-C).
    """
    for sandbox in sandboxes:
        sandbox.server.should_exit = True
    for sandbox in sandboxes:
        sandbox.thread.join(timeout=2)


def _start_sandbox(provider: str, app: object, host: str) -> _RunningSandbox:
    """Serve one sandbox on a free loopback port in a daemon thread."""
    import uvicorn

    from wellpipe.sandbox.server import listening_socket

    sock = listening_socket(host, 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        log_level="warning",
        lifespan="off",
        access_log=False,
        # Stopped only after the service's workers have exited (`_stop_sandboxes`): no
        # client is left to wait for what a sandbox still answers, so it ends at once.
        timeout_graceful_shutdown=0,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"{provider}-sandbox", daemon=True
    )
    thread.start()
    return _RunningSandbox(origin=f"http://{host}:{port}", server=server, thread=thread)


def _providers_line(settings: CloudSettings) -> tuple[list[str], list[_RunningSandbox]]:
    """Start the sandbox of every provider without a developer app; one line per provider."""
    import json

    from wellpipe.providers import available_providers, get_provider_info

    lines: list[str] = []
    origins: dict[str, str] = {}
    running: list[_RunningSandbox] = []
    for name in available_providers():
        display = get_provider_info(name).display_name
        variables = f"WELLPIPE_{name.upper()}_CLIENT_ID and _SECRET"
        if not settings.uses_sandbox(name):
            lines.append(f"  {display:<10} {display} API (developer app from {variables})")
            continue
        app = _sandbox_app(name, settings.home)
        if app is None:
            lines.append(f"  {display:<10} not set up (set {variables})")
            continue
        running.append(_start_sandbox(name, app, "127.0.0.1"))
        origins[name] = running[-1].origin
        lines.append(
            f"  {display:<10} built-in sandbox at {origins[name]} (synthetic data; "
            f"set {variables} for real {display})"
        )
    os.environ["WELLPIPE_SANDBOX_ORIGINS"] = json.dumps(origins)
    return lines, running


@cloud.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (all share the database, so any number serves the same data).",
)
def serve(host: str, port: int, workers: int) -> None:
    """Run the service: dashboard at /, REST at /api/v1, MCP at /api/mcp."""
    import anyio
    import uvicorn

    from wellpipe.cloud.db.migrate import upgrade_database

    settings, generated = _prepare()
    from_file = [
        name
        for name in ("WELLPIPE_ENCRYPTION_KEYS", "WELLPIPE_API_KEY_PEPPER")
        if not os.environ.get(name)
    ]
    if from_file:
        verb = "Generated" if generated.generated else "Using development"
        _say(
            click.style("WARNING: ", fg="red", bold=True)
            + f"{verb} keys in {generated.path} (0600): {', '.join(from_file)}. "
            "Fine for trying Wellpipe; production must set its own keys (README, "
            "'Production checklist'). Losing WELLPIPE_ENCRYPTION_KEYS makes every stored "
            "provider token unreadable."
        )
    os.environ["WELLPIPE_ENCRYPTION_KEYS"] = settings.encryption_keys.get_secret_value()  # type: ignore[union-attr]
    os.environ["WELLPIPE_API_KEY_PEPPER"] = settings.api_key_pepper.get_secret_value()  # type: ignore[union-attr]

    anyio.run(upgrade_database, settings.effective_database_url)
    os.environ["WELLPIPE_AUTO_MIGRATE"] = "0"  # done once here, not by every worker
    if settings.queue_in_memory and settings.jobs_in_process is None:
        os.environ["WELLPIPE_JOBS_IN_PROCESS"] = "1"  # SQLite: each worker runs its jobs

    if not os.environ.get("WELLPIPE_PUBLIC_URL"):
        shown = "127.0.0.1" if host in {"0.0.0.0", "::"} else host
        os.environ["WELLPIPE_PUBLIC_URL"] = f"http://{shown}:{port}"
    public = os.environ["WELLPIPE_PUBLIC_URL"]
    providers, sandboxes = _providers_line(settings)
    _say(
        "\n".join(
            [
                click.style("Wellpipe Cloud", bold=True) + f" · {workers} worker(s)",
                f"  Dashboard  {public}/",
                f"  REST       {public}/api/v1/health?type=summary&days=7",
                f"  MCP        {public}/api/mcp",
                f"  API docs   {public}/api/docs",
                f"  Database   {_safe_url(settings.effective_database_url)}",
                *providers,
                "Press Ctrl-C to stop.",
            ]
        )
    )
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn handles SIGINT itself
        uvicorn.run(
            "wellpipe.cloud.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            proxy_headers=True,
            forwarded_allow_ips=os.environ.get("WELLPIPE_FORWARDED_ALLOW_IPS", "127.0.0.1"),
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
    _stop_sandboxes(sandboxes)
    # Everything is closed now. Spare the interpreter's final garbage collections over every
    # object still alive (the sandboxes' histories alone are millions): a second or two.
    gc.freeze()
    sys.exit(0)
