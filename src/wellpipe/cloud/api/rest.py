"""The REST API (``/api/v1``): the caller's own wearable data, as the MCP tools read it.

Every data endpoint takes the API key as ``Authorization: Bearer wp_live_…``, counts one
request against the caller's quota (headers ``X-RateLimit-*`` on every counted answer),
reads live from the caller's connected providers through their stored connections (a
short cache spares each provider's shared budget) and answers core records. ``provider``
names one provider; without it every connected provider answers and lists and the daily
summary merge into one timeline labelled by source. Days are the user's local calendar days,
exactly as the MCP tools count them. Errors are problem details with one sentence saying
what to do. ``GET /api/v1/usage`` is free.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Path, Query, Request, Response

from wellpipe.cloud.api.deps import (
    ERROR_RESPONSES,
    Caller,
    CurrentCaller,
    CurrentPrincipal,
    Opened,
    connected,
    context,
    display_names,
)
from wellpipe.cloud.api.models import (
    ActivityList,
    CycleList,
    HealthAnswer,
    HealthType,
    ProfileAnswer,
    ReadinessList,
    RecordAnswer,
    RecordKind,
    RecoveryList,
    SleepList,
    SummaryList,
    UsageAnswer,
    VitalsList,
    WorkoutList,
)
from wellpipe.cloud.api.problems import Problem
from wellpipe.cloud.services.health import CloudProvider, record_access
from wellpipe.cloud.services.limits import usage_summary
from wellpipe.core.errors import NotFound, WellpipeError
from wellpipe.core.models import (
    Cycle,
    DailyActivity,
    DailyVitals,
    DataKind,
    DayRange,
    DaySummary,
    Readiness,
    Record,
    RecordSet,
    Recovery,
    Sleep,
    Workout,
    merge_timeline,
    summarize_days,
)
from wellpipe.core.reading import READ_KINDS, latest_tz, recent_window
from wellpipe.mcp.arguments import MAX_DAYS

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["Health data"])

RecordT = TypeVar("RecordT", bound=Record)

_KINDS = {
    HealthType.SLEEP: DataKind.SLEEP,
    HealthType.RECOVERY: DataKind.RECOVERY,
    HealthType.WORKOUT: DataKind.WORKOUT,
    HealthType.CYCLE: DataKind.CYCLE,
    HealthType.READINESS: DataKind.READINESS,
    HealthType.ACTIVITY: DataKind.ACTIVITY,
    HealthType.VITALS: DataKind.VITALS,
}

_LISTS: dict[DataKind, tuple[type[Any], type[Record]]] = {
    DataKind.SLEEP: (SleepList, Sleep),
    DataKind.RECOVERY: (RecoveryList, Recovery),
    DataKind.WORKOUT: (WorkoutList, Workout),
    DataKind.CYCLE: (CycleList, Cycle),
    DataKind.READINESS: (ReadinessList, Readiness),
    DataKind.ACTIVITY: (ActivityList, DailyActivity),
    DataKind.VITALS: (VitalsList, DailyVitals),
}

AnyList = (
    SleepList | RecoveryList | WorkoutList | CycleList | ReadinessList | ActivityList | VitalsList
)

EARLIEST = date(2010, 1, 1)
"""No wearable data is older; earlier dates are refused (and cannot overflow a time window)."""

Days = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_DAYS,
        description=f"Local days back from today, today included (1 to {MAX_DAYS}).",
    ),
]
Start = Annotated[date, Query(description="First local day, `YYYY-MM-DD`.")]
End = Annotated[
    date,
    Query(description=f"Last local day, included, `YYYY-MM-DD` (at most {MAX_DAYS} days)."),
]
ProviderName = Annotated[
    str | None,
    Query(
        pattern=r"^[a-z][a-z0-9_]{1,31}$",
        description=(
            "Read only this provider (e.g. `whoop`, `oura`, `fitbit`). Without it, every "
            "connected provider answers and their data is merged into one timeline, each "
            "record and day labelled with its `provider`."
        ),
    ),
]


# ---------------------------------------------------------------- reading
def _range(ctx_today: date, start: date, end: date) -> DayRange:
    """The requested days, or a 422 problem saying what to fix (checked before counting)."""
    if end < start:
        raise Problem(422, "invalid-request", f"end ({end}) is before start ({start}); swap them.")
    span = (end - start).days + 1
    if span > MAX_DAYS:
        raise Problem(
            422,
            "invalid-request",
            f"The range covers {span} days but one request covers at most {MAX_DAYS}; "
            "split it into several requests.",
        )
    if start < EARLIEST:
        raise Problem(
            422,
            "invalid-request",
            f"start ({start}) is too early; no wearable data is that old, ask from {EARLIEST}.",
        )
    if start > ctx_today + timedelta(days=1):
        raise Problem(
            422,
            "invalid-request",
            f"start ({start}) is in the future; ask for days up to today ({ctx_today}).",
        )
    return DayRange(first=start, last=end)


def _today(request: Request) -> date:
    return context(request).clock.now().astimezone(UTC).date()


def _on_days(records: Sequence[Record], days: DayRange, kind: type[RecordT]) -> list[RecordT]:
    wanted = [r for r in records if isinstance(r, kind) and days.includes(r.day)]
    return sorted(wanted, key=lambda r: (r.day, getattr(r, "start", None) or r.day, r.provider))


@dataclass
class _Read:
    """What the request's providers answered: records per provider, and notes."""

    opened: Opened
    answered: list[tuple[CloudProvider, RecordSet]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def sources(self) -> list[str]:
        return [provider.info.name for provider, _ in self.answered]

    @property
    def label(self) -> str:
        return self.sources[0] if len(self.answered) == 1 else "all"

    def records(self) -> list[Record]:
        return [record for _, found in self.answered for record in found.all()]


def _kinds_of(provider: CloudProvider, kinds: Collection[DataKind] | None) -> set[DataKind]:
    """``kinds`` this provider offers (every kind it reads when ``None``)."""
    offered = READ_KINDS & provider.info.kinds
    return set(offered if kinds is None else offered & set(kinds))


async def _read(opened: Opened, kinds: Collection[DataKind] | None, days: DayRange) -> _Read:
    """Read ``kinds`` (``None``: all) on ``days`` from every provider, concurrently.

    With several providers, one that fails is left out with a note as long as another
    answered; a provider that offers none of the kinds answers nothing, with a note
    saying so. A named provider's failure (or everyone's) is the answer.
    """
    result = _Read(opened=opened, notes=list(opened.notes))
    window = days.query_window()
    outcomes: list[RecordSet | Exception | None] = [None] * len(opened.providers)

    async def one(index: int, provider: CloudProvider) -> None:
        wanted = _kinds_of(provider, kinds)
        if not wanted:
            return
        try:
            outcomes[index] = await provider.read(wanted, window)
        except Exception as error:  # raised below, outside the task group (no ExceptionGroup)
            outcomes[index] = error

    async with anyio.create_task_group() as group:
        for index, provider in enumerate(opened.providers):
            group.start_soon(one, index, provider)
    for outcome in outcomes:
        if isinstance(outcome, Exception) and (
            not opened.merged or not isinstance(outcome, WellpipeError)
        ):
            raise outcome
    errors: list[Exception] = []
    for provider, outcome in zip(opened.providers, outcomes, strict=True):
        if isinstance(outcome, RecordSet):
            result.answered.append((provider, outcome))
            result.notes += outcome.notes
        elif isinstance(outcome, WellpipeError):
            errors.append(outcome)
            result.notes.append(str(outcome))
        elif kinds is not None:
            what = ", ".join(sorted(DataKind(kind).value for kind in kinds))
            result.notes.append(f"{provider.info.display_name} has no {what} data.")
    if errors and not result.answered:
        raise errors[0]
    if not result.answered and not opened.merged and opened.providers:
        result.answered.append((opened.providers[0], RecordSet()))
    return result


async def _read_recent(
    opened: Opened, kinds: Collection[DataKind] | None, days: int, now: datetime
) -> tuple[DayRange, _Read]:
    """The last ``days`` local days (today where the newest record was taken)."""
    read = await _read(opened, kinds, recent_window(days, now=now))
    tz = latest_tz(read.records(), UTC)
    return DayRange.last_days(days, now=now, tz=tz), read


def _listing(kind: DataKind, read: _Read, days: DayRange) -> AnyList:
    model, record_type = _LISTS[kind]
    records = _on_days(read.records(), days, record_type)
    answer: AnyList = model(
        provider=read.label,
        sources=read.sources,
        first_day=days.first,
        last_day=days.last,
        records=records,
        count=len(records),
        notes=read.notes,
    )
    return answer


def _summary(read: _Read, days: DayRange) -> SummaryList:
    timeline: list[DaySummary]
    if len(read.answered) == 1:
        timeline = summarize_days(read.records(), days)
    else:
        timeline = merge_timeline(
            [(provider.info.name, found.all()) for provider, found in read.answered], days
        )
    return SummaryList(
        provider=read.label,
        sources=read.sources,
        first_day=days.first,
        last_day=days.last,
        days=timeline,
        notes=read.notes,
    )


async def _profile(opened: Opened) -> tuple[CloudProvider, ProfileAnswer]:
    provider = opened.providers[0]
    notes = list(opened.notes)
    others = [p.info.name for p in opened.providers[1:]]
    if others:
        notes.append(
            f"This is the {provider.info.display_name} profile; {display_names(others)} "
            "also answer: add provider=<name> for theirs."
        )
    profile = await provider.profile()
    try:
        body = await provider.body_measurement()
    except NotFound:
        body = None
    answer = ProfileAnswer(
        provider=provider.info.name, profile=profile, body_measurement=body, notes=notes
    )
    return provider, answer


async def _accessed(
    request: Request,
    caller: Caller,
    providers: Sequence[CloudProvider],
    endpoint: str,
    kind: str,
    days: DayRange | None,
    records: int,
) -> None:
    """Audit the access: what was read and how much, never a value."""
    principal = caller.confirmed
    detail: dict[str, Any] = {
        "endpoint": endpoint,
        "key_id": principal.key_id,
        "kind": kind,
        "records": records,
        "upstream_calls": sum(provider.upstream_calls for provider in providers),
        "providers": ",".join(provider.info.name for provider in providers),
    }
    if days is not None:
        detail["range"] = f"{days.first}..{days.last}"
    await record_access(
        context(request),
        user_id=principal.user_id,
        detail=detail,
        request_id=getattr(request.state, "request_id", None),
    )


def _count(answer: Any) -> int:
    if isinstance(answer, SummaryList):
        return sum(0 if day.is_empty else 1 for day in answer.days)
    if isinstance(answer, ProfileAnswer):
        return 1
    return int(getattr(answer, "count", 0))


# ---------------------------------------------------------------- endpoints
@router.get(
    "/health",
    response_model=HealthAnswer,
    operation_id="getHealth",
    summary="Recent data of one type",
    description=(
        "The last `days` local days (today included) of one type of data: `summary` "
        "(one entry per day joining sleep, recovery, day strain, workouts, readiness, "
        "activity and vitals), `sleep`, `recovery`, `workout`, `cycle` (day strain), "
        "`readiness`, `activity`, `vitals`, or `profile` (name, email, height, weight, "
        "maximum heart rate; `days` is ignored). Counts one request."
    ),
    responses=ERROR_RESPONSES,
)
async def get_health(
    request: Request,
    response: Response,
    caller: CurrentCaller,
    type: Annotated[HealthType, Query(description="What to read.")],
    days: Days = 7,
    provider: ProviderName = None,
) -> Any:
    """``GET /api/v1/health?type=&days=``: the contract existing Wellpipe users know."""
    ctx = context(request)
    endpoint = "rest:health"
    async with connected(request, response, caller, endpoint, provider) as opened:
        answer: Any
        if type is HealthType.PROFILE:
            source, answer = await _profile(opened)
            await _accessed(request, caller, [source], endpoint, "profile", None, 1)
            return answer
        now = ctx.clock.now()
        if type is HealthType.SUMMARY:
            period, read = await _read_recent(opened, None, days, now)
            answer = _summary(read, period)
        else:
            period, read = await _read_recent(opened, {_KINDS[type]}, days, now)
            answer = _listing(_KINDS[type], read, period)
        await _accessed(
            request, caller, opened.providers, endpoint, type.value, period, _count(answer)
        )
        return answer


async def _ranged(
    request: Request,
    response: Response,
    caller: Caller,
    endpoint: str,
    kind: DataKind | None,
    start: date,
    end: date,
    provider: str | None,
) -> Any:
    days = _range(_today(request), start, end)
    async with connected(request, response, caller, endpoint, provider) as opened:
        answer: Any
        if kind is None:
            answer = _summary(await _read(opened, None, days), days)
        else:
            answer = _listing(kind, await _read(opened, {kind}, days), days)
        label = "summary" if kind is None else kind.value
        await _accessed(request, caller, opened.providers, endpoint, label, days, _count(answer))
        return answer


_RANGE_NOTE = (
    " Explicit local days, `start` to `end` included, at most 90 days per request. "
    "Counts one request."
)


@router.get(
    "/summary",
    response_model=SummaryList,
    operation_id="getDailySummary",
    summary="Daily summary for a date range",
    description=(
        "One entry per local day joining the night's sleep, naps, recovery, day strain "
        "(cycle), workouts, readiness, activity and vitals; days without data are included "
        "and empty. With several providers, one entry per day and provider." + _RANGE_NOTE
    ),
    responses=ERROR_RESPONSES,
)
async def get_summary(
    request: Request,
    response: Response,
    caller: CurrentCaller,
    start: Start,
    end: End,
    provider: ProviderName = None,
) -> Any:
    """Daily summaries."""
    return await _ranged(request, response, caller, "rest:summary", None, start, end, provider)


def _ranged_endpoint(
    path: str, kind: DataKind, model: type[Any], operation_id: str, summary: str, text: str
) -> None:
    """Register ``GET /api/v1/<path>``: records of one kind for a date range."""

    async def endpoint(
        request: Request,
        response: Response,
        caller: CurrentCaller,
        start: Start,
        end: End,
        provider: ProviderName = None,
    ) -> Any:
        return await _ranged(request, response, caller, f"rest:{path}", kind, start, end, provider)

    endpoint.__name__ = endpoint.__qualname__ = f"get_{path}"
    endpoint.__doc__ = summary
    router.add_api_route(
        f"/{path}",
        endpoint,
        methods=["GET"],
        response_model=model,
        operation_id=operation_id,
        summary=summary,
        description=text + _RANGE_NOTE,
        responses=ERROR_RESPONSES,
    )


_ranged_endpoint(
    "sleep",
    DataKind.SLEEP,
    SleepList,
    "getSleep",
    "Sleeps and naps for a date range",
    "Sleeps and naps with stage durations (minutes), stage timelines where the provider "
    "has them, performance or score, efficiency, latency and heart rate; each on the local "
    "day the sleeper woke up.",
)
_ranged_endpoint(
    "recovery",
    DataKind.RECOVERY,
    RecoveryList,
    "getRecovery",
    "Recoveries for a date range",
    "Recovery score, HRV (RMSSD, ms), resting heart rate, SpO2 and skin temperature, "
    "measured over each night's sleep (WHOOP).",
)
_ranged_endpoint(
    "workouts",
    DataKind.WORKOUT,
    WorkoutList,
    "getWorkouts",
    "Workouts for a date range",
    "Workouts: sport, times, strain or intensity, energy, heart rate, distance, steps and "
    "minutes per heart-rate zone; each on the local day it started.",
)
_ranged_endpoint(
    "cycles",
    DataKind.CYCLE,
    CycleList,
    "getCycles",
    "Day strain (cycles) for a date range",
    "Physiological cycles (sleep onset to next sleep onset): day strain (0-21), energy "
    "and heart rate; each on its waking day (WHOOP).",
)
_ranged_endpoint(
    "readiness",
    DataKind.READINESS,
    ReadinessList,
    "getReadiness",
    "Daily readiness for a date range",
    "Readiness score (0-100), its contributors and temperature deviation, one per local "
    "day (Oura).",
)
_ranged_endpoint(
    "activity",
    DataKind.ACTIVITY,
    ActivityList,
    "getActivity",
    "Daily activity for a date range",
    "Steps, distance, active and total energy, active-zone minutes and minutes per "
    "activity level, one per local day.",
)
_ranged_endpoint(
    "vitals",
    DataKind.VITALS,
    VitalsList,
    "getVitals",
    "Daily vital signs for a date range",
    "Resting heart rate, HRV, SpO2, breathing rate, skin temperature, VO2 max and weight, "
    "one per local day (fields a provider lacks are absent).",
)


@router.get(
    "/profile",
    response_model=ProfileAnswer,
    operation_id="getProfile",
    summary="Profile and body measurement",
    description=(
        "Name, email, height, weight and maximum heart rate, from the named provider (or "
        "the first connected one by name). Counts one request."
    ),
    responses=ERROR_RESPONSES,
)
async def get_profile(
    request: Request, response: Response, caller: CurrentCaller, provider: ProviderName = None
) -> Any:
    """The profile."""
    endpoint = "rest:profile"
    async with connected(request, response, caller, endpoint, provider) as opened:
        source, answer = await _profile(opened)
        await _accessed(request, caller, [source], endpoint, "profile", None, 1)
        return answer


@router.get(
    "/records/{kind}/{record_id}",
    response_model=RecordAnswer,
    operation_id="getRecord",
    summary="One record by id",
    description=(
        "Every field of one record, by the `source_id` of a listing (a WHOOP recovery's "
        "id is its cycle's id). Name the `provider` the record came from when several are "
        "connected. Counts one request."
    ),
    responses={
        **ERROR_RESPONSES,
        404: {
            "description": "The provider has no such record for you; check the id.",
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemBody"}}
            },
        },
    },
)
async def get_record(
    request: Request,
    response: Response,
    caller: CurrentCaller,
    kind: Annotated[RecordKind, Path(description="The record's kind.")],
    record_id: Annotated[
        str,
        Path(
            min_length=1,
            max_length=64,
            description="The record's `source_id`, as a listing gave it.",
        ),
    ],
    provider: ProviderName = None,
) -> Any:
    """One record."""
    endpoint = "rest:record"
    async with connected(request, response, caller, endpoint, provider) as opened:
        if opened.merged:
            names = ", ".join(p.info.name for p in opened.providers)
            raise Problem(
                422,
                "invalid-request",
                f"provider: several providers are connected ({names}); name the one this "
                "record came from (its `provider` in the listing).",
            )
        source = opened.providers[0]
        record = await source.record(DataKind(kind.value), record_id.strip())
        await _accessed(request, caller, [source], endpoint, kind.value, None, 1)
        return RecordAnswer(record=record)  # type: ignore[arg-type]  # one of the record kinds


@router.get(
    "/usage",
    response_model=UsageAnswer,
    operation_id="getUsage",
    summary="Your usage this month",
    description=(
        "How many counted requests you made this calendar month (UTC), your limit and "
        "when it resets. Not counted itself."
    ),
    responses={401: ERROR_RESPONSES[401]},
)
async def get_usage(request: Request, principal: CurrentPrincipal) -> UsageAnswer:
    """The caller's month so far."""
    summary = await usage_summary(context(request), principal.user_id, days=1)
    return UsageAnswer(
        plan=summary.plan,
        period=summary.period,
        month_count=summary.month_count,
        limit=summary.limit,
        remaining=summary.remaining,
        reset_at=summary.reset_at,
        burst_per_minute=summary.burst_per_minute,
    )
