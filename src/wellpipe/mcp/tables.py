"""Records as compact tables: one row per record, units in the column names.

A table costs a fraction of the provider's JSON for the same records: names are
said once (in ``columns``), numbers are rounded to what a person reads, times
are local wall-clock ``HH:MM`` at the record's own UTC offset (``MM-DD HH:MM``
for both times of a record whose start and end fall on different days), and a
pending or unscorable record says so in ``state`` instead of pretending to be zero.

Given the providers it shows (``sources``), a table leaves out the columns none of
them can fill (`ProviderInfo.unmeasured`) and leaves a cell empty on the row of a
provider that cannot fill its column, so an empty cell means "not measured this
time" only where the provider does measure it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from wellpipe.core.models import (
    Cycle,
    DailyActivity,
    DailyVitals,
    DataKind,
    DaySummary,
    Readiness,
    Record,
    Recovery,
    ScoreState,
    Sleep,
    Workout,
)
from wellpipe.core.provider_info import ProviderInfo

__all__ = [
    "KINDS",
    "SUMMARY_SOURCES",
    "UNSCORABLE",
    "Cell",
    "Table",
    "clean_text",
    "ordered_records",
    "summary_table",
    "table_for",
]

Cell = str | int | float | bool | None

UNSCORABLE = ScoreState.UNSCORABLE.value


@dataclass(frozen=True)
class Table:
    """Columns and rows, plus the UTC offset every row shares (when they all share one)."""

    columns: tuple[str, ...]
    rows: list[list[Cell]]
    utc_offset: str | None


def _round(value: float | None, digits: int = 0) -> int | float | None:
    if value is None:
        return None
    return round(value) if digits == 0 else round(value, digits)


def _offset(moment: datetime) -> str:
    delta = moment.utcoffset() or timedelta(0)
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _dated(moment: datetime) -> str:
    """Local ``MM-DD HH:MM``: a time whose day is not the other time's."""
    return f"{moment:%m-%d %H:%M}"


def _times(start: datetime, end: datetime | None, day: date) -> tuple[str, str]:
    """A record's start and end as cells: each with its date when they fall on different days.

    An open record (no end yet) reads ``now``; its start has its date when that is not
    the row's day.
    """
    if end is None:
        return (_dated(start) if start.date() != day else f"{start:%H:%M}"), "now"
    if start.date() != end.date():  # a night, a cycle, a game past midnight
        return _dated(start), _dated(end)
    return f"{start:%H:%M}", f"{end:%H:%M}"


_MARKUP = re.compile(r"[<>{}\[\]`]")


def clean_text(text: str, *, limit: int = 60) -> str:
    """Provider-authored text made safe to show a model: no control or markup characters, capped."""
    printable = "".join(
        " " if unicodedata.category(char)[0] in {"C", "Z"} and char != " " else char
        for char in text
    )
    squeezed = " ".join(_MARKUP.sub("", printable).split())
    return squeezed if len(squeezed) <= limit else squeezed[: limit - 1] + "…"


# -------------------------------------------------------------------- kinds
SLEEP_COLUMNS = (
    "day",
    "start",
    "end",
    "nap",
    "state",
    "asleep_duration_min",
    "in_bed_duration_min",
    "light_sleep_duration_min",
    "deep_sleep_duration_min",
    "rem_sleep_duration_min",
    "awake_duration_min",
    "sleep_performance_pct",
    "sleep_efficiency_pct",
    "sleep_consistency_pct",
    "sleep_need_min",
    "respiratory_rate_per_min",
    "disturbance_count",
    "sleep_score_pct",
    "latency_min",
    "avg_hrv_rmssd_ms",
    "lowest_heart_rate_bpm",
    "id",
)


