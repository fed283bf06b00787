"""``wellpipe status``: paths, the WHOOP connection and token expiry, without any network call.

No token value is ever shown, not even in part: only whether one is there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from wellpipe.cli.claude_config import claude_config_option
from wellpipe.cli.console import out, reports_errors

if TYPE_CHECKING:
    from wellpipe.cli.home import LocalPaths

__all__ = [
    "ClaudeStatus",
    "Status",
    "WhoopStatus",
    "collect_status",
    "describe_expiry",
    "relative_time",
    "status",
]


def relative_time(delta: timedelta) -> str:
    """A duration for people: ``"under a minute"``, ``"37 min"``, ``"2 h 5 min"``, ``"3 days"``."""
    seconds = abs(delta.total_seconds())
    if seconds < 60:
        return "under a minute"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes and hours < 10 else f"{hours} h"
    return f"{hours // 24} days"


def describe_expiry(expires_at: datetime | None, now: datetime, *, refreshable: bool) -> str:
    """When the access token expires, in words, and what that means for the user."""
    if expires_at is None:
        return "expiry unknown" + ("; it refreshes automatically" if refreshable else "")
    left = expires_at - now
    if left.total_seconds() > 0:
        return f"expires in {relative_time(left)}"
    text = f"expired {relative_time(left)} ago"
    if refreshable:
        return text + "; that's fine, it refreshes automatically on the next call"
    return text + "; without a refresh token, run `wellpipe auth whoop` to connect again"


def local_time(instant: datetime) -> str:
    """An instant in the local time zone, to the minute."""
    return instant.astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


@dataclass(frozen=True)
class ClaudeStatus:
    """Claude Desktop's config and our entry in it."""

    config_file: str
    exists: bool
    problem: str | None = None
    entries: list[str] = field(default_factory=list)
    command: str | None = None
    demo: bool = False
    entries_with_tokens: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class WhoopStatus:
    """The WHOOP connection as stored locally (nothing is asked of WHOOP)."""

    configured: bool
    problem: str | None
    base_url: str | None
    access_token: bool
    refresh_token: bool
    tokens_from: str | None
    scopes: list[str]
    offline_granted: bool
    grant_error: str | None
    expires_at: str | None
    expires_in_seconds: float | None
    expiry: str | None
    last_success: str | None
    last_success_ago: str | None


@dataclass(frozen=True)
class Status:
    """Everything ``wellpipe status`` shows."""

    home: str
    home_exists: bool
    env_file: str
    env_file_exists: bool
    env_file_mode: str | None
    state_file: str
    claude: ClaudeStatus
    whoop: WhoopStatus

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _claude_status(path: Path) -> ClaudeStatus:
    from wellpipe.cli.claude_config import load_config, secret_keys_in, wellpipe_entries
    from wellpipe.core.errors import ConfigError

    try:
        config = load_config(path)
    except ConfigError as error:
        return ClaudeStatus(config_file=str(path), exists=path.exists(), problem=str(error))
    names = wellpipe_entries(config)
    entry = (config or {}).get("mcpServers", {}).get(names[0]) if names else None
    command = None
    demo = False
    if isinstance(entry, dict):
        args = entry.get("args") if isinstance(entry.get("args"), list) else []
        command = " ".join(str(word) for word in [entry.get("command", ""), *(args or [])])
        demo = "--demo" in (args or [])
    return ClaudeStatus(
        config_file=str(path),
        exists=config is not None,
        entries=names,
        command=command,
        demo=demo,
        entries_with_tokens=secret_keys_in(config or {}),
    )


def _whoop_status(paths: LocalPaths, environ: Mapping[str, str], now: datetime) -> WhoopStatus:
    import anyio

    from wellpipe.cli.env_tokens import EnvTokenProvider
    from wellpipe.cli.local_config import LocalConfig
    from wellpipe.cli.state import LocalState
    from wellpipe.core.clock import SystemClock
    from wellpipe.core.errors import ConfigError

    config = LocalConfig.load(paths, environ)
    problem = None
    try:
        config.whoop_credentials()
    except ConfigError as error:
        problem = str(error)
    base_url = None
    try:
        settings = config.whoop_settings()
        base_url = settings.origin if config.get("WELLPIPE_WHOOP_BASE_URL") else None
    except ConfigError as error:
        problem = problem or str(error)
    store = EnvTokenProvider(paths, provider="whoop", clock=SystemClock(), environ=environ)
    tokens = anyio.run(store.current)
    has_access = bool(tokens and tokens.access_token)
    has_refresh = bool(tokens and tokens.refresh_token)
    grant_error = store.reauthorization_reason
    expires_at = tokens.expires_at if tokens else None
    last = LocalState(paths).last_success("whoop")
    return WhoopStatus(
        configured=problem is None,
        problem=problem,
        base_url=base_url,
        access_token=has_access,
        refresh_token=has_refresh,
        tokens_from=("environment" if store.from_environment else ".env") if tokens else None,
        scopes=sorted(tokens.scopes) if tokens else [],
        offline_granted=bool(tokens and "offline" in tokens.scopes),
        grant_error=grant_error,
        expires_at=expires_at.isoformat() if expires_at else None,
        expires_in_seconds=(expires_at - now).total_seconds() if expires_at else None,
        expiry=(
            describe_expiry(expires_at, now, refreshable=has_refresh and not grant_error)
            if tokens
            else None
        ),
        last_success=last.isoformat() if last else None,
        last_success_ago=f"{relative_time(now - last)} ago" if last else None,
    )


