"""The MCP tools over several providers: one labelled timeline, a provider filter, partial answers.

WHOOP is the real provider against its sandbox; the second provider is a small in-test
`HealthProvider` serving core records built here (our own port, not a provider's API).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from mcp import Client

from tests.conftest import connect
from tests.fakes import FakeClock
from wellpipe.core import (
    DataKind,
    HealthProvider,
    RecordSet,
    ScoreState,
    TimeWindow,
)
from wellpipe.core.errors import (
    NotFound,
    ReauthorizationRequired,
    UnsupportedDataKind,
    WellpipeError,
)
from wellpipe.core.models import (
    BodyMeasurement,
    Cycle,
    DailyActivity,
    DailyVitals,
    Profile,
    Readiness,
    Record,
    Recovery,
    Sleep,
    SleepScore,
    SleepStage,
    StageSegment,
    Workout,
)
from wellpipe.core.provider_info import ProviderInfo
from wellpipe.mcp.server import Connect, ProviderNotConnected, build_server
from wellpipe.mcp.tables import SUMMARY_COLUMNS
from wellpipe.mcp.tools import INSTRUCTIONS, TOOLS
from wellpipe.sandbox import WhoopSandbox

LOCAL = timezone(timedelta(hours=-5))
DAYS = [date(2026, 11, 15) + timedelta(days=i) for i in range(7)]  # the last 7 local days

RING = ProviderInfo(
    name="oura",
    display_name="Oura",
    kinds=frozenset(
        {DataKind.SLEEP, DataKind.READINESS, DataKind.ACTIVITY, DataKind.VITALS, DataKind.WORKOUT}
    ),
    scopes=("daily",),
    token_auth_method="client_secret_post",
)
SCALE = ProviderInfo(
    name="fitbit",
    display_name="Fitbit (Google Health)",
    kinds=frozenset({DataKind.ACTIVITY, DataKind.VITALS}),
    scopes=("activity",),
    token_auth_method="client_secret_post",
)
SCOPE_NOTE = (
    "Oura did not give Wellpipe the `heartrate` permission, which heart rate data needs: "
    "run `wellpipe auth oura` and leave the `heartrate` permission ticked."
)


def ring_records(provider: str = "oura") -> list[Record]:
    """A week of a ring's nights and days (every field a WHOOP lacks, filled)."""
    records: list[Record] = []
    for index, day in enumerate(DAYS):
        bed = datetime.combine(day - timedelta(days=1), datetime.min.time(), LOCAL) + timedelta(
            hours=23
        )
        wake = bed + timedelta(hours=8)
        records += [
            Sleep(
                provider=provider,
                source_id=f"{provider}-sleep-{day}",
                day=day,
                start=bed,
                end=wake,
                nap=False,
                score_state=ScoreState.SCORED,
                score=SleepScore(
                    in_bed_duration_min=480,
                    asleep_duration_min=430 + index,
                    sleep_score_pct=80 + index,
                    latency_min=12,
                    avg_hrv_rmssd_ms=45.26,
                    lowest_heart_rate_bpm=48,
                ),
                stages=(
                    StageSegment(stage=SleepStage.LIGHT, start=bed, end=bed + timedelta(hours=1)),
                    StageSegment(stage=SleepStage.DEEP, start=bed + timedelta(hours=1), end=wake),
                ),
            ),
            Readiness(
                provider=provider,
                source_id=f"{provider}-readiness-{day}",
                day=day,
                score_pct=70 + index,
                contributors={"hrv_balance": 60 + index, "previous_night": 90},
                temperature_deviation_celsius=-0.12,
            ),
            DailyActivity(
                provider=provider,
                source_id=f"{provider}-activity-{day}",
                day=day,
                steps=9000 + index,
                distance_m=7012.4,
                total_energy_kcal=2400,
                activity_score_pct=88,
            ),
            DailyVitals(
                provider=provider,
                source_id=f"{provider}-vitals-{day}",
                day=day,
                resting_heart_rate_bpm=52,
                hrv_rmssd_ms=44.04,
                spo2_pct=97.5,
                skin_temp_deviation_celsius=0.1,
            ),
        ]
    return records


