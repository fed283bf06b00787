"""Export: tidy files per kind, read back by pandas and DuckDB without options, from scan()."""

from __future__ import annotations

import io
import json
import math
import os
import stat
import zipfile
from collections.abc import AsyncIterator, Collection, Iterable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wellpipe.core.models import (
    Cycle,
    CycleScore,
    DailyActivity,
    DailyVitals,
    DataKind,
    HeartRateZones,
    Readiness,
    Record,
    Recovery,
    RecoveryScore,
    ScoreState,
    Sleep,
    SleepScore,
    SleepStage,
    StageSegment,
    Workout,
    WorkoutScore,
)
from wellpipe.history import export as export_module
from wellpipe.history.export import (
    EXPORT_KINDS,
    READINESS_CONTRIBUTORS,
    Column,
    ExportFormat,
    columns,
    export_to_folder,
    file_name,
    zip_stream,
)
from wellpipe.history.local import LocalHistory

NOW = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)
TODAY = date(2026, 11, 21)
EST = timezone(timedelta(hours=-5))
IST = timezone(timedelta(hours=5, minutes=30))
CET = timezone(timedelta(hours=1))


# ---------------------------------------------------------------- records
def full_sleep(day: date, source_id: str, *, tz: timezone = EST, provider: str = "whoop") -> Sleep:
    """A sleep with every field, its stages, extras and sub-second times."""
    end = datetime(day.year, day.month, day.day, 6, 41, 7, 123456, tzinfo=tz)
    start = end - timedelta(hours=8, minutes=3)
    middle = start + timedelta(hours=4)
    return Sleep(
        provider=provider,
        source_id=source_id,
        day=day,
        start=start,
        end=end,
        updated_at=end + timedelta(minutes=20),
        nap=False,
        score_state=ScoreState.SCORED,
        score=SleepScore(
            in_bed_duration_min=483.0,
            asleep_duration_min=441.5,
            awake_duration_min=41.5,
            light_sleep_duration_min=220.25,
            deep_sleep_duration_min=101.0,
            rem_sleep_duration_min=120.25,
            no_data_duration_min=0.0,
            sleep_cycle_count=5,
            disturbance_count=12,
            latency_min=7.5,
            sleep_need_min=470.0,
            sleep_performance_pct=93.9,
            sleep_score_pct=None,
            sleep_consistency_pct=78.0,
            sleep_efficiency_pct=91.4,
            respiratory_rate_per_min=15.8,
            avg_heart_rate_bpm=54.2,
            lowest_heart_rate_bpm=47.0,
            avg_hrv_rmssd_ms=71.33,
        ),
        stages=(
            StageSegment(stage=SleepStage.LIGHT, start=start, end=middle),
            StageSegment(stage=SleepStage.DEEP, start=middle, end=end),
        ),
        extras={"sleep_cycle": {"id": 93845}, "note": 'woke, "briefly"'},
    )


