"""What the CLI tells people about a provider's setup, and which data a missing scope costs.

Everything here is optional data a provider carries in its `ProviderInfo`
(``setup_notes``, ``connect_notes``, ``refresh_token_days``, ``refresh_token_hint``):
a provider without notes works the same, it just gets no extra sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

from wellpipe.core.models import DataKind
from wellpipe.core.provider_info import ProviderInfo

__all__ = ["KIND_WORDS", "ProviderNotes", "lacking_kinds", "notes_for"]


@dataclass(frozen=True)
class ProviderNotes:
    """Extra sentences and limits for one provider.

    Attributes:
        setup: Shown by ``wellpipe init`` after the steps to create the app.
        connect: Shown by ``wellpipe auth`` after a successful connection.
        refresh_token_days: Refresh tokens may stop working after this many days
            in some app configurations (``None``: no such limit is known).
        refresh_token_hint: What to do when that happens (a sentence fragment).
    """

    setup: tuple[str, ...] = ()
    connect: tuple[str, ...] = ()
    refresh_token_days: int | None = None
    refresh_token_hint: str = ""


def notes_for(info: ProviderInfo) -> ProviderNotes:
    """The notes a provider carries in its `ProviderInfo`."""
    return ProviderNotes(
        setup=info.setup_notes,
        connect=info.connect_notes,
        refresh_token_days=info.refresh_token_days,
        refresh_token_hint=info.refresh_token_hint,
    )


KIND_WORDS: dict[DataKind, str] = {
    DataKind.SLEEP: "sleep",
    DataKind.RECOVERY: "recovery",
    DataKind.WORKOUT: "workouts",
    DataKind.CYCLE: "daily strain (cycles)",
    DataKind.READINESS: "readiness",
    DataKind.ACTIVITY: "daily activity (steps, energy)",
    DataKind.VITALS: "vitals (heart rate, HRV, SpO2, temperature)",
    DataKind.PROFILE: "your profile",
    DataKind.BODY_MEASUREMENT: "body measurements",
}
"""How each kind of data is named in sentences."""


def lacking_kinds(info: ProviderInfo, granted: frozenset[str]) -> list[DataKind]:
    """The kinds the provider offers that none of the ``granted`` scopes can read.

    Kinds without listed scopes never lack one. An empty ``granted`` means "not
    recorded", so nothing is reported missing.
    """
    if not granted:
        return []
    lacking = []
    for kind in sorted(info.kinds, key=lambda k: list(DataKind).index(k)):
        needed = info.scopes_for(kind)
        if needed and not any(scope in granted for scope in needed):
            lacking.append(kind)
    return lacking
