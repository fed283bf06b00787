"""Terminal output: results on stdout, messages on stderr, errors as sentences with exit codes."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
from rich.console import Console

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


_CHATTY = ("httpx2", "httpcore2", "mcp", "uvicorn")
"""Libraries whose info lines (request URLs, session events) show only at ``-vv``."""


class _Verbosity(logging.Filter):
    def __init__(self, verbosity: int) -> None:
        super().__init__()
        self._verbosity = verbosity

    def filter(self, record: logging.LogRecord) -> bool:
        if self._verbosity >= 2 or record.levelno >= logging.WARNING:
            return True
        return not record.name.startswith(_CHATTY)


def configure_logging(verbosity: int) -> None:
    """Log to stderr, secrets redacted: warnings by default, ``-v`` for info, ``-vv`` for debug.

    The handler sits on the root logger so every library's records (httpx2 logs
    request URLs, the MCP SDK its own events) go to stderr through the redaction
    filter; stdout stays free for results and, under ``wellpipe serve``, protocol.
    Levels are only ever lowered and other handlers are left alone, so calling
    this twice (or inside a test that captures logs) changes nothing else.
    """
    from wellpipe.core.redaction import RedactingFilter

    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name("wellpipe")
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_Verbosity(verbosity))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() != "wellpipe"] + [handler]
    if verbosity > 0:
        for name in ("wellpipe", *(_CHATTY if verbosity >= 2 else ())):
            logger = logging.getLogger(name)
            if logger.getEffectiveLevel() > level:
                logger.setLevel(level)