def sample() -> list[Record]:
    """One person's records of every kind from three providers, full and sparse."""
    day = date(2026, 11, 1)
    later = date(2026, 11, 2)
    return [
        full_sleep(day, "ecfc6a15-4661-442f-a9a4-f160dd7afae8"),
        full_sleep(later, "f1a2c3d4-0000-4000-8000-000000000001", tz=IST, provider="oura"),
        Sleep(  # a nap the provider is still scoring
            provider="whoop",
            source_id="0d6e0b8e-7a55-4e0c-8d5b-3d1b66b1e1a2",
            day=later,
            start=datetime(2026, 11, 2, 13, 0, tzinfo=EST),
            end=datetime(2026, 11, 2, 13, 25, tzinfo=EST),
            nap=True,
            score_state=ScoreState.PENDING,
        ),
        Sleep(  # only the required score fields
            provider="fitbit",
            source_id="48213377201",
            day=later,
            start=datetime(2026, 11, 1, 23, 30, tzinfo=CET),
            end=datetime(2026, 11, 2, 7, 0, tzinfo=CET),
            nap=False,
            score_state=ScoreState.SCORED,
            score=SleepScore(in_bed_duration_min=450, asleep_duration_min=410),
        ),
        Recovery(
            provider="whoop",
            source_id="1001",
            day=day,
            start=datetime(2026, 10, 31, 22, 38, tzinfo=EST),
            end=datetime(2026, 11, 1, 6, 41, tzinfo=EST),
            sleep_source_id="ecfc6a15-4661-442f-a9a4-f160dd7afae8",
            cycle_source_id="93845",
            score_state=ScoreState.SCORED,
            score=RecoveryScore(
                recovery_score_pct=64,
                resting_heart_rate_bpm=52,
                hrv_rmssd_ms=71.512,
                spo2_pct=None,
                skin_temp_celsius=33.7,
                calibrating=True,
            ),
        ),
        Recovery(
            provider="whoop",
            source_id="1002",
            day=later,
            start=datetime(2026, 11, 1, 22, 38, tzinfo=EST),
            end=None,
            sleep_source_id="f1a2",
            score_state=ScoreState.UNSCORABLE,
        ),
        Workout(
            provider="whoop",
            source_id="a7c0b5c2-2b4e-4c5e-9a8b-0e5c3f1d2e11",
            day=day,
            start=datetime(2026, 11, 1, 18, 0, tzinfo=EST),
            end=datetime(2026, 11, 1, 18, 47, 30, tzinfo=EST),
            sport='running, "tempo"',
            score_state=ScoreState.SCORED,
            score=WorkoutScore(
                strain=12.5,
                energy_kcal=480.0,
                avg_heart_rate_bpm=148,
                max_heart_rate_bpm=181,
                heart_rate_recorded_pct=99.5,
                distance_m=8012.4,
                altitude_gain_m=41.0,
                altitude_change_m=-2.5,
                intensity="hard",
                heart_rate_zones=HeartRateZones(
                    zone_0_min=1.0,
                    zone_1_min=4.5,
                    zone_2_min=10.0,
                    zone_3_min=20.25,
                    zone_4_min=9.75,
                    zone_5_min=2.0,
                ),
            ),
        ),
        Workout(
            provider="fitbit",
            source_id="59302837422",
            day=later,
            start=datetime(2026, 11, 2, 7, 15, tzinfo=CET),
            end=datetime(2026, 11, 2, 7, 45, tzinfo=CET),
            sport="Gehen — zügig",
            score_state=ScoreState.SCORED,
            score=WorkoutScore(steps=3400, active_zone_min=12.0),
        ),
        Cycle(
            provider="whoop",
            source_id="93845",
            day=day,
            start=datetime(2026, 10, 31, 22, 38, tzinfo=EST),
            end=datetime(2026, 11, 1, 22, 38, tzinfo=EST),
            score_state=ScoreState.SCORED,
            score=CycleScore(
                strain=14.2, energy_kcal=2400.5, avg_heart_rate_bpm=70, max_heart_rate_bpm=171
            ),
        ),
        Cycle(  # the one in progress
            provider="whoop",
            source_id="93846",
            day=later,
            start=datetime(2026, 11, 1, 22, 38, tzinfo=EST),
            end=None,
            score_state=ScoreState.PENDING,
        ),
        Readiness(
            provider="oura",
            source_id="r-1",
            day=day,
            score_pct=82.0,
            contributors={
                **{name: 60 + n for n, name in enumerate(READINESS_CONTRIBUTORS)},
                "a_new_one": 55,
            },
            temperature_deviation_celsius=-0.12,
            temperature_trend_deviation_celsius=0.05,
        ),
        Readiness(provider="oura", source_id="r-2", day=later),  # not scored yet
        DailyActivity(
            provider="fitbit",
            source_id="activity-2026-11-01",
            day=day,
            steps=9120,
            distance_m=6800.5,
            active_energy_kcal=420.0,
            total_energy_kcal=2310.0,
            active_zone_min=34.0,
            high_activity_min=12.0,
            medium_activity_min=20.0,
            low_activity_min=180.0,
            sedentary_min=640.0,
        ),
        DailyActivity(
            provider="oura",
            source_id="act-2",
            day=later,
            steps=4000,
            activity_score_pct=71.0,
            extras={"contributors": {"meet_daily_targets": 43}},
        ),
        DailyVitals(
            provider="fitbit",
            source_id="vitals-2026-11-01",
            day=day,
            resting_heart_rate_bpm=53.0,
            resting_heart_rate_awake_only=True,
            hrv_rmssd_ms=60.2,
            spo2_pct=96.5,
            respiratory_rate_per_min=14.6,
            skin_temp_celsius=None,
            skin_temp_deviation_celsius=-0.3,
            vo2_max_ml_kg_min=47.0,
            weight_kg=71.3,
        ),
        DailyVitals(provider="oura", source_id="vit-2", day=later, stress_high_min=45.0),
    ]


# hypothesis-friendly builders: any record a provider could send, within the models' bounds
def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


