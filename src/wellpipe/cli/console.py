"""Terminal output: results on stdout, messages on stderr, errors as sentences with exit codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
from rich.console import Console

from wellpipe.cli.logs import configure_logging
from wellpipe.core.errors import AuthError, ConfigError, ProviderError, WellpipeError

__all__ = ["EXIT_CODES", "configure_logging", "err", "exit_code_for", "out", "reports_errors"]

out = Console()
"""Results (tables, charts, copy-paste-ready text)."""
err = Console(stderr=True)
"""Progress, hints and errors."""

# sysexits.h: scripts can tell "fix your config" from "try again later".
EXIT_CODES: dict[type[WellpipeError], int] = {
    ConfigError: 78,  # EX_CONFIG
    AuthError: 77,  # EX_NOPERM
    ProviderError: 69,  # EX_UNAVAILABLE
}

P = ParamSpec("P")
R = TypeVar("R")


def exit_code_for(error: WellpipeError) -> int:
    """The process exit code for an error (1 when nothing more specific applies)."""
    for kind, code in EXIT_CODES.items():
        if isinstance(error, kind):
            return code
    return 1


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a `WellpipeError` into its sentence on stderr and an exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except WellpipeError as error:
            err.print(f"[bold red]Error:[/] {error}", highlight=False, soft_wrap=True)
            raise click.exceptions.Exit(exit_code_for(error)) from None

    return wrapper
