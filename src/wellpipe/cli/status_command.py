"""``wellpipe status``: paths, each provider's connection and token expiry, with no network call.

No token value is ever shown, not even in part: only whether one is there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import click

from wellpipe.cli.claude_config import claude_config_option
from wellpipe.cli.console import out, reports_errors

if TYPE_CHECKING:
    from wellpipe.cli.home import LocalPaths

__all__ = [
    "ClaudeStatus",
    "HistoryStatus",
    "ProviderStatus",
    "Status",
    "WhoopStatus",
    "collect_status",
    "describe_expiry",
    "history_status",
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


def describe_expiry(
    expires_at: datetime | None,
    now: datetime,
    *,
    refreshable: bool,
    provider: str = "whoop",
    dead: bool = False,
) -> str:
    """When the access token expires, in words, and what that means for the user.

    Args:
        expires_at: When the access token expires (``None``: unknown).
        now: The present.
        refreshable: Whether a usable refresh token is stored.
        provider: The provider's name, for the next step.
        dead: Whether the provider refused the grant (a refresh token may still be
            stored, but it no longer works).
    """
    if expires_at is None:
        return "expiry unknown" + ("; it refreshes automatically" if refreshable else "")
    left = expires_at - now
    if left.total_seconds() > 0:
        return f"expires in {relative_time(left)}"
    text = f"expired {relative_time(left)} ago"
    if refreshable and not dead:
        return text + "; that's fine, it refreshes automatically on the next call"
    why = "the provider refused the grant" if dead else "without a refresh token"
    return text + f"; {why}, run `wellpipe auth {provider}` to connect again"


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
class ProviderStatus:
    """One provider's connection as stored locally (nothing is asked of the provider)."""

    name: str
    display_name: str
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
    granted_at: str | None = None
    missing_scopes: list[str] = field(default_factory=list)
    lacking: list[str] = field(default_factory=list)
    scope_names: str = ""
    missing_note: str | None = None
    refresh_unanswered_at: str | None = None

    @property
    def connected(self) -> bool:
        """Whether tokens are stored."""
        return self.access_token or self.refresh_token


WhoopStatus = ProviderStatus
"""The old name of `ProviderStatus` (WHOOP was the only provider)."""


@dataclass(frozen=True)
class HistoryStatus:
    """What the history file keeps of one provider (`wellpipe sync` fills it).

    Attributes:
        records: Records kept, every kind together.
        first_record: The oldest local day kept (ISO), if any.
        covered_from: The first day read in full (ISO; the backfill reads from 2010).
        covered_to: The last day read in full (ISO).
        last_sync: When the newest days were last read (ISO), if ever.
        backfill: Streams still backfilling: their names and records so far.
    """

    records: int
    first_record: str | None
    covered_from: str | None
    covered_to: str | None
    last_sync: str | None
    backfill: dict[str, int] = field(default_factory=dict)


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
    providers: dict[str, ProviderStatus]
    history_file: str | None = None
    history: dict[str, HistoryStatus] = field(default_factory=dict)

    @property
    def whoop(self) -> ProviderStatus:
        """WHOOP's section."""
        return self.providers["whoop"]

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