_pct = st.floats(0, 100, allow_nan=False)
_minutes = st.floats(0, 1000, allow_nan=False)
_bpm = st.floats(20, 220, allow_nan=False)
_ids = st.from_regex(r"[1-9][0-9]{0,11}|[a-f0-9]{8}-[a-f0-9]{4}", fullmatch=True)
_zones = st.from_regex(r"[+-](0[0-9]|1[0-3]):(00|30|45)", fullmatch=True).map(
    lambda text: datetime.fromisoformat(f"2000-01-01T00:00:00{text}").tzinfo
)
_starts = st.builds(
    lambda when, tz: when.replace(tzinfo=UTC).astimezone(tz),
    st.datetimes(datetime(2020, 1, 1), datetime(2026, 11, 20)),
    _zones,
)


@st.composite
def records(draw: st.DrawFn, provider: str) -> Record:
    """One record of any kind of ``provider``, optional fields present or not."""
    kind = draw(st.sampled_from(EXPORT_KINDS))
    source_id = draw(_ids)
    start: datetime = draw(_starts)
    end = start + timedelta(minutes=draw(st.integers(1, 900)))
    day = end.date()
    state = draw(st.sampled_from(ScoreState))
    scored = state is ScoreState.SCORED
    common: dict[str, Any] = {"provider": provider, "source_id": source_id, "day": day}
    if draw(st.booleans()):
        common["updated_at"] = end + timedelta(seconds=draw(st.integers(0, 10**6)))
    if kind is DataKind.SLEEP:
        score = SleepScore(
            in_bed_duration_min=draw(_minutes),
            asleep_duration_min=draw(_minutes),
            deep_sleep_duration_min=draw(_maybe(_minutes)),
            sleep_cycle_count=draw(_maybe(st.integers(0, 20))),
            sleep_score_pct=draw(_maybe(_pct)),
            avg_hrv_rmssd_ms=draw(_maybe(st.floats(0, 300, allow_nan=False))),
        )
        return Sleep(
            **common,
            start=start,
            end=end,
            nap=draw(st.booleans()),
            score_state=state,
            score=score if scored else None,
        )
    if kind is DataKind.RECOVERY:
        recovery = RecoveryScore(
            recovery_score_pct=draw(_pct),
            resting_heart_rate_bpm=draw(_bpm),
            hrv_rmssd_ms=draw(st.floats(0, 300, allow_nan=False)),
            spo2_pct=draw(_maybe(_pct)),
            calibrating=draw(st.booleans()),
        )
        return Recovery(
            **common,
            start=start,
            end=draw(st.sampled_from([end, None])),
            sleep_source_id=draw(_ids),
            cycle_source_id=draw(_maybe(_ids)),
            score_state=state,
            score=recovery if scored else None,
        )
    if kind is DataKind.WORKOUT:
        zones = HeartRateZones(**{f"zone_{n}_min": draw(_minutes) for n in range(6)})
        workout = WorkoutScore(
            strain=draw(_maybe(st.floats(0, 21, allow_nan=False))),
            avg_heart_rate_bpm=draw(_maybe(st.integers(30, 220))),
            intensity=draw(_maybe(st.text(max_size=12))),
            heart_rate_zones=draw(_maybe(st.just(zones))),
        )
        return Workout(
            **common,
            start=start,
            end=end,
            sport=draw(st.text(min_size=1, max_size=20)),
            score_state=state,
            score=workout if scored else None,
        )
    if kind is DataKind.CYCLE:
        cycle = CycleScore(
            strain=draw(st.floats(0, 21, allow_nan=False)),
            energy_kcal=draw(st.floats(0, 9000, allow_nan=False)),
            avg_heart_rate_bpm=draw(st.integers(30, 220)),
            max_heart_rate_bpm=draw(st.integers(30, 220)),
        )
        return Cycle(
            **common,
            start=start,
            end=draw(st.sampled_from([end, None])),
            score_state=state,
            score=cycle if scored else None,
        )
    if kind is DataKind.READINESS:
        names = st.sampled_from([*READINESS_CONTRIBUTORS, "something_new"])
        return Readiness(
            **common,
            score_pct=draw(_maybe(_pct)),
            contributors=draw(st.dictionaries(names, st.integers(1, 100))),
            temperature_deviation_celsius=draw(_maybe(st.floats(-5, 5, allow_nan=False))),
        )
    if kind is DataKind.ACTIVITY:
        return DailyActivity(
            **common,
            steps=draw(_maybe(st.integers(0, 10**5))),
            distance_m=draw(_maybe(st.floats(0, 10**5, allow_nan=False))),
            activity_score_pct=draw(_maybe(_pct)),
        )
    return DailyVitals(
        **common,
        resting_heart_rate_bpm=draw(_maybe(_bpm)),
        resting_heart_rate_awake_only=draw(_maybe(st.booleans())),
        weight_kg=draw(_maybe(st.floats(20, 300, allow_nan=False))),
    )


