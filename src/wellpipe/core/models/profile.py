"""Who the data belongs to: profile and body measurement."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BodyMeasurement", "Profile"]


class Profile(BaseModel):
    """The account holder as the provider knows them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["profile"] = "profile"
    provider: str
    source_id: str
    email: str
    first_name: str
    last_name: str


class BodyMeasurement(BaseModel):
    """Body measurements the provider holds for the account."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["body_measurement"] = "body_measurement"
    provider: str
    height_m: float = Field(gt=0)
    weight_kg: float = Field(gt=0)
    max_heart_rate_bpm: int = Field(gt=0)
