"""ChatGPT's ``search`` and ``fetch``: plain words to one question for the reader, ids back.

A query is read for three things, each optional: a kind ("sleep", "workouts", "heart
rate"), a provider ("oura") and days ("last week", "in November", "2026-11-03"). It
becomes one question over one window of local days, which the tools ask the one reader
once. Anything not understood is left out (the answer says how the query was read), so a
query never fails for its words.

Ids are ``day:<YYYY-MM-DD>`` (every connected provider's day) or
``day:<provider>:<YYYY-MM-DD>`` (one provider's), and ``<kind>:<provider>:<record id>``
for a record; `parse_id` reads them back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import groupby
from typing import Any, Literal
from urllib.parse import quote

from pydantic import JsonValue

from wellpipe.core.models import DataKind, Record, Recovery, Sleep
from wellpipe.core.reading import LIVE_DAYS, SUMMARY, FoundRecord, Reading, TableKind
from wellpipe.mcp.answers import (
    Answer,
    FetchAnswer,
    SearchAnswer,
    SearchResult,
    json_answer,
    render_cell,
)
from wellpipe.mcp.tables import (
    KINDS,
    Cell,
    Table,
    clean_text,
    ordered_records,
    summary_table,
    table_for,
)

__all__ = [
    "DEFAULT_DAYS",
    "SEARCH_LIMIT",
    "DayId",
    "Query",
    "RecordId",
    "day_text",
    "parse_id",
    "parse_query",
    "query_provider",
    "record_text",
    "search_results",
]

DEFAULT_DAYS = 7
"""The window of a query that names no days: the last week, today included."""

SEARCH_LIMIT = 20
"""The most results one search lists (the newest); the answer says when it left some out."""

RecordKind = Literal["sleep", "recovery", "workout", "cycle", "readiness", "activity", "vitals"]

# ------------------------------------------------------------------ words
_KIND_WORDS: dict[RecordKind | None, tuple[str, ...]] = {
    "sleep": ("sleep", "sleeps", "slept", "sleeping", "nap", "naps", "bedtime"),
    "recovery": ("recovery", "recoveries", "recovered"),
    "workout": (
        "workout",
        "workouts",
        "exercise",
        "exercises",
        "exercised",
        "training",
        "trained",
        "sport",
        "sports",
        "run",
        "runs",
        "running",
        "ride",
        "rides",
        "cycling",
        "swim",
        "swims",
        "swimming",
        "gym",
        "lifting",
        "yoga",
        "hike",
        "hikes",
        "hiking",
    ),
    "cycle": ("cycle", "cycles", "strain", "day strain"),
    "readiness": ("readiness", "ready"),
    "activity": ("activity", "activities", "steps", "step", "step count", "distance", "calories"),
    "vitals": (
        "vitals",
        "vital signs",
        "heart rate",
        "resting heart rate",
        "hr",
        "rhr",
        "hrv",
        "spo2",
        "oxygen",
        "blood oxygen",
        "respiratory rate",
        "breathing",
        "temperature",
        "body",
        "weight",
        "vo2",
        "vo2 max",
        "stress",
    ),
    None: ("summary", "summaries", "day", "days", "daily", "overview", "everything"),
}
"""Words for each kind (``None``: the daily summary); several kinds mean the summary too."""

_PROVIDER_WORDS = {
    "whoop": "whoop",
    "oura": "oura",
    "ring": "oura",
    "fitbit": "fitbit",
    "google": "fitbit",
    "google health": "fitbit",
    "pixel": "fitbit",
}


def _alternation(words: Sequence[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_WORD_KIND = {word: kind for kind, words in _KIND_WORDS.items() for word in words}
_KIND_RE = re.compile(rf"\b(?:{_alternation(list(_WORD_KIND))})\b")
_PROVIDER_RE = re.compile(rf"\b(?:{_alternation(list(_PROVIDER_WORDS))})\b")

_MONTHS = {
    "january": 1,
    "jan": 1,
    "february": 2,
    "feb": 2,
    "march": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "may": 5,
    "june": 6,
    "jun": 6,
    "july": 7,
    "jul": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sept": 9,
    "sep": 9,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBERS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
}
_MONTH = rf"(?P<month>{_alternation(list(_MONTHS))})\.?"
_N = rf"(?P<n>\d{{1,3}}|{_alternation(list(_NUMBERS))})"
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_MONTH_DAY = re.compile(rf"\b{_MONTH}\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(?P<y>\d{{4}}))?")
_DAY_MONTH = re.compile(
    rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?![a-z])(?:,?\s+(?P<y>\d{{4}}))?"
)


@dataclass(frozen=True)
class Query:
    """What a search asks the reader: one kind (or the summary), one provider or all, days.

    Attributes:
        kind: The kind of record asked for, or ``None`` for the daily summary.
        provider: The one provider named, or ``None`` for every connected one.
        first: The first local day of the window.
        last: The last local day of the window (never after today, unless ``first`` is).
        when: The words that set the window ("last week"), or ``None`` for the default.
        notes: Sentences about how the query was read (a window cut to `LIVE_DAYS`, words
            not understood).
    """

    kind: RecordKind | None
    provider: str | None
    first: date
    last: date
    when: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def asks(self) -> TableKind:
        """What the reader is asked for: the kind, or the summary."""
        return self.kind or "summary"

    @property
    def described(self) -> str:
        """How the query was read, in one line."""
        what = "daily summaries" if self.kind is None else _NOUNS[self.kind]
        who = self.provider or "every connected provider"
        when = f" ({self.when})" if self.when else ""
        return f"{what} from {who}, {self.first} to {self.last}{when}"


_NOUNS = {
    "sleep": "sleeps",
    "recovery": "recoveries",
    "workout": "workouts",
    "cycle": "day strain (cycles)",
    "readiness": "readiness",
    "activity": "daily activity",
    "vitals": "daily vitals",
}


def _number(text: str) -> int:
    return int(text) if text.isdigit() else _NUMBERS[text]


def _month_span(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def _latest_month(month: int, today: date) -> int:
    """The year of the latest ``month`` that has begun by ``today``."""
    return today.year if month <= today.month else today.year - 1


def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _explicit_dates(text: str, today: date) -> tuple[list[date], list[tuple[int, int]]]:
    """Every date written out (ISO, "November 3", "3 Nov 2026") and where each was."""
    found: list[date] = []
    spans: list[tuple[int, int]] = []
    for match in _ISO_DATE.finditer(text):
        day = _date(*(int(part) for part in match.groups()))
        if day is not None:
            found.append(day)
            spans.append(match.span())
    for pattern in (_MONTH_DAY, _DAY_MONTH):
        for match in pattern.finditer(text):
            month, number = _MONTHS[match["month"]], int(match["d"])
            if match["y"]:
                day = _date(int(match["y"]), month, number)
            else:  # the latest such day that is not in the future
                day = _date(today.year, month, number)
                if day is not None and day > today:
                    day = _date(today.year - 1, month, number)
            if day is not None:
                found.append(day)
                spans.append(match.span())
    return found, spans


Span = tuple[date, date]


def _week_of(day: date) -> Span:
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def _rolling(days: int, today: date) -> Span:
    return today - timedelta(days=days - 1), today


def _last_n(match: re.Match[str], today: date) -> Span:
    n = max(1, _number(match["n"]))
    per = {"day": 1, "week": 7, "month": 30}[match["unit"].rstrip("s")]
    return _rolling(min(n * per, 10 * LIVE_DAYS), today)


def _ago(match: re.Match[str], today: date) -> Span:
    n = _number(match["n"])
    if match["unit"].startswith("week"):
        return _week_of(today - timedelta(days=7 * n))
    day = today - timedelta(days=n)
    return day, day


def _weekend(match: re.Match[str], today: date) -> Span:
    saturday = _week_of(today)[0] + timedelta(days=5)
    if match["last"] or saturday > today:
        saturday -= timedelta(days=7)
    return saturday, saturday + timedelta(days=1)


def _month_named(match: re.Match[str], today: date) -> Span:
    month = _MONTHS[match["month"]]
    year = int(match["y"]) if match["y"] else _latest_month(month, today)
    return _month_span(year, month)


def _weekday(match: re.Match[str], today: date) -> Span:
    back = (today.weekday() - _WEEKDAYS.index(match["wd"])) % 7
    if match["last"] and back == 0:
        back = 7
    day = today - timedelta(days=back)
    return day, day


def _previous_month(_match: re.Match[str], today: date) -> Span:
    last_month = today.replace(day=1) - timedelta(days=1)
    return _month_span(last_month.year, last_month.month)


def _year(match: re.Match[str], _today: date) -> Span:
    year = int(match["y"])
    return date(year, 1, 1), date(year, 12, 31)


def _days_back(back: int) -> Callable[[re.Match[str], date], Span]:
    def span(_match: re.Match[str], today: date) -> Span:
        day = today - timedelta(days=back)
        return day, day

    return span


_WHEN: tuple[tuple[re.Pattern[str], Callable[[re.Match[str], date], Span]], ...] = tuple(
    (re.compile(pattern), rule)
    for pattern, rule in (
        (rf"\b(?:last|past|previous)\s+{_N}\s+(?P<unit>days?|weeks?|months?)\b", _last_n),
        (rf"\b{_N}\s+(?P<unit>days?|weeks?)\s+ago\b", _ago),
        (r"\bday\s+before\s+yesterday\b", _days_back(2)),
        (r"\byesterday\b", _days_back(1)),
        (r"\b(?:today|tonight|last\s+night)\b", _days_back(0)),
        (r"\bthis\s+week\b", lambda _m, t: (_week_of(t)[0], t)),
        (r"\b(?:last|previous)\s+week\b", lambda _m, t: _week_of(t - timedelta(days=7))),
        (r"\b(?:past|recent)\s+week\b", lambda _m, t: _rolling(7, t)),
        (r"\b(?:(?P<last>last|previous)\s+|this\s+)?weekend\b", _weekend),
        (r"\bthis\s+month\b", lambda _m, t: (t.replace(day=1), t)),
        (r"\b(?:last|previous)\s+month\b", _previous_month),
        (r"\b(?:past|recent)\s+month\b", lambda _m, t: _rolling(30, t)),
        (r"\bthis\s+year\b", lambda _m, t: (date(t.year, 1, 1), t)),
        (rf"\b(?:in\s+)?{_MONTH}(?![a-z])(?:\s+(?P<y>\d{{4}}))?", _month_named),
        (
            rf"\b(?:(?P<last>last)\s+|on\s+)?(?P<wd>{'|'.join(_WEEKDAYS)})s?\b",
            _weekday,
        ),
        (r"\b(?:in\s+)?(?P<y>20[1-9]\d)\b", _year),
    )
)
"""Relative and named days, most specific first; the first that matches sets the window."""


def _cut(text: str, spans: Sequence[tuple[int, int]]) -> str:
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + " " + text[end:]
    return text


def _window(text: str, today: date) -> tuple[Span | None, str | None, str]:
    """The window the words name (or ``None``), the words, and the text without them."""
    dates, spans = _explicit_dates(text, today)
    if dates:
        said = " to ".join(text[start:end].strip() for start, end in sorted(spans))
        return (min(dates), max(dates)), said, _cut(text, spans)
    for pattern, rule in _WHEN:
        match = pattern.search(text)
        if match is None:
            continue
        try:
            span = rule(match, today)
        except (ValueError, OverflowError):  # a day no calendar has ("December 9999")
            continue
        return span, " ".join(match[0].split()), _cut(text, [match.span()])
    return None, None, text


_DASH_IN_DATE = re.compile(r"(?<=\d)[\u2010-\u2015](?=\d)")
_DASH_BETWEEN = re.compile(r"[\u2013\u2014]")


def _normal(text: str) -> str:
    """Lower case, one space between words, a dash in a date a hyphen, one between days "to"."""
    text = _DASH_BETWEEN.sub(" to ", _DASH_IN_DATE.sub("-", text.lower()))
    return " ".join(text.split())


def query_provider(text: str) -> str | None:
    """The one provider ``text`` names (``google`` is Fitbit's), or ``None`` (none, or several)."""
    named = {_PROVIDER_WORDS[word] for word in _PROVIDER_RE.findall(_normal(text))}
    return named.pop() if len(named) == 1 else None


_UNDERSTOOD = (
    "name a kind (sleep, recovery, workouts, strain, readiness, activity, heart rate), "
    "a provider (whoop, oura, fitbit) or days (yesterday, last week, last 30 days, "
    "November, 2026-11-03, 2026-11-01 to 2026-11-07)"
)


def parse_query(text: str, *, today: date) -> Query:
    """What ``text`` asks for, with ``today`` as the user's local today; never raises.

    Several kinds (or none) give the daily summary, several providers every connected
    one; no days give the last `DEFAULT_DAYS`. A window longer than `LIVE_DAYS` keeps its
    last `LIVE_DAYS` days, and one ending after today ends today (unless it starts later).
    """
    normal = _normal(text)
    span, when, rest = _window(normal, today)
    kinds = {_WORD_KIND[word] for word in _KIND_RE.findall(rest)}
    specific = {kind for kind in kinds if kind is not None}
    kind = specific.pop() if len(specific) == 1 else None
    provider = query_provider(normal)
    notes: list[str] = []
    if span is None:
        span = _rolling(DEFAULT_DAYS, today)
        if not kinds and not _PROVIDER_RE.search(normal) and re.search(r"[a-z0-9]", normal):
            notes.append(
                f"Nothing in the query was understood, so this lists the last {DEFAULT_DAYS} "
                f"days' summaries; {_UNDERSTOOD}."
            )
    first, last = span
    if first <= today < last:
        last = today
    if (last - first).days + 1 > LIVE_DAYS:
        asked = (last - first).days + 1
        first = last - timedelta(days=LIVE_DAYS - 1)
        notes.append(
            f"The query covers {asked} days but one search covers at most {LIVE_DAYS}: "
            f"searched {first} to {last}; search earlier days separately."
        )
    return Query(kind, provider, first, last, when, tuple(notes))


# ------------------------------------------------------------------ ids
_PROVIDER = r"[a-z][a-z0-9_]{1,31}"
_DAY_ID = re.compile(rf"day:(?:(?P<provider>{_PROVIDER}):)?(?P<day>\d{{4}}-\d{{2}}-\d{{2}})")
_RECORD_ID = re.compile(
    rf"(?P<kind>{'|'.join(KINDS)}):(?P<provider>{_PROVIDER}):(?P<source_id>[^\x00-\x1f\x7f]{{1,64}})"
)
_MALFORMED = (
    "id is not one search gives (day:YYYY-MM-DD, or kind:provider:record id as in "
    "sleep:whoop:123); run search first and pass one of its ids"
)


@dataclass(frozen=True)
class DayId:
    """One local day: every connected provider's (``provider`` ``None``), or one's."""

    day: date
    provider: str | None = None

    def __str__(self) -> str:
        """``day:2026-11-30``, or ``day:oura:2026-11-30``."""
        return f"day:{self.provider}:{self.day}" if self.provider else f"day:{self.day}"


@dataclass(frozen=True)
class RecordId:
    """One record: its kind, the provider that has it and that provider's own id."""

    kind: RecordKind
    provider: str
    source_id: str

    def __str__(self) -> str:
        """``sleep:whoop:<the provider's id>``."""
        return f"{self.kind}:{self.provider}:{self.source_id}"


def parse_id(text: str) -> DayId | RecordId:
    """The day or record an id from search names.

    Raises:
        ValueError: ``text`` is not such an id (the message says what to pass instead).
    """
    text = text.strip()
    if (day := _DAY_ID.fullmatch(text)) is not None:
        parsed = _date(*(int(part) for part in day["day"].split("-")))
        if parsed is not None:
            return DayId(parsed, day["provider"])
    elif (record := _RECORD_ID.fullmatch(text)) is not None and record["source_id"].strip():
        return RecordId(record["kind"], record["provider"], record["source_id"].strip())  # type: ignore[arg-type]
    raise ValueError(_MALFORMED)


# ------------------------------------------------------------------ rendering
_SNIPPETS: dict[str, tuple[str, ...]] = {
    SUMMARY: (
        "asleep_duration_min",
        "recovery_score_pct",
        "readiness_score_pct",
        "hrv_rmssd_ms",
        "resting_heart_rate_bpm",
        "day_strain",
        "steps",
        "workouts",
    ),
    "sleep": (
        "state",
        "asleep_duration_min",
        "sleep_performance_pct",
        "sleep_score_pct",
        "sleep_efficiency_pct",
    ),
    "recovery": ("state", "recovery_score_pct", "hrv_rmssd_ms", "resting_heart_rate_bpm"),
    "workout": ("state", "strain", "energy_kcal", "avg_heart_rate_bpm", "distance_m"),
    "cycle": ("state", "strain", "energy_kcal", "avg_heart_rate_bpm"),
    "readiness": ("readiness_score_pct", "temperature_deviation_celsius"),
    "activity": ("steps", "distance_m", "total_energy_kcal", "active_zone_min"),
    "vitals": (
        "resting_heart_rate_bpm",
        "hrv_rmssd_ms",
        "spo2_pct",
        "respiratory_rate_per_min",
        "weight_kg",
    ),
}
"""What one search result's line shows of its row (the rest is in fetch)."""

_TITLES = {
    "sleep": "Sleep",
    "recovery": "Recovery",
    "workout": "Workout",
    "cycle": "Day strain",
    "readiness": "Readiness",
    "activity": "Activity",
    "vitals": "Vitals",
}
_WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _named_day(day: date) -> str:
    return f"{_WEEKDAY_NAMES[day.weekday()]} {day}"


def _url(link_base: str | None, item: str) -> str | None:
    return None if link_base is None else link_base + quote(item, safe=":")


def _snippet(kind: str, row: dict[str, Cell]) -> str:
    """The row's times and headline cells as ``name value`` pairs (a scored state is no news)."""
    times = [render_cell(row[name]) for name in ("start", "end") if row.get(name) is not None]
    cells = [
        f"{name} {render_cell(value)}"
        for name in _SNIPPETS[kind]
        if (value := row.get(name)) is not None and not (name == "state" and value == "scored")
    ]
    joiner = " to " if any(" " in time for time in times) else "-"  # dated: 11-20 23:10
    return ", ".join([*([joiner.join(times)] if times else []), *cells])


def _rows(table: Table) -> list[dict[str, Cell]]:
    return [dict(zip(table.columns, row, strict=True)) for row in table.rows]


Found = list[tuple[date, SearchResult]]


def _day_results(query: Query, reading: Reading) -> Found:
    display = {info.name: info.display_name for info in reading.sources}
    who = " + ".join(display.values())
    entries = sorted(reading.summary(), key=lambda entry: entry.day, reverse=True)
    by_name = {info.name: info for info in reading.sources}
    found: Found = []
    for day, same_day in groupby(entries, key=lambda entry: entry.day):
        parts: list[str] = []
        for entry in same_day:
            source = by_name.get(entry.provider or "")
            shown = [source] if source is not None else list(reading.sources)
            line = _snippet(SUMMARY, _rows(summary_table([entry], sources=shown))[0])
            if line:
                merged = reading.merged and entry.provider
                parts.append(f"{entry.provider}: {line}" if merged else line)
        result = SearchResult(
            id=str(DayId(day, query.provider)),
            title=f"Daily summary, {_named_day(day)} ({who})",
            text=" | ".join(parts) or "nothing recorded",
        )
        found.append((day, result))
    return found


def _record_title(record: Record, display: str) -> str:
    kind = getattr(record, "kind", "")
    name = "Nap" if isinstance(record, Sleep) and record.nap else _TITLES.get(kind, kind)
    sport = getattr(record, "sport", None)
    what = f"{name}: {clean_text(sport)}" if isinstance(sport, str) else name
    return f"{what}, {_named_day(record.day)} ({display})"


def _record_results(kind: RecordKind, reading: Reading) -> Found:
    display = {info.name: info.display_name for info in reading.sources}
    columns, row_of = KINDS[kind]
    order = [info.name for info in reading.sources]
    newest = reversed(ordered_records(reading.records(), order))
    return [
        (
            record.day,
            SearchResult(
                id=str(RecordId(kind, record.provider, record.source_id)),
                title=_record_title(record, display.get(record.provider, record.provider)),
                text=_snippet(kind, dict(zip(columns, row_of(record), strict=True)))
                or "no metrics",
            ),
        )
        for record in newest
    ]


def search_results(query: Query, reading: Reading, *, link_base: str | None = None) -> Answer:
    """The newest `SEARCH_LIMIT` days or records of ``reading``, as search results."""
    if query.kind is None:
        found = _day_results(query, reading)
    else:
        found = _record_results(query.kind, reading)
    notes = [*query.notes, *reading.notes]
    shown = found[:SEARCH_LIMIT]
    if len(found) > len(shown):
        oldest = shown[-1][0]
        notes.append(
            f"Showing the {len(shown)} newest of {len(found)} matches; the rest are from "
            f"{query.first} to {oldest}: search those days for them."
        )
    results = [result.model_copy(update={"url": _url(link_base, result.id)}) for _, result in shown]
    return json_answer(SearchAnswer(results=results, searched=query.described, notes=notes or None))


# ------------------------------------------------------------------ fetch
def _table_lines(heading: str, table: Table) -> list[str]:
    where = f" (local times UTC{table.utc_offset})" if table.utc_offset else ""
    lines = [f"{heading}{where}:", "|".join(table.columns)]
    return lines + ["|".join(render_cell(cell) for cell in row) for row in table.rows]


def day_text(item: DayId, reading: Reading, *, link_base: str | None = None) -> Answer:
    """One day in full: its summary, then every record of it, one table per kind."""
    order = [info.name for info in reading.sources]
    who = " + ".join(info.display_name for info in reading.sources)
    lines = _table_lines(
        "summary",
        summary_table(reading.summary(), sourced=reading.merged, sources=reading.sources),
    )
    recorded = False
    for kind in KINDS:
        records = [
            record
            for _, found in reading.answers
            for record in found.of_kind(DataKind(kind))
            if reading.days.includes(record.day)
        ]
        if records:
            table = table_for(
                kind, records, order=order, sourced=reading.merged, sources=reading.sources
            )
            lines += _table_lines(kind, table)
            recorded = True
    if recorded:
        lines.append("A record alone: fetch <kind>:<provider>:<id column>, e.g. sleep:whoop:123.")
    lines += [f"Note: {note}" for note in reading.notes]
    return json_answer(
        FetchAnswer(
            id=str(item),
            title=f"Daily summary, {_named_day(item.day)} ({who})",
            text="\n".join(lines),
            url=_url(link_base, str(item)),
            metadata={"kind": SUMMARY, "day": str(item.day), "providers": ",".join(order)},
        )
    )


_PLUMBING = frozenset(
    {"provider", "source_id", "day", "kind", "start", "end", "score_state", "score", "stages"}
)
_RENAMED = frozenset({"score_pct"})  # readiness_score_pct in the table


def _plain(value: JsonValue) -> str:
    if isinstance(value, float):
        return f"{round(value, 2):g}"
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return ", ".join(f"{key} {_plain(inner)}" for key, inner in value.items())
    if isinstance(value, list):
        return ", ".join(_plain(inner) for inner in value)
    return render_cell(value)


def _fields(record: Record, shown: set[str]) -> list[str]:
    """The record's fields the table row leaves out (a score's extra metrics, extras)."""
    dumped: dict[str, Any] = record.model_dump(mode="json", exclude_none=True)
    score = dumped.get("score")
    fields = {**(score if isinstance(score, dict) else {}), **dumped}
    extras = fields.pop("extras", None) or {}
    lines = [
        f"{key}: {_plain(value)}"
        for key, value in fields.items()
        if key not in shown | _PLUMBING | _RENAMED
        and not (isinstance(value, dict) and key in {"heart_rate_zones", "contributors"})
        and not key.endswith("source_id")
    ]
    return lines + [f"{key}: {_plain(value)}" for key, value in extras.items()]


def record_text(item: RecordId, found: FoundRecord, *, link_base: str | None = None) -> Answer:
    """One record in full: its table row as ``name: value`` lines, then what the row omits."""
    record = found.record
    table = table_for(item.kind, [record])
    row = _rows(table)[0]
    lines = [
        f"{name}: {render_cell(value)}"
        for name, value in row.items()
        if value is not None and name not in {"day", "id"}
    ]
    if table.utc_offset:
        lines.insert(0, f"local times: UTC{table.utc_offset}")
    lines += _fields(record, set(table.columns))
    if isinstance(record, Sleep) and record.stages:
        stages = (
            f"{segment.stage.value} {segment.start:%H:%M}-{segment.end:%H:%M}"
            for segment in record.stages
        )
        lines.append(f"stages: {', '.join(stages)}")
    if isinstance(record, Recovery):
        lines.append(f"its sleep: fetch sleep:{record.provider}:{record.sleep_source_id}")
        if record.cycle_source_id:
            lines.append(f"its day strain: fetch cycle:{record.provider}:{record.cycle_source_id}")
    title = _record_title(record, found.source.display_name)
    return json_answer(
        FetchAnswer(
            id=str(item),
            title=title,
            text="\n".join([title, *lines]),
            url=_url(link_base, str(item)),
            metadata={"kind": item.kind, "provider": record.provider, "day": str(record.day)},
        )
    )
