"""The ``wellpipe`` command line."""

from __future__ import annotations

import anyio
import click

from wellpipe import __version__
from wellpipe.cli.console import configure_logging, err, out, reports_errors
from wellpipe.cli.sandbox_command import sandbox

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="wellpipe")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv for debug).")
def main(verbose: int) -> None:
    """Wellpipe: let AI assistants read your own wearable health data."""
    configure_logging(verbose)


@main.command(short_help="Show recent sleep from the built-in WHOOP sandbox.")
@click.option(
    "--days",
    default=7,
    show_default=True,
    type=click.IntRange(1, 60),
    help="How many days to show.",
)
@click.option("--seed", default=42, show_default=True, help="Seed of the sandbox's history.")
@reports_errors
def demo(days: int, seed: int) -> None:
    """Show recent sleep from the built-in WHOOP sandbox, read through the real client."""
    from wellpipe.cli.demo import render_sleep, run_demo  # the sandbox loads only when asked

    with err.status("Starting the WHOOP sandbox and signing in…"):
        result = anyio.run(lambda: run_demo(days=days, seed=seed))
    render_sleep(result, out)
    err.print(
        f"[dim]{result.requests} requests to the WHOOP sandbox at {result.origin} "
        f"in {result.seconds:.2f} s (OAuth code flow, then the WHOOP client).[/]",
        highlight=False,
    )


main.add_command(sandbox)
