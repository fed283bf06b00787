"""The REST API (``/api/v1``): the caller's own wearable data, exactly as the MCP tools read it.

Each data endpoint only validates its parameters and renders: the caller goes through the
one gate (`wellpipe.cloud.services.gate`: key, limits, count, providers, audit) and the
data comes from the one reader (`wellpipe.core.reading.Reader`), the same two pieces
behind ``/api/mcp``. By default an answer carries what the MCP tool's table carries, one
object per row (``detail=compact``); ``detail=full`` gives every field of every record.

``provider`` names one provider; without it every connected provider answers and the
rows of several merge into one timeline labelled by ``source``. Days are the user's local
calendar days, by each provider's rule. A parameter an endpoint does not take is refused.
Errors are problem details with one sentence saying what to do. ``GET /api/v1/usage`` is
free.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, date
from typing import Annotated, Any, Union

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel

from wellpipe.cloud.api.deps import (
    ERROR_RESPONSES,
    CurrentCaller,
    CurrentPrincipal,
    admitted,
    context,
)
from wellpipe.cloud.api.models import (
    COMPACT_LISTS,
    Detail,
    FullList,
    FullProfile,
    FullProfileAnswer,
    HealthType,
    ProfileAnswer,
    RecordAnswer,
    RecordKind,
    UsageAnswer,
    compact_rows,
)
from wellpipe.cloud.api.problems import Problem
from wellpipe.cloud.services.gate import Call, Face, Pass
from wellpipe.cloud.services.limits import usage_summary
from wellpipe.core.errors import InvalidRequest
from wellpipe.core.models import DataKind, count_of_days
from wellpipe.core.reading import (
    LIVE_DAYS,
    MAX_DAYS,
    SUMMARY,
    Profiles,
    Reader,
    Reading,
    TableKind,
    checked_range,
)
from wellpipe.core.stored import insist_live
from wellpipe.mcp.tables import ordered_records
from wellpipe.mcp.tools import reading_table, source_profile

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["Health data"])

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
            "connected provider answers and their rows merge into one timeline, each "
            "labelled with its `source`."
        ),
    ),
]
Fresh = Annotated[
    bool,
    Query(
        description=(
            f"Re-read every day from the provider (at most {LIVE_DAYS} days) instead of "
            "answering from the history Wellpipe keeps (which re-reads only days not kept "
            "yet or still changing)."
        )
    ),
]
DetailParam = Annotated[
    Detail,
    Query(
        description=(
            "`compact` (default): the MCP tool's table as objects, rounded, local times, "
            "no empty fields. `full`: every field of every record."
        )
    ),
]


# ---------------------------------------------------------------- rendering
def _json(answer: BaseModel, *, compact: bool) -> Response:
    """``answer`` as JSON; a compact one without empty fields."""
    body = answer.model_dump_json(exclude_none=compact)
    return Response(content=body, media_type="application/json")


def _label(sources: Sequence[str]) -> str:
    return sources[0] if len(sources) == 1 else "all"


def _listing(reading: Reading, detail: Detail) -> Response:
    sources = [info.name for info in reading.sources]
    common: dict[str, Any] = {
        "type": reading.kind,
        "provider": _label(sources),
        "sources": sources,
        "first_day": reading.days.first,
        "last_day": reading.days.last,
        "notes": list(reading.notes),
    }
    if detail is Detail.COMPACT:
        table = reading_table(reading, summarise=False)
        rows = compact_rows(table.columns, table.rows)
        compact = COMPACT_LISTS[reading.kind].model_validate(
            {**common, "utc_offset": table.utc_offset, "count": len(rows), "records": rows}
        )
        return _json(compact, compact=True)
    if reading.kind == SUMMARY:
        days = reading.summary()
        return _json(FullList(**common, count=len(days), days=days), compact=False)
    records = ordered_records(reading.records(), sources)
    full = FullList.model_validate({**common, "count": len(records), "records": records})
    return _json(full, compact=False)


def _profiles(found: Profiles, detail: Detail) -> Response:
    names = [one.source.name for one in found.sources]
    if detail is Detail.COMPACT:
        compact = ProfileAnswer(
            provider=_label(names),
            sources=[source_profile(one) for one in found.sources],
            notes=list(found.notes),
        )
        return _json(compact, compact=True)
    full = FullProfileAnswer(
        provider=_label(names),
        sources=[
            FullProfile(provider=one.source.name, profile=one.profile, body_measurement=one.body)
            for one in found.sources
        ],
        notes=list(found.notes),
    )
    return _json(full, compact=False)


def _live(fresh: bool) -> AbstractContextManager[None]:
    """Reads that go to the provider for every day (``fresh``), or from the kept history."""
    return insist_live() if fresh else nullcontext()


def _reader(request: Request, passed: Pass) -> Reader:
    return Reader(passed.providers, clock=context(request).clock, notes=passed.notes)


def _days(request: Request, start: date, end: date) -> None:
    """A 422 problem, before anything is counted, for days one request cannot ask for."""
    today = context(request).clock.now().astimezone(UTC).date()
    try:
        checked_range(start, end, today=today)
    except InvalidRequest as invalid:
        raise Problem(422, "invalid-request", str(invalid)) from None


def _documented(*models: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """The 200 answer's schemas (compact first) and the documented errors."""
    answer: Any = models[0] if len(models) == 1 else Union[models]  # noqa: UP007
    return {200: {"model": answer, "description": "The data."}, **ERROR_RESPONSES}


