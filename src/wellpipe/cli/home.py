"""Where the self-hosted CLI keeps its files: ``$WELLPIPE_HOME`` or the platform's app folder."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENV_HOME", "HOME_MODE", "LocalPaths", "tighten_home", "wellpipe_home"]

log = logging.getLogger(__name__)

ENV_HOME = "WELLPIPE_HOME"
"""The environment variable that overrides the home folder."""

HOME_MODE = 0o700


def wellpipe_home(environ: Mapping[str, str] | None = None) -> Path:
    """The folder that holds the ``.env``, its lock and the CLI's state.

    Args:
        environ: The process environment (``os.environ`` when ``None``).

    Returns:
        ``$WELLPIPE_HOME`` with ``~`` expanded if set, else the platform's
        application folder for ``wellpipe``.
    """
    env = os.environ if environ is None else environ
    configured = env.get(ENV_HOME, "").strip()
    if configured:
        return Path(configured).expanduser()
    import click  # not at the top: `wellpipe serve` for an MCP client never loads click

    return Path(click.get_app_dir("wellpipe"))


@dataclass(frozen=True)
class LocalPaths:
    """The CLI's files, all inside one home folder.

    Attributes:
        home: The folder itself.
    """

    home: Path

    @property
    def env_file(self) -> Path:
        """The ``.env`` with client credentials and tokens."""
        return self.home / ".env"

    @property
    def lock_file(self) -> Path:
        """The lock file that serializes token refreshes across processes."""
        return self.home / ".env.lock"

    @property
    def state_file(self) -> Path:
        """Non-secret CLI state."""
        return self.home / "state.json"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> LocalPaths:
        """The paths under `wellpipe_home` for ``environ``."""
        return cls(home=wellpipe_home(environ))

    def ensure_home(self) -> None:
        """Create the home folder (and parents) if needed; the folder itself gets mode 0700.

        An existing folder that others may enter is tightened to 0700 (on POSIX): it
        is about to receive tokens. If that fails (someone else owns it),
        ``wellpipe doctor`` fails on it, with the ``chmod`` to run.
        """
        if self.home.is_dir():
            tighten_home(self.home)
            return
        self.home.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home, HOME_MODE)


def tighten_home(home: Path) -> None:
    """Make an existing home folder 0700 if others may enter it; never raises."""
    if os.name != "posix":  # pragma: no cover - Windows has no such mode bits
        return
    try:
        mode = stat.S_IMODE(home.stat().st_mode)
        if mode & 0o077:
            os.chmod(home, HOME_MODE)
            log.info("tightened %s from mode %04o to %04o", home, mode, HOME_MODE)
    except OSError as exc:
        log.warning("could not make %s private (0700): %s", home, exc.strerror or exc)
