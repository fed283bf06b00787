"""What the CLI tells people about a provider's setup, beyond what `ProviderInfo` says.

Everything here is optional data: a provider without notes works the same, it
just gets no extra sentences. A provider can carry its own notes as attributes
of its `ProviderInfo` (``setup_notes``, ``connect_notes``, ``refresh_token_days``,
``refresh_token_hint``); the table below covers the built-in providers until
`ProviderInfo` has those fields.
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


_GOOGLE_TESTING = (
    "Google gives OAuth clients whose publishing status is 'Testing' refresh tokens that "
    "expire after 7 days: in the Google Cloud console, open 'Google Auth Platform' > "
    "'Audience' and press 'Publish app' ('In production'; the client may stay unverified "
    "for your own use), then connect again."
)

_BUILT_IN: dict[str, ProviderNotes] = {
    "fitbit": ProviderNotes(
        setup=(
            "Create your own OAuth client in a Google Cloud project: enable the Google Health "
            "API, choose 'Web application' (or 'Desktop app'), add the redirect URI below, and "
            "add the googlehealth.*.readonly scopes below on the 'Data Access' page.",
            _GOOGLE_TESTING,
        ),
        connect=(_GOOGLE_TESTING,),
        refresh_token_days=7,
        refresh_token_hint="publish your Google OAuth client 'In production' "
        "(Google Auth Platform > Audience), then run `wellpipe auth fitbit` again",
    ),
    "oura": ProviderNotes(
        setup=(
            "Oura shows each scope as a box on its consent page: leave every box ticked, "
            "or the data behind an unticked one stays unavailable.",
        ),
    ),
}


def notes_for(info: ProviderInfo) -> ProviderNotes:
    """The notes of a provider: its own (attributes of its info), else the built-in ones."""
    base = _BUILT_IN.get(info.name, ProviderNotes())
    setup = getattr(info, "setup_notes", None)
    connect = getattr(info, "connect_notes", None)
    days = getattr(info, "refresh_token_days", None)
    hint = getattr(info, "refresh_token_hint", None)
    return ProviderNotes(
        setup=tuple(setup) if setup else base.setup,
        connect=tuple(connect) if connect else base.connect,
        refresh_token_days=days if isinstance(days, int) else base.refresh_token_days,
        refresh_token_hint=hint if isinstance(hint, str) and hint else base.refresh_token_hint,
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
