"""The tools, written once against `HealthProvider`: their model-facing copy and what they do.

Descriptions are product copy: the model reads them on every conversation, so
they are short, say units and day rules once (in the server instructions), and
never contain provider data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from wellpipe.core.errors import NotFound, NotFoundAnywhere
from wellpipe.core.models import DataKind, count_of_days
from wellpipe.core.ports import Clock, HealthProvider
from wellpipe.core.reading import SUMMARY, Reader, Reading, TableKind
from wellpipe.core.reading import SourceProfile as FoundProfile
from wellpipe.core.stored import insist_live
from wellpipe.mcp.answers import (
    Answer,
    FetchAnswer,
    ProfileAnswer,
    RecordAnswer,
    SearchAnswer,
    SourceProfile,
    TableAnswer,
    profile_answer,
    record_answer,
    table_answer,
)
from wellpipe.mcp.arguments import (
    DaysArgs,
    FetchArgs,
    ProviderArgs,
    RangeArgs,
    RecordArgs,
    SearchArgs,
    StrictArgs,
)
from wellpipe.mcp.tables import Table, period_of, summarised, summary_table, table_for

__all__ = [
    "INSTRUCTIONS",
    "TOOLS",
    "ToolContext",
    "ToolSpec",
    "input_schema",
    "reader",
    "reading_table",
    "source_profile",
    "tool_by_name",
]

INSTRUCTIONS = (
    "Wellpipe reads the user's own wearable data from their providers (WHOOP, Oura, "
    "Fitbit), keeping what it read: a question is answered from that history, and only "
    "days not kept or still changing are read again (fresh: true re-reads every day, at "
    "most 90). Periods over 92 days come back as weekly means, over a year monthly. "
    "Tools read every connected provider unless given provider (whoop, oura or "
    "fitbit); merged rows carry a source column, ordered by day. Days are the user's "
    "local calendar days, by each provider's rule: WHOOP counts a sleep, its recovery "
    "and day strain on the waking day, "
    "Oura uses its own day, Fitbit the date a sleep ended; workouts count on the day they "
    "started; days counts back from today, today included. Times are local wall-clock "
    "times (MM-DD HH:MM when a record spans days); units are in the column names (_min "
    "minutes, _pct percent, _bpm beats per minute, _ms milliseconds). WHOOP recovery and "
    "Oura readiness are different 0-100 scores: never compare one with the other. In the "
    "summary, HRV and resting heart rate come from WHOOP recovery or Oura/Fitbit vitals. A "
    "column no provider shown measures is left out; an empty cell means not measured (the "
    "row's provider does not measure it, or did not that time); a pending or unscorable "
    "state has no metrics: say so rather than guessing. Notes say what was left out and "
    "why a day has no row. The id column feeds get-record."
)

ArgsT = TypeVar("ArgsT", bound=StrictArgs)


@dataclass(frozen=True)
class ToolContext:
    """What a tool call works with: the providers it reads, the time, the user's home zone."""

    providers: Sequence[HealthProvider]
    """The providers this call reads (every connected one, or the one asked for), by name."""
    clock: Clock
    default_tz: tzinfo = UTC
    """The user's time zone when no record says otherwise."""
    notes: tuple[str, ...] = ()
    """Sentences about connections left out of this call (a grant to renew), for every answer."""
    link_base: str | None = None
    """Where search and fetch results link to (``url`` is this plus the id); ``None``: no links."""


@dataclass(frozen=True)
class ToolSpec(Generic[ArgsT]):
    """One tool: its name, copy, argument model, output model and behaviour."""

    name: str
    title: str
    description: str
    arguments: type[ArgsT]
    output: type[BaseModel]
    run: Callable[[ToolContext, ArgsT], Awaitable[Answer]]

    async def __call__(self, context: ToolContext, arguments: dict[str, Any]) -> Answer:
        """Validate ``arguments`` (raising pydantic's ValidationError) and run the tool."""
        return await self.run(context, self.arguments.model_validate(arguments))


def _strip_titles(node: Any) -> Any:
    """The schema without generated titles or ``"default": null`` (omitting is the default)."""
    if isinstance(node, dict):
        return {
            k: _strip_titles(v)
            for k, v in node.items()
            if k != "title" and not (k == "default" and v is None)
        }
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node


def input_schema(model: type[StrictArgs]) -> dict[str, Any]:
    """The argument model as a compact JSON schema.

    No titles, no model description (the tool's own says it), unknown
    properties refused.
    """
    schema: dict[str, Any] = _strip_titles(model.model_json_schema())
    schema.pop("description", None)
    schema.setdefault("properties", {})
    schema["additionalProperties"] = False
    return schema


