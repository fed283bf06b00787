"""Google Health JSON as the discovery document shapes it (int64 as strings, civil objects)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any


def civil(moment: datetime) -> dict[str, Any]:
    """The wall-clock reading of an aware ``moment`` as a ``CivilDateTime``."""
    return {
        "date": {"year": moment.year, "month": moment.month, "day": moment.day},
        "time": {"hours": moment.hour, "minutes": moment.minute, "seconds": moment.second},
    }


def civil_date(day: date) -> dict[str, Any]:
    return {"year": day.year, "month": day.month, "day": day.day}


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def interval(start: datetime, end: datetime) -> dict[str, Any]:
    """A session interval whose offsets are those of ``start`` and ``end``."""
    start_offset = start.utcoffset() or timedelta(0)
    end_offset = end.utcoffset() or timedelta(0)
    return {
        "startTime": utc(start),
        "endTime": utc(end),
        "startUtcOffset": f"{int(start_offset.total_seconds())}s",
        "endUtcOffset": f"{int(end_offset.total_seconds())}s",
        "civilStartTime": civil(start),
        "civilEndTime": civil(end),
    }


def stage(kind: str, start: datetime, end: datetime) -> dict[str, Any]:
    start_offset = start.utcoffset() or timedelta(0)
    end_offset = end.utcoffset() or timedelta(0)
    return {
        "startTime": utc(start),
        "endTime": utc(end),
        "startUtcOffset": f"{int(start_offset.total_seconds())}s",
        "endUtcOffset": f"{int(end_offset.total_seconds())}s",
        "type": kind,
    }


def sleep_point(
    point_id: str,
    segments: list[tuple[str, datetime, datetime]],
    *,
    kind: str = "STAGES",
    nap: bool = False,
    processed: bool = True,
    to_fall_asleep: int = 12,
) -> dict[str, Any]:
    """A reconciled ``sleep`` point whose summary adds up its segments, as Google's does."""
    start, end = segments[0][1], segments[-1][2]
    minutes: dict[str, int] = {}
    counts: dict[str, int] = {}
    for name, seg_start, seg_end in segments:
        minutes[name] = minutes.get(name, 0) + int((seg_end - seg_start).total_seconds() // 60)
        counts[name] = counts.get(name, 0) + 1
    asleep_types = {"LIGHT", "DEEP", "REM"} if kind == "STAGES" else {"ASLEEP"}
    body: dict[str, Any] = {
        "interval": interval(start, end),
        "type": kind,
        "stages": [stage(name, s, e) for name, s, e in segments],
        "metadata": {
            "mainSleep": not nap,
            "nap": nap,
            "processed": processed,
            "manuallyEdited": False,
            "stagesStatus": "SUCCEEDED" if kind == "STAGES" else "REJECTED_COVERAGE",
        },
        "createTime": utc(end),
        "updateTime": utc(end),
    }
    if processed:
        body["summary"] = {
            "minutesAsleep": str(sum(v for k, v in minutes.items() if k in asleep_types)),
            "minutesAwake": str(minutes.get("AWAKE", 0)),
            "minutesInSleepPeriod": str(int((end - start).total_seconds() // 60)),
            "minutesToFallAsleep": str(to_fall_asleep),
            "minutesAfterWakeUp": "3",
            "stagesSummary": [
                {"type": k, "minutes": str(v), "count": str(counts[k])} for k, v in minutes.items()
            ],
        }
    return {
        "dataPointName": f"users/1234567890/dataTypes/sleep/dataPoints/{point_id}",
        "sleep": body,
    }


def exercise_point(
    point_id: str,
    start: datetime,
    end: datetime,
    *,
    exercise_type: str = "RUNNING",
    display_name: str = "Running",
    metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "dataPointName": f"users/1234567890/dataTypes/exercise/dataPoints/{point_id}",
        "exercise": {
            "interval": interval(start, end),
            "exerciseType": exercise_type,
            "displayName": display_name,
            "activeDuration": f"{int((end - start).total_seconds()) - 60}s",
            "metricsSummary": metrics if metrics is not None else {},
            "exerciseMetadata": {"hasGps": True},
        },
    }


def daily_rollup(day: date, **values: Any) -> dict[str, Any]:
    nxt = day + timedelta(days=1)
    return {
        "civilStartTime": {"date": civil_date(day)},
        "civilEndTime": {"date": civil_date(nxt)},
        **values,
    }


def daily_point(field: str, day: date, **values: Any) -> dict[str, Any]:
    return {field: {"date": civil_date(day), **values}}


def weight_point(moment: datetime, grams: float) -> dict[str, Any]:
    moment_offset = moment.utcoffset() or timedelta(0)
    return {
        "weight": {
            "sampleTime": {
                "physicalTime": utc(moment),
                "utcOffset": f"{int(moment_offset.total_seconds())}s",
                "civilTime": civil(moment),
            },
            "weightGrams": grams,
        }
    }