def collect_status(
    paths: LocalPaths,
    *,
    claude_config: Path,
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> Status:
    """Gather the status from local files only (no network).

    Args:
        paths: The CLI's files.
        claude_config: Claude Desktop's config file.
        environ: The process environment (``os.environ`` when ``None``).
        now: The present (the system clock's by default).
    """
    import os

    from wellpipe.cli.env_file import EnvFile

    env = os.environ if environ is None else environ
    from wellpipe.core.clock import SystemClock

    now = now or SystemClock().now()
    env_file = EnvFile(paths.env_file)
    mode = env_file.mode()
    return Status(
        home=str(paths.home),
        home_exists=paths.home.is_dir(),
        env_file=str(paths.env_file),
        env_file_exists=env_file.exists(),
        env_file_mode=f"{mode:04o}" if mode is not None else None,
        state_file=str(paths.state_file),
        claude=_claude_status(claude_config),
        whoop=_whoop_status(paths, env, now),
    )


def _yes(flag: bool) -> str:
    return "[green]yes[/]" if flag else "[red]no[/]"


def render_status(report: Status) -> None:
    """Print the status as a table on stdout."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_header=False, title_justify="left")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")

    def section(title: str) -> None:
        table.add_row(f"[underline]{title}[/]", "")

    section("Files")
    table.add_row("Home", report.home + ("" if report.home_exists else " [red](missing)[/]"))
    env_note = f" (mode {report.env_file_mode})" if report.env_file_exists else " [red](missing)[/]"
    if report.env_file_mode and int(report.env_file_mode, 8) & 0o077:
        env_note = f" [red](mode {report.env_file_mode}: others can read it)[/]"
    table.add_row(".env", report.env_file + env_note)
    table.add_row("State", report.state_file)

    whoop = report.whoop
    section("WHOOP")
    table.add_row("App configured", _yes(whoop.configured) if not whoop.problem else whoop.problem)
    if whoop.base_url:
        table.add_row("API", whoop.base_url)
    table.add_row("Access token", _yes(whoop.access_token))
    table.add_row("Refresh token", _yes(whoop.refresh_token))
    if whoop.tokens_from == "environment":
        table.add_row("", "[yellow]tokens come from the environment, not the .env[/]")
    if whoop.access_token or whoop.refresh_token:
        table.add_row("Scopes", " ".join(whoop.scopes) or "(not recorded)")
        table.add_row("offline granted", _yes(whoop.offline_granted))
    if whoop.grant_error:
        table.add_row(
            "Grant", f"[red]dead ({whoop.grant_error})[/]: run `wellpipe auth whoop` to reconnect"
        )
    if whoop.expiry:
        when = local_time(datetime.fromisoformat(whoop.expires_at)) if whoop.expires_at else ""
        table.add_row("Access expiry", f"{when} ({whoop.expiry})" if when else whoop.expiry)
    if whoop.access_token or whoop.refresh_token or whoop.last_success:
        last = (
            f"{local_time(datetime.fromisoformat(whoop.last_success))} ({whoop.last_success_ago})"
            if whoop.last_success
            else "never"
        )
        table.add_row("Last successful call", last)
    if not (whoop.access_token or whoop.refresh_token):
        table.add_row("", "Not connected: run `wellpipe auth whoop`.")

    claude = report.claude
    section("Claude Desktop")
    table.add_row("Config", claude.config_file + ("" if claude.exists else " (missing)"))
    if claude.problem:
        table.add_row("", f"[red]{claude.problem}[/]")
    elif claude.entries:
        table.add_row("Installed as", ", ".join(claude.entries))
        table.add_row("Runs", claude.command or "")
        if claude.demo:
            table.add_row("", "[yellow]serves the sandbox (--demo), not your WHOOP data[/]")
    else:
        table.add_row("Installed", "[red]no[/]: run `wellpipe claude install`")
    for name, keys in claude.entries_with_tokens.items():
        table.add_row(
            "", f"[red]{name!r} holds {', '.join(keys)}[/]: remove them (see `wellpipe doctor`)"
        )
    out.print(table, highlight=False, soft_wrap=True)


@click.command(short_help="Show connections, tokens and paths.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
@claude_config_option
@reports_errors
def status(as_json: bool, claude_config: Path | None) -> None:
    """Show where Wellpipe keeps its files, the WHOOP connection and Claude Desktop's entry.

    Reads local files only; nothing is sent anywhere. Token values are never shown.
    """
    from wellpipe.cli.claude_config import claude_config_path
    from wellpipe.cli.home import LocalPaths

    report = collect_status(
        LocalPaths.from_environ(), claude_config=claude_config_path(claude_config)
    )
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        render_status(report)
