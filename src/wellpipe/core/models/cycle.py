"""Physiological cycle: the strain of one waking day."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from wellpipe.core.models.common import ScoredRecord

__all__ = ["Cycle", "CycleScore"]


class CycleScore(BaseModel):
    """A cycle's measurements."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    strain: float = Field(ge=0, le=21, description="cardiovascular load on WHOOP's 0-21 scale")
    energy_kcal: float = Field(ge=0)
    avg_heart_rate_bpm: int = Field(ge=0)
    max_heart_rate_bpm: int = Field(ge=0)


class Cycle(ScoredRecord[CycleScore]):
    """One physiological cycle, from one sleep onset to the next.

    ``end`` is ``None`` for the cycle the person is in right now. Its ``day`` is
    the local day its main sleep ended on (the day the person was awake for).
    """

    kind: Literal["cycle"] = "cycle"

    @property
    def in_progress(self) -> bool:
        """Whether this is the current, still-open cycle."""
        return self.end is None
