"""The tools, written once against `HealthProvider`: their model-facing copy and what they do.

Descriptions are product copy: the model reads them on every conversation, so
they are short, say units and day rules once (in the server instructions), and
never contain provider data.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, timedelta, tzinfo
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from wellpipe.core.errors import WellpipeError
from wellpipe.core.models import DataKind, DayRange, RecordSet, summarize_days
from wellpipe.core.ports import Clock, HealthProvider
from wellpipe.core.reading import TIMED_KINDS, read_recent
from wellpipe.mcp.answers import (
    Answer,
    ProfileAnswer,
    RecordAnswer,
    TableAnswer,
    profile_answer,
    record_answer,
    table_answer,
)
from wellpipe.mcp.arguments import DaysArgs, NoArgs, RangeArgs, RecordArgs, StrictArgs
from wellpipe.mcp.tables import summary_table, table_for

__all__ = ["INSTRUCTIONS", "TOOLS", "ToolContext", "ToolSpec", "input_schema", "tool_by_name"]

INSTRUCTIONS = (
    "Wellpipe reads the user's own wearable data live from their provider (WHOOP). "
    "Days are the user's local calendar days: a sleep and its recovery count on the day "
    "the user woke up, a workout on the day it started, day strain on the waking day. "
    "Times are local wall-clock times; units are in the column names (_min minutes, "
    "_pct percent, _bpm beats per minute, _ms milliseconds). A row whose state is "
    "pending (still being scored) or unscorable has no metrics: say so rather than "
    "guessing. The id column feeds get-record."
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

    @property
    def provider(self) -> HealthProvider:
        """The first provider (single-provider tools)."""
        return self.providers[0]


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
    if isinstance(node, dict):
        return {k: _strip_titles(v) for k, v in node.items() if k != "title"}
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node


def input_schema(model: type[StrictArgs]) -> dict[str, Any]:
    """The argument model as a compact JSON schema (no titles; unknown properties refused)."""
    schema: dict[str, Any] = _strip_titles(model.model_json_schema())
    schema.setdefault("properties", {})
    schema["additionalProperties"] = False
    return schema


# ------------------------------------------------------------------ reading
_KIND = {
    "sleep": DataKind.SLEEP,
    "recovery": DataKind.RECOVERY,
    "workout": DataKind.WORKOUT,
    "cycle": DataKind.CYCLE,
}


async def _read_recent(
    context: ToolContext, kinds: Collection[DataKind], days: int
) -> tuple[DayRange, RecordSet]:
    """The last ``days`` local days (today included) and every record of ``kinds`` on them."""
    return await read_recent(
        context.provider, kinds, days, now=context.clock.now(), default_tz=context.default_tz
    )


async def _read_range(
    context: ToolContext, kinds: Collection[DataKind], first: date, last: date
) -> tuple[DayRange, RecordSet]:
    days = DayRange(first=first, last=last)
    return days, await context.provider.read(kinds, days.query_window())


def _kind_answer(context: ToolContext, kind: str, days: DayRange, records: RecordSet) -> Answer:
    wanted = [r for r in records.of_kind(_KIND[kind]) if days.includes(r.day)]
    info = context.provider.info
    return table_answer(
        provider=info.name,
        display_name=info.display_name,
        kind=kind,
        first=days.first,
        last=days.last,
        table=table_for(kind, wanted),
    )


def _summary_answer(context: ToolContext, days: DayRange, records: RecordSet) -> Answer:
    info = context.provider.info
    return table_answer(
        provider=info.name,
        display_name=info.display_name,
        kind="summary",
        first=days.first,
        last=days.last,
        table=summary_table(summarize_days(records.all(), days)),
    )


def _summary_kinds(context: ToolContext) -> frozenset[DataKind]:
    return TIMED_KINDS & context.provider.info.kinds


def _recent(kind: str) -> Callable[[ToolContext, DaysArgs], Awaitable[Answer]]:
    async def run(context: ToolContext, args: DaysArgs) -> Answer:
        days, records = await _read_recent(context, {_KIND[kind]}, args.days)
        return _kind_answer(context, kind, days, records)

    return run


async def _daily_summary(context: ToolContext, args: DaysArgs) -> Answer:
    days, records = await _read_recent(context, _summary_kinds(context), args.days)
    return _summary_answer(context, days, records)


async def _range(context: ToolContext, args: RangeArgs) -> Answer:
    today = context.clock.now().astimezone(context.default_tz).date()
    if args.start > today + timedelta(days=1):
        raise WellpipeError(
            f"start ({args.start}) is in the future; ask for days up to today ({today})."
        )
    if args.kind == "summary":
        days, records = await _read_range(context, _summary_kinds(context), args.start, args.end)
        return _summary_answer(context, days, records)
    days, records = await _read_range(context, {_KIND[args.kind]}, args.start, args.end)
    return _kind_answer(context, args.kind, days, records)


async def _record(context: ToolContext, args: RecordArgs) -> Answer:
    record = await context.provider.record(_KIND[args.kind], args.id.strip())
    return record_answer(record.model_dump(mode="json", exclude_none=True))


async def _profile(context: ToolContext, args: NoArgs) -> Answer:
    profile = await context.provider.profile()
    body = await context.provider.body_measurement()
    return profile_answer(
        ProfileAnswer(
            provider=profile.provider,
            first_name=profile.first_name,
            last_name=profile.last_name,
            email=profile.email,
            height_m=body.height_m,
            weight_kg=body.weight_kg,
            max_heart_rate_bpm=body.max_heart_rate_bpm,
        )
    )


TOOLS: tuple[ToolSpec[Any], ...] = (
    ToolSpec(
        name="get-daily-summary",
        title="Daily summary",
        description=(
            "One row per local day joining sleep, recovery, day strain and workouts. "
            "Start here for how days went, trends and comparisons."
        ),
        arguments=DaysArgs,
        output=TableAnswer,
        run=_daily_summary,
    ),
    ToolSpec(
        name="get-recent-sleep",
        title="Recent sleep",
        description=(
            "Sleeps and naps: bed and wake times, stage durations, performance, "
            "efficiency, consistency, need, respiratory rate."
        ),
        arguments=DaysArgs,
        output=TableAnswer,
        run=_recent("sleep"),
    ),
    ToolSpec(
        name="get-recent-recovery",
        title="Recent recovery",
        description=(
            "Recovery score, HRV (RMSSD), resting heart rate, SpO2 and skin temperature, "
            "measured over each night's sleep."
        ),
        arguments=DaysArgs,
        output=TableAnswer,
        run=_recent("recovery"),
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
            "Day strain (0-21), energy and heart rate per physiological cycle "
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
        arguments=NoArgs,
        output=ProfileAnswer,
        run=_profile,
    ),
)
"""Every tool, in the order they are listed."""

_BY_NAME = {tool.name: tool for tool in TOOLS}


def tool_by_name(name: str) -> ToolSpec[Any] | None:
    """The tool called ``name``, if there is one."""
    return _BY_NAME.get(name)
