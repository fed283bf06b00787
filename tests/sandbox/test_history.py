"""The synthetic history has the shapes real WHOOP data has."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from tests.conftest import NOW
from wellpipe.sandbox.whoop import History, generate_history
from wellpipe.sandbox.whoop.history import DEFAULT_MEMBERS, MemberHistory, StoredRecord


def tz(tzd: str) -> timezone:
    if tzd == "Z":
        return UTC
    sign = -1 if tzd[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(tzd[1:3]), minutes=int(tzd[4:6])))


@pytest.fixture(params=[m.user_id for m in DEFAULT_MEMBERS], ids=["alex", "sam"])
def member(request: pytest.FixtureRequest, history: History) -> MemberHistory:
    return history.members[request.param]


def test_the_same_seed_and_moment_give_the_same_history() -> None:
    a = generate_history(now=NOW, seed=7, days=180, members=1)
    b = generate_history(now=NOW, seed=7, days=180, members=1)
    c = generate_history(now=NOW, seed=8, days=180, members=1)
    first = next(iter(a.members.values()))
    assert [r.body for r in first.sleeps] == [r.body for r in next(iter(b.members.values())).sleeps]
    assert [r.body for r in first.sleeps] != [r.body for r in next(iter(c.members.values())).sleeps]


def test_at_least_180_days_are_kept() -> None:
    with pytest.raises(ValueError, match="180"):
        generate_history(now=NOW, days=179)


def test_more_members_than_the_defaults_can_be_made() -> None:
    history = generate_history(now=NOW, days=180, members=4)
    assert len(history.members) == 4
    assert len({m.spec.email for m in history.members.values()}) == 4


def test_one_cycle_a_day_each_starting_where_the_last_ended(member: MemberHistory) -> None:
    oldest_first = list(reversed(member.cycles))
    assert len(oldest_first) >= 400
    for earlier, later in itertools.pairwise(oldest_first):
        assert earlier.end == later.start
        assert timedelta(hours=16) < later.start - earlier.start < timedelta(hours=32)


def test_only_the_current_cycle_is_open_and_it_is_pending(member: MemberHistory) -> None:
    open_cycles = [c.body for c in member.cycles if "end" not in c.body]
    assert open_cycles == [member.cycles[0].body]
    assert open_cycles[0]["score_state"] == "PENDING_SCORE"
    assert "score" not in open_cycles[0]
    assert member.cycles[0].start <= NOW


def test_a_main_sleep_opens_every_finished_cycle(member: MemberHistory) -> None:
    for cycle in member.cycles[1:]:
        sleep = member.main_sleep_by_cycle[cycle.body["id"]]
        assert sleep["start"] == cycle.body["start"]


def test_naps_happen_now_and_then_inside_their_cycle(member: MemberHistory) -> None:
    naps = [s for s in member.sleeps if s.body["nap"]]
    assert 0.05 < len(naps) / len(member.cycles) < 0.2
    for nap in naps:
        cycle = member.cycle_by_id[nap.body["cycle_id"]]
        assert cycle["start"] < nap.body["start"]


def test_a_recovery_per_finished_night_measured_over_its_main_sleep(member: MemberHistory) -> None:
    assert set(member.recovery_by_cycle) == set(member.main_sleep_by_cycle)
    for cycle_id, recovery in member.recovery_by_cycle.items():
        assert recovery["sleep_id"] == member.main_sleep_by_cycle[cycle_id]["id"]


def test_zero_to_two_workouts_a_day_with_whoop_sport_names(member: MemberHistory) -> None:
    per_cycle: Counter[str] = Counter()
    for workout in member.workouts:
        start = workout.start
        owner = next(
            c for c in member.cycles if c.start <= start and (c.end is None or start < c.end)
        )
        per_cycle[owner.key] += 1
    assert max(per_cycle.values()) <= 2
    assert len(per_cycle) < len(member.cycles)  # some days have none
    names = {w.body["sport_name"] for w in member.workouts}
    assert {"running", "weightlifting", "functional fitness", "hiking/rucking"} <= names
    assert all(name == name.lower() for name in names)


def test_nothing_overlaps_sleep(member: MemberHistory) -> None:
    sleeps = sorted((s.start, s.end) for s in member.sleeps)
    for workout in member.workouts:
        assert workout.end is not None
        finish = workout.end
        assert all(not (s < finish and workout.start < e) for s, e in sleeps if e is not None)
    for (_, end), (start, _) in itertools.pairwise(sleeps):
        assert end is not None
        assert end <= start


def test_a_week_of_travel_changes_the_offset(member: MemberHistory) -> None:
    offsets = Counter(c.body["timezone_offset"] for c in member.cycles)
    assert offsets[member.spec.travel_offset] == 7
    assert offsets[member.spec.home_offset] == len(member.cycles) - 7


def test_a_workout_crosses_local_midnight(member: MemberHistory) -> None:
    def local_dates(workout: StoredRecord) -> tuple[date, date]:
        offset = tz(workout.body["timezone_offset"])
        assert workout.end is not None
        return workout.start.astimezone(offset).date(), workout.end.astimezone(offset).date()

    crossing = [w for w in member.workouts if len(set(local_dates(w))) == 2]
    assert [w.body["sport_name"] for w in crossing] == ["ice hockey"]


def test_unscorable_records_have_no_score(member: MemberHistory) -> None:
    for collection in (member.cycles, member.sleeps, member.recoveries, member.workouts):
        states = Counter(r.body["score_state"] for r in collection)
        assert states["UNSCORABLE"] >= 1
        for record in collection:
            assert ("score" in record.body) == (record.body["score_state"] == "SCORED")


def test_optional_fields_are_sometimes_missing(member: MemberHistory) -> None:
    scores = [s.body["score"] for s in member.sleeps if "score" in s.body]
    for field in (
        "sleep_performance_percentage",
        "sleep_consistency_percentage",
        "respiratory_rate",
    ):
        assert any(field not in score for score in scores), field
    recoveries = [r.body["score"] for r in member.recoveries if "score" in r.body]
    assert any("spo2_percentage" not in score for score in recoveries)
    workouts = [w.body["score"] for w in member.workouts if "score" in w.body]
    assert any("distance_meter" not in score for score in workouts)
    assert any("distance_meter" in score for score in workouts)
    assert all("v1_id" not in s.body and "sport_id" not in s.body for s in member.workouts)


def test_values_are_in_realistic_ranges(member: MemberHistory) -> None:
    recoveries = [r.body["score"] for r in member.recoveries if "score" in r.body]
    assert all(1 <= r["recovery_score"] <= 99 for r in recoveries)
    assert all(10 <= r["hrv_rmssd_milli"] <= 200 for r in recoveries)
    assert all(38 <= r["resting_heart_rate"] <= 95 for r in recoveries)
    mean_recovery = sum(r["recovery_score"] for r in recoveries) / len(recoveries)
    assert 35 < mean_recovery < 75
    strains = [c.body["score"]["strain"] for c in member.cycles if "score" in c.body]
    assert all(0 <= s <= 21 for s in strains)
    nights = [s.body["score"] for s in member.sleeps if "score" in s.body and not s.body["nap"]]
    asleep_h = [
        (
            n["stage_summary"]["total_light_sleep_time_milli"]
            + n["stage_summary"]["total_slow_wave_sleep_time_milli"]
            + n["stage_summary"]["total_rem_sleep_time_milli"]
        )
        / 3_600_000
        for n in nights
    ]
    assert 6.3 < sum(asleep_h) / len(asleep_h) < 8.3
    assert all(3.5 < h < 10 for h in asleep_h)


def test_stages_add_up_to_time_in_bed(member: MemberHistory) -> None:
    for sleep in member.sleeps:
        if "score" not in sleep.body:
            continue
        stages = sleep.body["score"]["stage_summary"]
        parts = sum(
            stages[k]
            for k in (
                "total_awake_time_milli",
                "total_no_data_time_milli",
                "total_light_sleep_time_milli",
                "total_slow_wave_sleep_time_milli",
                "total_rem_sleep_time_milli",
            )
        )
        assert parts == stages["total_in_bed_time_milli"]
        assert sleep.end is not None
        assert abs((sleep.end - sleep.start).total_seconds() * 1000 - parts) < 2


def test_nothing_is_in_the_future(member: MemberHistory) -> None:
    instants = [r.start for r in member.cycles] + [r.end for r in member.sleeps + member.workouts]
    assert all(t is not None and t <= NOW for t in instants)
    assert all(
        datetime.fromisoformat(r.body["updated_at"]) <= NOW
        for r in member.cycles + member.sleeps + member.recoveries + member.workouts
    )