# ------------------------------------------------------------------ reading
def reader(context: ToolContext) -> Reader:
    """The reader of one tool call: its providers, clock, zone and notes."""
    return Reader(
        context.providers,
        clock=context.clock,
        default_tz=context.default_tz,
        notes=context.notes,
    )


def reading_table(reading: Reading, *, summarise: bool = True) -> Table:
    """The table of a reading: one row per record (or day), a source column when merged.

    Columns none of the answering providers measures are left out. A period longer than
    `DAILY_ROWS_DAYS` is summarised week by week or month by month (`summarised`) unless
    ``summarise`` is false (REST: programs take every row).
    """
    order = [info.name for info in reading.sources]
    if reading.kind == SUMMARY:
        table = summary_table(reading.summary(), sourced=reading.merged, sources=reading.sources)
    else:
        table = table_for(
            reading.kind,
            reading.records(),
            order=order,
            sourced=reading.merged,
            sources=reading.sources,
        )
    period = period_of(reading.days.count) if summarise else None
    return table if period is None else summarised(table, period)


def _period_note(reading: Reading) -> tuple[str, ...]:
    """The sentence saying how a long period was summarised (none for a short one)."""
    period = period_of(reading.days.count)
    if period is None:
        return ()
    unit = "week (its Monday)" if period == "week" else "month"
    return (
        f"{count_of_days(reading.days.count)} is too long to list: one row per {unit}, each "
        "value the mean of its rows, records counting them; ask for a shorter range for "
        "one row per day.",
    )


def _answer(reading: Reading) -> Answer:
    """One table of the kind asked for (or the summary) from every provider that answered."""
    return table_answer(
        providers=[info.name for info in reading.sources],
        display_names=[info.display_name for info in reading.sources],
        kind=reading.kind,
        first=reading.days.first,
        last=reading.days.last,
        table=reading_table(reading),
        notes=(*reading.notes, *_period_note(reading)),
    )


def _live(fresh: bool) -> AbstractContextManager[None]:
    """Reads that go to the providers for every day (``fresh``), or from the kept history."""
    return insist_live() if fresh else nullcontext()


def _recent(kind: TableKind) -> Callable[[ToolContext, DaysArgs], Awaitable[Answer]]:
    async def run(context: ToolContext, args: DaysArgs) -> Answer:
        with _live(args.fresh):
            return _answer(await reader(context).recent(kind, args.days))

    return run


async def _range(context: ToolContext, args: RangeArgs) -> Answer:
    with _live(args.fresh):
        return _answer(await reader(context).between(args.kind, args.start, args.end))


async def _record(context: ToolContext, args: RecordArgs) -> Answer:
    found = await reader(context).record(DataKind(args.kind), args.id)
    return record_answer(found.record.model_dump(mode="json", exclude_none=True))


def source_profile(found: FoundProfile) -> SourceProfile:
    """One provider's profile as the tools (and REST) show it."""
    profile, body = found.profile, found.body
    return SourceProfile(
        provider=profile.provider,
        first_name=profile.first_name,
        last_name=profile.last_name,
        email=profile.email,
        age=profile.age,
        height_m=None if body is None or body.height_m is None else round(body.height_m, 2),
        weight_kg=None if body is None or body.weight_kg is None else round(body.weight_kg, 1),
        max_heart_rate_bpm=None if body is None else body.max_heart_rate_bpm,
    )


async def _profile(context: ToolContext, args: ProviderArgs) -> Answer:
    found = await reader(context).profiles()
    return profile_answer([source_profile(one) for one in found.sources], found.notes)


async def _search(context: ToolContext, args: SearchArgs) -> Answer:
    from wellpipe.mcp.search import parse_query, search_results  # loads on first use

    read = reader(context)
    query = parse_query(args.query, today=read.today())
    reading = await read.between(query.asks, query.first, query.last)
    return search_results(query, reading, link_base=context.link_base)


_SEARCH_AGAIN = "run search again and pass one of the ids it returns"


