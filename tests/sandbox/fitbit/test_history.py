"""The synthetic Google Health history has the shapes real Fitbit data has."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.conftest import NOW
from wellpipe.sandbox.fitbit import DEFAULT_MEMBERS, History, MemberHistory, generate_history
from wellpipe.sandbox.fitbit.history import Point, render_interval


@pytest.fixture(params=[m.health_user_id for m in DEFAULT_MEMBERS], ids=["panama", "kolkata"])
def member(request: pytest.FixtureRequest, fitbit_history: History) -> MemberHistory:
    return fitbit_history.members[request.param]


def test_the_same_seed_and_moment_give_the_same_history() -> None:
    a = generate_history(now=NOW, seed=7, days=120, members=1)
    b = generate_history(now=NOW, seed=7, days=120, members=1)
    c = generate_history(now=NOW, seed=8, days=120, members=1)
    first, second, other = (next(iter(h.members.values())) for h in (a, b, c))
    for kind in ("sleep", "steps", "exercise", "daily-oxygen-saturation", "weight"):
        assert first.points[kind] == second.points[kind]
    assert first.points["sleep"] != other.points["sleep"]
    window = (NOW - timedelta(hours=3), NOW)
    assert list(first.heart_rate_minutes(*window)) == list(second.heart_rate_minutes(*window))


def test_a_year_of_two_members_generates_fast() -> None:
    started = time.perf_counter()
    history = generate_history(now=NOW, seed=3)
    for member in history.members.values():
        assert member.points["sleep"]  # members generate on first use
    elapsed = time.perf_counter() - started
    # About 1.5 s on an idle laptop core; generous for a loaded CI machine.
    assert elapsed < 20, elapsed


def test_the_two_members_live_in_different_time_zones(fitbit_history: History) -> None:
    zones = {m.settings()["timeZone"] for m in fitbit_history.members.values()}
    offsets = {m.settings()["utcOffset"] for m in fitbit_history.members.values()}
    assert zones == {"America/Panama", "Asia/Kolkata"}
    assert offsets == {"-18000s", "19800s"}
    ids = [m.identity()["healthUserId"] for m in fitbit_history.members.values()]
    assert all(i.isdigit() for i in ids)


def test_sleep_stages_are_contiguous_and_cover_the_session(member: MemberHistory) -> None:
    for point in member.points["sleep"]:
        sleep = point.value
        interval = render_interval(point)
        stages = sleep["stages"]
        assert stages[0]["startTime"] == interval["startTime"]
        assert stages[-1]["endTime"] == interval["endTime"]
        for earlier, later in itertools.pairwise(stages):
            assert earlier["endTime"] == later["startTime"]
            assert earlier["type"] != later["type"]
        kinds = {s["type"] for s in stages}
        allowed = (
            {"ASLEEP", "RESTLESS", "AWAKE"}
            if sleep["type"] == "CLASSIC"
            else {"AWAKE", "LIGHT", "DEEP", "REM"}
        )
        assert kinds <= allowed
        summary = sleep["summary"]
        total = int(summary["minutesInSleepPeriod"])
        assert point.end is not None
        assert total == (point.end - point.start).total_seconds() / 60
        assert sum(int(s.get("minutes", "0")) for s in summary["stagesSummary"]) == total
        parts = ("minutesAsleep", "minutesAwake", "minutesToFallAsleep", "minutesAfterWakeUp")
        assert sum(int(summary.get(p, "0")) for p in parts) == total


def test_sleeps_come_as_stages_classic_naps_and_one_unprocessed_night(
    member: MemberHistory,
) -> None:
    sleeps = member.points["sleep"]
    main = [p for p in sleeps if p.value["metadata"].get("mainSleep")]
    naps = [p for p in sleeps if p.value["metadata"].get("nap")]
    assert len(main) + len(naps) == len(sleeps)
    assert naps
    assert all(p.value["type"] == "CLASSIC" for p in naps)
    assert {p.value["metadata"]["stagesStatus"] for p in naps} == {"REJECTED_NAP"}
    types = Counter(p.value["type"] for p in main)
    assert types["STAGES"] > 10 * types["CLASSIC"] > 0
    unprocessed = [p for p in sleeps if not p.value["metadata"].get("processed")]
    assert unprocessed == [main[0]]  # the newest night only
    assert unprocessed[0].end is not None
    assert NOW - unprocessed[0].end < timedelta(hours=24)


def test_nights_end_after_local_midnight_and_one_starts_after_it(member: MemberHistory) -> None:
    main = [p for p in member.points["sleep"] if p.value["metadata"].get("mainSleep")]
    crossing = [p for p in main if p.civil_end and p.civil_end.date() > p.civil_start.date()]
    after_midnight = [p for p in main if p.civil_end and p.civil_end.date() == p.civil_start.date()]
    assert len(crossing) > 300
    assert after_midnight
    assert all(p.civil_start.hour < 2 for p in after_midnight)


def test_a_travel_week_moves_the_civil_clock(member: MemberHistory) -> None:
    offsets = Counter(p.start_offset for p in member.points["daily-resting-heart-rate"])
    assert len(offsets) >= 2
    travelled = [o for o, n in offsets.items() if 5 <= n <= 8]
    assert travelled, offsets


def _days_with(member: MemberHistory, kind: str) -> set[date]:
    return {p.civil_start.date() for p in member.points.get(kind, [])}


def test_days_without_any_data(member: MemberHistory) -> None:
    today = NOW.astimezone(UTC).date()
    for days_ago in member.spec.no_data_days_ago:
        empty = today - timedelta(days=days_ago)
        for kind in member.points:
            assert empty not in _days_with(member, kind) or kind == "sleep", (kind, empty)
        assert not any(p.civil_end and p.civil_end.date() == empty for p in member.points["sleep"])
        noon = datetime.combine(empty, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
        assert not member.worn(noon)


def test_one_night_has_no_spo2(member: MemberHistory) -> None:
    today = NOW.astimezone(UTC).date()
    missing = today - timedelta(days=member.spec.missing_spo2_days_ago)
    assert missing in _days_with(member, "daily-resting-heart-rate")
    assert missing in _days_with(member, "daily-heart-rate-variability")
    assert missing not in _days_with(member, "daily-oxygen-saturation")


def test_the_newest_night_has_no_nightly_metrics_yet(member: MemberHistory) -> None:
    newest = member.points["sleep"][0]
    assert newest.civil_end is not None
    day = newest.civil_end.date()
    assert day in _days_with(member, "daily-resting-heart-rate")
    for kind in ("daily-heart-rate-variability", "daily-oxygen-saturation"):
        assert day not in _days_with(member, kind)


def test_steps_come_from_a_tracker_and_a_phone_that_overlap(member: MemberHistory) -> None:
    by_start: dict[datetime, set[str]] = {}
    for point in member.points["steps"]:
        by_start.setdefault(point.start, set()).add(point.source)
    both = [s for s, sources in by_start.items() if sources == {"tracker", "phone"}]
    phone_only = [s for s, sources in by_start.items() if sources == {"phone"}]
    assert len(both) > 1000
    assert len(phone_only) > 100  # the tracker's charging hour
    assert len(member.reconciled["steps"]) == len(by_start)
    assert member.sources["phone"]["platform"] == "HEALTH_CONNECT"
    assert member.sources["tracker"]["platform"] == "FITBIT"


def test_heart_rate_is_made_on_demand_and_repeats(member: MemberHistory) -> None:
    window = (NOW - timedelta(hours=30), NOW)
    first = list(member.heart_rate_minutes(*window))
    again = list(member.heart_rate_minutes(*window))
    assert first == again
    assert 1000 < len(first) <= 30 * 60
    assert all(a.start > b.start for a, b in itertools.pairwise(first))
    sleep = member.points["sleep"][0]
    assert sleep.end is not None

    def asleep(p: Point) -> bool:
        assert sleep.end is not None
        return sleep.start <= p.start < sleep.end

    night = [int(p.value["beatsPerMinute"]) for p in first if asleep(p)]
    day = [int(p.value["beatsPerMinute"]) for p in first if not asleep(p)]
    assert sum(night) / len(night) < sum(day) / len(day)


def test_weight_some_mornings_and_one_height(member: MemberHistory) -> None:
    weights = member.points["weight"]
    assert 60 < len(weights) < 200
    assert {p.source for p in weights} == {"scale", "manual"}
    assert len(member.points["height"]) == 1
