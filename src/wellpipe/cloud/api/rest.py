"""The REST API (``/api/v1``): the caller's own WHOOP data, as the MCP tools read it.

Every data endpoint takes the API key as ``Authorization: Bearer wp_live_…``, counts one
request against the caller's quota (headers ``X-RateLimit-*`` on every counted answer),
reads live from WHOOP through the caller's stored connection (a short cache spares the
shared WHOOP budget) and answers core records. Days are the user's local calendar days,
exactly as the MCP tools count them. Errors are problem details with one sentence saying
what to do. ``GET /api/v1/usage`` is free.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Request, Response

from wellpipe.cloud.api.deps import (
    ERROR_RESPONSES,
    Caller,
    CurrentCaller,
    CurrentPrincipal,
    connected,
    context,
)
from wellpipe.cloud.api.models import (
    CycleList,
    HealthAnswer,
    HealthType,
    ProfileAnswer,
    RecordAnswer,
    RecordKind,
    RecoveryList,
    SleepList,
    SummaryList,
    UsageAnswer,
    WorkoutList,
)
from wellpipe.cloud.api.problems import Problem
from wellpipe.cloud.services.health import CloudProvider, record_access
from wellpipe.cloud.services.limits import usage_summary
from wellpipe.core.errors import NotFound
from wellpipe.core.models import (
    Cycle,
    DataKind,
    DayRange,
    Record,
    RecordSet,
    Recovery,
    Sleep,
    Workout,
    summarize_days,
)
from wellpipe.core.reading import TIMED_KINDS, read_recent
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
}

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
    return sorted(wanted, key=lambda r: (r.day, getattr(r, "start", None) or r.day))


def _listing(
    kind: DataKind, provider: CloudProvider, days: DayRange, records: RecordSet
) -> SleepList | RecoveryList | WorkoutList | CycleList:
    name = provider.info.name
    common: dict[str, Any] = {"provider": name, "first_day": days.first, "last_day": days.last}
    if kind is DataKind.SLEEP:
        sleeps = _on_days(records.sleeps, days, Sleep)
        return SleepList(records=sleeps, count=len(sleeps), **common)
    if kind is DataKind.RECOVERY:
        recoveries = _on_days(records.recoveries, days, Recovery)
        return RecoveryList(records=recoveries, count=len(recoveries), **common)
    if kind is DataKind.WORKOUT:
        workouts = _on_days(records.workouts, days, Workout)
        return WorkoutList(records=workouts, count=len(workouts), **common)
    cycles = _on_days(records.cycles, days, Cycle)
    return CycleList(records=cycles, count=len(cycles), **common)


def _summary(provider: CloudProvider, days: DayRange, records: RecordSet) -> SummaryList:
    return SummaryList(
        provider=provider.info.name,
        first_day=days.first,
        last_day=days.last,
        days=summarize_days(records.all(), days),
    )


def _summary_kinds(provider: CloudProvider) -> frozenset[DataKind]:
    return TIMED_KINDS & provider.info.kinds


async def _profile(provider: CloudProvider) -> ProfileAnswer:
    profile = await provider.profile()
    try:
        body = await provider.body_measurement()
    except NotFound:
        body = None
    return ProfileAnswer(provider=provider.info.name, profile=profile, body_measurement=body)


async def _accessed(
    request: Request,
    caller: Caller,
    provider: CloudProvider,
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
        "upstream_calls": provider.upstream_calls,
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
        "(one entry per day joining sleep, recovery, day strain and workouts), `sleep`, "
        "`recovery`, `workout`, `cycle` (day strain), or `profile` (name, email, height, "
        "weight, maximum heart rate; `days` is ignored). Counts one request."
    ),
    responses=ERROR_RESPONSES,
)
async def get_health(
    request: Request,
    response: Response,
    caller: CurrentCaller,
    type: Annotated[HealthType, Query(description="What to read.")],
    days: Days = 7,
) -> Any:
    """``GET /api/v1/health?type=&days=``: the contract existing Wellpipe users know."""
    ctx = context(request)
    endpoint = "rest:health"
    async with connected(request, response, caller, endpoint) as provider:
        answer: Any
        if type is HealthType.PROFILE:
            answer = await _profile(provider)
            await _accessed(request, caller, provider, endpoint, "profile", None, 1)
            return answer
        now = ctx.clock.now()
        if type is HealthType.SUMMARY:
            period, records = await read_recent(provider, _summary_kinds(provider), days, now=now)
            answer = _summary(provider, period, records)
        else:
            period, records = await read_recent(provider, {_KINDS[type]}, days, now=now)
            answer = _listing(_KINDS[type], provider, period, records)
        await _accessed(request, caller, provider, endpoint, type.value, period, _count(answer))
        return answer


async def _ranged(
    request: Request,
    response: Response,
    caller: Caller,
    endpoint: str,
    kind: DataKind | None,
    start: date,
    end: date,
) -> Any:
    days = _range(_today(request), start, end)
    async with connected(request, response, caller, endpoint) as provider:
        answer: Any
        if kind is None:
            records = await provider.read(_summary_kinds(provider), days.query_window())
            answer = _summary(provider, days, records)
        else:
            records = await provider.read({kind}, days.query_window())
            answer = _listing(kind, provider, days, records)
        label = "summary" if kind is None else kind.value
        await _accessed(request, caller, provider, endpoint, label, days, _count(answer))
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
        "(cycle) and workouts; days without data are included and empty." + _RANGE_NOTE
    ),
    responses=ERROR_RESPONSES,
)
async def get_summary(
    request: Request, response: Response, caller: CurrentCaller, start: Start, end: End
) -> Any:
    """Daily summaries."""
    return await _ranged(request, response, caller, "rest:summary", None, start, end)


@router.get(
    "/sleep",
    response_model=SleepList,
    operation_id="getSleep",
    summary="Sleeps and naps for a date range",
    description=(
        "Sleeps and naps with stage durations (minutes), performance, efficiency, "
        "consistency, sleep need and respiratory rate; each on the local day the sleeper "
        "woke up." + _RANGE_NOTE
    ),
    responses=ERROR_RESPONSES,
)
async def get_sleep(
    request: Request, response: Response, caller: CurrentCaller, start: Start, end: End
) -> Any:
    """Sleeps."""
    return await _ranged(request, response, caller, "rest:sleep", DataKind.SLEEP, start, end)


@router.get(
    "/recovery",
    response_model=RecoveryList,
    operation_id="getRecovery",
    summary="Recoveries for a date range",
    description=(
        "Recovery score, HRV (RMSSD, ms), resting heart rate, SpO2 and skin temperature, "
        "measured over each night's sleep." + _RANGE_NOTE
    ),
    responses=ERROR_RESPONSES,
)
async def get_recovery(
    request: Request, response: Response, caller: CurrentCaller, start: Start, end: End
) -> Any:
    """Recoveries."""
    return await _ranged(request, response, caller, "rest:recovery", DataKind.RECOVERY, start, end)


@router.get(
    "/workouts",
    response_model=WorkoutList,
    operation_id="getWorkouts",
    summary="Workouts for a date range",
    description=(
        "Workouts: sport, times, strain (0-21), energy, heart rate, distance and minutes "
        "per heart-rate zone; each on the local day it started." + _RANGE_NOTE
    ),
    responses=ERROR_RESPONSES,
)
async def get_workouts(
    request: Request, response: Response, caller: CurrentCaller, start: Start, end: End
) -> Any:
    """Workouts."""
    return await _ranged(request, response, caller, "rest:workouts", DataKind.WORKOUT, start, end)


@router.get(
    "/cycles",
    response_model=CycleList,
    operation_id="getCycles",
    summary="Day strain (cycles) for a date range",
    description=(
        "Physiological cycles (sleep onset to next sleep onset): day strain (0-21), energy "
        "and heart rate; each on its waking day." + _RANGE_NOTE
    ),
    responses=ERROR_RESPONSES,
)
async def get_cycles(
    request: Request, response: Response, caller: CurrentCaller, start: Start, end: End
) -> Any:
    """Cycles."""
    return await _ranged(request, response, caller, "rest:cycles", DataKind.CYCLE, start, end)


@router.get(
    "/profile",
    response_model=ProfileAnswer,
    operation_id="getProfile",
    summary="Profile and body measurement",
    description="Name, email, height, weight and maximum heart rate. Counts one request.",
    responses=ERROR_RESPONSES,
)
async def get_profile(request: Request, response: Response, caller: CurrentCaller) -> Any:
    """The profile."""
    endpoint = "rest:profile"
    async with connected(request, response, caller, endpoint) as provider:
        answer = await _profile(provider)
        await _accessed(request, caller, provider, endpoint, "profile", None, 1)
        return answer


@router.get(
    "/records/{kind}/{record_id}",
    response_model=RecordAnswer,
    operation_id="getRecord",
    summary="One record by id",
    description=(
        "Every field of one sleep, recovery, workout or cycle, by the `source_id` of a "
        "listing (a recovery's id is its cycle's id). Counts one request."
    ),
    responses={
        **ERROR_RESPONSES,
        404: {
            "description": "WHOOP has no such record for you; check the id.",
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
            description="The record's `source_id` (a UUID for sleeps and workouts, a number "
            "for cycles and recoveries).",
        ),
    ],
) -> Any:
    """One record."""
    endpoint = "rest:record"
    async with connected(request, response, caller, endpoint) as provider:
        record = await provider.record(DataKind(kind.value), record_id.strip())
        await _accessed(request, caller, provider, endpoint, kind.value, None, 1)
        return RecordAnswer(record=record)  # type: ignore[arg-type]  # one of the four kinds


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
