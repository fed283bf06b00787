"""The synthetic Oura history has the shapes real Oura data has."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta

import pytest

from tests.conftest import NOW
from wellpipe.sandbox.oura import (
    COLLECTIONS,
    DEFAULT_MEMBERS,
    History,
    MemberHistory,
    generate_history,
)

GEN3, GEN2 = (m.user_id for m in DEFAULT_MEMBERS)


def _dump(member: MemberHistory) -> str:
    return json.dumps({name: [d.body for d in member.collection(name)] for name in COLLECTIONS})


@pytest.fixture(params=[GEN3, GEN2], ids=["gen3", "gen2"])
def member(request: pytest.FixtureRequest, oura_history: History) -> MemberHistory:
    return oura_history.members[request.param]


def test_the_same_seed_and_moment_give_the_same_bytes() -> None:
    a = generate_history(now=NOW, seed=7, days=60, members=1)
    b = generate_history(now=NOW, seed=7, days=60, members=1)
    c = generate_history(now=NOW, seed=8, days=60, members=1)
    first = next(iter(a.members.values()))
    assert _dump(first) == _dump(next(iter(b.members.values())))
    assert _dump(first) != _dump(next(iter(c.members.values())))
    window = (NOW - timedelta(days=2), NOW)
    assert list(first.heartrate(*window)) == list(next(iter(b.members.values())).heartrate(*window))


def test_two_members_in_different_time_zones_with_different_rings(oura_history: History) -> None:
    a, b = oura_history.members[GEN3], oura_history.members[GEN2]
    assert a.spec.home_offset != b.spec.home_offset
    assert a.collection("daily_spo2")
    assert not b.collection("daily_spo2")
    assert a.personal_info["id"] != b.personal_info["id"]


def test_more_members_than_the_defaults_can_be_made() -> None:
    history = generate_history(now=NOW, days=30, members=3)
    assert len({m.spec.email for m in history.members.values()}) == 3


def test_a_document_for_nearly_every_day_of_400(member: MemberHistory) -> None:
    days = {d.day for d in member.collection("daily_activity")}
    assert len(days) == 399  # 400 days, one with the ring off
    assert max(days) == member.today
    ids = [d.id for name in COLLECTIONS for d in member.collection(name)]
    assert len(ids) == len(set(ids))


def test_one_long_sleep_a_night_whose_hypnogram_adds_up(member: MemberHistory) -> None:
    long_sleeps = [d.body for d in member.collection("sleep") if d.body["type"] == "long_sleep"]
    assert len({s["day"] for s in long_sleeps}) == len(long_sleeps) >= 390
    for sleep in long_sleeps:
        start = datetime.fromisoformat(sleep["bedtime_start"])
        end = datetime.fromisoformat(sleep["bedtime_end"])
        assert (end - start).total_seconds() == sleep["time_in_bed"]
        assert end.date().isoformat() == sleep["day"]
        assert start.hour >= 21 or start.hour <= 1  # bedtime is the evening before
        phases = sleep["sleep_phase_5_min"]
        if sleep["low_battery_alert"]:
            assert phases is None
            continue
        assert len(phases) * 300 == sleep["time_in_bed"]
        assert phases.count("1") * 300 == sleep["deep_sleep_duration"]
        assert phases.count("2") * 300 == sleep["light_sleep_duration"]
        assert phases.count("3") * 300 == sleep["rem_sleep_duration"]
        assert phases.count("4") * 300 == sleep["awake_time"]
        assert sleep["total_sleep_duration"] == sleep["time_in_bed"] - sleep["awake_time"]
        assert len(sleep["heart_rate"]["items"]) == len(phases)
        assert len(sleep["movement_30_sec"]) == 10 * len(phases)


def test_naps_late_naps_and_rejected_rests(member: MemberHistory) -> None:
    types = {d.body["type"] for d in member.collection("sleep")}
    assert types == {"long_sleep", "sleep", "late_nap", "rest"}
    for doc in member.collection("sleep"):
        body = doc.body
        start = datetime.fromisoformat(body["bedtime_start"])
        if body["type"] == "late_nap":  # after 18:00: counts toward the next day
            assert start.hour >= 18
            assert body["day"] == (start.date() + timedelta(days=1)).isoformat()
        if body["type"] in {"sleep", "rest"}:
            assert 15 * 60 <= body["time_in_bed"] <= 3 * 3600
            assert body["period"] >= 1
        if body["type"] == "rest":
            assert body["readiness"] is None
            assert body["sleep_score_delta"] is None


def test_a_low_battery_night_has_null_scores(member: MemberHistory) -> None:
    day = (member.today - timedelta(days=member.spec.low_battery_days_ago)).isoformat()
    [sleep] = [
        d.body
        for d in member.collection("sleep")
        if d.body["day"] == day and d.body["type"] == "long_sleep"
    ]
    assert sleep["low_battery_alert"] is True
    assert sleep["total_sleep_duration"] is None
    assert sleep["readiness"] is None
    assert sleep["average_hrv"] is None
    assert sleep["heart_rate"] is None
    [daily] = [d.body for d in member.collection("daily_sleep") if d.body["day"] == day]
    assert daily["score"] is None
    assert set(daily["contributors"].values()) == {None}
    [readiness] = [d.body for d in member.collection("daily_readiness") if d.body["day"] == day]
    assert readiness["score"] is None
    assert readiness["contributors"]["previous_night"] is None


def test_the_first_two_weeks_lack_baseline_contributors(member: MemberHistory) -> None:
    first = member.collection("daily_readiness")[0].body
    assert first["contributors"]["hrv_balance"] is None
    assert first["contributors"]["sleep_balance"] is None
    assert first["score"] is not None


def test_a_travel_week_in_another_offset(member: MemberHistory) -> None:
    first, last = member.spec.travel_days_ago
    offsets: dict[str, set[str]] = {"home": set(), "travel": set()}
    for doc in member.collection("daily_readiness"):
        days_ago = (member.today - doc.day).days
        where = "travel" if last <= days_ago <= first else "home"
        offsets[where].add(doc.body["timestamp"][-6:])
    assert offsets["travel"] == {member.spec.travel_offset}
    assert offsets["home"] == {member.spec.home_offset}


def test_the_day_the_ring_was_not_worn_has_nothing(member: MemberHistory) -> None:
    day = member.today - timedelta(days=member.spec.not_worn_days_ago)
    for name in COLLECTIONS:
        assert all(d.day != day for d in member.collection(name)), name
    noon = datetime.combine(day, datetime.min.time(), tzinfo=NOW.tzinfo) + timedelta(hours=12)
    assert list(member.heartrate(noon - timedelta(hours=3), noon + timedelta(hours=3))) == []


def test_todays_readiness_is_not_available_yet_for_the_first_member(
    oura_history: History,
) -> None:
    gen3 = oura_history.members[GEN3]
    assert gen3.collection("daily_readiness")[-1].day == gen3.today - timedelta(days=1)
    assert gen3.collection("daily_sleep")[-1].day == gen3.today
    gen2 = oura_history.members[GEN2]
    assert gen2.collection("daily_readiness")[-1].day == gen2.today


def test_nothing_lies_in_the_future(member: MemberHistory) -> None:
    for name in ("sleep", "workout", "session"):
        for doc in member.collection(name):
            end = doc.body.get("bedtime_end") or doc.body["end_datetime"]
            assert datetime.fromisoformat(end) <= NOW
    today = member.collection("daily_activity")[-1].body
    assert today["day"] == member.today.isoformat()
    assert today["score"] is None  # the day is not over
    assert len(today["class_5_min"]) < 288


def test_activity_times_add_up_from_the_5_minute_classes(member: MemberHistory) -> None:
    for doc in member.collection("daily_activity")[:-1]:
        body = doc.body
        classes = body["class_5_min"]
        assert len(classes) == 288
        assert body["non_wear_time"] == classes.count("0") * 300
        assert body["resting_time"] == classes.count("1") * 300
        assert body["sedentary_time"] == classes.count("2") * 300
        assert body["low_activity_time"] == classes.count("3") * 300
        assert body["medium_activity_time"] == classes.count("4") * 300
        assert body["high_activity_time"] == classes.count("5") * 300
        assert len(body["met"]["items"]) == 1440
        assert body["total_calories"] > body["active_calories"] >= 0


def test_workouts_sometimes_lack_a_distance(member: MemberHistory) -> None:
    workouts = [d.body for d in member.collection("workout")]
    assert len(workouts) > 150
    assert {w["intensity"] for w in workouts} == {"easy", "moderate", "hard"}
    assert {"autodetected", "manual", "confirmed"} <= {w["source"] for w in workouts}
    assert any(w["distance"] is None for w in workouts)
    assert any(w["distance"] is not None for w in workouts)
    assert all(w["distance"] is None for w in workouts if w["activity"] == "yoga")


def test_sessions_and_vo2_max_now_and_then(member: MemberHistory) -> None:
    sessions = member.collection("session")
    assert 30 < len(sessions) < 120
    assert {s.body["type"] for s in sessions} <= {"meditation", "breathing", "relaxation"}
    vo2 = [d.day for d in member.collection("vO2_max")]
    assert len(vo2) > 70
    assert all((b - a).days % 5 == 0 for a, b in itertools.pairwise(vo2))


def test_heart_rate_is_every_5_minutes_on_demand(oura_history: History) -> None:
    gen3, gen2 = oura_history.members[GEN3], oura_history.members[GEN2]
    start = NOW - timedelta(days=3)
    rows = list(gen3.heartrate(start, NOW))
    assert len(rows) == 3 * 288
    assert {r["source"] for r in rows} >= {"awake", "sleep"}
    stamps = [r["timestamp_unix"] for r in rows]
    assert all(b - a == 300_000 for a, b in itertools.pairwise(stamps))
    assert rows[0]["timestamp"].endswith("+00:00")
    only_sleep = list(gen2.heartrate(start, NOW))  # Gen2: no daytime heart rate
    assert only_sleep
    assert {r["source"] for r in only_sleep} <= {"sleep", "rest"}


def test_a_year_generates_quickly() -> None:
    import time

    history = generate_history(now=NOW, seed=99)
    began = time.perf_counter()
    for member in history.members.values():
        member.collection("sleep")
    assert time.perf_counter() - began < 10  # about 0.5 s on a quiet machine