def _sleep_row(sleep: Sleep) -> list[Cell]:
    s = sleep.score
    metrics: list[Cell] = (
        [None] * 16
        if s is None
        else [
            _round(s.asleep_duration_min),
            _round(s.in_bed_duration_min),
            _round(s.light_sleep_duration_min),
            _round(s.deep_sleep_duration_min),
            _round(s.rem_sleep_duration_min),
            _round(s.awake_duration_min),
            _round(s.sleep_performance_pct),
            _round(s.sleep_efficiency_pct),
            _round(s.sleep_consistency_pct),
            _round(s.sleep_need_min),
            _round(s.respiratory_rate_per_min, 1),
            s.disturbance_count,
            _round(s.sleep_score_pct),
            _round(s.latency_min),
            _round(s.avg_hrv_rmssd_ms, 1),
            _round(s.lowest_heart_rate_bpm),
        ]
    )
    return [
        sleep.day.isoformat(),
        *_times(sleep.start, sleep.end, sleep.day),
        sleep.nap,
        sleep.score_state.value,
        *metrics,
        sleep.source_id,
    ]


RECOVERY_COLUMNS = (
    "day",
    "state",
    "recovery_score_pct",
    "hrv_rmssd_ms",
    "resting_heart_rate_bpm",
    "spo2_pct",
    "skin_temp_celsius",
    "calibrating",
    "id",
)


def _recovery_row(recovery: Recovery) -> list[Cell]:
    s = recovery.score
    metrics: list[Cell] = (
        [None] * 6
        if s is None
        else [
            _round(s.recovery_score_pct),
            _round(s.hrv_rmssd_ms, 1),
            _round(s.resting_heart_rate_bpm),
            _round(s.spo2_pct, 1),
            _round(s.skin_temp_celsius, 1),
            s.calibrating,
        ]
    )
    return [recovery.day.isoformat(), recovery.score_state.value, *metrics, recovery.source_id]


WORKOUT_COLUMNS = (
    "day",
    "start",
    "end",
    "sport",
    "state",
    "strain",
    "energy_kcal",
    "avg_heart_rate_bpm",
    "max_heart_rate_bpm",
    "distance_m",
    "zone_0_min",
    "zone_1_min",
    "zone_2_min",
    "zone_3_min",
    "zone_4_min",
    "zone_5_min",
    "id",
)


def _workout_row(workout: Workout) -> list[Cell]:
    s = workout.score
    metrics: list[Cell] = [None] * 11
    if s is not None:
        zones = s.heart_rate_zones
        metrics = [
            _round(s.strain, 1),
            _round(s.energy_kcal),
            s.avg_heart_rate_bpm,
            s.max_heart_rate_bpm,
            _round(s.distance_m),
            *(
                [None] * 6
                if zones is None
                else [
                    _round(zones.zone_0_min),
                    _round(zones.zone_1_min),
                    _round(zones.zone_2_min),
                    _round(zones.zone_3_min),
                    _round(zones.zone_4_min),
                    _round(zones.zone_5_min),
                ]
            ),
        ]
    return [
        workout.day.isoformat(),
        *_times(workout.start, workout.end, workout.day),
        clean_text(workout.sport),
        workout.score_state.value,
        *metrics,
        workout.source_id,
    ]


CYCLE_COLUMNS = (
    "day",
    "start",
    "end",
    "state",
    "strain",
    "energy_kcal",
    "avg_heart_rate_bpm",
    "max_heart_rate_bpm",
    "id",
)


def _cycle_row(cycle: Cycle) -> list[Cell]:
    s = cycle.score
    metrics: list[Cell] = (
        [None] * 4
        if s is None
        else [
            _round(s.strain, 1),
            _round(s.energy_kcal),
            s.avg_heart_rate_bpm,
            s.max_heart_rate_bpm,
        ]
    )
    head: list[Cell] = [cycle.day.isoformat(), *_times(cycle.start, cycle.end, cycle.day)]
    return [*head, cycle.score_state.value, *metrics, cycle.source_id]


CONTRIBUTORS = (
    "activity_balance",
    "body_temperature",
    "hrv_balance",
    "previous_day_activity",
    "previous_night",
    "recovery_index",
    "resting_heart_rate",
    "sleep_balance",
    "sleep_regularity",
)
"""Oura's readiness contributors (each its own 1-100 score), as columns in this order."""