def _provider_status(
    name: str, paths: LocalPaths, environ: Mapping[str, str], now: datetime
) -> ProviderStatus:
    from wellpipe.cli.env_tokens import EnvTokenProvider
    from wellpipe.cli.local_config import AppKeys, LocalConfig
    from wellpipe.cli.provider_notes import (
        KIND_WORDS,
        granted_names,
        lacking_kinds,
        missing_note,
        missing_scopes,
    )
    from wellpipe.cli.state import LocalState
    from wellpipe.core.clock import SystemClock
    from wellpipe.core.errors import ConfigError
    from wellpipe.providers import get_provider_info

    info = get_provider_info(name)
    config = LocalConfig.load(paths, environ)
    problem = None
    try:
        config.credentials(name)
    except ConfigError as error:
        problem = str(error)
    base_url = None
    try:
        location = config.location(name)
        base_url = location.origin if config.get(AppKeys(name).base_url) else None
    except ConfigError as error:
        problem = problem or str(error)
    store = EnvTokenProvider(paths, provider=name, clock=SystemClock(), environ=environ)
    tokens = anyio.run(store.current)
    has_access = bool(tokens and tokens.access_token)
    has_refresh = bool(tokens and tokens.refresh_token)
    grant_error = store.reauthorization_reason
    expires_at = tokens.expires_at if tokens else None
    granted = tokens.scopes if tokens else frozenset()
    last = LocalState(paths).last_success(name)
    granted_at = store.granted_at
    unanswered = store.refresh_unanswered_at
    return ProviderStatus(
        name=name,
        display_name=info.display_name,
        configured=problem is None,
        problem=problem,
        base_url=base_url,
        access_token=has_access,
        refresh_token=has_refresh,
        tokens_from=("environment" if store.from_environment else ".env") if tokens else None,
        scopes=sorted(granted),
        offline_granted=has_refresh and ("offline" not in info.scopes or "offline" in granted),
        grant_error=grant_error,
        expires_at=expires_at.isoformat() if expires_at else None,
        expires_in_seconds=(expires_at - now).total_seconds() if expires_at else None,
        expiry=(
            describe_expiry(
                expires_at, now, refreshable=has_refresh, provider=name, dead=bool(grant_error)
            )
            if tokens
            else None
        ),
        last_success=last.isoformat() if last else None,
        last_success_ago=f"{relative_time(now - last)} ago" if last else None,
        granted_at=granted_at.isoformat() if granted_at else None,
        missing_scopes=missing_scopes(info, granted),
        lacking=[KIND_WORDS.get(k, k.value) for k in lacking_kinds(info, granted)],
        scope_names=granted_names(info, granted),
        missing_note=missing_note(info, granted),
        refresh_unanswered_at=unanswered.isoformat() if unanswered else None,
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
    from wellpipe.core.clock import SystemClock
    from wellpipe.providers import available_providers

    env = os.environ if environ is None else environ

    now = now or SystemClock().now()
    env_file = EnvFile(paths.env_file)
    mode = env_file.mode()
    history_file, history = history_status(paths.home, available_providers())
    return Status(
        home=str(paths.home),
        home_exists=paths.home.is_dir(),
        env_file=str(paths.env_file),
        env_file_exists=env_file.exists(),
        env_file_mode=f"{mode:04o}" if mode is not None else None,
        state_file=str(paths.state_file),
        claude=_claude_status(claude_config),
        providers={name: _provider_status(name, paths, env, now) for name in available_providers()},
        history_file=history_file,
        history=history,
    )


async def _history_status(path: Path, providers: list[str]) -> dict[str, HistoryStatus]:
    from wellpipe.core.reading import READ_KINDS
    from wellpipe.core.sync import oldest_day
    from wellpipe.history.local import LocalHistory

    found: dict[str, HistoryStatus] = {}
    async with LocalHistory(path) as store:
        for name in providers:
            coverage = await store.coverage(name)
            spans = [span for kind in coverage.spans for span in coverage.covered(kind)]
            if not spans and not coverage.total and not coverage.backfill:
                continue
            first = await oldest_day(store, name, READ_KINDS) if coverage.total else None
            found[name] = HistoryStatus(
                records=coverage.total,
                first_record=first.isoformat() if first else None,
                covered_from=min(s.first for s in spans).isoformat() if spans else None,
                covered_to=max(s.last for s in spans).isoformat() if spans else None,
                last_sync=max(s.refreshed_at for s in spans).isoformat() if spans else None,
                backfill={stream: c.records for stream, c in coverage.backfill.items()},
            )
    return found


def history_status(home: Path, providers: list[str]) -> tuple[str, dict[str, HistoryStatus]]:
    """The history file's path and, if it exists, what it keeps of each provider.

    A file that cannot be read is reported as keeping nothing (``wellpipe doctor`` says why).
    """
    from wellpipe.history.local import HistoryFileError, history_path

    path = history_path(home)
    if not path.exists():
        return str(path), {}
    try:
        return str(path), anyio.run(_history_status, path, providers)
    except (HistoryFileError, OSError):
        return str(path), {}


def _history_rows(table: Any, history: HistoryStatus | None, now: datetime) -> None:
    if history is None:
        table.add_row("History", "nothing kept yet: run `wellpipe sync`")
        return
    kept = f"{history.records:,} records"
    if history.first_record:
        kept += f", the oldest from {history.first_record}"
    table.add_row("History", kept)
    if history.covered_to:
        start = max(filter(None, (history.covered_from, history.first_record)))
        table.add_row("Covered", f"{start} to {history.covered_to}")
    if history.last_sync:
        synced = datetime.fromisoformat(history.last_sync)
        table.add_row("Last sync", f"{local_time(synced)} ({relative_time(now - synced)} ago)")
    if history.backfill:
        streams = ", ".join(
            f"{name} ({count:,} so far)" for name, count in history.backfill.items()
        )
        table.add_row(
            "Backfill", f"[yellow]in progress[/]: {streams}; run `wellpipe sync` to go on"
        )


def _yes(flag: bool) -> str:
    return "[green]yes[/]" if flag else "[red]no[/]"


def _provider_rows(table: Any, p: ProviderStatus, section: Any) -> None:
    section(p.display_name)
    auth = f"`wellpipe auth {p.name}`"
    if not p.connected and not p.configured and not p.last_success:
        table.add_row("App configured", p.problem or _yes(False))
        table.add_row("", f"Not connected: run {auth} after `wellpipe init` set up the app.")
        return
    table.add_row("App configured", _yes(p.configured) if not p.problem else p.problem)
    if p.base_url:
        table.add_row("API", p.base_url)
    table.add_row("Access token", _yes(p.access_token))
    refresh = _yes(p.refresh_token)
    if p.refresh_token and p.grant_error:
        refresh = "[red]stored, but refused[/] (see Grant below)"
    elif p.refresh_token and p.refresh_unanswered_at:
        when = local_time(datetime.fromisoformat(p.refresh_unanswered_at))
        refresh = (
            f"[yellow]yes, but maybe spent[/]: a refresh at {when} got no answer, and "
            f"{p.display_name} replaces it at every refresh; the next call tells"
        )
    table.add_row("Refresh token", refresh)
    if p.tokens_from == "environment":
        table.add_row("", "[yellow]tokens come from the environment, not the .env[/]")
    if p.connected:
        table.add_row("Scopes", p.scope_names or "(not recorded)")
        if p.missing_note:
            table.add_row(
                "Not granted",
                f"[yellow]{p.missing_note}[/]: run {auth} and allow them",
            )
        table.add_row("offline granted", _yes(p.offline_granted))
    if p.granted_at:
        table.add_row("Connected since", local_time(datetime.fromisoformat(p.granted_at)))
    if p.grant_error:
        table.add_row("Grant", f"[red]dead ({p.grant_error})[/]: run {auth} to reconnect")
    if p.expiry:
        when = local_time(datetime.fromisoformat(p.expires_at)) if p.expires_at else ""
        table.add_row("Access expiry", f"{when} ({p.expiry})" if when else p.expiry)
    if p.connected or p.last_success:
        last = (
            f"{local_time(datetime.fromisoformat(p.last_success))} ({p.last_success_ago})"
            if p.last_success
            else "not used yet"
        )
        table.add_row("Last successful call", last)
    if not p.connected:
        table.add_row("", f"Not connected: run {auth}.")


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

    if report.history_file:
        table.add_row("History", report.history_file)

    now = datetime.now().astimezone()
    for provider in report.providers.values():
        _provider_rows(table, provider, section)
        if report.history_file and (provider.connected or provider.name in report.history):
            _history_rows(table, report.history.get(provider.name), now)

    claude = report.claude
    section("Claude Desktop")
    table.add_row("Config", claude.config_file + ("" if claude.exists else " (missing)"))
    if claude.problem:
        table.add_row("", f"[red]{claude.problem}[/]")
    elif claude.entries:
        table.add_row("Installed as", ", ".join(claude.entries))
        table.add_row("Runs", claude.command or "")
        if claude.demo:
            table.add_row("", "[yellow]serves the sandboxes (--demo), not your own data[/]")
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
    """Show where Wellpipe keeps its files, each provider's connection and Claude Desktop's entry.

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
