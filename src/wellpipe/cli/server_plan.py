"""What ``wellpipe serve`` was asked to run (a plain value, cheap to import)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_SEED", "ServerPlan"]

DEFAULT_SEED = 42
"""The demo's synthetic history, unless ``--seed`` picks another."""


@dataclass(frozen=True)
class ServerPlan:
    """What ``wellpipe serve`` was asked to run."""

    demo: bool
    seed: int
    transport: str
    port: int