READINESS_COLUMNS = (
    "day",
    "readiness_score_pct",
    *CONTRIBUTORS,
    "temperature_deviation_celsius",
    "temperature_trend_deviation_celsius",
    "id",
)


def _readiness_score(readiness: Readiness) -> Cell:
    """The readiness score; a day Oura sent without one is unscorable, not unmeasured."""
    if readiness.score_pct is None:
        return UNSCORABLE
    return _round(readiness.score_pct)


def _readiness_row(readiness: Readiness) -> list[Cell]:
    return [
        readiness.day.isoformat(),
        _readiness_score(readiness),
        *(readiness.contributors.get(name) for name in CONTRIBUTORS),
        _round(readiness.temperature_deviation_celsius, 2),
        _round(readiness.temperature_trend_deviation_celsius, 2),
        readiness.source_id,
    ]


ACTIVITY_COLUMNS = (
    "day",
    "steps",
    "distance_m",
    "active_energy_kcal",
    "total_energy_kcal",
    "active_zone_min",
    "high_activity_min",
    "medium_activity_min",
    "low_activity_min",
    "sedentary_min",
    "activity_score_pct",
    "id",
)


def _activity_row(activity: DailyActivity) -> list[Cell]:
    return [
        activity.day.isoformat(),
        activity.steps,
        _round(activity.distance_m),
        _round(activity.active_energy_kcal),
        _round(activity.total_energy_kcal),
        _round(activity.active_zone_min),
        _round(activity.high_activity_min),
        _round(activity.medium_activity_min),
        _round(activity.low_activity_min),
        _round(activity.sedentary_min),
        _round(activity.activity_score_pct),
        activity.source_id,
    ]


VITALS_COLUMNS = (
    "day",
    "resting_heart_rate_bpm",
    "resting_heart_rate_awake_only",
    "hrv_rmssd_ms",
    "spo2_pct",
    "respiratory_rate_per_min",
    "skin_temp_celsius",
    "skin_temp_deviation_celsius",
    "vo2_max_ml_kg_min",
    "weight_kg",
    "breathing_disturbance_index",
    "stress_high_min",
    "recovery_high_min",
    "id",
)


def _vitals_row(vitals: DailyVitals) -> list[Cell]:
    return [
        vitals.day.isoformat(),
        _round(vitals.resting_heart_rate_bpm),
        vitals.resting_heart_rate_awake_only,
        _round(vitals.hrv_rmssd_ms, 1),
        _round(vitals.spo2_pct, 1),
        _round(vitals.respiratory_rate_per_min, 1),
        _round(vitals.skin_temp_celsius, 2),
        _round(vitals.skin_temp_deviation_celsius, 2),
        _round(vitals.vo2_max_ml_kg_min, 1),
        _round(vitals.weight_kg, 1),
        _round(vitals.breathing_disturbance_index),
        _round(vitals.stress_high_min),
        _round(vitals.recovery_high_min),
        vitals.source_id,
    ]


KINDS: dict[str, tuple[tuple[str, ...], Callable[..., list[Cell]]]] = {
    "sleep": (SLEEP_COLUMNS, _sleep_row),
    "recovery": (RECOVERY_COLUMNS, _recovery_row),
    "workout": (WORKOUT_COLUMNS, _workout_row),
    "cycle": (CYCLE_COLUMNS, _cycle_row),
    "readiness": (READINESS_COLUMNS, _readiness_row),
    "activity": (ACTIVITY_COLUMNS, _activity_row),
    "vitals": (VITALS_COLUMNS, _vitals_row),
}
"""Every kind a table can show: its columns and how one record becomes a row."""


def _starts(record: Record) -> datetime | None:
    start = getattr(record, "start", None)
    return start if isinstance(start, datetime) else None


def ordered_records(records: Sequence[Record], order: Sequence[str] = ()) -> list[Record]:
    """Oldest first, as every table (and REST's full listing) shows them.

    By day, then start; within a day and start, providers in ``order`` (names).
    """
    rank = {name: index for index, name in enumerate(order)}
    return sorted(
        records,
        key=lambda r: (r.day, _starts(r) or datetime.min, rank.get(r.provider, len(rank))),
    )