_ALL_TABLES = tuple(COMPACT_LISTS.values())


# ---------------------------------------------------------------- endpoints
@router.get(
    "/health",
    operation_id="getHealth",
    summary="Recent data of one type",
    description=(
        "The last `days` local days (today included) of one type: `summary` (a row per day: "
        "sleep, recovery or readiness, HRV, resting HR, strain, energy, steps, workouts), "
        "`sleep`, `recovery`, `workout`, `cycle`, `readiness`, `activity`, `vitals`, or "
        "`profile`. Counts one request."
    ),
    responses=_documented(*_ALL_TABLES, FullList, ProfileAnswer, FullProfileAnswer),
)
async def get_health(
    request: Request,
    response: Response,
    caller: CurrentCaller,
    type: Annotated[HealthType, Query(description="What to read.")],
    days: Days = 7,
    provider: ProviderName = None,
    detail: DetailParam = Detail.COMPACT,
    fresh: Fresh = False,
) -> Response:
    """``GET /api/v1/health?type=&days=``: the contract existing Wellpipe users know."""
    if type is HealthType.PROFILE:
        call = Call(Face.REST, "health", "profile", provider=provider)
        async with admitted(request, response, caller, call) as passed:
            answer = _profiles(await _reader(request, passed).profiles(), detail)
    else:
        kind: TableKind = type.value  # type: ignore[assignment]  # every other type is a table
        span = f"last {count_of_days(days)}"
        call = Call(Face.REST, "health", kind, span=span, provider=provider)
        async with admitted(request, response, caller, call) as passed:
            with _live(fresh):
                answer = _listing(await _reader(request, passed).recent(kind, days), detail)
    answer.headers.update(response.headers)
    return answer


async def _ranged(
    request: Request,
    response: Response,
    caller: CurrentCaller,
    route: str,
    kind: TableKind,
    start: date,
    end: date,
    provider: str | None,
    detail: Detail,
    fresh: bool = False,
) -> Response:
    _days(request, start, end)
    call = Call(Face.REST, route, kind, span=f"{start}..{end}", provider=provider)
    async with admitted(request, response, caller, call) as passed:
        with _live(fresh):
            answer = _listing(await _reader(request, passed).between(kind, start, end), detail)
    answer.headers.update(response.headers)
    return answer


_RANGE_NOTE = (
    f" Explicit local days, `start` to `end` included (at most {LIVE_DAYS} not kept yet)."
    " Counts one request."
)

