"""What the CLI tells people about a provider's setup, and which data a missing scope costs.

Everything here is optional data a provider carries in its `ProviderInfo`
(``setup_notes``, ``connect_notes``, ``refresh_token_days``, ``refresh_token_hint``):
a provider without notes works the same, it just gets no extra sentences.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wellpipe.core.errors import listed
from wellpipe.core.models import DataKind
from wellpipe.core.provider_info import ProviderInfo

__all__ = [
    "KIND_WORDS",
    "ProviderNotes",
    "granted_names",
    "lacking_kinds",
    "missing_note",
    "missing_scopes",
    "notes_for",
    "scope_lines",
    "short_scope",
]


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


def _is_url(scope: str) -> bool:
    return "://" in scope


def short_scope(info: ProviderInfo, scope: str) -> str:
    """A scope as the CLI names it: as spelled (``heartrate``), or its label if it is a URL.

    Google Health's scopes are URLs nobody reads; they go by their label ("Health metrics").
    """
    return info.scope_label(scope) if _is_url(scope) else scope


def granted_names(info: ProviderInfo, granted: Iterable[str]) -> str:
    """The granted scopes in words, requested ones first: "Sleep, Health metrics, Profile"."""
    given = frozenset(granted)
    ordered = [s for s in info.scopes if s in given] + sorted(given - set(info.scopes))
    return ", ".join(dict.fromkeys(info.scope_label(scope) for scope in ordered))


def scope_lines(info: ProviderInfo) -> list[str]:
    """The scopes to allow in the developer app, one per line: a name, and the exact scope."""
    return [f"{info.scope_label(scope)}: {scope}" for scope in info.scopes]


def missing_scopes(info: ProviderInfo, granted: frozenset[str]) -> list[str]:
    """The requested scopes not granted (none when the grant did not say what it holds)."""
    return [scope for scope in info.scopes if granted and scope not in granted]


def _cost(info: ProviderInfo, scope: str, lacking: list[DataKind]) -> list[str]:
    """The data a missing ``scope`` costs: the kinds it leaves unreadable, else its own data."""
    kinds = [kind for kind in lacking if scope in info.scopes_for(kind)]
    if kinds:
        return [KIND_WORDS.get(kind, kind.value) for kind in kinds]
    label = info.scope_label(scope)
    return [label[:1].lower() + label[1:]]


def missing_note(info: ProviderInfo, granted: frozenset[str]) -> str | None:
    """What the unticked scopes cost, as a clause, or ``None`` when nothing is missing.

    ``offline`` is left out: without it there is no refresh token, which is its
    own message. For example "without heartrate and spo2Daily, Wellpipe cannot
    read heart rate and blood oxygen (SpO2)".
    """
    missing = [scope for scope in missing_scopes(info, granted) if scope != "offline"]
    if not missing:
        return None
    lacking = lacking_kinds(info, granted)
    costs = list(dict.fromkeys(word for scope in missing for word in _cost(info, scope, lacking)))
    names = listed([short_scope(info, scope) for scope in missing])
    return f"without {names}, Wellpipe cannot read {listed(costs)}"