async def _fetch(context: ToolContext, args: FetchArgs) -> Answer:
    from wellpipe.mcp.search import DayId, day_text, record_text  # loads on first use

    item, read = args.item, reader(context)
    if isinstance(item, DayId):
        reading = await read.between("summary", item.day, item.day)
        return day_text(item, reading, link_base=context.link_base)
    try:
        found = await read.record(DataKind(item.kind), item.source_id)
    except NotFoundAnywhere as missing:
        raise NotFoundAnywhere(
            what=f"{item.kind} with that id",
            missing=missing.missing,
            failed=missing.failed,
            action=_SEARCH_AGAIN,
            display_names=missing.display_names,
        ) from None
    except NotFound as missing:
        raise NotFound(
            provider=missing.provider,
            endpoint=missing.endpoint,
            what=f"{item.kind} with that id",
            action=_SEARCH_AGAIN,
        ) from None
    return record_text(item, found, link_base=context.link_base)


TOOLS: tuple[ToolSpec[Any], ...] = (
    ToolSpec(
        name="get-daily-summary",
        title="Daily summary",
        description=(
            "One row per day: sleep, recovery or readiness, strain, steps, workouts. "
            "Start here for how days went, trends and comparisons."
        ),
        arguments=DaysArgs,
        output=TableAnswer,
        run=_recent("summary"),
    ),
    ToolSpec(
        name="get-recent-sleep",
        title="Recent sleep",
        description=(
            "Sleeps and naps: times, stages, performance or score, efficiency, latency, HRV."
        ),
        arguments=DaysArgs,
        output=TableAnswer,
        run=_recent("sleep"),
    ),
    ToolSpec(
        name="get-recent-recovery",
        title="Recent recovery",
        description=("WHOOP recovery score, HRV, resting heart rate, SpO2, skin temperature."),
        arguments=DaysArgs,
        output=TableAnswer,
        run=_recent("recovery"),
    ),
    ToolSpec(
        name="get-recent-readiness",
        title="Recent readiness",
        description=(
            "Oura readiness score, its contributors (1-100 each), temperature deviation. "
            "Not WHOOP recovery."
        ),
        arguments=DaysArgs,
        output=TableAnswer,
        run=_recent("readiness"),
    ),
    ToolSpec(
        name="get-recent-activity",
        title="Recent activity",
        description="Daily steps, distance, energy, active zone and activity minutes.",
        arguments=DaysArgs,
        output=TableAnswer,
        run=_recent("activity"),
    ),
    ToolSpec(
        name="get-recent-vitals",
        title="Recent vitals",
        description=(
            "Daily resting heart rate, HRV, SpO2, respiratory rate, skin temperature, "
            "VO2 max, weight."
        ),
        arguments=DaysArgs,
        output=TableAnswer,
        run=_recent("vitals"),
    ),
    ToolSpec(
        name="get-recent-workouts",
        title="Recent workouts",
        description=(
            "Workouts: sport, times, strain (0-21), energy, heart rate, distance, "
            "heart-rate zone minutes."
        ),
        arguments=DaysArgs,
        output=TableAnswer,
        run=_recent("workout"),
    ),
    ToolSpec(
        name="get-recent-cycles",
        title="Recent day strain",
        description=(
            "WHOOP day strain (0-21), energy and heart rate per cycle (sleep onset to the next)."
        ),
        arguments=DaysArgs,
        output=TableAnswer,
        run=_recent("cycle"),
    ),
    ToolSpec(
        name="get-range",
        title="Data for a date range",
        description=(
            "Any kind, or the daily summary, for explicit days, e.g. a past month. Over 92 "
            "days: weekly means; over a year: monthly."
        ),
        arguments=RangeArgs,
        output=TableAnswer,
        run=_range,
    ),
    ToolSpec(
        name="get-record",
        title="One record",
        description="Every field of one record, a sleep's stage timeline included.",
        arguments=RecordArgs,
        output=RecordAnswer,
        run=_record,
    ),
    ToolSpec(
        name="get-profile",
        title="Profile",
        description="Name, email, age, height, weight and maximum heart rate.",
        arguments=ProviderArgs,
        output=ProfileAnswer,
        run=_profile,
    ),
    ToolSpec(
        name="search",
        title="Search days and records",
        description=(
            "Days or records matching plain words: a kind, a provider, days (default the "
            "last 7). Newest first, at most 20; ids feed fetch."
        ),
        arguments=SearchArgs,
        output=SearchAnswer,
        run=_search,
    ),
    ToolSpec(
        name="fetch",
        title="Fetch a day or record",
        description="One day (every kind) or one record, by a search id, in full.",
        arguments=FetchArgs,
        output=FetchAnswer,
        run=_fetch,
    ),
)
"""Every tool, in the order they are listed."""

_BY_NAME = {tool.name: tool for tool in TOOLS}


def tool_by_name(name: str) -> ToolSpec[Any] | None:
    """The tool called ``name``, if there is one."""
    return _BY_NAME.get(name)