_RANGED: tuple[tuple[str, TableKind, str, str, str], ...] = (
    (
        "summary",
        "summary",
        "getDailySummary",
        "Daily summary for a date range",
        "One row per local day (per day and provider when several answer): sleep, "
        "recovery or readiness, HRV, resting heart rate, strain, energy, steps, workouts; "
        "days without data included.",
    ),
    (
        "sleep",
        "sleep",
        "getSleep",
        "Sleeps and naps for a date range",
        "Sleeps and naps: local times, stage minutes, performance or score, efficiency, "
        "latency, HRV, lowest heart rate; each on the local day the sleeper woke up.",
    ),
    (
        "recovery",
        "recovery",
        "getRecovery",
        "Recoveries for a date range",
        "WHOOP recovery score, HRV (RMSSD, ms), resting heart rate, SpO2 and skin "
        "temperature, measured over each night's sleep.",
    ),
    (
        "workouts",
        "workout",
        "getWorkouts",
        "Workouts for a date range",
        "Workouts: sport, local times, strain, energy, heart rate, distance, minutes per "
        "heart-rate zone; each on the local day it started.",
    ),
    (
        "cycles",
        "cycle",
        "getCycles",
        "Day strain (cycles) for a date range",
        "WHOOP physiological cycles (sleep onset to next sleep onset): day strain (0-21), "
        "energy and heart rate; each on its waking day.",
    ),
    (
        "readiness",
        "readiness",
        "getReadiness",
        "Daily readiness for a date range",
        "Oura readiness score (0-100), its contributors and temperature deviation, one per "
        "local day. Not WHOOP recovery.",
    ),
    (
        "activity",
        "activity",
        "getActivity",
        "Daily activity for a date range",
        "Steps, distance, active and total energy, active-zone minutes and minutes per "
        "activity level, one per local day.",
    ),
    (
        "vitals",
        "vitals",
        "getVitals",
        "Daily vital signs for a date range",
        "Resting heart rate, HRV, SpO2, respiratory rate, skin temperature, VO2 max and "
        "weight, one per local day.",
    ),
)


def _ranged_endpoint(
    path: str, kind: TableKind, operation_id: str, summary: str, text: str
) -> None:
    """Register ``GET /api/v1/<path>``: one kind (or the summary) for a date range."""

    async def endpoint(
        request: Request,
        response: Response,
        caller: CurrentCaller,
        start: Start,
        end: End,
        provider: ProviderName = None,
        detail: DetailParam = Detail.COMPACT,
        fresh: Fresh = False,
    ) -> Response:
        return await _ranged(
            request, response, caller, path, kind, start, end, provider, detail, fresh
        )

    endpoint.__name__ = endpoint.__qualname__ = f"get_{path}"
    endpoint.__doc__ = summary
    router.add_api_route(
        f"/{path}",
        endpoint,
        methods=["GET"],
        operation_id=operation_id,
        summary=summary,
        description=text + _RANGE_NOTE,
        responses=_documented(COMPACT_LISTS[kind], FullList),
    )


for _path, _kind, _operation, _summary, _text in _RANGED:
    _ranged_endpoint(_path, _kind, _operation, _summary, _text)


@router.get(
    "/profile",
    operation_id="getProfile",
    summary="Profile and body measurement",
    description=(
        "Name, email, height, weight and maximum heart rate, one entry per connected "
        "provider (or only the named one). Counts one request."
    ),
    responses=_documented(ProfileAnswer, FullProfileAnswer),
)
async def get_profile(
    request: Request,
    response: Response,
    caller: CurrentCaller,
    provider: ProviderName = None,
    detail: DetailParam = Detail.COMPACT,
) -> Response:
    """The profile, from every connected provider."""
    call = Call(Face.REST, "profile", "profile", provider=provider)
    async with admitted(request, response, caller, call) as passed:
        answer = _profiles(await _reader(request, passed).profiles(), detail)
    answer.headers.update(response.headers)
    return answer


@router.get(
    "/records/{kind}/{record_id}",
    operation_id="getRecord",
    summary="One record by id",
    description=(
        "Every field of one record (a sleep's stage timeline included), by the `id` of a "
        "listing's row (a WHOOP recovery's id is its cycle's id). Every connected provider "
        "offering the kind is asked unless `provider` names one. Counts one request."
    ),
    responses={
        **_documented(RecordAnswer),
        404: {
            "description": "No connected provider has such a record for you; check the id.",
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
        Path(min_length=1, max_length=64, description="The `id` of a listing's row."),
    ],
    provider: ProviderName = None,
) -> Response:
    """One record."""
    call = Call(Face.REST, "record", kind.value, provider=provider)
    async with admitted(request, response, caller, call) as passed:
        found = await _reader(request, passed).record(DataKind(kind.value), record_id)
        answer = _json(
            RecordAnswer.model_validate({"provider": found.source.name, "record": found.record}),
            compact=True,
        )
    answer.headers.update(response.headers)
    return answer


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