def histories(max_size: int = 30) -> st.SearchStrategy[list[Record]]:
    """Records of several providers, one per (provider, kind, source id)."""
    mixed = st.lists(
        st.sampled_from(["whoop", "oura", "fitbit"]).flatmap(records), max_size=max_size
    )
    return mixed.map(
        lambda found: list(
            {(r.provider, r.kind, r.source_id): r for r in found}.values()  # type: ignore[attr-defined]
        )
    )


# ---------------------------------------------------------------- reading back
def plain(value: Any) -> Any:
    """A cell as Python: NaN, NA and NaT as None, numpy scalars and Timestamps unwrapped."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return plain(value.item())
    return value


def same(column: Column, got: Any, expected: Any, *, text: bool) -> bool:
    """Whether a cell read back holds the store's value (``text``: a CSV or JSON file)."""
    got = plain(got)
    if expected is None:
        return got is None
    if got is None:
        return False
    if column.type == "string":
        if isinstance(got, float) and got.is_integer():
            got = int(got)  # pandas reads ids of digits as numbers (floats beside a gap)
        return bool(str(got) == expected)
    if column.type == "int":
        return bool(int(got) == expected and float(got) == expected)
    if column.type == "float":
        return math.isclose(float(got), expected, rel_tol=1e-12, abs_tol=1e-12)
    if column.type == "bool":
        return bool((got.lower() == "true" if isinstance(got, str) else bool(got)) == expected)
    if column.type == "date":
        if isinstance(got, datetime):
            got = got.date()
        return bool((date.fromisoformat(got) if isinstance(got, str) else got) == expected)
    assert isinstance(expected, datetime)
    if isinstance(got, str):
        assert text
        return bool(got == expected.isoformat())  # the offset kept, as written
    return bool(got.tzinfo is not None and got == expected)


def read_pandas(path: Path) -> list[dict[str, Any]]:
    fmt = ExportFormat(path.suffix.lstrip("."))
    if fmt is ExportFormat.CSV:
        frame = pd.read_csv(path)
    elif fmt is ExportFormat.JSONL:
        frame = pd.read_json(path, lines=True)
    else:
        frame = pd.read_parquet(path)
    rows: list[dict[str, Any]] = frame.to_dict(orient="records")
    return rows


def read_duckdb(path: Path) -> list[dict[str, Any]]:
    relation = duckdb.sql(f"select * from '{path}'")
    assert relation is not None
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


def assert_holds(path: Path, kind: DataKind, expected: Iterable[Record]) -> None:
    """The file, read by pandas and by DuckDB, holds exactly ``expected``, column by column."""
    text = path.suffix != ".parquet"
    wanted = {(r.provider, r.source_id): r for r in expected}
    names = [c.name for c in columns(kind)]
    for reader in (read_pandas, read_duckdb):
        rows = reader(path)
        assert len(rows) == len(wanted), reader.__name__
        for row in rows:
            assert list(row)[: len(names)] == names  # every column, in order
            record = wanted[(row["provider"], str(plain(row["source_id"])))]
            for column in columns(kind):
                expected_value = column.value(record)
                assert same(column, row[column.name], expected_value, text=text), (
                    reader.__name__,
                    kind.value,
                    column.name,
                    row[column.name],
                    expected_value,
                )


def by_kind(found: Iterable[Record]) -> dict[DataKind, list[Record]]:
    grouped: dict[DataKind, list[Record]] = {}
    for record in found:
        grouped.setdefault(DataKind(record.kind), []).append(record)  # type: ignore[attr-defined]
    return grouped


async def filled(path: Path, found: Iterable[Record]) -> LocalHistory:
    store = await LocalHistory.open(path)
    await store.put(list(found), now=NOW)
    return store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------- the columns
