"""Deterministic synthetic WHOOP history: realistic values, and the shapes real data has.

For every member, day by day up to ``now``:

* one physiological cycle per day, from one sleep onset to the next; the current
  cycle has no ``end`` and is ``PENDING_SCORE``;
* a main sleep every night, plus occasional afternoon naps;
* a recovery per cycle, measured over its main sleep;
* zero to two workouts a day, with WHOOP's own sport names;
* a week of travel where the timezone offset changes (short and long cycles at
  either end of it), a late ice-hockey game that runs past midnight, a day the
  band could not score (``UNSCORABLE``, no ``score``), and records without the
  optional fields (SpO2 and skin temperature before a WHOOP 4.0, sleep
  performance and consistency before WHOOP knows the member, distance without GPS).

The first default member is `wellpipe.sandbox.person.PERSON`, the person the Oura and
Fitbit sandboxes' default members are too: their nights, naps, workouts, resting heart
rate and HRV are that person's true ones as a WHOOP band measures them (onset and wake
a few minutes off, stage splits a few percent off, RMSSD and resting heart rate close
to the truth). The travel week, the late game and the night after it are the person's.
Other members are generated from this module's own random stream.

The same seed and ``now`` always give the same history. Payloads are JSON-ready
dicts in WHOOP's wire format; tests validate them against the official spec.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from wellpipe.sandbox.person import PERSON, Life, PersonSpec, life

__all__ = [
    "DEFAULT_MEMBERS",
    "History",
    "MemberHistory",
    "MemberSpec",
    "StoredRecord",
    "generate_history",
    "whoop_time",
]

Json = dict[str, Any]


@dataclass(frozen=True)
class MemberSpec:
    """One synthetic WHOOP member. Day fields count back from today (0 = today)."""

    user_id: int
    first_name: str
    last_name: str
    email: str
    home_offset: str
    travel_offset: str
    travel_days_ago: tuple[int, int]
    """First and last day (days ago, first >= last) spent in ``travel_offset``."""
    whoop_4_since_days_ago: int | None
    """The member wears a WHOOP 4.0 (SpO2, skin temperature) from this day on; None = never."""
    midnight_workout_days_ago: int
    unscorable_day_days_ago: int
    height_meter: float
    weight_kilogram: float
    max_heart_rate: int
    hrv_baseline_ms: float
    rhr_baseline_bpm: float
    person: PersonSpec | None = None
    """The shared synthetic person this member is (their days come from it), if any."""


DEFAULT_MEMBERS: tuple[MemberSpec, ...] = (
    MemberSpec(
        user_id=10129,
        first_name=PERSON.first_name,
        last_name=PERSON.last_name,
        email=PERSON.email,
        home_offset=PERSON.home_offset,
        travel_offset=PERSON.travel_offset,
        travel_days_ago=PERSON.travel_days_ago,
        whoop_4_since_days_ago=330,
        midnight_workout_days_ago=PERSON.late_game_days_ago,
        unscorable_day_days_ago=40,
        height_meter=PERSON.height_m,
        weight_kilogram=PERSON.weight_kg,
        max_heart_rate=PERSON.max_heart_rate,
        hrv_baseline_ms=PERSON.hrv_ms,
        rhr_baseline_bpm=PERSON.rhr_bpm,
        person=PERSON,
    ),
    MemberSpec(
        user_id=20458,
        first_name="Sam",
        last_name="Okafor",
        email="sam.okafor@example.com",
        home_offset="Z",
        travel_offset="+05:30",
        travel_days_ago=(121, 115),
        whoop_4_since_days_ago=None,
        midnight_workout_days_ago=30,
        unscorable_day_days_ago=75,
        height_meter=1.651,
        weight_kilogram=61.235,
        max_heart_rate=186,
        hrv_baseline_ms=45.0,
        rhr_baseline_bpm=58.0,
    ),
)


@dataclass(frozen=True)
class StoredRecord:
    """A record as the sandbox serves it, with what it filters and sorts by."""

    start: datetime
    end: datetime | None
    key: str
    """Tie-breaker for the sort order (the record's id, or cycle id for a recovery)."""
    body: Json


@dataclass
class MemberHistory:
    """Everything one member has, newest first within each collection."""

    spec: MemberSpec
    profile: Json
    body_measurement: Json
    cycles: list[StoredRecord] = field(default_factory=list)
    sleeps: list[StoredRecord] = field(default_factory=list)
    recoveries: list[StoredRecord] = field(default_factory=list)
    workouts: list[StoredRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.cycle_by_id: dict[int, Json] = {}
        self.sleep_by_id: dict[str, Json] = {}
        self.workout_by_id: dict[str, Json] = {}
        self.recovery_by_cycle: dict[int, Json] = {}
        self.main_sleep_by_cycle: dict[int, Json] = {}

    def __repr__(self) -> str:
        return (
            f"MemberHistory(user_id={self.spec.user_id}, cycles={len(self.cycles)}, "
            f"sleeps={len(self.sleeps)}, recoveries={len(self.recoveries)}, "
            f"workouts={len(self.workouts)})"
        )

    def index(self) -> None:
        """Sort newest first and build the by-id lookups."""
        for collection in (self.cycles, self.sleeps, self.recoveries, self.workouts):
            collection.sort(key=lambda r: (r.start, r.key), reverse=True)
        self.cycle_by_id = {r.body["id"]: r.body for r in self.cycles}
        self.sleep_by_id = {r.body["id"]: r.body for r in self.sleeps}
        self.workout_by_id = {r.body["id"]: r.body for r in self.workouts}
        self.recovery_by_cycle = {r.body["cycle_id"]: r.body for r in self.recoveries}
        self.main_sleep_by_cycle = {
            r.body["cycle_id"]: r.body for r in self.sleeps if not r.body["nap"]
        }


@dataclass
class History:
    """The whole synthetic world: members by user id."""

    now: datetime
    seed: int
    days: int
    members: dict[int, MemberHistory]

    def __repr__(self) -> str:
        members = list(self.members)
        return (
            f"History(now={self.now.isoformat()}, seed={self.seed}, days={self.days}, {members=})"
        )


def whoop_time(instant: datetime) -> str:
    """An instant as WHOOP writes it: UTC, milliseconds, ``Z``."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _tz(tzd: str) -> timezone:
    if tzd == "Z":
        return UTC
    sign = -1 if tzd[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(tzd[1:3]), minutes=int(tzd[4:6])))


def _f32(value: float) -> float:
    """Round like a 32-bit float printed in full, as WHOOP's floats look (16.11328125)."""
    if value == 0:
        return 0.0
    exponent = math.floor(math.log2(abs(value)))
    step = 2.0 ** (exponent - 13)
    return round(value / step) * step


def _clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


# (sport name, weight, minutes low/high, strain low/high, kJ per minute, has GPS, outdoors)
_SPORTS: tuple[tuple[str, int, int, int, float, float, float, bool], ...] = (
    ("running", 24, 25, 75, 9.0, 15.5, 46.0, True),
    ("weightlifting", 18, 40, 80, 6.0, 11.0, 22.0, False),
    ("functional fitness", 12, 35, 60, 8.0, 14.0, 38.0, False),
    ("cycling", 11, 40, 120, 8.5, 15.0, 40.0, True),
    ("walking", 10, 20, 60, 3.0, 6.5, 17.0, True),
    ("yoga", 8, 30, 75, 3.5, 7.5, 13.0, False),
    ("hiit", 6, 20, 45, 9.5, 15.0, 48.0, False),
    ("swimming", 4, 25, 60, 7.5, 12.5, 36.0, False),
    ("spin", 3, 30, 50, 9.0, 14.0, 44.0, False),
    ("tennis", 3, 45, 100, 8.0, 13.0, 33.0, False),
    ("pilates", 3, 40, 60, 4.0, 8.0, 15.0, False),
    ("hiking/rucking", 2, 90, 240, 7.0, 12.0, 28.0, True),
    ("rowing", 2, 25, 60, 8.0, 13.5, 40.0, False),
    ("activity", 2, 15, 45, 3.0, 8.0, 20.0, False),
)
_SPORT_WEIGHTS = [sport[1] for sport in _SPORTS]
_MIDNIGHT_SPORT = ("ice hockey", 0, 80, 90, 12.0, 16.0, 45.0, False)
_SPORT_BY_NAME = {sport[0]: sport for sport in (*_SPORTS, _MIDNIGHT_SPORT)}


@dataclass
class _Night:
    day: date
    tz: timezone
    tzd: str
    onset: datetime
    wake: datetime
    in_bed_ms: int
    awake_ms: int
    truth: dict[str, float] | None = None
    """Seconds per true stage between onset and wake (the shared person only)."""


@dataclass
class _Workout:
    start: datetime
    end: datetime
    sport: tuple[str, int, int, int, float, float, float, bool]


class _MemberBuilder:
    def __init__(self, spec: MemberSpec, seed: int, now: datetime, days: int, index: int) -> None:
        self.spec = spec
        self.now = now
        self.rng = random.Random(f"wellpipe-sandbox:{seed}:{spec.user_id}")
        self.life: Life | None = life(spec.person, seed, now) if spec.person else None
        self.days = days
        home_today = now.astimezone(_tz(spec.home_offset)).date()
        self.today = home_today
        self.first_day = home_today - timedelta(days=days)
        self.cycle_id_base = 1_190_000_000 + index * 10_000_000
        self.history = MemberHistory(
            spec=spec,
            profile={
                "user_id": spec.user_id,
                "email": spec.email,
                "first_name": spec.first_name,
                "last_name": spec.last_name,
            },
            body_measurement={
                "height_meter": spec.height_meter,
                "weight_kilogram": spec.weight_kilogram,
                "max_heart_rate": spec.max_heart_rate,
            },
        )

    # ----------------------------------------------------------------- helpers
    def days_ago(self, day: date) -> int:
        return (self.today - day).days

    def tzd_for(self, day: date) -> str:
        latest, earliest = self.spec.travel_days_ago[1], self.spec.travel_days_ago[0]
        return (
            self.spec.travel_offset
            if latest <= self.days_ago(day) <= earliest
            else self.spec.home_offset
        )

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def at(self, day: date, tz: timezone, hours: float) -> datetime:
        """``hours`` after local midnight of ``day``."""
        return datetime.combine(day, time(0), tzinfo=tz) + timedelta(hours=hours)

    # ----------------------------------------------------------------- build
    def build(self) -> MemberHistory:
        nights = self.plan_nights()
        prev_strain = 8.0
        prev_nap_ms = 0
        sleep_debt_ms = 0
        member_sleeps = 0
        for i, night in enumerate(nights[:-1]):
            if night.onset > self.now:
                break
            next_onset = nights[i + 1].onset
            cycle_id = self.cycle_id_base + i
            unscorable_day = self.days_ago(night.day) == self.spec.unscorable_day_days_ago
            workouts = self.plan_workouts(night, next_onset)
            naps = self.plan_naps(night, workouts)

            sleep_state = "UNSCORABLE" if unscorable_day or self.rng.random() < 0.012 else "SCORED"
            if night.wake <= self.now:
                member_sleeps += 1
                need = self.sleep_need(prev_strain, sleep_debt_ms, prev_nap_ms)
                sleep_score, asleep_ms = self.sleep_score(night, need, member_sleeps, nap=False)
                sleep_debt_ms = int(_clip(sum(need.values()) - asleep_ms, 0, 9_000_000) * 0.6)
                sleep_id = self.add_sleep(
                    night.onset, night.wake, night.tzd, cycle_id, False, sleep_state, sleep_score
                )
                self.add_recovery(
                    night, cycle_id, sleep_id, sleep_state, sleep_score, prev_strain, member_sleeps
                )

            workout_scores = self.add_workouts(workouts, night)
            prev_nap_ms = 0
            for start, end in naps:
                if end > self.now:
                    continue
                length_ms = int((end - start).total_seconds() * 1000)
                prev_nap_ms += length_ms
                nap = _Night(night.day, night.tz, night.tzd, start, end, length_ms, 0)
                score, _ = self.sleep_score(
                    nap, self.sleep_need(0.0, 0, 0), member_sleeps, nap=True
                )
                state = "SCORED" if self.rng.random() > 0.05 else "UNSCORABLE"
                self.add_sleep(start, end, night.tzd, cycle_id, True, state, score)
            prev_strain = self.add_cycle(
                cycle_id, night, next_onset, workout_scores, unscorable_day
            )
        self.history.index()
        return self.history

    def plan_nights(self) -> list[_Night]:
        """Sleep onsets leading into each day, from the first day to tomorrow."""
        if self.life is not None:
            return self.measure_nights(self.life)
        nights: list[_Night] = []
        day = self.first_day
        last = self.today + timedelta(days=1)
        while day <= last:
            tzd = self.tzd_for(day)
            tz = _tz(tzd)
            if self.days_ago(day) == self.spec.midnight_workout_days_ago - 1:
                onset_h = 25.4 - 24  # after the late game: 01:24 on this day
                onset = self.at(day, tz, onset_h)
            else:
                onset = self.at(
                    day - timedelta(days=1), tz, _clip(self.rng.gauss(23.2, 0.55), 21.8, 24.9)
                )
            weekend = day.weekday() >= 5
            asleep_h = _clip(self.rng.gauss(7.25 + (0.45 if weekend else 0.0), 0.65), 4.6, 9.6)
            awake_ms = int(asleep_h * 3_600_000 * self.rng.uniform(0.05, 0.12))
            in_bed_ms = int(asleep_h * 3_600_000) + awake_ms
            if nights and onset <= nights[-1].wake + timedelta(hours=6):
                onset = nights[-1].wake + timedelta(hours=6 + self.rng.random())
            onset = onset.replace(microsecond=self.rng.randrange(1000) * 1000)
            wake = onset + timedelta(milliseconds=in_bed_ms)
            nights.append(_Night(day, tz, tzd, onset, wake, in_bed_ms, awake_ms))
            day += timedelta(days=1)
        return nights

    def measure_nights(self, truth: Life) -> list[_Night]:
        """The person's true nights as the band sees them: onset and wake a few minutes off."""
        nights: list[_Night] = []
        day = self.first_day
        while day <= self.today + timedelta(days=1):
            tzd = self.tzd_for(day)
            night = truth.night(day)
            onset = night.bed + timedelta(milliseconds=round(self.rng.uniform(-4, 8) * 60_000))
            wake = night.rise + timedelta(milliseconds=round(self.rng.uniform(-5, 5) * 60_000))
            in_bed_ms = int((wake - onset).total_seconds() * 1000)
            wake = onset + timedelta(milliseconds=in_bed_ms)
            stages = night.seconds_between(onset, wake)
            awake_ms = min(in_bed_ms - 60_000, int(stages["awake"] * 1000))
            nights.append(_Night(day, _tz(tzd), tzd, onset, wake, in_bed_ms, awake_ms, stages))
            day += timedelta(days=1)
        return nights

    def plan_workouts(self, night: _Night, next_onset: datetime) -> list[_Workout]:
        if self.life is not None:  # the person's workouts, started and stopped on the band
            return [
                _Workout(
                    w.start + timedelta(milliseconds=round(self.rng.uniform(-60, 90) * 1000)),
                    w.end + timedelta(milliseconds=round(self.rng.uniform(-90, 60) * 1000)),
                    _SPORT_BY_NAME[w.sport],
                )
                for w in self.life.day(night.day).workouts
            ]
        earliest = night.wake + timedelta(minutes=45)
        latest = next_onset - timedelta(minutes=60)
        plan: list[_Workout] = []
        if self.days_ago(night.day) == self.spec.midnight_workout_days_ago:
            start = self.at(night.day, night.tz, 22 + 50 / 60)
            plan.append(_Workout(start, start + timedelta(minutes=88), _MIDNIGHT_SPORT))
            return plan
        count = self.rng.choices((0, 1, 2), weights=(30, 50, 20))[0]
        slots = [
            night.wake + timedelta(minutes=self.rng.uniform(50, 150)),
            self.at(night.day, night.tz, self.rng.uniform(17.0, 19.5)),
        ]
        self.rng.shuffle(slots)
        for slot in sorted(slots[:count]):
            sport = self.rng.choices(_SPORTS, weights=_SPORT_WEIGHTS)[0]
            if sport[0] == "hiking/rucking" and night.day.weekday() < 5:
                sport = _SPORTS[0]
            minutes = self.rng.uniform(sport[2], sport[3])
            start = slot.replace(microsecond=self.rng.randrange(1000) * 1000)
            end = start + timedelta(minutes=minutes)
            if (
                start < earliest
                or end > latest
                or (plan and start < plan[-1].end + timedelta(hours=1))
            ):
                continue
            plan.append(_Workout(start, end, sport))
        return plan

    def plan_naps(self, night: _Night, workouts: list[_Workout]) -> list[tuple[datetime, datetime]]:
        if self.life is not None:
            return [
                (
                    start + timedelta(milliseconds=round(self.rng.uniform(0, 120) * 1000)),
                    end + timedelta(milliseconds=round(self.rng.uniform(-90, 30) * 1000)),
                )
                for start, end in self.life.day(night.day).naps
            ]
        if self.rng.random() >= 0.11:
            return []
        start = self.at(night.day, night.tz, self.rng.uniform(13.5, 15.5))
        end = start + timedelta(minutes=self.rng.uniform(20, 75))
        if start < night.wake + timedelta(hours=3):
            return []
        if any(
            start < w.end + timedelta(minutes=30) and w.start < end + timedelta(minutes=30)
            for w in workouts
        ):
            return []
        return [(start, end)]

    # ----------------------------------------------------------------- values
    def sleep_need(self, prev_strain: float, debt_ms: int, nap_ms: int) -> dict[str, int]:
        return {
            "baseline_milli": int(self.rng.gauss(27_300_000, 400_000)),
            "need_from_sleep_debt_milli": debt_ms,
            "need_from_recent_strain_milli": int(max(0.0, prev_strain - 9.0) * 210_000),
            "need_from_recent_nap_milli": -int(nap_ms * 0.8),
        }

    def sleep_score(
        self, night: _Night, need: dict[str, int], nth: int, nap: bool
    ) -> tuple[Json, int]:
        in_bed = night.in_bed_ms
        no_data = 0 if self.rng.random() > 0.06 else int(self.rng.uniform(60_000, 1_500_000))
        awake = night.awake_ms if not nap else int(in_bed * self.rng.uniform(0.03, 0.15))
        no_data = min(no_data, max(0, in_bed - awake - 60_000))
        asleep = max(0, in_bed - awake - no_data)
        if night.truth is not None and not nap:  # the true split, seen a few percent off
            slept = max(1.0, night.truth["light"] + night.truth["deep"] + night.truth["rem"])
            deep_share = night.truth["deep"] / slept * self.rng.uniform(0.93, 1.07)
            rem_share = night.truth["rem"] / slept * self.rng.uniform(0.93, 1.07)
        else:
            deep_share = self.rng.uniform(0.17, 0.24) if not nap else self.rng.uniform(0.05, 0.30)
            rem_share = self.rng.uniform(0.19, 0.26) if not nap else self.rng.uniform(0.0, 0.15)
        deep = int(asleep * deep_share)
        rem = int(asleep * rem_share)
        light = asleep - deep - rem
        score: Json = {
            "stage_summary": {
                "total_in_bed_time_milli": in_bed,
                "total_awake_time_milli": awake,
                "total_no_data_time_milli": no_data,
                "total_light_sleep_time_milli": light,
                "total_slow_wave_sleep_time_milli": deep,
                "total_rem_sleep_time_milli": rem,
                "sleep_cycle_count": max(
                    0, round(asleep / 5_400_000 + self.rng.uniform(-0.4, 0.4))
                ),
                "disturbance_count": max(0, round(self.rng.gauss(13 if not nap else 2, 4))),
            },
            "sleep_needed": need,
        }
        total_need = max(1, sum(need.values()))
        if not nap or self.rng.random() > 0.3:
            score["respiratory_rate"] = _f32(self.rng.gauss(14.9, 0.45))
        if nth > 3 and not nap:
            score["sleep_performance_percentage"] = float(
                min(100, round(asleep / total_need * 100))
            )
        if nth > 4 and not nap:
            score["sleep_consistency_percentage"] = float(
                round(_clip(self.rng.gauss(78, 9), 35, 99))
            )
        if not nap or self.rng.random() > 0.2:
            score["sleep_efficiency_percentage"] = asleep / in_bed * 100 if in_bed else 0.0
        return score, asleep

    # ----------------------------------------------------------------- records
    def add_sleep(
        self,
        start: datetime,
        end: datetime,
        tzd: str,
        cycle_id: int,
        nap: bool,
        state: str,
        score: Json | None,
    ) -> str:
        sleep_id = self.uuid()
        pending = end > self.now - timedelta(minutes=10)
        created = end + timedelta(seconds=self.rng.uniform(60, 360))
        if created > self.now:
            created = self.now
        body: Json = {
            "id": sleep_id,
            "cycle_id": cycle_id,
            "user_id": self.spec.user_id,
            "created_at": whoop_time(created),
            "updated_at": whoop_time(
                created if pending else created + timedelta(seconds=self.rng.uniform(5, 900))
            ),
            "start": whoop_time(start),
            "end": whoop_time(end),
            "timezone_offset": tzd,
            "nap": nap,
            "score_state": "PENDING_SCORE" if pending else state,
        }
        if body["score_state"] == "SCORED" and score is not None:
            body["score"] = score
        self.history.sleeps.append(StoredRecord(start, end, sleep_id, body))
        return sleep_id

    def add_recovery(
        self,
        night: _Night,
        cycle_id: int,
        sleep_id: str,
        sleep_state: str,
        sleep_score: Json | None,
        prev_strain: float,
        nth: int,
    ) -> None:
        spec = self.spec
        days_ago = self.days_ago(night.day)
        asleep_ratio = 1.0
        if sleep_score is not None:
            stages = sleep_score["stage_summary"]
            asleep = (
                stages["total_light_sleep_time_milli"]
                + stages["total_slow_wave_sleep_time_milli"]
                + stages["total_rem_sleep_time_milli"]
            )
            asleep_ratio = asleep / max(1, sum(sleep_score["sleep_needed"].values()))
        if self.life is not None:  # the person's true night, by the band's RMSSD
            truth = self.life.day(night.day)
            hrv = truth.hrv_ms * self.rng.uniform(0.97, 1.03)
            rhr = truth.resting_hr + self.rng.uniform(-1.0, 1.0)
        else:
            travel = spec.travel_days_ago[1] <= days_ago <= spec.travel_days_ago[0]
            jet_lag = travel and days_ago >= spec.travel_days_ago[0] - 2
            hrv = spec.hrv_baseline_ms * math.exp(self.rng.gauss(0, 0.13))
            hrv *= 1 - 0.02 * max(0.0, prev_strain - 12)
            hrv *= 0.78 if self.rng.random() < 0.05 else 1.0  # a late night out
            hrv *= 0.88 if jet_lag else 1.0
            hrv *= 0.9 + 0.1 * _clip(asleep_ratio, 0.5, 1.0)
            rhr = spec.rhr_baseline_bpm * (
                1 + 0.12 * (spec.hrv_baseline_ms / hrv - 1)
            ) + self.rng.gauss(0, 1.1)
        recovery = (
            58 + 95 * math.log(hrv / spec.hrv_baseline_ms) - 2.2 * (rhr - spec.rhr_baseline_bpm)
        )
        recovery += 25 * (_clip(asleep_ratio, 0.5, 1.05) - 0.9)
        pending = night.wake > self.now - timedelta(minutes=10)
        created = min(self.now, night.wake + timedelta(seconds=self.rng.uniform(120, 480)))
        body: Json = {
            "cycle_id": cycle_id,
            "sleep_id": sleep_id,
            "user_id": spec.user_id,
            "created_at": whoop_time(created),
            "updated_at": whoop_time(
                created if pending else created + timedelta(seconds=self.rng.uniform(1, 600))
            ),
            "score_state": "PENDING_SCORE" if pending else sleep_state,
        }
        if body["score_state"] == "SCORED":
            score: Json = {
                "user_calibrating": nth <= 4,
                "recovery_score": float(round(_clip(recovery, 1, 99))),
                "resting_heart_rate": float(round(_clip(rhr, 38, 95))),
                "hrv_rmssd_milli": _f32(_clip(hrv, 8, 250)),
            }
            since = spec.whoop_4_since_days_ago
            if since is not None and days_ago <= since:
                score["spo2_percentage"] = (
                    round(_clip(self.rng.gauss(96.4, 0.9), 90, 100) * 16) / 16
                )
                score["skin_temp_celsius"] = round(self.rng.gauss(33.6, 0.35), 2)
            body["score"] = score
        self.history.recoveries.append(StoredRecord(night.onset, night.wake, str(cycle_id), body))

    def add_workouts(self, workouts: list[_Workout], night: _Night) -> list[tuple[float, int]]:
        scored: list[tuple[float, int]] = []
        for planned in workouts:
            if planned.end > self.now:
                continue
            name, _, _, _, strain_lo, strain_hi, kj_per_min, gps = planned.sport
            minutes = (planned.end - planned.start).total_seconds() / 60
            strain = round(self.rng.uniform(strain_lo, strain_hi), 7)
            max_hr = min(
                self.spec.max_heart_rate - 2, int(110 + strain * 3.7 + self.rng.uniform(-4, 8))
            )
            avg_hr = int(max_hr * self.rng.uniform(0.68, 0.82))
            recorded = 100.0 if self.rng.random() > 0.15 else round(self.rng.uniform(88, 99.9), 4)
            state = "SCORED"
            if self.rng.random() < 0.03:
                state, recorded = "UNSCORABLE", round(self.rng.uniform(5, 40), 4)
            pending = planned.end > self.now - timedelta(minutes=10)
            created = min(self.now, planned.end + timedelta(seconds=self.rng.uniform(30, 1200)))
            workout_id = self.uuid()
            body: Json = {
                "id": workout_id,
                "user_id": self.spec.user_id,
                "created_at": whoop_time(created),
                "updated_at": whoop_time(
                    created if pending else created + timedelta(seconds=self.rng.uniform(1, 300))
                ),
                "start": whoop_time(planned.start),
                "end": whoop_time(planned.end),
                "timezone_offset": night.tzd,
                "sport_name": name,
                "score_state": "PENDING_SCORE" if pending else state,
            }
            if body["score_state"] == "SCORED":
                total_ms = int(minutes * 60_000)
                shares = [self.rng.uniform(0.02, 0.08), self.rng.uniform(0.1, 0.25)]
                shares += [self.rng.uniform(0.15, 0.35), self.rng.uniform(0.1, 0.3)]
                shares += [
                    self.rng.uniform(0.0, 0.15) * strain / 10,
                    self.rng.uniform(0.0, 0.05) * strain / 12,
                ]
                scale = total_ms * recorded / 100 / sum(shares)
                zones = [int(s * scale) for s in shares]
                score: Json = {
                    "strain": strain,
                    "average_heart_rate": avg_hr,
                    "max_heart_rate": max_hr,
                    "kilojoule": _f32(minutes * kj_per_min * self.rng.uniform(0.85, 1.15)),
                    "percent_recorded": recorded,
                    "zone_durations": dict(
                        zip(
                            (
                                "zone_zero_milli",
                                "zone_one_milli",
                                "zone_two_milli",
                                "zone_three_milli",
                                "zone_four_milli",
                                "zone_five_milli",
                            ),
                            zones,
                            strict=True,
                        )
                    ),
                }
                if gps and self.rng.random() > 0.2:
                    speed_m_per_min = {
                        "running": 175,
                        "cycling": 460,
                        "walking": 85,
                        "hiking/rucking": 62,
                    }.get(name, 100)
                    score["distance_meter"] = _f32(
                        minutes * speed_m_per_min * self.rng.uniform(0.85, 1.15)
                    )
                    score["altitude_gain_meter"] = _f32(self.rng.uniform(4, 40) * minutes / 30)
                    score["altitude_change_meter"] = _f32(self.rng.uniform(-15, 15))
                body["score"] = score
                scored.append((strain, max_hr))
            self.history.workouts.append(StoredRecord(planned.start, planned.end, workout_id, body))
        return scored

    def add_cycle(
        self,
        cycle_id: int,
        night: _Night,
        next_onset: datetime,
        workouts: list[tuple[float, int]],
        unscorable: bool,
    ) -> float:
        current = next_onset > self.now
        base = _clip(self.rng.gauss(6.2, 1.4), 2.0, 10.5)
        strains = sorted((strain for strain, _ in workouts), reverse=True)
        strain = base if not strains else max(base, strains[0]) + 0.3 * sum(strains[1:]) + 0.6
        strain = round(_clip(strain, 0.1, 20.8), 7)
        hours = (next_onset - night.onset).total_seconds() / 3600
        kilojoule = hours / 24 * (self.rng.gauss(8_300, 400)) + strain**2 * 9
        created = night.onset + timedelta(seconds=self.rng.uniform(60, 1200))
        body: Json = {
            "id": cycle_id,
            "user_id": self.spec.user_id,
            "created_at": whoop_time(min(created, self.now)),
            "updated_at": whoop_time(
                self.now if current else next_onset + timedelta(seconds=self.rng.uniform(60, 900))
            ),
            "start": whoop_time(night.onset),
            "timezone_offset": night.tzd,
            "score_state": "PENDING_SCORE"
            if current
            else ("UNSCORABLE" if unscorable else "SCORED"),
        }
        if not current:
            body["end"] = whoop_time(next_onset)
        if body["score_state"] == "SCORED":
            body["score"] = {
                "strain": strain,
                "kilojoule": _f32(kilojoule),
                "average_heart_rate": int(_clip(self.rng.gauss(62 + strain * 0.9, 3), 48, 95)),
                "max_heart_rate": max(
                    [int(120 + strain * 2.6 + self.rng.uniform(-5, 10))]
                    + [hr for _, hr in workouts]
                ),
            }
        self.history.cycles.append(
            StoredRecord(night.onset, None if current else next_onset, str(cycle_id), body)
        )
        return strain if body["score_state"] == "SCORED" else 8.0


def generate_history(
    *,
    now: datetime,
    seed: int = 42,
    days: int = 400,
    members: int | tuple[MemberSpec, ...] = 2,
) -> History:
    """Build the synthetic history for ``days`` days up to ``now``.

    Args:
        now: The present moment; nothing after it exists yet.
        seed: Same seed and ``now``, same history.
        days: How far back the history goes (at least 180).
        members: How many of the default members, or explicit member specs.
    """
    if days < 180:
        raise ValueError("the sandbox keeps at least 180 days of history")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    specs = members if isinstance(members, tuple) else _member_specs(members)
    built = {
        spec.user_id: _MemberBuilder(spec, seed, now, days, index).build()
        for index, spec in enumerate(specs)
    }
    return History(now=now, seed=seed, days=days, members=built)


def _member_specs(count: int) -> tuple[MemberSpec, ...]:
    if count < 1:
        raise ValueError("the sandbox needs at least one member")
    specs = list(DEFAULT_MEMBERS[:count])
    offsets = ("+09:00", "-08:00", "+10:00", "-03:00", "+02:00", "+05:45")
    for n in range(len(specs), count):
        template = DEFAULT_MEMBERS[n % len(DEFAULT_MEMBERS)]
        specs.append(
            MemberSpec(
                user_id=30_000 + n,
                first_name=f"Member{n + 1}",
                last_name="Sandbox",
                email=f"member{n + 1}@example.com",
                home_offset=offsets[n % len(offsets)],
                travel_offset=template.travel_offset,
                travel_days_ago=template.travel_days_ago,
                whoop_4_since_days_ago=template.whoop_4_since_days_ago,
                midnight_workout_days_ago=template.midnight_workout_days_ago,
                unscorable_day_days_ago=template.unscorable_day_days_ago,
                height_meter=template.height_meter,
                weight_kilogram=template.weight_kilogram,
                max_heart_rate=template.max_heart_rate,
                hrv_baseline_ms=template.hrv_baseline_ms,
                rhr_baseline_bpm=template.rhr_baseline_bpm,
            )
        )
    return tuple(specs)
