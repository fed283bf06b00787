"""Small, non-secret CLI state in ``state.json``: when each provider last answered.

The MCP server records a success after every provider call, so recording must be
cheap and must never fail the call: a missing, unreadable or corrupt file reads
as empty, and a failed write is logged and forgotten.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wellpipe.core.files import write_private_file

if TYPE_CHECKING:
    from wellpipe.cli.home import LocalPaths

__all__ = ["RECORD_INTERVAL", "STATE_VERSION", "LocalState", "write_private_file"]

log = logging.getLogger(__name__)

STATE_VERSION = 1
RECORD_INTERVAL = timedelta(seconds=60)
"""A success less than this much newer than the stored one is not written."""


class LocalState:
    """Reads and writes ``paths.state_file``.

    The file looks like ``{"version": 1, "providers": {"whoop": {"last_success":
    "2026-11-21T15:30:00+00:00"}}}``. It holds no tokens and no health data.
    """

    def __init__(self, paths: LocalPaths) -> None:
        self._paths = paths
        self._written: dict[str, datetime] = {}

    @property
    def path(self) -> Path:
        """The state file."""
        return self._paths.state_file

    def last_success(self, provider: str) -> datetime | None:
        """When ``provider`` last answered a call, or ``None`` if never (or unknown)."""
        providers = self._read().get("providers")
        entry = providers.get(provider) if isinstance(providers, dict) else None
        if not isinstance(entry, dict):
            return None
        return _parse_time(entry.get("last_success"))

    def record_success(self, provider: str, at: datetime) -> None:
        """Remember that ``provider`` answered at ``at`` (timezone-aware).

        Skips the write when the stored time is less than `RECORD_INTERVAL` older
        (or newer: another process got there first). Never raises for I/O problems.
        """
        stored = self._written.get(provider)
        if stored is None:
            stored = self.last_success(provider)
        if stored is not None and at - stored < RECORD_INTERVAL:
            return
        data = self._read()
        providers = data.get("providers")
        if not isinstance(providers, dict):
            providers = {}
        entry = providers.get(provider)
        if not isinstance(entry, dict):
            entry = {}
        entry["last_success"] = at.isoformat()
        providers[provider] = entry
        data["providers"] = providers
        data["version"] = STATE_VERSION
        try:
            self._paths.ensure_home()
            write_private_file(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")
        except OSError as exc:
            log.warning("could not write %s: %s", self.path, exc.strerror or exc)
            return
        self._written[provider] = at

    def _read(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return {}
        try:
            data = json.loads(text)
        except ValueError:
            log.warning("ignoring %s: it is not valid JSON", self.path)
            return {}
        return data if isinstance(data, dict) else {}


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
