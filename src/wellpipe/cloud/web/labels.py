"""Words people use for the service's internal names, as the dashboard shows them.

Usage is counted per endpoint under an internal name: ``rest:<route>`` for a REST
route (``rest:sleep``) and ``mcp:<tool>`` for an MCP tool (``mcp:get-recent-sleep``).
The dashboard says instead what was asked for and the way in ("Sleep, via the REST API").
Names nobody labelled yet (a route or tool added later) still read as words.

A provider's scopes are labelled by the provider itself (`ProviderInfo.scope_label`);
here they are only put in order, and the data a missing scope costs is worded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from wellpipe.core.models import DataKind
from wellpipe.core.provider_info import ProviderInfo

__all__ = [
    "ASSISTANT",
    "KIND_LABELS",
    "MCP_TOOLS",
    "REST_API",
    "REST_ROUTES",
    "EndpointLabel",
    "ago",
    "day_label",
    "endpoint_label",
    "endpoint_rows",
    "granted_labels",
    "kind_label",
    "lost_data",
    "missing_labels",
    "records_label",
]

REST_API = "the REST API"
"""The way in for ``rest:`` endpoints: a program, curl or a custom GPT's Action."""
ASSISTANT = "an assistant (MCP)"
"""The way in for ``mcp:`` endpoints: Claude or another assistant speaking MCP."""

REST_ROUTES: dict[str, str] = {
    "health": "Recent data by type",
    "summary": "Daily summary",
    "sleep": "Sleep",
    "recovery": "Recovery",
    "workouts": "Workouts",
    "cycles": "Day strain",
    "readiness": "Readiness",
    "activity": "Activity",
    "vitals": "Vital signs",
    "profile": "Profile",
    "record": "One record",
}
"""What each REST route (``rest:<name>``) reads."""

MCP_TOOLS: dict[str, str] = {
    "get-daily-summary": "Daily summary",
    "get-recent-sleep": "Sleep",
    "get-recent-recovery": "Recovery",
    "get-recent-readiness": "Readiness",
    "get-recent-activity": "Activity",
    "get-recent-vitals": "Vital signs",
    "get-recent-workouts": "Workouts",
    "get-recent-cycles": "Day strain",
    "get-range": "Any data for a date range",
    "get-record": "One record",
    "get-profile": "Profile",
    "search": "Search (ChatGPT)",
    "fetch": "One day or record (ChatGPT)",
}
"""What each MCP tool (``mcp:<name>``) reads."""

_WAYS = {"rest": (REST_API, REST_ROUTES), "mcp": (ASSISTANT, MCP_TOOLS)}
_MAX_WORDS = 40
_KIND_WORDS = {
    DataKind.CYCLE: "day strain",
    DataKind.VITALS: "vital signs",
    DataKind.BODY_MEASUREMENT: "body measurement",
}


@dataclass(frozen=True)
class EndpointLabel:
    """An endpoint in words: the data asked for, and the way in."""

    what: str
    """The data asked for: "Sleep"."""
    via: str
    """The way in, to follow "via": "the REST API", "an assistant (MCP)"; "" if unknown."""

    @property
    def text(self) -> str:
        """Both in one phrase: "Sleep, via the REST API"."""
        return f"{self.what}, via {self.via}" if self.via else self.what


def _words(name: str) -> str:
    """``get-recent-heart_rate`` → "Heart rate": a readable form of a name nobody labelled."""
    text = re.sub(r"^(get-)?(recent-)?", "", name.replace("_", "-"))
    text = " ".join(part for part in re.split(r"[-_\s]+", text) if part).lower()
    if not text:
        return "Other requests"
    text = text[0].upper() + text[1:]
    return text if len(text) <= _MAX_WORDS else text[: _MAX_WORDS - 1] + "…"


