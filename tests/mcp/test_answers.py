"""What the tools answer, read by a model (issue 14 §2): arguments, sentences, tables, records.

Records are built here and served by the in-test `Served` provider with each real
provider's `ProviderInfo` (what it measures), or read from the sandboxes where the
behaviour is the HTTP layer's; nothing depends on the sandboxes' synthetic values.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import NOW, connect
from tests.fakes import FakeClock
from tests.mcp.test_multi import (
    DAYS,
    LOCAL,
    Served,
    call,
    column,
    many,
    ring_records,
    text_of,
)
from tests.providers.fitbit.conftest import connect as connect_fitbit
from wellpipe.core import HealthProvider
from wellpipe.core.errors import ProviderRateLimited, ProviderUnavailable
from wellpipe.core.models import (
    Cycle,
    CycleScore,
    DailyActivity,
    DailyVitals,
    Readiness,
    ScoreState,
    Sleep,
    SleepScore,
    Workout,
    WorkoutScore,
)
from wellpipe.mcp.answers import readable
from wellpipe.mcp.calls import ProviderNotConnected, none_connected
from wellpipe.mcp.server import Connect, list_tools
from wellpipe.mcp.tables import SUMMARY_COLUMNS
from wellpipe.providers import available_providers
from wellpipe.providers.fitbit.info import INFO as FITBIT
from wellpipe.providers.oura.info import INFO as OURA
from wellpipe.providers.whoop.info import INFO as WHOOP
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.faults import Fault
from wellpipe.sandbox.fitbit import FitbitSandbox
from wellpipe.sandbox.fitbit.history import History as GoogleHistory
from wellpipe.sandbox.fitbit.history import generate_history as google_history

TODAY = DAYS[-1]


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A local time (the ring's -05:00) on ``day``."""
    return datetime.combine(day, datetime.min.time(), LOCAL) + timedelta(hours=hour, minutes=minute)


def night(provider: str, day: date, **score: Any) -> Sleep:
    """A scored night ending on ``day`` (23:00 the evening before to 07:00)."""
    return Sleep(
        provider=provider,
        source_id=f"{provider}-night-{day}",
        day=day,
        start=at(day - timedelta(days=1), 23),
        end=at(day, 7),
        nap=False,
        score_state=ScoreState.SCORED,
        score=SleepScore(in_bed_duration_min=480, asleep_duration_min=430, **score),
    )


def rows_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(zip(answer["columns"], row, strict=True)) for row in answer["rows"]]


def header_of(result: Any) -> list[str]:
    """The text's column line (the second line), as a list."""
    return text_of(result).splitlines()[1].split("|")


# ------------------------------------------------------------------ the provider argument
def test_provider_is_an_enum_of_the_installed_providers_with_a_few_words() -> None:
    installed = available_providers()
    assert installed == ["fitbit", "oura", "whoop"]
    schemas = {tool.name: tool.input_schema for tool in list_tools()}
    for name, schema in schemas.items():
        if name in {"search", "fetch"}:
            assert "provider" not in schema["properties"]
            continue
        provider = schema["properties"]["provider"]
        assert provider["enum"] == installed, name
        assert 1 <= len(provider["description"].split()) <= 5, name
        assert "provider" not in schema.get("required", []), name


async def test_a_provider_name_is_read_in_any_case(sandbox: WhoopSandbox, clock: FakeClock) -> None:
    result = await call(many(sandbox, clock), clock, "get-recent-sleep", {"provider": " WHOOP"})
    assert result.is_error is False, text_of(result)
    assert result.structured_content["provider"] == "whoop"


async def test_a_provider_wellpipe_does_not_have_is_never_one_to_connect(clock: FakeClock) -> None:
    ring = Served(OURA, ring_records())
    for tool, arguments in [
        ("get-recent-sleep", {"provider": "garmin"}),
        ("get-profile", {"provider": "Garmin"}),
        ("fetch", {"id": "sleep:garmin:1"}),
    ]:
        result = await call(many(None, clock, ring), clock, tool, arguments)
        assert result.is_error is True
        assert "is not a provider Wellpipe has; it reads fitbit, oura, whoop" in text_of(result)
        assert "wellpipe auth" not in text_of(result)
    # Whatever reaches the connection step names no command that does not exist.
    refused = str(ProviderNotConnected("garmin", connected=["oura"]))
    assert refused.startswith("garmin is not a provider Wellpipe has; it reads fitbit, oura, whoop")
    assert "`wellpipe" not in refused
    assert "`wellpipe auth oura`" in str(ProviderNotConnected("oura", connected=["whoop"]))


