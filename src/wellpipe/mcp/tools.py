"""The tools, written once against `HealthProvider`: their model-facing copy and what they do.

Descriptions are product copy: the model reads them on every conversation, so
they are short, say units and day rules once (in the server instructions), and
never contain provider data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, timedelta, tzinfo
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from wellpipe.core.errors import NotFound, WellpipeError
from wellpipe.core.models import (
    DataKind,
    DayRange,
    Record,
    RecordSet,
    merge_timeline,
    summarize_days,
)
from wellpipe.core.ports import Clock, HealthProvider
from wellpipe.core.reading import (
    READ_KINDS,
    Gathered,
    gather,
    offering,
    read_each,
    read_recent_each,
)
from wellpipe.mcp.answers import (
    Answer,
    ProfileAnswer,
    RecordAnswer,
    SourceProfile,
    TableAnswer,
    profile_answer,
    record_answer,
    table_answer,
)
from wellpipe.mcp.arguments import DaysArgs, ProviderArgs, RangeArgs, RecordArgs, StrictArgs
from wellpipe.mcp.tables import summary_table, table_for

__all__ = ["INSTRUCTIONS", "TOOLS", "ToolContext", "ToolSpec", "input_schema", "tool_by_name"]

INSTRUCTIONS = (
    "Wellpipe reads the user's own wearable data live from their providers (WHOOP, Oura, "
    "Fitbit). Tools read every connected provider unless given provider (whoop, oura or "
    "fitbit); merged rows carry a source column, ordered by day. Days are the user's "
    "local calendar days, by each provider's rule: WHOOP counts a sleep, its recovery "
    "and day strain on the waking day, "
    "Oura uses its own day, Fitbit the date a sleep ended; workouts count on the day they "
    "started. Times are local wall-clock times; units are in the column names (_min "
    "minutes, _pct percent, _bpm beats per minute, _ms milliseconds). WHOOP recovery and "
    "Oura readiness are different 0-100 scores: never compare one with the other. In the "
    "summary, HRV and resting heart rate come from WHOOP recovery or Oura/Fitbit vitals. An "
    "empty cell means the provider does not measure it; a pending or unscorable state has "
    "no metrics: say so rather than guessing. Notes say what was left out. The id column "
    "feeds get-record."
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
_KIND = {kind.value: kind for kind in READ_KINDS}


def _kinds(kind: str) -> frozenset[DataKind]:
    """The kinds a table of ``kind`` reads (the summary: every kind a day joins)."""
    return READ_KINDS if kind == "summary" else frozenset({_KIND[kind]})


async def _read_recent(
    context: ToolContext, kind: str, days: int
) -> tuple[DayRange, Gathered[RecordSet]]:
    """The last ``days`` local days (today included) and every provider's records on them."""
    return await read_recent_each(
        context.providers,
        _kinds(kind),
        days,
        now=context.clock.now(),
        default_tz=context.default_tz,
    )


async def _read_range(
    context: ToolContext, kind: str, first: date, last: date
) -> tuple[DayRange, Gathered[RecordSet]]:
    days = DayRange(first=first, last=last)
    return days, await read_each(context.providers, _kinds(kind), days.query_window())


def _answer(context: ToolContext, kind: str, days: DayRange, read: Gathered[RecordSet]) -> Answer:
    """One table of ``kind`` (or the summary) from every provider that answered.

    With one provider the table is that provider's alone; with several (asked,
    whether or not each answered), rows carry a ``source`` column.
    """
    asked = offering(context.providers, _kinds(kind))
    sourced = len(asked) > 1
    order = [info.name for info, _ in read.answers]
    if kind == "summary":
        if sourced:
            sources = [(info.name, records.all()) for info, records in read.answers]
            table = summary_table(merge_timeline(sources, days), sourced=True)
        else:
            table = summary_table(summarize_days(read.answers[0][1].all(), days))
    else:
        wanted: list[Record] = [
            r
            for _, records in read.answers
            for r in records.of_kind(_KIND[kind])
            if days.includes(r.day)
        ]
        table = table_for(kind, wanted, order=order, sourced=sourced)
    return table_answer(
        providers=order,
        display_names=[info.display_name for info, _ in read.answers],
        kind=kind,
        first=days.first,
        last=days.last,
        table=table,
        notes=(*context.notes, *read.notes),
    )