EXPECTED_COLUMNS = {
    DataKind.SLEEP: [
        "provider", "source_id", "day", "start", "end", "utc_offset", "duration_min",
        "score_state", "in_bed_duration_min", "asleep_duration_min", "awake_duration_min",
        "light_sleep_duration_min", "deep_sleep_duration_min", "rem_sleep_duration_min",
        "no_data_duration_min", "sleep_cycle_count", "disturbance_count", "latency_min",
        "sleep_need_min", "sleep_performance_pct", "sleep_score_pct", "sleep_consistency_pct",
        "sleep_efficiency_pct", "respiratory_rate_per_min", "avg_heart_rate_bpm",
        "lowest_heart_rate_bpm", "avg_hrv_rmssd_ms", "nap", "updated_at",
    ],
    DataKind.RECOVERY: [
        "provider", "source_id", "day", "start", "end", "utc_offset", "duration_min",
        "score_state", "recovery_score_pct", "resting_heart_rate_bpm", "hrv_rmssd_ms",
        "spo2_pct", "skin_temp_celsius", "calibrating", "sleep_source_id", "cycle_source_id",
        "updated_at",
    ],
    DataKind.WORKOUT: [
        "provider", "source_id", "day", "start", "end", "utc_offset", "duration_min",
        "score_state", "strain", "energy_kcal", "avg_heart_rate_bpm", "max_heart_rate_bpm",
        "heart_rate_recorded_pct", "distance_m", "altitude_gain_m", "altitude_change_m",
        "steps", "active_zone_min", "intensity", "zone_0_min", "zone_1_min", "zone_2_min",
        "zone_3_min", "zone_4_min", "zone_5_min", "sport", "updated_at",
    ],
    DataKind.CYCLE: [
        "provider", "source_id", "day", "start", "end", "utc_offset", "duration_min",
        "score_state", "strain", "energy_kcal", "avg_heart_rate_bpm", "max_heart_rate_bpm",
        "updated_at",
    ],
    DataKind.READINESS: [
        "provider", "source_id", "day", "readiness_score_pct",
        *(f"contributor_{name}_pct" for name in READINESS_CONTRIBUTORS),
        "temperature_deviation_celsius", "temperature_trend_deviation_celsius", "updated_at",
    ],
    DataKind.ACTIVITY: [
        "provider", "source_id", "day", "steps", "distance_m", "active_energy_kcal",
        "total_energy_kcal", "active_zone_min", "high_activity_min", "medium_activity_min",
        "low_activity_min", "sedentary_min", "activity_score_pct", "updated_at",
    ],
    DataKind.VITALS: [
        "provider", "source_id", "day", "resting_heart_rate_bpm",
        "resting_heart_rate_awake_only", "hrv_rmssd_ms", "spo2_pct", "respiratory_rate_per_min",
        "skin_temp_celsius", "skin_temp_deviation_celsius", "vo2_max_ml_kg_min", "weight_kg",
        "breathing_disturbance_index", "stress_high_min", "recovery_high_min", "updated_at",
    ],
}  # fmt: skip


def test_each_kind_has_a_fixed_tidy_schema_declared_from_its_model() -> None:
    assert {kind: [c.name for c in columns(kind)] for kind in EXPORT_KINDS} == EXPECTED_COLUMNS
    assert columns(DataKind.SLEEP) is columns(DataKind.SLEEP)  # built once
    types = {c.name: c.type for c in columns(DataKind.WORKOUT)}
    assert types["day"] == "date"
    assert types["start"] == types["end"] == types["updated_at"] == "timestamp"
    assert types["avg_heart_rate_bpm"] == types["steps"] == "int"
    assert types["zone_3_min"] == types["strain"] == "float"
    assert types["sport"] == types["score_state"] == types["utc_offset"] == "string"
    assert {c.name: c.type for c in columns(DataKind.SLEEP)}["nap"] == "bool"


def test_the_readiness_contributors_are_the_ones_the_tools_show() -> None:
    from wellpipe.mcp.tables import CONTRIBUTORS

    assert READINESS_CONTRIBUTORS == CONTRIBUTORS


def test_flattened_columns_read_the_nested_values() -> None:
    [sleep, _, _, _, recovery, _, workout, *_rest] = sample()
    readiness = next(r for r in sample() if isinstance(r, Readiness))
    assert isinstance(workout, Workout)
    assert isinstance(recovery, Recovery)
    assert isinstance(sleep, Sleep)

    def value(record: Record, name: str) -> Any:
        kind = DataKind(record.kind)  # type: ignore[attr-defined]
        return next(c for c in columns(kind) if c.name == name).value(record)

    assert value(recovery, "recovery_score_pct") == 64
    assert value(recovery, "calibrating") is True
    assert value(workout, "zone_3_min") == 20.25
    assert value(workout, "sport") == 'running, "tempo"'
    assert value(readiness, "readiness_score_pct") == 82.0
    assert value(readiness, "contributor_hrv_balance_pct") == 62
    assert value(sleep, "utc_offset") == "-05:00"
    assert value(sleep, "duration_min") == 483.0
    assert value(sleep, "score_state") == "scored"
    pending = Sleep(
        provider="whoop",
        source_id="p",
        day=TODAY,
        start=NOW,
        end=NOW + timedelta(hours=1),
        nap=True,
        score_state=ScoreState.PENDING,
    )
    assert value(pending, "asleep_duration_min") is None
    assert value(pending, "score_state") == "pending"


