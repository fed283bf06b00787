"""Wellpipe: let AI assistants read your own wearable health data.

The public surface is the provider-neutral core: models, the two ports
(`TokenProvider`, `HealthProvider`), the error tree and `__version__`.
Providers, the sandbox, the CLI and the cloud live in subpackages. Core names
load on first use, so ``import wellpipe`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wellpipe._version import __version__

if TYPE_CHECKING:
    from wellpipe.core import *  # noqa: F403

from wellpipe.core import __all__ as _core_all

__all__ = ["__version__", *_core_all]


def __getattr__(name: str) -> Any:
    if name in _core_all:
        import wellpipe.core

        return getattr(wellpipe.core, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
