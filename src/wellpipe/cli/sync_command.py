"""``wellpipe sync``: fill the history file from each connected provider.

The first run backfills each provider's whole history (`wellpipe.core.sync.backfill`),
page by page, newest first where the provider orders that way, with a progress bar on
stderr; every page is kept as it arrives, so Ctrl-C (or a crash, or a provider error)
loses nothing and the next run goes on from there. Later runs are incremental
(`wellpipe.core.sync.refresh`): only the last days and the records a provider has not
finished scoring are read again. ``--demo`` does the same with the built-in sandboxes,
into a history of its own (``demo/`` in the Wellpipe home), never into yours.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anyio
import click

from wellpipe.cli.console import err, reports_errors
from wellpipe.core.errors import ConfigError, WellpipeError, listed

if TYPE_CHECKING:
    from wellpipe.cli.home import LocalPaths
    from wellpipe.core.ports import Clock
    from wellpipe.core.sync import Progress, SyncableProvider, SyncReport
    from wellpipe.history.local import LocalHistory

__all__ = ["DEMO_FOLDER", "SyncFailed", "SyncRun", "demo_home", "run_sync", "sync"]

DEMO_FOLDER = "demo"
"""Where ``--demo`` keeps the sandboxes' history, inside the Wellpipe home."""

DEMO_SEED = 42
"""The sandboxes' synthetic history (``wellpipe demo``'s default seed)."""


class SyncFailed(WellpipeError):
    """One provider or more could not be synced (what was read is kept)."""


def demo_home(paths: LocalPaths) -> Path:
    """The folder holding the demo's history (0700, like the home)."""
    folder = paths.home / DEMO_FOLDER
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


@dataclass
class SyncRun:
    """What a ``wellpipe sync`` did so far, provider by provider (for Ctrl-C's summary)."""

    reports: dict[str, SyncReport] = field(default_factory=dict)
    progress: dict[str, Progress] = field(default_factory=dict)
    failures: dict[str, WellpipeError] = field(default_factory=dict)
    current: str | None = None


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def _summary(name: str, report: SyncReport) -> str:
    if report.mode == "backfill":
        resumed = ", resumed" if report.resumed else ""
        return (
            f"{name}: backfilled {_plural(report.records, 'record')} in "
            f"{_plural(report.pages, 'page')} ({_plural(report.requests, 'request')}{resumed})."
        )
    days = sum(run.count for run in report.days)
    notes = "".join(f" {note}" for note in report.notes)
    return (
        f"{name}: up to date; read {_plural(days, 'day')} again, "
        f"{_plural(report.records, 'record')} changed.{notes}"
    )


async def _sync_one(
    provider: SyncableProvider,
    store: LocalHistory,
    *,
    clock: Clock,
    full: bool,
    run: SyncRun,
    bar: Any,
) -> None:
    from wellpipe.core.sync import backfill, refresh

    name = provider.info.display_name
    task = bar.add_task(f"{name}: backfilling", total=None, records=0, pages=0)

    def advance(progress: Progress) -> None:
        run.progress[provider.info.name] = progress
        bar.update(
            task,
            completed=progress.pages,
            total=progress.pages_estimate,
            records=progress.records,
            pages=progress.pages,
            description=f"{name}: {progress.stream}",
        )

    report = await backfill(provider, store, clock=clock, progress=advance, full=full)
    if report.pages == 0:  # backfilled before: read only what may have changed
        bar.update(task, description=f"{name}: refreshing")
        report = await refresh(provider, store, clock=clock)
    bar.update(task, total=1, completed=1, description=f"{name}: done")
    run.reports[provider.info.name] = report


def _demo_provider(name: str, clock: Clock) -> AbstractAsyncContextManager[Any]:
    from wellpipe.cli.local_tools import open_demo

    return open_demo(name, seed=DEMO_SEED, clock=clock)


def _syncable(provider: object) -> SyncableProvider:
    """The provider as a `SyncableProvider` (every built-in one is)."""
    if not (hasattr(provider, "streams") and hasattr(provider, "page")):
        info = getattr(provider, "info", None)
        raise ConfigError(
            f"{getattr(info, 'display_name', 'This provider')} cannot be synced into the "
            "history yet; its tools keep reading it live."
        )
    return cast("SyncableProvider", provider)