def test_with_nothing_connected_only_existing_commands_are_named() -> None:
    sentence = none_connected()
    named = re.findall(r"`wellpipe auth ([^`]*)`", sentence)
    assert named == available_providers()
    assert "<" not in sentence


# ------------------------------------------------------------------ get-record
async def test_an_id_no_provider_has_names_every_provider_asked(
    sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    ring, scale = Served(OURA, ring_records()), Served(FITBIT)
    result = await call(
        many(sandbox, clock, ring, scale), clock, "get-record", {"kind": "sleep", "id": "nope"}
    )
    assert result.is_error is True
    assert text_of(result) == (
        "None of Fitbit (Google Health), Oura or WHOOP has a sleep with id 'nope': "
        "check the id and try again."
    )


@pytest.mark.parametrize(
    ("failure", "why"),
    [
        (
            ProviderRateLimited(provider="fitbit", endpoint=None, retry_after=60),
            "rate-limited; try again in 60 seconds",
        ),
        (
            ProviderUnavailable(provider="fitbit", endpoint=None, detail="HTTP 503"),
            "not responding (HTTP 503); try again in a few minutes",
        ),
    ],
    ids=["rate-limited", "down"],
)
async def test_a_provider_that_failed_is_named_as_failed_not_as_without_the_record(
    sandbox: WhoopSandbox, clock: FakeClock, failure: Exception, why: str
) -> None:
    ring, scale = Served(OURA, ring_records()), Served(FITBIT, fails=failure)  # type: ignore[arg-type]
    result = await call(
        many(sandbox, clock, ring, scale), clock, "get-record", {"kind": "sleep", "id": "nope"}
    )
    assert result.is_error is True
    sentence = text_of(result)
    assert sentence.startswith("Oura and WHOOP have no sleep with id 'nope'; ")
    assert f"Fitbit (Google Health) could not be asked ({why})" in sentence
    assert "Fitbit (Google Health) has no" not in sentence
    assert sentence.endswith(
        "check the id and try again, or ask again once every provider answers."
    )


# ------------------------------------------------------------------ get-profile
async def test_the_profile_carries_the_age(clock: FakeClock) -> None:
    ring = Served(OURA, ring_records(), age=41)
    result = await call(many(None, clock, ring), clock, "get-profile", {})
    assert result.structured_content == {
        "provider": "oura",
        "first_name": "Alex",
        "age": 41,
        "weight_kg": 70.2,
    }
    assert "age: 41" in text_of(result).splitlines()


# ------------------------------------------------------------------ days without a row
async def test_a_day_without_a_row_is_named_with_why_in_one_note(clock: FakeClock) -> None:
    gone = {DAYS[1], DAYS[2], DAYS[3], DAYS[5], TODAY}
    ring = Served(
        OURA, [r for r in ring_records() if not (isinstance(r, Readiness) and r.day in gone)]
    )
    result = await call(many(None, clock, ring), clock, "get-recent-readiness", {"days": 7})
    answer = result.structured_content
    assert len(answer["rows"]) == 2
    note = (
        "No readiness from Oura on 2026-11-16 to 2026-11-18, 2026-11-20 (no data from the "
        "device those days) or 2026-11-21 (today: not scored or synced yet)."
    )
    assert answer["notes"] == [note]
    assert text_of(result).splitlines()[-1] == f"Note: {note}"


async def test_each_provider_s_missing_days_share_one_note(clock: FakeClock) -> None:
    ring = Served(OURA, [r for r in ring_records() if r.day != DAYS[2]])
    scale = Served(FITBIT, [r for r in ring_records("fitbit") if r.day != TODAY])
    result = await call(many(None, clock, ring, scale), clock, "get-recent-vitals", {"days": 7})
    assert result.structured_content["notes"] == [
        "No vitals from Fitbit (Google Health) on 2026-11-21 (today: not scored or synced yet); "
        "from Oura on 2026-11-17 (no data from the device that day)."
    ]
    summary = await call(many(None, clock, ring), clock, "get-daily-summary", {"days": 7})
    assert summary.structured_content["notes"] == [
        "No data from Oura on 2026-11-17 (no data from the device that day)."
    ]


async def test_every_day_with_a_row_or_a_kind_without_daily_rows_has_no_note(
    clock: FakeClock,
) -> None:
    ring = Served(OURA, ring_records())
    for tool in ("get-recent-readiness", "get-recent-workouts", "get-daily-summary"):
        result = await call(many(None, clock, ring), clock, tool, {"days": 7})
        assert "notes" not in result.structured_content, tool


# ------------------------------------------------------------------ times across midnight
async def test_times_carry_their_date_when_a_record_spans_days(clock: FakeClock) -> None:
    long_cycle = Cycle(
        provider="whoop",
        source_id="c-26h",
        day=DAYS[-2],
        start=at(DAYS[-3], 22, 23),
        end=at(DAYS[-1], 0, 14),
        score_state=ScoreState.SCORED,
        score=CycleScore(
            strain=12.3, energy_kcal=2400, avg_heart_rate_bpm=70, max_heart_rate_bpm=160
        ),
    )
    open_cycle = Cycle(
        provider="whoop",
        source_id="c-now",
        day=TODAY,
        start=at(TODAY, 0, 14),
        end=None,
        score_state=ScoreState.PENDING,
        score=None,
    )
    workouts = [
        Workout(
            provider="whoop",
            source_id=source_id,
            day=start.date(),
            start=start,
            end=start + timedelta(minutes=75),
            sport="ice hockey",
            score_state=ScoreState.SCORED,
            score=WorkoutScore(strain=10.1),
        )
        for source_id, start in (("w-late", at(DAYS[0], 23, 30)), ("w-day", at(DAYS[1], 8)))
    ]
    band = Served(WHOOP, [long_cycle, open_cycle, *workouts, night("whoop", DAYS[2])])
    cycles = rows_of(
        (await call(many(None, clock, band), clock, "get-recent-cycles", {})).structured_content
    )
    assert [(row["start"], row["end"]) for row in cycles] == [
        ("11-19 22:23", "11-21 00:14"),
        ("00:14", "now"),
    ]
    listed = await call(many(None, clock, band), clock, "get-recent-workouts", {})
    assert [(row["start"], row["end"]) for row in rows_of(listed.structured_content)] == [
        ("11-15 23:30", "11-16 00:45"),
        ("08:00", "09:15"),
    ]
    assert "|11-15 23:30|11-16 00:45|" in text_of(listed)
    sleeps = await call(many(None, clock, band), clock, "get-recent-sleep", {})
    [row] = rows_of(sleeps.structured_content)
    assert (row["start"], row["end"]) == ("11-16 23:00", "11-17 07:00")


# ------------------------------------------------------------------ unscorable, awake-only
async def test_a_readiness_oura_could_not_score_is_unscorable_not_an_empty_cell(
    clock: FakeClock,
) -> None:
    unscored = Readiness(provider="oura", source_id="r-null", day=TODAY, contributors={})
    ring = Served(OURA, [unscored])
    readiness = await call(many(None, clock, ring), clock, "get-recent-readiness", {"days": 1})
    assert column(readiness.structured_content, "readiness_score_pct") == ["unscorable"]
    summary = await call(many(None, clock, ring), clock, "get-daily-summary", {"days": 1})
    assert column(summary.structured_content, "readiness_score_pct") == ["unscorable"]


async def test_a_resting_heart_rate_from_awake_data_only_is_marked(clock: FakeClock) -> None:
    vitals = [
        DailyVitals(
            provider="fitbit",
            source_id=str(day),
            day=day,
            resting_heart_rate_bpm=58,
            resting_heart_rate_awake_only=day == TODAY,
        )
        for day in DAYS[-2:]
    ]
    scale = Served(FITBIT, vitals)
    result = await call(many(None, clock, scale), clock, "get-recent-vitals", {"days": 2})
    assert column(result.structured_content, "resting_heart_rate_awake_only") == [False, True]
    assert text_of(result).splitlines()[-1].startswith("2026-11-21|58|yes|")
    ring = Served(OURA, ring_records())
    oura_only = await call(many(None, clock, ring), clock, "get-recent-vitals", {"days": 2})
    assert "resting_heart_rate_awake_only" not in oura_only.structured_content["columns"]


# ------------------------------------------------------------------ columns by capability
async def test_a_column_no_provider_shown_can_fill_is_left_out(clock: FakeClock) -> None:
    ring = Served(OURA, [*ring_records(), night("oura", TODAY)])  # today: no sleep score yet
    result = await call(many(None, clock, ring), clock, "get-recent-sleep", {"days": 7})
    columns = result.structured_content["columns"]
    for whoop_only in ("sleep_performance_pct", "sleep_consistency_pct", "sleep_need_min"):
        assert whoop_only not in columns
    # Oura measures a sleep score: a night without one keeps the column, empty that time.
    assert column(result.structured_content, "sleep_score_pct")[-1] is None
    assert header_of(result) == columns
    band = Served(WHOOP, [night("whoop", TODAY, sleep_performance_pct=91)])
    merged = await call(many(None, clock, ring, band), clock, "get-recent-sleep", {"days": 1})
    rows = rows_of(merged.structured_content)
    assert {row["source"]: row["sleep_performance_pct"] for row in rows} == {
        "oura": None,
        "whoop": 91,
    }


async def test_a_state_never_fills_a_column_the_provider_does_not_have(clock: FakeClock) -> None:
    pending = Sleep(
        provider="fitbit",
        source_id="f-pending",
        day=TODAY,
        start=at(DAYS[-2], 23),
        end=at(TODAY, 7),
        nap=False,
        score_state=ScoreState.PENDING,
        score=None,
    )
    steps = DailyActivity(provider="fitbit", source_id=str(TODAY), day=TODAY, steps=4000)
    scale = Served(FITBIT, [pending, steps])
    alone = await call(many(None, clock, scale), clock, "get-daily-summary", {"days": 1})
    [row] = rows_of(alone.structured_content)
    assert row["asleep_duration_min"] == "pending"  # Fitbit has it: not yet
    for absent in ("sleep_performance_pct", "recovery_score_pct", "readiness_score_pct"):
        assert absent not in row
    assert header_of(alone) == alone.structured_content["columns"]
    band = Served(WHOOP, [night("whoop", TODAY, sleep_performance_pct=91)])
    merged = await call(many(None, clock, band, scale), clock, "get-daily-summary", {"days": 1})
    by_source = {row["source"]: row for row in rows_of(merged.structured_content)}
    assert by_source["fitbit"]["sleep_performance_pct"] is None
    assert by_source["fitbit"]["asleep_duration_min"] == "pending"
    assert by_source["whoop"]["sleep_performance_pct"] == 91
    assert list(merged.structured_content["columns"]) == [
        "day",
        "source",
        *(c for c in SUMMARY_COLUMNS[1:] if c != "readiness_score_pct"),  # WHOOP has recovery
    ]


# ------------------------------------------------------------------ get-record, plurals
async def test_a_record_is_rounded_per_unit_and_has_no_empty_lists(clock: FakeClock) -> None:
    sleep = night(
        "whoop", TODAY, sleep_need_min=444.05758333333335, respiratory_rate_per_min=15.6572
    )
    sleep = sleep.model_copy(
        update={
            "extras": {"sleep_need_baseline_min": 461.38798333333335, "cycle_id": 7},
            "score": sleep.score.model_copy(  # type: ignore[union-attr]
                update={"sleep_efficiency_pct": 93.26449148069906, "asleep_duration_min": 511.017}
            ),
        }
    )
    band = Served(WHOOP, [sleep])
    result = await call(
        many(None, clock, band), clock, "get-record", {"kind": "sleep", "id": sleep.source_id}
    )
    record = result.structured_content["record"]
    assert record["extras"] == {"sleep_need_baseline_min": 461, "cycle_id": 7}
    assert record["score"]["sleep_need_min"] == 444
    assert record["score"]["asleep_duration_min"] == 511
    assert record["score"]["respiratory_rate_per_min"] == 15.7
    assert record["score"]["sleep_efficiency_pct"] == 93.3
    assert "stages" not in record
    assert json.loads(text_of(result)) == record


def test_readable_rounds_by_unit_and_drops_empty_lists_and_objects() -> None:
    assert readable(
        {
            "height_m": 1.7834,
            "distance_m": 5012.31,
            "weight_kg": 72.456,
            "skin_temp_celsius": 33.4567,
            "vo2_max_ml_kg_min": 46.34,
            "strain": 14.372,
            "energy_kcal": 2301.6,
            "avg_hrv_rmssd_ms": 45.26,
            "resting_heart_rate_bpm": 52.4,
            "stages": [],
            "extras": {},
            "steps": 9000,
            "calibrating": False,
        }
    ) == {
        "height_m": 1.78,
        "distance_m": 5012,
        "weight_kg": 72.5,
        "skin_temp_celsius": 33.46,
        "vo2_max_ml_kg_min": 46.3,
        "strain": 14.4,
        "energy_kcal": 2302,
        "avg_hrv_rmssd_ms": 45.3,
        "resting_heart_rate_bpm": 52,
        "steps": 9000,
        "calibrating": False,
    }


async def test_one_day_reads_one_day(clock: FakeClock) -> None:
    ring = Served(OURA, ring_records())
    result = await call(many(None, clock, ring), clock, "get-recent-readiness", {"days": 1})
    assert text_of(result).splitlines()[0].endswith("(1 day, local times):")
    week = await call(many(None, clock, ring), clock, "get-recent-readiness", {"days": 7})
    assert "(7 days, local times)" in text_of(week).splitlines()[0]


# ------------------------------------------------------------------ a 429 among several
@pytest.fixture(scope="module")
def google_data() -> GoogleHistory:
    return google_history(now=NOW)


def whoop_and_fitbit(sandbox: WhoopSandbox, google: FitbitSandbox, clock: FakeClock) -> Connect:
    @asynccontextmanager
    async def open_both(wanted: str | None) -> AsyncIterator[Sequence[HealthProvider]]:
        async with AsyncExitStack() as stack:
            providers: list[HealthProvider] = [
                await stack.enter_async_context(connect_fitbit(google, clock)),
                await stack.enter_async_context(connect(sandbox, clock)),
            ]
            yield [p for p in providers if wanted in (None, p.info.name)]

    return open_both


GOOGLE_DATA = "/v4/users/me/dataTypes/"


async def test_a_429_without_retry_after_holds_a_merged_answer_two_seconds_at_most(
    sandbox: WhoopSandbox, clock: FakeClock, google_data: GoogleHistory
) -> None:
    google = FitbitSandbox(clock=clock, history=google_data)
    google.inject(Fault(path_prefix=GOOGLE_DATA, status=429, times=10_000))
    started = clock.monotonic()
    result = await call(
        whoop_and_fitbit(sandbox, google, clock), clock, "get-daily-summary", {"days": 7}
    )
    assert clock.monotonic() - started <= 2.0  # nothing (fake) slept past the patience
    assert sum(clock.slept) <= 2.0
    assert result.is_error is False, text_of(result)
    answer = result.structured_content
    assert answer["provider"] == "whoop"  # WHOOP answered
    [note] = [n for n in answer["notes"] if n.startswith("Fitbit (Google Health) left out")]
    assert "rate limit reached" in note


async def test_a_short_retry_after_among_several_is_waited_for(
    sandbox: WhoopSandbox, clock: FakeClock, google_data: GoogleHistory
) -> None:
    google = FitbitSandbox(clock=clock, history=google_data)
    google.inject(Fault(path_prefix=GOOGLE_DATA, status=429, headers={"Retry-After": "1"}))
    result = await call(
        whoop_and_fitbit(sandbox, google, clock), clock, "get-daily-summary", {"days": 7}
    )
    assert result.structured_content["provider"] == "fitbit,whoop"
    assert 1.0 <= sum(clock.slept) <= 2.0


async def test_one_provider_alone_still_retries_a_429(
    sandbox: WhoopSandbox, clock: FakeClock, google_data: GoogleHistory
) -> None:
    google = FitbitSandbox(clock=clock, history=google_data)
    google.inject(Fault(path_prefix=GOOGLE_DATA, status=429))
    result = await call(
        whoop_and_fitbit(sandbox, google, clock),
        clock,
        "get-daily-summary",
        {"days": 7, "provider": "fitbit"},
    )
    assert result.is_error is False, text_of(result)
    assert result.structured_content["provider"] == "fitbit"