def _recent(kind: str) -> Callable[[ToolContext, DaysArgs], Awaitable[Answer]]:
    async def run(context: ToolContext, args: DaysArgs) -> Answer:
        days, read = await _read_recent(context, kind, args.days)
        return _answer(context, kind, days, read)

    return run


async def _range(context: ToolContext, args: RangeArgs) -> Answer:
    today = context.clock.now().astimezone(context.default_tz).date()
    if args.start > today + timedelta(days=1):
        raise WellpipeError(
            f"start ({args.start}) is in the future; ask for days up to today ({today})."
        )
    days, read = await _read_range(context, args.kind, args.start, args.end)
    return _answer(context, args.kind, days, read)


async def _record(context: ToolContext, args: RecordArgs) -> Answer:
    """The record from the provider that has it (ids are each provider's own).

    Every provider offering the kind is asked at once; the first (by name) that
    has the id answers. When none has it, a "no such record" sentence wins over
    other failures (another provider's id is often malformed for the rest).
    """
    kind, source_id = _KIND[args.kind], args.id.strip()

    async def lookup(provider: HealthProvider) -> Record:
        return await provider.record(kind, source_id)

    found = await gather(offering(context.providers, {kind}), lookup, prefer=NotFound)
    record = found.answers[0][1]
    return record_answer(record.model_dump(mode="json", exclude_none=True))


async def _profile(context: ToolContext, args: ProviderArgs) -> Answer:
    async def one(provider: HealthProvider) -> SourceProfile:
        profile = await provider.profile()
        body = await provider.body_measurement()
        return SourceProfile(
            provider=profile.provider,
            first_name=profile.first_name,
            last_name=profile.last_name,
            email=profile.email,
            height_m=body.height_m,
            weight_kg=body.weight_kg,
            max_heart_rate_bpm=body.max_heart_rate_bpm,
        )

    read = await gather(context.providers, one)
    return profile_answer([profile for _, profile in read.answers], (*context.notes, *read.notes))


TOOLS: tuple[ToolSpec[Any], ...] = (
    ToolSpec(
        name="get-daily-summary",
        title="Daily summary",
        description=(
            "One row per local day: sleep, recovery or readiness, strain, steps, workouts. "
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
            "Sleeps and naps: times, stage durations, performance or score, efficiency, "
            "latency, HRV. The stage timeline is in get-record."
        ),
        arguments=DaysArgs,
        output=TableAnswer,
        run=_recent("sleep"),
    ),
    ToolSpec(
        name="get-recent-recovery",
        title="Recent recovery",
        description=(
            "WHOOP recovery score, HRV, resting heart rate, SpO2 and skin temperature "
            "over each night's sleep."
        ),
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
            "minutes per heart-rate zone."
        ),
        arguments=DaysArgs,
        output=TableAnswer,
        run=_recent("workout"),
    ),
    ToolSpec(
        name="get-recent-cycles",
        title="Recent day strain",
        description=(
            "WHOOP day strain (0-21), energy and heart rate per cycle "
            "(sleep onset to next sleep onset)."
        ),
        arguments=DaysArgs,
        output=TableAnswer,
        run=_recent("cycle"),
    ),
    ToolSpec(
        name="get-range",
        title="Data for a date range",
        description=(
            "Any kind, or the daily summary, for explicit local days (up to 90), "
            "e.g. a past month or the same week last year."
        ),
        arguments=RangeArgs,
        output=TableAnswer,
        run=_range,
    ),
    ToolSpec(
        name="get-record",
        title="One record",
        description="Every field of one record, by kind and the id column of a listing.",
        arguments=RecordArgs,
        output=RecordAnswer,
        run=_record,
    ),
    ToolSpec(
        name="get-profile",
        title="Profile",
        description="Name, email, height, weight and maximum heart rate.",
        arguments=ProviderArgs,
        output=ProfileAnswer,
        run=_profile,
    ),
)
"""Every tool, in the order they are listed."""

_BY_NAME = {tool.name: tool for tool in TOOLS}


def tool_by_name(name: str) -> ToolSpec[Any] | None:
    """The tool called ``name``, if there is one."""
    return _BY_NAME.get(name)