class Served:
    """A `HealthProvider` serving records built in the test (or failing as told)."""

    def __init__(
        self,
        info: ProviderInfo,
        records: Sequence[Record] = (),
        *,
        fails: WellpipeError | None = None,
        notes: tuple[str, ...] = (),
        age: int | None = None,
    ) -> None:
        self._info = info
        self.records = list(records)
        self.fails = fails
        self.notes = notes
        self.age = age
        self.reads: list[frozenset[DataKind]] = []

    @property
    def info(self) -> ProviderInfo:
        return self._info

    async def read(self, kinds: Collection[DataKind], window: TimeWindow) -> RecordSet:
        self.reads.append(frozenset(kinds))
        if self.fails is not None:
            raise self.fails
        unsupported = set(kinds) - self.info.kinds
        if unsupported:
            raise UnsupportedDataKind(
                provider=self.info.name,
                kind=sorted(unsupported)[0],
                supported=[k.value for k in self.info.kinds],
            )

        def of(kind: type[Record], data_kind: DataKind) -> Any:
            wanted = data_kind in kinds
            return tuple(r for r in self.records if wanted and isinstance(r, kind))

        return RecordSet(
            sleeps=of(Sleep, DataKind.SLEEP),
            recoveries=of(Recovery, DataKind.RECOVERY),
            workouts=of(Workout, DataKind.WORKOUT),
            cycles=of(Cycle, DataKind.CYCLE),
            readiness=of(Readiness, DataKind.READINESS),
            activities=of(DailyActivity, DataKind.ACTIVITY),
            vitals=of(DailyVitals, DataKind.VITALS),
            notes=self.notes,
        )

    async def record(self, kind: DataKind, source_id: str) -> Record:
        if self.fails is not None:
            raise self.fails
        for record in self.records:
            if record.source_id == source_id and getattr(record, "kind", None) == kind.value:
                return record
        raise NotFound(provider=self.info.name, endpoint=None, what=f"{kind} {source_id!r}")

    async def profile(self) -> Profile:
        if self.fails is not None:
            raise self.fails
        return Profile(provider=self.info.name, source_id="u1", first_name="Alex", age=self.age)

    async def body_measurement(self) -> BodyMeasurement:
        return BodyMeasurement(provider=self.info.name, weight_kg=70.2)


def many(sandbox: WhoopSandbox | None, clock: FakeClock, *others: Served) -> Connect:
    """Every connected provider sorted by name (WHOOP through its sandbox), or the one asked."""

    @asynccontextmanager
    async def open_all(wanted: str | None) -> AsyncIterator[Sequence[HealthProvider]]:
        async with AsyncExitStack() as stack:
            providers: list[HealthProvider] = list(others)
            if sandbox is not None:
                providers.append(await stack.enter_async_context(connect(sandbox, clock)))
            providers.sort(key=lambda p: p.info.name)
            names = [p.info.name for p in providers]
            if wanted is not None and wanted not in names:
                raise ProviderNotConnected(wanted, connected=names)
            yield [p for p in providers if wanted in (None, p.info.name)]

    return open_all


async def call(connector: Connect, clock: FakeClock, name: str, arguments: dict[str, Any]) -> Any:
    async with Client(build_server(connect=connector, clock=clock)) as client:
        return await client.call_tool(name, arguments)


def text_of(result: Any) -> str:
    text: str = result.content[0].text
    return text


def column(answer: dict[str, Any], name: str) -> list[Any]:
    at = answer["columns"].index(name)
    return [row[at] for row in answer["rows"]]