# ---------------------------------------------------------------- every format, read back
@pytest.mark.parametrize("fmt", list(ExportFormat))
async def test_every_kind_reads_back_in_pandas_and_duckdb_as_the_store_holds_it(
    tmp_path: Path, fmt: ExportFormat
) -> None:
    found = sample()
    store = await filled(tmp_path / "history.sqlite3", found)
    try:
        files = await export_to_folder(store, tmp_path / "out", fmt)
    finally:
        await store.close()

    grouped = by_kind(found)
    assert [f.kind for f in files] == list(EXPORT_KINDS)  # the sample has every kind
    for file in files:
        assert file.path == tmp_path / "out" / file_name(file.kind, fmt)
        assert file.rows == len(grouped[file.kind])
        assert file.size_bytes == file.path.stat().st_size
        assert_holds(file.path, file.kind, grouped[file.kind])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        file_name(k, fmt) for k in EXPORT_KINDS
    )


async def test_csv_is_plain_text_with_iso_offsets_and_empty_cells_for_missing_values(
    tmp_path: Path,
) -> None:
    store = await filled(tmp_path / "h.sqlite3", sample())
    try:
        [file] = await export_to_folder(
            store, tmp_path / "out", ExportFormat.CSV, kinds={DataKind.CYCLE}
        )
    finally:
        await store.close()
    lines = file.path.read_text().splitlines()
    assert lines[0] == ",".join(EXPECTED_COLUMNS[DataKind.CYCLE])
    assert lines[1] == (
        "whoop,93845,2026-11-01,2026-10-31T22:38:00-05:00,2026-11-01T22:38:00-05:00,-05:00,"
        "1440.0,scored,14.2,2400.5,70,171,"
    )
    assert lines[2] == "whoop,93846,2026-11-02,2026-11-01T22:38:00-05:00,,-05:00,,pending,,,,,"


async def test_jsonl_keeps_the_whole_record(tmp_path: Path) -> None:
    found = sample()
    store = await filled(tmp_path / "h.sqlite3", found)
    try:
        files = await export_to_folder(store, tmp_path / "out", ExportFormat.JSONL)
    finally:
        await store.close()
    lines = {f.kind: [json.loads(line) for line in f.path.read_text().splitlines()] for f in files}
    [sleep] = [row for row in lines[DataKind.SLEEP] if row["source_id"].startswith("ecfc")]
    original = found[0]
    assert isinstance(original, Sleep)
    assert sleep["stages"] == [
        {"stage": s.stage.value, "start": s.start.isoformat(), "end": s.end.isoformat()}
        for s in original.stages
    ]
    assert sleep["extras"] == original.extras
    assert sleep["start"] == "2026-10-31T22:38:07.123456-05:00"
    assert list(sleep)[: len(EXPECTED_COLUMNS[DataKind.SLEEP])] == EXPECTED_COLUMNS[DataKind.SLEEP]
    [readiness, _] = lines[DataKind.READINESS]
    assert readiness["contributors"]["a_new_one"] == 55  # no column, still kept
    assert "contributor_a_new_one_pct" not in readiness
    [_, oura_activity] = lines[DataKind.ACTIVITY]
    assert oura_activity["extras"] == {"contributors": {"meet_daily_targets": 43}}


async def test_the_schema_is_the_same_when_every_optional_field_is_missing(
    tmp_path: Path,
) -> None:
    bare = [
        DailyVitals(provider="oura", source_id="v1", day=TODAY),
        Readiness(provider="oura", source_id="r1", day=TODAY),
    ]
    store = await filled(tmp_path / "h.sqlite3", bare)
    try:
        for fmt in ExportFormat:
            files = await export_to_folder(store, tmp_path / fmt.value, fmt)
            for file in files:
                assert_holds(file.path, file.kind, by_kind(bare)[file.kind])
                if fmt is ExportFormat.PARQUET:
                    schema = pq.read_schema(file.path)
                    assert schema.names == EXPECTED_COLUMNS[file.kind]
                    declared = {c.name: c.type for c in columns(file.kind)}
                    arrow = {"float": "double", "int": "int64", "bool": "bool", "date": "date32"}
                    for field in schema:
                        kind = declared[field.name]
                        if kind in arrow:
                            assert str(field.type).startswith(arrow[kind]), field
                        elif kind == "timestamp":
                            assert str(field.type) == "timestamp[us, tz=UTC]"
                        else:
                            assert str(field.type) == "string"
                elif fmt is ExportFormat.CSV:
                    header = file.path.read_text().splitlines()[0]
                    assert header.split(",") == EXPECTED_COLUMNS[file.kind]
    finally:
        await store.close()


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(found=histories())
async def test_any_history_reads_back_in_every_format(
    tmp_path_factory: pytest.TempPathFactory, found: list[Record]
) -> None:
    folder = tmp_path_factory.mktemp("any")
    store = await filled(folder / "h.sqlite3", found)
    try:
        grouped = by_kind(found)
        for fmt in ExportFormat:
            files = await export_to_folder(store, folder / fmt.value, fmt)
            assert {f.kind for f in files} == set(grouped)
            for file in files:
                assert_holds(file.path, file.kind, grouped[file.kind])
    finally:
        await store.close()