def _chosen(paths: LocalPaths, wanted: str | None, demo: bool) -> list[str]:
    from wellpipe.cli.connection import connected_providers
    from wellpipe.cli.local_config import LocalConfig
    from wellpipe.cli.local_tools import demo_providers
    from wellpipe.providers import available_providers

    if demo:
        names = demo_providers()
    else:
        config = LocalConfig.load(paths)
        names = [n for n in connected_providers(paths) if config.is_configured(n)]
    if wanted is not None:
        if wanted not in available_providers():
            raise ConfigError(
                f"There is no provider {wanted!r}; the installed ones are "
                f"{listed(sorted(available_providers()), 'and')}."
            )
        if wanted not in names:
            raise ConfigError(
                f"{wanted} is not connected: run `wellpipe auth {wanted}`, "
                "then `wellpipe sync` again."
            )
        return [wanted]
    if not names:
        raise ConfigError(
            "No provider is connected yet: run `wellpipe auth <provider>` first "
            "(or try `wellpipe sync --demo` on the built-in sandboxes)."
        )
    return names


async def run_sync(
    paths: LocalPaths,
    *,
    provider: str | None,
    full: bool,
    demo: bool,
    run: SyncRun,
    clock: Clock | None = None,
    console: Any = None,
) -> SyncRun:
    """Sync each chosen provider into the history, one after another; ``run`` fills up.

    A provider that fails is recorded in ``run.failures`` and the others go on.

    Raises:
        ConfigError: nothing to sync (no provider connected, or the one named is not).
    """
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from wellpipe.cli.connection import open_local
    from wellpipe.core.clock import SystemClock
    from wellpipe.history.local import LocalHistory

    clock = clock or SystemClock()
    names = _chosen(paths, provider, demo)
    if not demo:
        paths.ensure_home()
    home = demo_home(paths) if demo else paths.home
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[records]:,} records, {task.fields[pages]:,} pages"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    )
    store = await LocalHistory.in_home(home)
    try:
        with Progress(*columns, console=console or err, transient=False) as bar:
            for name in names:
                run.current = name
                opener = (
                    _demo_provider(name, clock) if demo else open_local(name, paths, clock=clock)
                )
                try:
                    async with opener as opened:
                        syncable = _syncable(opened)
                        await _sync_one(syncable, store, clock=clock, full=full, run=run, bar=bar)
                except WellpipeError as error:
                    run.failures[name] = error
            run.current = None
    finally:
        with anyio.CancelScope(shield=True):
            await store.close()
    return run


def _stopped(run: SyncRun, demo: bool) -> str:
    again = "wellpipe sync --demo" if demo else "wellpipe sync"
    kept = [
        f"{name} {progress.records:,} records in {progress.pages:,} pages"
        for name, progress in run.progress.items()
        if name not in run.reports
    ]
    done = list(run.reports)
    parts = []
    if done:
        parts.append(f"{listed(done, 'and')} finished")
    if kept:
        parts.append(f"kept so far: {listed(kept, 'and')}")
    where = f" ({'; '.join(parts)})" if parts else ""
    return f"Stopped{where}. Everything read is kept: run `{again}` again to go on from there."


@click.command(short_help="Keep your history: backfill once, then sync what changed.")
@click.option("--provider", "provider", metavar="NAME", help="Only this provider (e.g. whoop).")
@click.option("--full", is_flag=True, help="Read the whole history again, not only what changed.")
@click.option("--demo", is_flag=True, help="Sync the built-in sandboxes (a history of their own).")
@reports_errors
def sync(provider: str | None, full: bool, demo: bool) -> None:
    """Copy your history from each connected provider into the history file.

    The first run reads everything the provider keeps (a year of WHOOP is about 70
    requests); it can be stopped at any time and goes on where it stopped when run
    again. Later runs read only the last days and what the provider was still scoring.
    Tools then answer from the history without asking the provider again.
    """
    from wellpipe.cli.home import LocalPaths

    paths = LocalPaths.from_environ()
    run = SyncRun()
    try:
        anyio.run(lambda: run_sync(paths, provider=provider, full=full, demo=demo, run=run))
    except KeyboardInterrupt:
        err.print(_stopped(run, demo), highlight=False, soft_wrap=True)
        raise click.exceptions.Exit(130) from None
    for name, report in run.reports.items():
        err.print(_summary(name, report), highlight=False, soft_wrap=True)
    if run.failures:
        again = "wellpipe sync --demo" if demo else "wellpipe sync"
        for name, error in run.failures.items():
            err.print(f"[bold red]{name}:[/] {error}", highlight=False, soft_wrap=True)
        failed = sorted(run.failures)
        raise SyncFailed(
            f"{listed(failed, 'and')} could not be synced; what was read is kept, so "
            f"`{again}{' --provider ' + failed[0] if len(failed) == 1 else ''}` goes on "
            "from there once the problem above is fixed."
        )