def _labelled(
    columns: tuple[str, ...], rows: list[list[Cell]], sources: Sequence[str | None]
) -> Table:
    """Columns and rows with a ``source`` column (the provider's name) after ``day``."""
    at = columns.index("day") + 1
    labelled = [[*row[:at], source, *row[at:]] for row, source in zip(rows, sources, strict=True)]
    return Table(columns=(*columns[:at], "source", *columns[at:]), rows=labelled, utc_offset=None)


# ------------------------------------------------------------------ what fills a column
_ALWAYS = frozenset({"day", "source", "utc_offset", "start", "end", "nap", "state", "sport", "id"})
"""Columns every row has (what, when, which), whatever the provider measures."""

_FIELDS = {
    **{f"zone_{n}_min": "heart_rate_zones" for n in range(6)},
    "readiness_score_pct": "score_pct",
    **dict.fromkeys(CONTRIBUTORS, "contributors"),
}
"""Table columns named otherwise than the record field they show."""

Sources = tuple[tuple[DataKind, str], ...]

SUMMARY_SOURCES: dict[str, Sources] = {
    "asleep_duration_min": ((DataKind.SLEEP, "asleep_duration_min"),),
    "sleep_performance_pct": ((DataKind.SLEEP, "sleep_performance_pct"),),
    "naps_min": ((DataKind.SLEEP, "asleep_duration_min"),),
    "recovery_score_pct": ((DataKind.RECOVERY, "recovery_score_pct"),),
    "readiness_score_pct": ((DataKind.READINESS, "score_pct"),),
    "hrv_rmssd_ms": ((DataKind.RECOVERY, "hrv_rmssd_ms"), (DataKind.VITALS, "hrv_rmssd_ms")),
    "resting_heart_rate_bpm": (
        (DataKind.RECOVERY, "resting_heart_rate_bpm"),
        (DataKind.VITALS, "resting_heart_rate_bpm"),
    ),
    "day_strain": ((DataKind.CYCLE, "strain"),),
    "energy_kcal": ((DataKind.CYCLE, "energy_kcal"), (DataKind.ACTIVITY, "total_energy_kcal")),
    "steps": ((DataKind.ACTIVITY, "steps"),),
    "workouts": ((DataKind.WORKOUT, "sport"),),
}
"""Where each summary column comes from: any of these (kind, field) fills it."""


def _sources(kind: str, column: str) -> Sources | None:
    """What fills ``column`` of a ``kind`` table (``None``: every row has it)."""
    if column in _ALWAYS:
        return None
    if kind == "summary":
        return SUMMARY_SOURCES.get(column)
    return ((DataKind(kind), _FIELDS.get(column, column)),)


def _fills(info: ProviderInfo, sources: Sources | None) -> bool:
    return sources is None or any(info.measures(kind, field) for kind, field in sources)


def _measured(
    kind: str, table: Table, providers: Sequence[str | None], sources: Sequence[ProviderInfo]
) -> Table:
    """The table without what ``sources`` cannot measure.

    A cell on the row of a provider that cannot fill its column is emptied (a state
    such as ``pending`` included: that provider never has a value there); a column
    none of ``sources`` can fill, and that no row fills, is left out.
    """
    by_name = {info.name: info for info in sources}
    fillers = [_sources(kind, column) for column in table.columns]
    rows: list[list[Cell]] = []
    for row, provider in zip(table.rows, providers, strict=True):
        own = by_name.get(provider or "")  # None: a day no provider recorded (merged summary)
        rows.append(
            [
                None if own is not None and not _fills(own, where) else cell
                for cell, where in zip(row, fillers, strict=True)
            ]
        )
    keep = [
        at
        for at, where in enumerate(fillers)
        if any(_fills(info, where) for info in sources) or any(r[at] is not None for r in rows)
    ]
    return Table(
        columns=tuple(table.columns[at] for at in keep),
        rows=[[row[at] for at in keep] for row in rows],
        utc_offset=table.utc_offset,
    )