# ---------------------------------------------------------------- what is exported
async def test_kinds_and_since_narrow_the_export(tmp_path: Path) -> None:
    found = sample()
    store = await filled(tmp_path / "h.sqlite3", found)
    try:
        files = await export_to_folder(
            store,
            tmp_path / "out",
            ExportFormat.CSV,
            kinds={DataKind.SLEEP, DataKind.READINESS},
            since=date(2026, 11, 2),
        )
    finally:
        await store.close()
    assert [f.kind for f in files] == [DataKind.SLEEP, DataKind.READINESS]
    for file in files:
        wanted = [r for r in by_kind(found)[file.kind] if r.day >= date(2026, 11, 2)]
        assert file.rows == len(wanted) > 0
        assert_holds(file.path, file.kind, wanted)


async def test_nothing_to_export_leaves_nothing_behind(tmp_path: Path) -> None:
    store = await filled(tmp_path / "h.sqlite3", sample())
    try:
        assert await export_to_folder(store, tmp_path / "out", ExportFormat.CSV, since=TODAY) == ()
    finally:
        await store.close()
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
async def test_files_are_owner_only_in_an_owner_only_folder_whatever_the_umask(
    tmp_path: Path,
) -> None:
    previous = os.umask(0o022)
    try:
        store = await filled(tmp_path / "h.sqlite3", sample())
        try:
            files = await export_to_folder(store, tmp_path / "a" / "out", ExportFormat.PARQUET)
        finally:
            await store.close()
    finally:
        os.umask(previous)
    assert mode(tmp_path / "a" / "out") == 0o700
    assert {mode(f.path) for f in files} == {0o600}


async def test_an_existing_folder_and_file_are_reused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir(mode=0o755)
    (out / "sleep.csv").write_text("old")
    store = await filled(tmp_path / "h.sqlite3", sample())
    try:
        [file] = await export_to_folder(store, out, ExportFormat.CSV, kinds={DataKind.SLEEP})
    finally:
        await store.close()
    assert file.path.read_text().startswith("provider,source_id,day,")
    assert mode(out) == 0o755  # the user's folder is left as it was
    assert mode(file.path) == 0o600


class OnlyScan:
    """A store that can only scan (an export needs nothing else), and can fail half way."""

    def __init__(self, found: list[Record], *, fail_after: int | None = None) -> None:
        self.found = found
        self.fail_after = fail_after
        self.yielded = 0
        self.scans: list[tuple[frozenset[DataKind] | None, date | None]] = []
        self.closed = 0
        self.on_record: Any = None

    async def scan(
        self,
        provider: str | None = None,
        kinds: Collection[DataKind] | None = None,
        since: date | None = None,
    ) -> AsyncIterator[Record]:
        self.scans.append((None if kinds is None else frozenset(kinds), since))
        try:
            for record in self.found:
                if kinds is not None and DataKind(record.kind) not in kinds:  # type: ignore[attr-defined]
                    continue
                if since is not None and record.day < since:
                    continue
                if self.fail_after is not None and self.yielded >= self.fail_after:
                    raise OSError("disk went away")
                self.yielded += 1
                if self.on_record is not None:
                    self.on_record(self.yielded)
                yield record
        finally:
            self.closed += 1


def many_sleeps(count: int) -> list[Record]:
    first = date(2000, 1, 1)
    return [full_sleep(first + timedelta(days=n), f"s-{n}", provider="whoop") for n in range(count)]


async def test_the_export_streams_from_scan_and_reports_progress(tmp_path: Path) -> None:
    store = OnlyScan(many_sleeps(3000))
    out = tmp_path / "out"
    seen_on_disk: list[int] = []

    def look(yielded: int) -> None:
        if yielded == 2500:
            [partial] = out.glob(".sleep.csv.*.tmp")
            seen_on_disk.append(partial.stat().st_size)

    store.on_record = look
    progress: list[tuple[DataKind, int]] = []
    files = await export_to_folder(
        store,  # type: ignore[arg-type]  # scan is all an export uses
        out,
        ExportFormat.CSV,
        progress=lambda kind, count: progress.append((kind, count)),
    )
    assert [f.rows for f in files] == [3000]
    assert seen_on_disk[0] > 100_000  # written as it was read, not at the end
    assert [kinds for kinds, _ in store.scans] == [frozenset({k}) for k in EXPORT_KINDS]
    assert store.closed == len(EXPORT_KINDS)
    assert sum(n for _, n in progress) == 3000
    assert {kind for kind, _ in progress} == {DataKind.SLEEP}
    assert len(progress) == 6  # every 500 records


