"""The three sandboxes' default members are one person wearing three devices.

``wellpipe demo`` merges WHOOP's, Oura's and Fitbit's default member into one view;
for the same seed and clock, their identity, body, home time zone, nights, steps,
resting heart rate and workouts must agree the way three devices on one person do.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import NOW
from wellpipe.sandbox import fitbit, oura, whoop
from wellpipe.sandbox.fitbit.types import ALL_READ_SCOPES
from wellpipe.sandbox.person import PERSON, life

DAYS = 14


class Person:
    """One seed's three default members, read as the wire formats give them."""

    def __init__(self, seed: int, now: datetime) -> None:
        self.now = now
        self.whoop = next(
            iter(whoop.generate_history(now=now, seed=seed, members=1).members.values())
        )
        self.oura = next(
            iter(oura.generate_history(now=now, seed=seed, days=120, members=1).members.values())
        )
        self.fitbit = next(
            iter(fitbit.generate_history(now=now, seed=seed, days=120, members=1).members.values())
        )
        self.today = self.oura.today

    def last_days(self) -> Iterator[date]:
        for ago in range(DAYS):
            yield self.today - timedelta(days=ago)

    # ------------------------------------------------------------------ nights
    def whoop_nights(self) -> dict[date, tuple[datetime, datetime, float]]:
        """Main sleeps by local wake date: start, end, minutes asleep (None if unscored)."""
        out = {}
        for record in self.whoop.sleeps:
            body = record.body
            if body["nap"]:
                continue
            assert record.end is not None
            offset = _offset(body["timezone_offset"])
            asleep = float("nan")
            if "score" in body:
                stages = body["score"]["stage_summary"]
                asleep = (
                    stages["total_light_sleep_time_milli"]
                    + stages["total_slow_wave_sleep_time_milli"]
                    + stages["total_rem_sleep_time_milli"]
                ) / 60_000
            out[record.end.astimezone(offset).date()] = (record.start, record.end, asleep)
        return out

    def oura_nights(self) -> dict[date, tuple[datetime, datetime, float]]:
        out = {}
        for doc in self.oura.collection("sleep"):
            body = doc.body
            if body["type"] != "long_sleep":
                continue
            total = body["total_sleep_duration"]
            out[doc.day] = (
                datetime.fromisoformat(body["bedtime_start"]),
                datetime.fromisoformat(body["bedtime_end"]),
                float("nan") if total is None else total / 60,
            )
        return out

    def fitbit_nights(self) -> dict[date, tuple[datetime, datetime, float]]:
        out = {}
        for point in self.fitbit.points["sleep"]:
            if not point.value["metadata"].get("mainSleep"):
                continue
            assert point.end is not None
            assert point.civil_end is not None
            summary = point.value["summary"]
            out[point.civil_end.date()] = (
                point.start,
                point.end,
                float(summary.get("minutesAsleep", "nan")),
            )
        return out

    # ------------------------------------------------------------------ days
    def whoop_recovery(self, field: str) -> dict[date, float]:
        """A recovery score field by the local wake date of the sleep it was measured over."""
        sleeps = {r.body["id"]: r for r in self.whoop.sleeps}
        out = {}
        for record in self.whoop.recoveries:
            if "score" not in record.body:
                continue
            sleep = sleeps[record.body["sleep_id"]]
            assert sleep.end is not None
            day = sleep.end.astimezone(_offset(sleep.body["timezone_offset"])).date()
            out[day] = record.body["score"][field]
        return out

    def oura_resting_hr(self) -> dict[date, float]:
        return {
            doc.day: doc.body["lowest_heart_rate"]
            for doc in self.oura.collection("sleep")
            if doc.body["type"] == "long_sleep" and doc.body["lowest_heart_rate"] is not None
        }

    def fitbit_resting_hr(self) -> dict[date, float]:
        return {
            p.civil_start.date(): float(p.value["beatsPerMinute"])
            for p in self.fitbit.points["daily-resting-heart-rate"]
        }

    def oura_steps(self) -> dict[date, int]:
        return {doc.day: doc.body["steps"] for doc in self.oura.collection("daily_activity")}

    def fitbit_steps(self) -> dict[date, int]:
        out: dict[date, int] = {}
        for point in self.fitbit.reconciled["steps"]:  # what the roll-ups sum
            day = point.civil_start.date()
            out[day] = out.get(day, 0) + int(point.value["count"])
        return out