def table_for(
    kind: str,
    records: Sequence[Record],
    *,
    order: Sequence[str] = (),
    sourced: bool = False,
    sources: Sequence[ProviderInfo] | None = None,
) -> Table:
    """One row per record of ``kind``, oldest first.

    ``sourced`` adds a ``source`` column (the record's provider) after ``day``,
    for tables that merge several providers; within a day and start time, rows
    follow ``order`` (provider names). ``sources`` (the providers read) leaves out
    what none of them measures (see `_measured`).
    """
    columns, row = KINDS[kind]
    ordered = ordered_records(records, order)
    rows = [row(r) for r in ordered]
    if sourced:
        labelled = _labelled(columns, rows, [r.provider for r in ordered])
        columns, rows = labelled.columns, labelled.rows
    table = _with_offsets(columns, rows, ordered)
    if sources is None:
        return table
    return _measured(kind, table, [r.provider for r in ordered], sources)


def _with_offsets(
    columns: tuple[str, ...], rows: list[list[Cell]], records: Sequence[Record]
) -> Table:
    starts = [_starts(r) for r in records]
    offsets = [None if start is None else _offset(start) for start in starts]
    known = {offset for offset in offsets if offset is not None}
    if len(known) <= 1:
        return Table(columns=columns, rows=rows, utc_offset=known.pop() if known else None)
    # Travel: say each row's offset rather than one that is wrong for some rows.
    at = columns.index("day") + 1
    widened = [[*row[:at], offset, *row[at:]] for row, offset in zip(rows, offsets, strict=True)]
    return Table(
        columns=(*columns[:at], "utc_offset", *columns[at:]), rows=widened, utc_offset=None
    )


# -------------------------------------------------------------------- summary
SUMMARY_COLUMNS = (
    "day",
    "asleep_duration_min",
    "sleep_performance_pct",
    "naps_min",
    "recovery_score_pct",
    "readiness_score_pct",
    "hrv_rmssd_ms",
    "resting_heart_rate_bpm",
    "day_strain",
    "energy_kcal",
    "steps",
    "workouts",
)
"""hrv_rmssd_ms and resting_heart_rate_bpm come from the recovery (WHOOP) when there is one,
else from the day's vitals (Oura, Fitbit); energy_kcal from the cycle (WHOOP), else the day's
total energy (activity)."""


def _metric(record: Sleep | Recovery | Cycle | None, value: Callable[[Any], Cell]) -> Cell:
    """A record's metric; its state when it has no score; nothing when there is no record."""
    if record is None:
        return None
    if record.score is None:
        return record.score_state.value
    return value(record.score)


def _summary_row(day: DaySummary) -> list[Cell]:
    sleep, recovery, cycle = day.sleep, day.recovery, day.cycle
    vitals, activity = day.vitals, day.activity
    naps = sum(n.score.asleep_duration_min for n in day.naps if n.score is not None)
    workouts = "; ".join(
        f"{clean_text(w.sport)} {w.score.strain:.1f}"
        if w.score is not None and w.score.strain is not None
        else clean_text(w.sport)
        for w in day.workouts
    )
    hrv: Cell = None if vitals is None else _round(vitals.hrv_rmssd_ms, 1)
    rhr: Cell = None if vitals is None else _round(vitals.resting_heart_rate_bpm)
    if recovery is not None:
        hrv = _metric(recovery, lambda s: _round(s.hrv_rmssd_ms, 1))
        rhr = _metric(recovery, lambda s: _round(s.resting_heart_rate_bpm))
    energy: Cell = None if activity is None else _round(activity.total_energy_kcal)
    if cycle is not None:
        energy = _metric(cycle, lambda s: _round(s.energy_kcal))
    return [
        day.day.isoformat(),
        _metric(sleep, lambda s: _round(s.asleep_duration_min)),
        _metric(sleep, lambda s: _round(s.sleep_performance_pct)),
        _round(naps) if day.naps else None,
        _metric(recovery, lambda s: _round(s.recovery_score_pct)),
        None if day.readiness is None else _readiness_score(day.readiness),
        hrv,
        rhr,
        _metric(cycle, lambda s: _round(s.strain, 1)),
        energy,
        None if activity is None else activity.steps,
        workouts or None,
    ]