async def test_a_failed_export_leaves_no_partial_file(tmp_path: Path) -> None:
    store = OnlyScan(many_sleeps(1200), fail_after=1000)
    with pytest.raises(OSError, match="disk went away"):
        await export_to_folder(store, tmp_path / "out", ExportFormat.PARQUET)  # type: ignore[arg-type]
    assert list((tmp_path / "out").iterdir()) == []
    assert store.closed == 1


async def test_parquet_is_written_in_row_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_module, "ROW_GROUP_ROWS", 400)
    found = many_sleeps(1000)
    store = OnlyScan(found)
    [file] = await export_to_folder(store, tmp_path, ExportFormat.PARQUET)  # type: ignore[arg-type]
    assert pq.ParquetFile(file.path).metadata.num_row_groups == 3
    assert pq.read_schema(file.path).metadata[b"wellpipe.kind"] == b"sleep"
    assert_holds(file.path, DataKind.SLEEP, found)


def test_the_export_module_loads_no_pyarrow_until_parquet() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, wellpipe.history.export, wellpipe.cli.export_command; "
        "print('pyarrow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------- as a zip, streamed
async def unzip(chunks: AsyncIterator[bytes]) -> tuple[list[bytes], zipfile.ZipFile]:
    received = [chunk async for chunk in chunks]
    return received, zipfile.ZipFile(io.BytesIO(b"".join(received)))


@pytest.mark.parametrize("fmt", list(ExportFormat))
async def test_the_zip_holds_one_member_per_kind_that_reads_back(
    tmp_path: Path, fmt: ExportFormat
) -> None:
    found = sample()
    store = await filled(tmp_path / "h.sqlite3", found)
    try:
        _, archive = await unzip(zip_stream(store, fmt, folder="wellpipe-2026-11-21", now=NOW))
    finally:
        await store.close()
    assert archive.testzip() is None
    names = [info.filename for info in archive.infolist()]
    assert names == [f"wellpipe-2026-11-21/{file_name(k, fmt)}" for k in EXPORT_KINDS]
    for info in archive.infolist():
        assert (info.external_attr >> 16) & 0o777 == 0o600
        assert info.date_time == (2026, 11, 21, 15, 30, 0)
    archive.extractall(tmp_path / "unzipped")
    grouped = by_kind(found)
    for kind in EXPORT_KINDS:
        path = tmp_path / "unzipped" / "wellpipe-2026-11-21" / file_name(kind, fmt)
        assert_holds(path, kind, grouped[kind])


async def test_the_zip_is_yielded_while_the_store_is_read(tmp_path: Path) -> None:
    found = many_sleeps(3000)
    store = OnlyScan(found)
    read_at_first_chunk: list[int] = []
    chunks = zip_stream(store, ExportFormat.JSONL, folder="x", now=NOW)  # type: ignore[arg-type]
    received = []
    async for chunk in chunks:
        if not read_at_first_chunk:
            read_at_first_chunk.append(store.yielded)
        received.append(chunk)
    assert read_at_first_chunk[0] < 2500  # the first bytes left long before the last record
    assert len(received) > 2
    assert max(len(c) for c in received) < 256 * 1024
    archive = zipfile.ZipFile(io.BytesIO(b"".join(received)))
    with archive.open("x/sleep.jsonl") as member:
        assert sum(1 for _ in member) == 3000


async def test_a_zip_abandoned_half_way_closes_its_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_module, "ROW_GROUP_ROWS", 500)
    store = OnlyScan(many_sleeps(4000))
    chunks = zip_stream(store, ExportFormat.PARQUET, folder="x", now=NOW)  # type: ignore[arg-type]
    assert isinstance(chunks, AsyncIterator)
    async for _ in chunks:
        break
    await chunks.aclose()  # type: ignore[attr-defined]
    assert store.closed == 1
    assert store.yielded < 4000


async def test_an_empty_history_gives_an_empty_zip(tmp_path: Path) -> None:
    store = await filled(tmp_path / "h.sqlite3", [])
    try:
        _, archive = await unzip(zip_stream(store, ExportFormat.CSV, folder="x", now=NOW))
    finally:
        await store.close()
    assert archive.namelist() == []