def endpoint_label(endpoint: str) -> EndpointLabel:
    """How people read the usage ``endpoint`` (``"rest:sleep"``: Sleep, via the REST API)."""
    prefix, colon, name = endpoint.partition(":")
    if not colon:
        return EndpointLabel(_words(endpoint), "")
    if prefix not in _WAYS:
        return EndpointLabel(_words(name), _words(prefix))
    via, known = _WAYS[prefix]
    what = known.get(name) or known.get(name.replace("_", "-")) or _words(name)
    return EndpointLabel(what, via)


def endpoint_rows(counts: Iterable[tuple[str, int]]) -> list[tuple[EndpointLabel, int]]:
    """Usage per endpoint in words, largest first; names that read alike are added up."""
    totals: dict[EndpointLabel, int] = {}
    for endpoint, count in counts:
        label = endpoint_label(endpoint)
        totals[label] = totals.get(label, 0) + count
    return sorted(totals.items(), key=lambda row: (-row[1], row[0].what, row[0].via))


def _unique(labels: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(labels))


def granted_labels(info: ProviderInfo, granted: Iterable[str]) -> tuple[str, ...]:
    """The granted scopes in words: requested ones in the provider's order, then any others."""
    given = frozenset(granted)
    requested = [info.scope_label(scope) for scope in info.scopes if scope in given]
    others = sorted(info.scope_label(scope) for scope in given - set(info.scopes))
    return _unique([*requested, *others])


def missing_labels(info: ProviderInfo, granted: Iterable[str]) -> tuple[str, ...]:
    """The requested scopes not granted, in words.

    Empty when everything was granted, or when the provider did not say what it granted.
    """
    given = frozenset(granted)
    if not given:
        return ()
    return _unique(info.scope_label(scope) for scope in info.scopes if scope not in given)


def lost_data(info: ProviderInfo, granted: Iterable[str]) -> tuple[str, ...]:
    """The kinds of data no granted scope can read (``("sleep", "vital signs")``).

    Kinds that need no particular scope are never lost; an empty ``granted`` means the
    provider did not say, so nothing is reported.
    """
    given = frozenset(granted)
    if not given:
        return ()
    return tuple(
        _KIND_WORDS.get(kind, kind.value.replace("_", " "))
        for kind in DataKind
        if kind in info.kinds
        and info.scopes_for(kind)
        and not any(scope in given for scope in info.scopes_for(kind))
    )


# ---------------------------------------------------------------------- history
KIND_LABELS: dict[DataKind, str] = {
    DataKind.SLEEP: "Sleep",
    DataKind.RECOVERY: "Recovery",
    DataKind.WORKOUT: "Workouts",
    DataKind.CYCLE: "Day strain",
    DataKind.READINESS: "Readiness",
    DataKind.ACTIVITY: "Activity",
    DataKind.VITALS: "Vital signs",
    DataKind.PROFILE: "Profile",
    DataKind.BODY_MEASUREMENT: "Body measurements",
}
"""Each kind of record as the dashboard names it (the words of `REST_ROUTES`)."""


def kind_label(kind: DataKind) -> str:
    """A kind of record in words: "Day strain" for ``cycle``."""
    return KIND_LABELS.get(kind) or _words(kind.value)


def records_label(count: int) -> str:
    """A count of records in words: "1 record", "1,204 records"."""
    return "1 record" if count == 1 else f"{count:,} records"


def day_label(day: date) -> str:
    """A local day as the dashboard shows it: "3 Jan 2022"."""
    return f"{day.day} {day:%b %Y}"


def ago(then: datetime, now: datetime) -> str:
    """How long before ``now`` something happened: "just now", "5 minutes ago", "2 days ago".

    A time a little ahead of ``now`` (clocks of two machines) reads as "just now".
    """
    seconds = (now - then).total_seconds()
    if seconds < 60:
        return "just now"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''} ago"
    days = hours // 24
    if days < 60:
        return f"{days} days ago"
    return f"on {day_label(then.date())}"