def summary_table(
    days: Sequence[DaySummary],
    *,
    sourced: bool = False,
    sources: Sequence[ProviderInfo] | None = None,
) -> Table:
    """One row per local day (per source, when ``sourced``), oldest first.

    Metrics of pending or unscorable records say so. ``sourced`` adds a
    ``source`` column after ``day``: each row is one provider's day (a day no
    provider recorded anything keeps one row with an empty source). ``sources``
    (the providers read) leaves out what none of them measures (see `_measured`).
    """
    rows = [_summary_row(day) for day in days]
    anchors: list[Record] = [r for d in days for r in (d.sleep, d.cycle) if r is not None]
    offsets = {_offset(r.start) for r in anchors if isinstance(r, Sleep | Cycle)}
    columns: tuple[str, ...] = SUMMARY_COLUMNS
    if sourced:
        labelled = _labelled(columns, rows, [day.provider for day in days])
        columns, rows = labelled.columns, labelled.rows
    table = Table(
        columns=columns,
        rows=rows,
        utc_offset=offsets.pop() if len(offsets) == 1 else None,
    )
    if sources is None:
        return table
    alone = sources[0].name if len(sources) == 1 else None
    return _measured("summary", table, [day.provider or alone for day in days], sources)


# -------------------------------------------------------------------- long periods
DAILY_ROWS_DAYS = 92
"""Periods up to this long come back one row per record (or day); longer ones are summarised."""

WEEKLY_ROWS_DAYS = 366
"""Periods up to this long are summarised week by week; longer ones month by month."""


def period_of(days: int) -> str | None:
    """``None`` (one row per record or day), ``"week"`` or ``"month"`` for a period of ``days``."""
    if days <= DAILY_ROWS_DAYS:
        return None
    return "week" if days <= WEEKLY_ROWS_DAYS else "month"


def _period_key(day: str, period: str) -> str:
    """The week (its Monday) or month (``YYYY-MM``) a ``YYYY-MM-DD`` day falls in."""
    parsed = date.fromisoformat(day)
    if period == "week":
        return (parsed - timedelta(days=parsed.weekday())).isoformat()
    return parsed.isoformat()[:7]


def _is_number(cell: Cell) -> bool:
    return isinstance(cell, int | float) and not isinstance(cell, bool)


def summarised(table: Table, period: str) -> Table:
    """One row per week or month (per source, when the table has one), oldest first.

    Numeric columns become the mean of the period's rows that have a number (pending or
    unscorable cells and empty ones are left out of it); a ``records`` column after the
    period (and source) says how many rows the period joined. Text columns (times, states,
    sports, ids) say nothing about a period and are left out.
    """
    columns = table.columns
    at_day = columns.index("day")
    keys = [c for c in ("source",) if c in columns]
    key_at = [columns.index(c) for c in keys]
    numeric = [
        at
        for at, name in enumerate(columns)
        if name not in {"day", *keys}
        and any(_is_number(row[at]) for row in table.rows)
        and not any(isinstance(row[at], bool) for row in table.rows)
        and name not in _NOT_AVERAGED
    ]
    groups: dict[tuple[Cell, ...], list[list[Cell]]] = {}
    for row in table.rows:
        day = row[at_day]
        if not isinstance(day, str):
            continue
        groups.setdefault((_period_key(day, period), *(row[at] for at in key_at)), []).append(row)
    rows: list[list[Cell]] = []
    for key, members in sorted(groups.items(), key=lambda item: tuple(str(k) for k in item[0])):
        means: list[Cell] = []
        for at in numeric:
            values = [float(r[at]) for r in members if _is_number(r[at])]  # type: ignore[arg-type]
            means.append(_round(sum(values) / len(values), 1) if values else None)
        rows.append([*key, len(members), *means])
    return Table(
        columns=(period, *keys, "records", *(columns[at] for at in numeric)),
        rows=rows,
        utc_offset=None,
    )


_NOT_AVERAGED = frozenset({"utc_offset", "id"})