def _offset(tzd: str) -> timezone:
    sign = -1 if tzd[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(tzd[1:3]), minutes=int(tzd[4:6])))


def _spread(values: list[float]) -> float:
    return max(values) - min(values)


@pytest.fixture(scope="module", params=[42, 7], ids=["seed42", "seed7"])
def person(request: pytest.FixtureRequest) -> Person:
    return Person(request.param, NOW)


def test_one_identity_and_body(person: Person) -> None:
    profile = person.whoop.profile
    body = person.whoop.body_measurement
    info = person.oura.personal_info
    google = person.fitbit.profile(ALL_READ_SCOPES)
    assert profile["email"] == info["email"] == PERSON.email
    assert (profile["first_name"], profile["last_name"]) == ("Alex", "Rivera")
    assert info["biological_sex"] == PERSON.biological_sex
    assert info["age"] == google["age"] == PERSON.age_on(person.today)
    heights = [
        body["height_meter"],
        info["height"],
        int(person.fitbit.points["height"][0].value["heightMillimeters"]) / 1000,
    ]
    assert all(round(h, 2) == round(heights[0], 2) for h in heights), heights
    newest_weigh_in = person.fitbit.points["weight"][0].value["weightGrams"] / 1000
    weights = [body["weight_kilogram"], info["weight"], newest_weigh_in]
    assert all(round(w, 1) == round(weights[0], 1) for w in weights), weights


def test_one_home_time_zone_with_the_same_travel_week(person: Person) -> None:
    settings = person.fitbit.settings()
    zone = ZoneInfo(settings["timeZone"])
    home = person.whoop.spec.home_offset
    assert person.oura.spec.home_offset == home
    assert settings["utcOffset"] == f"{round(_offset(home).utcoffset(None).total_seconds())}s"
    # the zone keeps that offset all year, so every day maps the same way
    for month in range(1, 13):
        assert datetime(2026, month, 1, tzinfo=zone).utcoffset() == _offset(home).utcoffset(None)
    for ago in range(0, 120, 3):
        day = person.today - timedelta(days=ago)
        whoop_offset = next(
            (
                c.body["timezone_offset"]
                for c in person.whoop.cycles
                if c.start.astimezone(_offset(c.body["timezone_offset"])).date()
                == day - timedelta(days=1)
            ),
            None,
        )
        oura_offset = next(
            (
                d.body["timestamp"][-6:]
                for d in person.oura.collection("daily_activity")
                if d.day == day
            ),
            None,
        )
        fitbit_offset = next(
            (
                p.start_offset
                for p in person.fitbit.points["daily-resting-heart-rate"]
                if p.civil_start.date() == day
            ),
            None,
        )
        offsets = {whoop_offset, oura_offset}
        if fitbit_offset is not None:
            hours, rest = divmod(abs(fitbit_offset), 3600)
            sign = "-" if fitbit_offset < 0 else "+"
            offsets.add(f"{sign}{hours:02d}:{rest // 60:02d}")
        offsets.discard(None)
        assert len(offsets) == 1, (day, offsets)


def test_each_night_is_measured_three_ways(person: Person) -> None:
    nights = (person.whoop_nights(), person.oura_nights(), person.fitbit_nights())
    for day in person.last_days():
        if day == person.today and any(day not in n for n in nights):
            continue  # tonight is not over yet for every device
        seen = [n[day] for n in nights]
        starts = [s.timestamp() for s, _, _ in seen]
        assert _spread(starts) <= 30 * 60, (day, seen)
        in_bed = [(e - s).total_seconds() for s, e, _ in seen]
        assert _spread(in_bed) <= 0.1 * statistics.median(in_bed), (day, in_bed)
        asleep = [a for _, _, a in seen if a == a]  # a pending night is not scored yet
        assert len(asleep) >= 2
        assert _spread(asleep) <= 0.1 * statistics.median(asleep), (day, asleep)


def test_oura_and_fitbit_count_about_the_same_steps(person: Person) -> None:
    ring, tracker = person.oura_steps(), person.fitbit_steps()
    for day in list(person.last_days())[1:]:  # whole days
        assert abs(ring[day] - tracker[day]) <= 0.15 * max(ring[day], tracker[day]), (
            day,
            ring[day],
            tracker[day],
        )
        assert 2_000 < tracker[day] < 40_000


