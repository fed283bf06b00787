"""``wellpipe export``: the history as tidy files (CSV, JSON Lines or Parquet), one per kind.

Reads the history file `wellpipe sync` fills (nothing is asked of the providers) and
writes `wellpipe.history.export`'s tables into a new dated folder in the current one
(or ``--out``): the folder 0700, the files 0600 (they are health data). A progress bar
goes to stderr; the paths of the files written go to stdout, one a line.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import click

from wellpipe.cli.console import err, reports_errors
from wellpipe.core.errors import WellpipeError, listed
from wellpipe.core.models import DataKind

if TYPE_CHECKING:
    from wellpipe.history.export import ExportedFile, ExportFormat
    from wellpipe.history.local import LocalHistory

__all__ = ["NothingToExport", "default_folder", "export", "parse_kinds", "parse_since"]

_KIND_NAMES = ("sleep", "recovery", "workout", "cycle", "readiness", "activity", "vitals")
"""The kinds a history keeps (`wellpipe.history.export.EXPORT_KINDS`), for the help text
without importing the export module."""


class NothingToExport(WellpipeError):
    """The history holds no record the export asked for."""


def parse_kinds(values: Sequence[str]) -> frozenset[DataKind] | None:
    """The kinds named by ``--kind`` (repeated or comma-separated); ``None``: every kind.

    Raises:
        click.BadParameter: a name is not a kind the history keeps.
    """
    names = [name.strip().lower() for value in values for name in value.split(",")]
    names = [name for name in names if name]
    if not names:
        return None
    unknown = [name for name in names if name not in _KIND_NAMES]
    if unknown:
        raise click.BadParameter(
            f"there is no kind {unknown[0]!r} in the history; "
            f"the kinds are {listed(list(_KIND_NAMES), 'and')}.",
            param_hint="'--kind'",
        )
    return frozenset(DataKind(name) for name in names)


def parse_since(value: str | None) -> date | None:
    """The ``--since`` day.

    Raises:
        click.BadParameter: the value is not a day written ``YYYY-MM-DD``.
    """
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a day; write it as YYYY-MM-DD, e.g. 2026-01-31.",
            param_hint="'--since'",
        ) from None


def default_folder(parent: Path, today: date) -> Path:
    """A folder that does not exist yet: ``wellpipe-export-<today>`` (then ``-2``, ``-3``…)."""
    base = parent / f"wellpipe-export-{today.isoformat()}"
    candidate, number = base, 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate


def _nothing(kinds: frozenset[DataKind] | None, since: date | None) -> str:
    what = "records" if kinds is None else listed(sorted(k.value for k in kinds), "or") + " records"
    when = "" if since is None else f" from {since.isoformat()} on"
    return f"The history holds no {what}{when}, so nothing was written; widen --kind or --since."


async def _expected(store: LocalHistory, kinds: frozenset[DataKind] | None) -> int:
    """Records the history keeps of ``kinds`` (before ``--since``): the bar's total."""
    from wellpipe.providers import available_providers

    total = 0
    for provider in available_providers():
        coverage = await store.coverage(provider)
        total += sum(n for kind, n in coverage.counts.items() if kinds is None or kind in kinds)
    return total


async def _export(
    home: Path,
    folder: Path,
    fmt: ExportFormat,
    kinds: frozenset[DataKind] | None,
    since: date | None,
    *,
    demo: bool = False,
) -> tuple[ExportedFile, ...]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from wellpipe.cli.sync_command import DEMO_FOLDER
    from wellpipe.history.export import export_to_folder, holds_records
    from wellpipe.history.local import LocalHistory, history_path

    sync = "wellpipe sync --demo" if demo else "wellpipe sync"
    again = "wellpipe export --demo" if demo else "wellpipe export"
    path = history_path(home / DEMO_FOLDER if demo else home)
    if not path.exists():
        hint = ""
        if not demo and history_path(home / DEMO_FOLDER).exists():
            hint = (
                " (`wellpipe sync --demo` keeps the sandboxes' history apart from yours: "
                "`wellpipe export --demo` writes that one)"
            )
        raise NothingToExport(
            f"There is no history yet ({path} does not exist): run `{sync}` first, "
            f"then `{again}` again{hint}."
        )
    async with LocalHistory(path) as store:
        total = await _expected(store, kinds)
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("records"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task("Exporting", total=total or None)

            def advance(kind: DataKind, count: int) -> None:
                bar.update(task, advance=count, description=f"Exporting {kind.value}")

            files = await export_to_folder(
                store, folder, fmt, kinds=kinds, since=since, progress=advance
            )
        if not files:
            if (kinds is None and since is None) or not await holds_records(store):
                raise NothingToExport(
                    f"The history is empty: run `{sync}` first, then `{again}` again."
                )
            raise NothingToExport(_nothing(kinds, since))
    return files


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    if count < 1024 * 1024:
        return f"{count / 1024:.0f} KiB"
    return f"{count / 1024 / 1024:.1f} MiB"


@click.command(short_help="Write your history to CSV, JSON Lines or Parquet files.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl", "parquet"], case_sensitive=False),
    default="csv",
    show_default=True,
    help="The file format (one file per kind).",
)
@click.option(
    "--kind",
    "kind_names",
    multiple=True,
    metavar="KIND",
    help=f"Only this kind (repeat, or separate with commas): {', '.join(_KIND_NAMES)}.",
)
@click.option("--since", metavar="DATE", help="Only local days from DATE on (YYYY-MM-DD).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, dir_okay=True, writable=True, path_type=Path),
    help="The folder to write to (default: a new wellpipe-export-<today> folder here).",
)
@click.option(
    "--demo",
    is_flag=True,
    help="The built-in sandboxes' history (what `wellpipe sync --demo` keeps), not yours.",
)
@reports_errors
def export(
    fmt: str, kind_names: tuple[str, ...], since: str | None, out: Path | None, demo: bool
) -> None:
    """Write the history `wellpipe sync` keeps to tidy files, one table per kind.

    One row per record; the provider, its record id and the local day first; units in
    the column names; times in ISO 8601 with their UTC offset. pandas and DuckDB read
    the files as they are. Nothing is asked of the providers.
    """
    from wellpipe.cli.home import LocalPaths
    from wellpipe.history.export import ExportFormat

    kinds = parse_kinds(kind_names)
    first = parse_since(since)
    folder = (
        out if out is not None else default_folder(Path.cwd(), datetime.now().astimezone().date())
    )
    home = LocalPaths.from_environ().home
    files = anyio.run(
        partial(_export, demo=demo), home, folder, ExportFormat(fmt.lower()), kinds, first
    )
    rows = sum(f.rows for f in files)
    err.print(
        f"Exported {rows:,} records to {len(files)} {'file' if len(files) == 1 else 'files'} "
        f"in {folder.resolve()}:",
        highlight=False,
        soft_wrap=True,
    )
    for file in files:
        err.print(
            f"  {file.kind.value:<10} {file.rows:>8,} rows  {_size(file.size_bytes):>9}",
            highlight=False,
        )
    for file in files:
        click.echo(shlex.quote(str(file.path.resolve())))
