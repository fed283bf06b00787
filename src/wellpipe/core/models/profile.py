"""Who the data belongs to: profile and body measurement."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BodyMeasurement", "Profile"]


class Profile(BaseModel):
    """The account holder as the provider knows them. What a provider does not say is ``None``."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    kind: Literal["profile"] = "profile"
    provider: str
    source_id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    age: int | None = Field(default=None, ge=0)
    biological_sex: str | None = None

    @property
    def display_name(self) -> str:
        """How to greet them: the name, else the email, else the provider's id."""
        name = " ".join(part for part in (self.first_name, self.last_name) if part)
        return name or self.email or f"account {self.source_id}"


class BodyMeasurement(BaseModel):
    """Body measurements the provider holds for the account (``None`` when it has none)."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    kind: Literal["body_measurement"] = "body_measurement"
    provider: str
    height_m: float | None = Field(default=None, gt=0)
    weight_kg: float | None = Field(default=None, gt=0)
    max_heart_rate_bpm: int | None = Field(default=None, gt=0)
