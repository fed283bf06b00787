"""The provider registry: every provider, built-in or not, arrives through one entry-point group.

A provider is a subpackage exposing a `ProviderInfo` and one line in its
distribution's ``pyproject.toml``::

    [project.entry-points."wellpipe.providers"]
    whoop = "wellpipe.providers.whoop:INFO"

``WELLPIPE_PROVIDERS`` (comma-separated names) limits which ones load.

Installed entry points are read once per process (scanning every distribution's metadata
costs milliseconds, and the cloud asks on every request); ``WELLPIPE_PROVIDERS`` is read
on every call.
"""

from __future__ import annotations

import os
from functools import cache
from importlib.metadata import EntryPoint, entry_points

from wellpipe.core.errors import UnknownProviderError
from wellpipe.core.provider_info import ProviderInfo

__all__ = [
    "ENTRY_POINT_GROUP",
    "available_providers",
    "get_provider_info",
    "installed_entry_points",
]

ENTRY_POINT_GROUP = "wellpipe.providers"


def _enabled(name: str) -> bool:
    allowed = os.environ.get("WELLPIPE_PROVIDERS")
    if not allowed:
        return True
    return name in {part.strip() for part in allowed.split(",")}


@cache
def installed_entry_points() -> tuple[EntryPoint, ...]:
    """Every provider entry point installed, read once per process."""
    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def available_providers() -> list[str]:
    """Names of the installed (and enabled) providers, sorted."""
    return sorted({ep.name for ep in installed_entry_points() if _enabled(ep.name)})


def get_provider_info(name: str) -> ProviderInfo:
    """The `ProviderInfo` of an installed provider, loaded lazily.

    Raises:
        UnknownProviderError: no enabled provider has that name.
    """
    for ep in (found for found in installed_entry_points() if found.name == name):
        if not _enabled(name):
            break
        info = ep.load()
        if not isinstance(info, ProviderInfo) or info.name != name:
            raise TypeError(f"entry point {ep.value!r} must point at the ProviderInfo of {name!r}")
        return info
    raise UnknownProviderError(name, installed=available_providers())