def test_resting_heart_rate_within_a_few_beats(person: Person) -> None:
    rates = (
        person.whoop_recovery("resting_heart_rate"),
        person.oura_resting_hr(),
        person.fitbit_resting_hr(),
    )
    for day in person.last_days():
        seen = [r[day] for r in rates if day in r]
        assert len(seen) >= 2 or day == person.today, day  # tonight may not be over
        assert _spread(seen) <= 4, (day, seen)


def test_hrv_close_but_not_equal(person: Person) -> None:
    rmssd = person.whoop_recovery("hrv_rmssd_milli")
    ring = {
        d.day: d.body["average_hrv"]
        for d in person.oura.collection("sleep")
        if d.body["type"] == "long_sleep" and d.body["average_hrv"] is not None
    }
    tracker = {
        p.civil_start.date(): p.value["averageHeartRateVariabilityMilliseconds"]
        for p in person.fitbit.points["daily-heart-rate-variability"]
    }
    differs = 0
    for day in person.last_days():
        seen = [r[day] for r in (rmssd, ring, tracker) if day in r]
        if day == person.today and len(seen) < 2:
            continue  # tonight is not over yet (Fitbit has none before it is processed)
        assert len(seen) >= 2, day
        assert _spread(seen) <= 0.2 * statistics.median(seen), (day, seen)
        differs += len(set(seen)) == len(seen)
    assert differs >= DAYS - 3  # three methods: rarely the same number


def test_workouts_on_the_same_days_at_the_same_times(person: Person) -> None:
    whoop_starts = [w.start for w in person.whoop.workouts]
    oura_starts = [
        datetime.fromisoformat(d.body["start_datetime"]) for d in person.oura.collection("workout")
    ]
    fitbit_starts = [p.start for p in person.fitbit.points["exercise"]]
    first = min(oura_starts + fitbit_starts)
    recent = [s for s in whoop_starts if s >= first]
    for device in (oura_starts, fitbit_starts):
        # whatever a device recorded, the band did too, within minutes
        assert all(
            any(abs((t - s).total_seconds()) <= 15 * 60 for s in whoop_starts) for t in device
        )
        # and it recorded most of what the band did
        matched = [
            s for s in recent if any(abs((s - t).total_seconds()) <= 15 * 60 for t in device)
        ]
        assert len(matched) >= 0.8 * len(recent) > 50


def test_the_late_game_and_the_short_night_after_it_are_on_every_device(person: Person) -> None:
    night = person.today - timedelta(days=PERSON.late_game_days_ago - 1)
    local = _offset(PERSON.home_offset)
    [game] = [w for w in person.whoop.workouts if w.body["sport_name"] == "ice hockey"]
    assert game.end is not None
    assert game.start.astimezone(local).date() == night - timedelta(days=1)
    assert game.end.astimezone(local).date() == night
    ring = [d.body for d in person.oura.collection("workout") if d.body["activity"] == "iceHockey"]
    tracker = [p for p in person.fitbit.points["exercise"] if p.value["exerciseType"] == "HOCKEY"]
    for start in [datetime.fromisoformat(ring[0]["start_datetime"]), tracker[0].start]:
        assert abs(start - game.start) < timedelta(minutes=15)
    for device in (person.whoop_nights(), person.oura_nights(), person.fitbit_nights()):
        start = device[night][0].astimezone(local)
        assert start.date() == night
        assert 1 <= start.hour < 2


def test_the_truth_does_not_depend_on_how_much_history_a_sandbox_keeps() -> None:
    short = whoop.generate_history(now=NOW, seed=42, days=180, members=1)
    long = whoop.generate_history(now=NOW, seed=42, days=400, members=1)
    a, b = (next(iter(h.members.values())) for h in (short, long))
    recent = NOW - timedelta(days=30)
    starts = [[w.start for w in m.workouts if w.start > recent] for m in (a, b)]
    assert len(starts[0]) == len(starts[1]) > 10
    assert all(abs(x - y) < timedelta(minutes=3) for x, y in zip(*starts, strict=True))
    assert life(PERSON, 42, NOW) is life(PERSON, 42, NOW + timedelta(hours=1))


def test_other_members_are_other_people() -> None:
    people = whoop.generate_history(now=NOW, days=180, members=2).members.values()
    assert [m.spec.person for m in people] == [PERSON, None]
    rings = oura.generate_history(now=NOW, days=30, members=3).members.values()
    assert [m.spec.person for m in rings] == [PERSON, None, None]
    assert next(iter(rings)).personal_info["email"] == PERSON.email
    trackers = fitbit.generate_history(now=NOW, days=120).members.values()
    assert [m.spec.person for m in trackers] == [PERSON, None]