# ------------------------------------------------------------------ one provider
async def test_one_provider_answers_as_before_without_source_or_notes(
    sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    summary = await call(many(sandbox, clock), clock, "get-daily-summary", {"days": 7})
    answer = summary.structured_content
    assert answer["provider"] == "whoop"
    # WHOOP has no readiness and counts no steps: those columns are not shown at all.
    assert answer["columns"] == [
        c for c in SUMMARY_COLUMNS if c not in {"readiness_score_pct", "steps"}
    ]
    assert "notes" not in answer
    assert text_of(summary).startswith("WHOOP daily summary, 2026-11-15 to 2026-11-21")
    assert "Note:" not in text_of(summary)
    sleep = (await call(many(sandbox, clock), clock, "get-recent-sleep", {})).structured_content
    assert "source" not in sleep["columns"]
    assert sleep["columns"][-1] == "id"
    # WHOOP has no sleep score, latency or sleep HRV: no such columns, rather than empty ones.
    for name in ("sleep_score_pct", "latency_min", "avg_hrv_rmssd_ms", "lowest_heart_rate_bpm"):
        assert name not in sleep["columns"], name


# ------------------------------------------------------------------ merged
async def test_several_providers_merge_into_one_labelled_timeline_ordered_by_day(
    sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    ring = Served(RING, ring_records())
    result = await call(many(sandbox, clock, ring), clock, "get-recent-sleep", {"days": 7})
    assert result.is_error is False
    answer = result.structured_content
    assert answer["provider"] == "oura,whoop"
    assert answer["columns"][:2] == ["day", "source"]
    days, sources = column(answer, "day"), column(answer, "source")
    assert days == sorted(days)
    assert set(sources) == {"oura", "whoop"}
    oura_rows = [
        row for row, source in zip(answer["rows"], sources, strict=True) if source == "oura"
    ]
    assert len(oura_rows) == 7
    at = answer["columns"].index
    assert {row[at("sleep_score_pct")] for row in oura_rows} == set(range(80, 87))
    assert {row[at("avg_hrv_rmssd_ms")] for row in oura_rows} == {45.3}
    assert {row[at("latency_min")] for row in oura_rows} == {12}
    assert {row[at("sleep_performance_pct")] for row in oura_rows} == {None}  # WHOOP's only
    lines = text_of(result).splitlines()
    assert lines[0].startswith("Oura + WHOOP sleeps, 2026-11-15 to 2026-11-21")
    assert lines[1] == "|".join(answer["columns"])


async def test_the_merged_summary_has_one_row_per_day_and_source(
    sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    ring = Served(RING, ring_records())
    result = await call(many(sandbox, clock, ring), clock, "get-daily-summary", {"days": 7})
    answer = result.structured_content
    assert answer["columns"] == ["day", "source", *SUMMARY_COLUMNS[1:]]
    pairs = list(zip(column(answer, "day"), column(answer, "source"), strict=True))
    assert pairs == [(str(day), source) for day in DAYS for source in ("oura", "whoop")]
    for row in answer["rows"]:
        values = dict(zip(answer["columns"], row, strict=True))
        if values["source"] == "oura":
            assert values["readiness_score_pct"] is not None
            assert values["recovery_score_pct"] is None  # never side by side with recovery
            assert values["steps"] is not None
            assert values["hrv_rmssd_ms"] == 44.0  # from the ring's vitals
            assert values["resting_heart_rate_bpm"] == 52
            assert values["energy_kcal"] == 2400  # the day's total energy
        else:
            assert values["recovery_score_pct"] is not None
            assert values["readiness_score_pct"] is None
            assert values["steps"] is None  # WHOOP does not count steps


async def test_a_provider_that_lacks_a_kind_is_not_asked_for_it(
    sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    ring, scale = Served(RING, ring_records()), Served(SCALE, ring_records("fitbit"))
    result = await call(
        many(sandbox, clock, ring, scale), clock, "get-recent-readiness", {"days": 7}
    )
    answer = result.structured_content
    assert scale.reads == []  # Fitbit has no readiness
    assert answer["provider"] == "oura"
    assert "source" not in answer["columns"]  # one provider offers it: its table, as is
    vitals = await call(many(sandbox, clock, ring, scale), clock, "get-recent-vitals", {})
    assert set(column(vitals.structured_content, "source")) == {"fitbit", "oura"}
    assert vitals.structured_content["provider"] == "fitbit,oura"


# ------------------------------------------------------------------ provider filter
async def test_the_provider_argument_reads_only_that_provider(
    sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    ring = Served(RING, ring_records())
    before = len(sandbox.requests)
    result = await call(
        many(sandbox, clock, ring), clock, "get-recent-sleep", {"days": 7, "provider": "oura"}
    )
    answer = result.structured_content
    assert answer["provider"] == "oura"
    assert "source" not in answer["columns"]
    assert len(answer["rows"]) == 7
    assert text_of(result).startswith("Oura sleeps")
    assert len(sandbox.requests) == before  # WHOOP was not asked

    whoop_only = await call(
        many(sandbox, clock, ring), clock, "get-range",
        {"kind": "sleep", "start": "2026-11-15", "end": "2026-11-21", "provider": "whoop"},
    )  # fmt: skip
    assert whoop_only.structured_content["provider"] == "whoop"


@pytest.mark.parametrize(
    ("provider", "mentions"),
    [
        ("fitbit", "not connected"),
        ("Oura Ring", "'Oura Ring' is not a provider Wellpipe has; it reads fitbit, oura, whoop"),
        ("garmin", "garmin is not a provider Wellpipe has; it reads fitbit, oura, whoop"),
    ],
)
async def test_a_provider_that_is_not_connected_is_one_sentence(
    sandbox: WhoopSandbox, clock: FakeClock, provider: str, mentions: str
) -> None:
    result = await call(
        many(sandbox, clock, Served(RING)), clock, "get-recent-sleep", {"provider": provider}
    )
    assert result.is_error is True
    assert mentions in text_of(result)
    assert "\n" not in text_of(result)


# ------------------------------------------------------------------ failures
async def test_one_provider_failing_leaves_a_note_and_the_others_answer(
    sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    dead = ReauthorizationRequired(provider="oura", reason="the grant was revoked")
    ring = Served(RING, fails=dead)
    result = await call(many(sandbox, clock, ring), clock, "get-daily-summary", {"days": 7})
    assert result.is_error is False
    answer = result.structured_content
    assert answer["provider"] == "whoop"
    assert set(column(answer, "source")) == {"whoop"}
    assert answer["notes"] == [f"Oura left out: {dead}"]
    assert "wellpipe auth oura" in answer["notes"][0]
    assert text_of(result).splitlines()[-1] == f"Note: Oura left out: {dead}"


async def test_every_provider_failing_is_a_tool_error_with_the_first_sentence(
    sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    first = ReauthorizationRequired(provider="oura", reason="the grant was revoked")
    second = ReauthorizationRequired(provider="fitbit", reason="the grant was revoked")
    ring, scale = Served(RING, fails=first), Served(SCALE, fails=second)
    result = await call(many(None, clock, ring, scale), clock, "get-recent-vitals", {})
    assert result.is_error is True
    assert text_of(result) == str(second)  # fitbit sorts first


async def test_notes_of_a_read_are_surfaced(sandbox: WhoopSandbox, clock: FakeClock) -> None:
    ring = Served(RING, ring_records(), notes=(SCOPE_NOTE,))
    result = await call(many(sandbox, clock, ring), clock, "get-recent-sleep", {"days": 3})
    assert result.structured_content["notes"] == [SCOPE_NOTE]
    assert f"Note: {SCOPE_NOTE}" in text_of(result)


# ------------------------------------------------------------------ new tables
async def test_readiness_activity_and_vitals_tables(clock: FakeClock) -> None:
    ring = Served(RING, ring_records())
    readiness = (
        await call(many(None, clock, ring), clock, "get-recent-readiness", {"days": 7})
    ).structured_content
    assert readiness["kind"] == "readiness"
    assert readiness["columns"][:2] == ["day", "readiness_score_pct"]
    assert column(readiness, "readiness_score_pct") == list(range(70, 77))
    assert column(readiness, "hrv_balance") == list(range(60, 67))
    assert set(column(readiness, "previous_night")) == {90}
    assert set(column(readiness, "sleep_balance")) == {None}  # contributor left empty
    assert set(column(readiness, "temperature_deviation_celsius")) == {-0.12}
    assert "utc_offset" not in readiness  # whole days: no clock times

    activity = (
        await call(many(None, clock, ring), clock, "get-range",
                   {"kind": "activity", "start": "2026-11-20", "end": "2026-11-21"})
    ).structured_content  # fmt: skip
    assert column(activity, "steps") == [9005, 9006]
    assert set(column(activity, "distance_m")) == {7012}
    assert set(column(activity, "active_zone_min")) == {None}

    vitals = (
        await call(many(None, clock, ring), clock, "get-recent-vitals", {"days": 2})
    ).structured_content
    assert column(vitals, "spo2_pct") == [97.5, 97.5]
    assert set(column(vitals, "vo2_max_ml_kg_min")) == {None}
    assert column(vitals, "id") == ["oura-vitals-2026-11-20", "oura-vitals-2026-11-21"]


async def test_a_kind_no_connected_provider_offers_is_one_sentence(
    sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    before = len(sandbox.requests)
    result = await call(many(sandbox, clock), clock, "get-recent-readiness", {})
    assert result.is_error is True
    assert "WHOOP does not provide readiness data" in text_of(result)
    assert "recovery" in text_of(result)  # what it provides instead
    assert len(sandbox.requests) == before


async def test_get_record_finds_the_provider_whose_id_it_is(
    sandbox: WhoopSandbox, clock: FakeClock
) -> None:
    ring = Served(RING, ring_records())
    connector = many(sandbox, clock, ring)
    result = await call(
        connector, clock, "get-record", {"kind": "sleep", "id": "oura-sleep-2026-11-20"}
    )
    record = result.structured_content["record"]
    assert record["provider"] == "oura"
    assert [segment["stage"] for segment in record["stages"]] == ["light", "deep"]
    listing = await call(connector, clock, "get-recent-sleep", {"provider": "whoop"})
    whoop_id = column(listing.structured_content, "id")[-1]
    whoop = await call(connector, clock, "get-record", {"kind": "sleep", "id": whoop_id})
    assert whoop.structured_content["record"]["provider"] == "whoop"
    nowhere = await call(connector, clock, "get-record", {"kind": "sleep", "id": "nope"})
    assert nowhere.is_error is True
    assert "check the id" in text_of(nowhere)


async def test_profiles_of_several_providers(sandbox: WhoopSandbox, clock: FakeClock) -> None:
    ring = Served(RING, ring_records())
    result = await call(many(sandbox, clock, ring), clock, "get-profile", {})
    answer = result.structured_content
    assert answer["provider"] == "oura,whoop"
    assert [source["provider"] for source in answer["sources"]] == ["oura", "whoop"]
    assert answer["sources"][0]["weight_kg"] == 70.2
    one = await call(many(sandbox, clock, ring), clock, "get-profile", {"provider": "oura"})
    assert one.structured_content == {"provider": "oura", "first_name": "Alex", "weight_kg": 70.2}


# ------------------------------------------------------------------ honest copy
def test_the_copy_says_readiness_is_not_recovery_and_each_day_rule() -> None:
    assert "different 0-100 scores" in INSTRUCTIONS
    assert "never compare" in INSTRUCTIONS
    for rule in ("WHOOP", "Oura uses its own day", "Fitbit the date a sleep ended"):
        assert rule in INSTRUCTIONS
    assert "does not measure" in INSTRUCTIONS
    descriptions = {tool.name: tool.description for tool in TOOLS}
    assert "Not WHOOP recovery" in descriptions["get-recent-readiness"]
    assert descriptions["get-recent-recovery"].startswith("WHOOP recovery")
    for tool in TOOLS:
        if tool.name in {"search", "fetch"}:  # ChatGPT's pair: a provider is in the words or id
            assert list(tool.arguments.model_fields) == ["query" if tool.name == "search" else "id"]
            continue
        assert "provider" in tool.arguments.model_fields, tool.name
