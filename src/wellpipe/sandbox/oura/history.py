"""Deterministic synthetic Oura history, in Oura API v2's wire format.

For every member, local day by local day up to ``now``:

* a ``long_sleep`` period ending that morning (bedtime the evening before), with a
  ``sleep_phase_5_min`` string whose epochs add up to the stage durations, and
  5-minute heart-rate and HRV samples;
* ``daily_sleep`` (score + contributors), ``daily_readiness`` (score, contributors,
  temperature deviations), ``daily_activity`` (steps, calories, MET minutes,
  activity times that add up from ``class_5_min``), ``daily_stress``;
* ``daily_spo2`` for a Gen3 ring only (the second default member wears a Gen2:
  the route answers an empty list), ``vO2_max`` every few days;
* workouts on some days (Oura's activity names, intensity, source, calories,
  distance null for non-distance sports), meditation/breathing sessions now and then;
* heart-rate rows every 5 minutes, computed on demand for a requested window
  (`MemberHistory.heartrate`), never stored.

Edge cases on purpose (days count back from the member's today, 0 = today): naps
(``sleep`` in the afternoon, a ``late_nap`` after 18:00 that belongs to the next
day), ``rest`` periods the user rejected, a low-battery night (``low_battery_alert``
true, the nullable fields null, daily sleep score and contributors null), a travel
week in another UTC offset, a day the ring was not worn (no document at all), null
readiness contributors while the baselines are still being learnt (the first two
weeks), and today's readiness not yet available for the first member.

The first default member is `wellpipe.sandbox.person.PERSON` (the WHOOP and Fitbit
sandboxes' default member too): the same email, height, weight, sex and age (from
the birth date), the same home offset and travel week, and the person's true nights,
naps, workouts and steps as a ring measures them: bedtimes a few minutes off,
5-minute phases read from the true hypnogram (a few epochs read differently), the
night's lowest heart rate and average HRV close to the true resting heart rate and
HRV, steps from the true hourly steps, most workouts (some never detected nor
logged; autodetected ones start a few minutes late). Its rejected rests, late naps
and sessions fall where the person was free.

The same seed and ``now`` always give the same bytes. A member's documents are
generated on first use (0.4 s for 400 days on a busy 2-CPU machine).
"""

from __future__ import annotations

import bisect
import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from wellpipe.sandbox.person import PERSON, Life, Night, PersonSpec, life

__all__ = [
    "COLLECTIONS",
    "DEFAULT_MEMBERS",
    "Document",
    "History",
    "MemberHistory",
    "MemberSpec",
    "generate_history",
    "oura_time",
]

Json = dict[str, Any]

COLLECTIONS = (
    "daily_activity",
    "daily_readiness",
    "daily_sleep",
    "daily_spo2",
    "daily_stress",
    "session",
    "sleep",
    "vO2_max",
    "workout",
)
"""The date-ranged document collections, by their route name."""

HEARTRATE_INTERVAL_S = 300


@dataclass(frozen=True)
class MemberSpec:
    """One synthetic Oura member. Day fields count back from the member's today (0 = today)."""

    user_id: str
    email: str
    age: int
    biological_sex: str
    height_m: float
    weight_kg: float
    home_offset: str
    travel_offset: str
    travel_days_ago: tuple[int, int]
    """First and last day (days ago, first >= last) spent in ``travel_offset``."""
    ring_generation: int
    """3 = Gen3 (SpO2, daytime heart rate); 2 = Gen2 (neither)."""
    not_worn_days_ago: int
    low_battery_days_ago: int
    readiness_pending_today: bool
    """Today's readiness is not computed yet (the app has not synced)."""
    rhr_bpm: float
    hrv_ms: float
    bedtime_minutes: int
    """Usual bedtime, minutes after local midnight of the evening (may exceed 24 h)."""
    person: PersonSpec | None = None
    """The shared synthetic person this member is (their days come from it), if any.

    Then ``age`` is the person's age on the member's today, from their birth date."""


DEFAULT_MEMBERS: tuple[MemberSpec, ...] = (
    MemberSpec(
        user_id="6a1e58f4-2c3b-4b1e-9f0a-1d2c3b4a5e6f",
        email=PERSON.email,
        age=PERSON.age_on(date(2026, 11, 21)),
        biological_sex=PERSON.biological_sex,
        height_m=round(PERSON.height_m, 2),
        weight_kg=round(PERSON.weight_kg, 1),
        home_offset=PERSON.home_offset,
        travel_offset=PERSON.travel_offset,
        travel_days_ago=PERSON.travel_days_ago,
        ring_generation=3,
        not_worn_days_ago=20,
        low_battery_days_ago=33,
        readiness_pending_today=True,
        rhr_bpm=PERSON.rhr_bpm,
        hrv_ms=PERSON.hrv_ms,
        bedtime_minutes=23 * 60 + 6,
        person=PERSON,
    ),
    MemberSpec(
        user_id="0f3c9b7e-8d21-4e55-a7c4-9b2e1f6d3a80",
        email="jonas.weber@example.com",
        age=45,
        biological_sex="male",
        height_m=1.83,
        weight_kg=82.0,
        home_offset="+01:00",
        travel_offset="-05:00",
        travel_days_ago=(140, 134),
        ring_generation=2,
        not_worn_days_ago=57,
        low_battery_days_ago=90,
        readiness_pending_today=False,
        rhr_bpm=59.0,
        hrv_ms=41.0,
        bedtime_minutes=23 * 60 + 30,
    ),
)


def oura_time(instant: datetime) -> str:
    """An instant as Oura writes it: local offset, whole seconds (``2026-11-20T23:14:05-07:00``)."""
    return instant.isoformat(timespec="seconds")


def _tz(tzd: str) -> timezone:
    if tzd in {"Z", "+00:00"}:
        return UTC
    sign = -1 if tzd[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(tzd[1:3]), minutes=int(tzd[4:6])))


def _doc_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


_NOISE_SIZE = 8192
_NOISE = [random.Random(20260101).gauss(0, 1) for _ in range(_NOISE_SIZE)]
"""Standard-normal noise shared by the long per-minute series (a fresh gauss each is slow)."""


def _noise(rng: random.Random, count: int) -> list[float]:
    """``count`` standard-normal values from a seeded place in the shared table."""
    at = rng.randrange(_NOISE_SIZE)
    out = _NOISE[at : at + count]
    while len(out) < count:
        out += _NOISE[: count - len(out)]
    return out


_MET_PER_CLASS = {"0": 0.0, "1": 0.9, "2": 1.2, "3": 2.5, "4": 4.5, "5": 8.0}
_MET_TABLES: dict[str, list[float | None]] = {
    c: [0.1 if c == "0" else round(max(0.1, met + z * 0.1), 1) for z in _NOISE]
    for c, met in _MET_PER_CLASS.items()
}
"""Per-minute MET values by 5-minute activity class, noise included."""

_ASLEEP_MOVES = tuple(
    "".join(random.Random(i).choice("1111112") for _ in range(10)) for i in range(16)
)
_AWAKE_MOVES = tuple("".join(random.Random(i).choice("2334") for _ in range(10)) for i in range(16))


@dataclass(frozen=True)
class Document:
    """A document as the sandbox serves it, with what it is filtered and sorted by."""

    day: date
    tz: timezone
    start: datetime
    """Sort key within a day (bedtime, start, or the day's timestamp)."""
    body: Json

    @property
    def id(self) -> str:
        """The document's ``id``."""
        return str(self.body["id"])

    def day_start(self) -> datetime:
        """Local midnight of ``day``: what date and date-time bounds are compared with."""
        return datetime.combine(self.day, time(0), tzinfo=self.tz)


@dataclass(frozen=True)
class _Interval:
    start: float
    end: float
    source: str


# (activity, weight, minutes low/high, intensity, has distance, kcal per minute)
_ACTIVITIES: tuple[tuple[str, int, int, int, str, bool, float], ...] = (
    ("walking", 30, 20, 70, "easy", True, 4.5),
    ("running", 18, 25, 65, "hard", True, 11.0),
    ("cycling", 14, 35, 110, "moderate", True, 8.5),
    ("strengthTraining", 12, 35, 70, "moderate", False, 6.0),
    ("yoga", 8, 30, 70, "easy", False, 3.5),
    ("hiking", 5, 90, 220, "moderate", True, 7.0),
    ("swimming", 4, 25, 55, "hard", True, 9.0),
    ("pilates", 3, 40, 60, "easy", False, 4.0),
    ("elliptical", 3, 25, 45, "moderate", False, 8.0),
    ("tennis", 2, 50, 100, "hard", False, 8.5),
    ("rowing", 1, 20, 50, "hard", True, 9.5),
)
_ACTIVITY_WEIGHTS = [a[1] for a in _ACTIVITIES]
_LABELS = {"running": "Morning run", "cycling": "Commute", "hiking": "Trail loop"}


@dataclass
class MemberHistory:
    """One member's documents by collection (oldest first) and the heart-rate generator."""

    spec: MemberSpec
    seed: int
    now: datetime
    days: int
    _collections: dict[str, list[Document]] | None = field(default=None, repr=False)
    _by_id: dict[str, dict[str, Json]] = field(default_factory=dict, repr=False)
    _intervals: list[_Interval] = field(default_factory=list, repr=False)
    _interval_starts: list[float] = field(default_factory=list, repr=False)
    _worn_days: set[date] = field(default_factory=set, repr=False)

    @property
    def user_id(self) -> str:
        """The member's Oura user id (``personal_info.id``)."""
        return self.spec.user_id

    @property
    def today(self) -> date:
        """The member's local date at ``now`` (in the offset they are in today)."""
        home = _tz(self.spec.home_offset)
        return self.now.astimezone(self._offset_for(self.now.astimezone(home).date())).date()

    @property
    def age(self) -> int:
        """The member's age in years (the person's, on the member's today)."""
        person = self.spec.person
        return person.age_on(self.today) if person is not None else self.spec.age

    @property
    def personal_info(self) -> Json:
        """The ``personal_info`` document, every field filled."""
        return {
            "id": self.spec.user_id,
            "age": self.age,
            "weight": self.spec.weight_kg,
            "height": self.spec.height_m,
            "biological_sex": self.spec.biological_sex,
            "email": self.spec.email,
        }

    def collection(self, name: str) -> list[Document]:
        """A collection's documents, oldest first (by day, then start, then id)."""
        return self._built()[name]

    def document(self, name: str, document_id: str) -> Json | None:
        """One document of a collection by id."""
        self._built()
        return self._by_id[name].get(document_id)

    def _offset_for(self, day: date) -> timezone:
        home = _tz(self.spec.home_offset)
        today = self.now.astimezone(home).date()
        first, last = self.spec.travel_days_ago
        return _tz(self.spec.travel_offset) if last <= (today - day).days <= first else home

    # ------------------------------------------------------------------ heart rate
    def heartrate(self, start: datetime, end: datetime) -> Iterator[Json]:
        """5-minute heart-rate rows with ``start <= timestamp < end`` (and before ``now``)."""
        self._built()
        step = HEARTRATE_INTERVAL_S
        first = math.ceil(start.timestamp() / step) * step
        stop = min(end.timestamp(), self.now.timestamp() + 1e-9)
        # intervals that may overlap the window (none lasts longer than a day)
        lo = bisect.bisect_left(self._interval_starts, first - 86_400)
        active = [i for i in self._intervals[lo:] if i.start < stop and i.end > first]
        home = _tz(self.spec.home_offset)
        rng_day = -1
        values: list[float] = []
        slot = first
        while slot < stop:
            utc_day = int(slot // 86_400)
            if utc_day != rng_day:
                rng_day = utc_day
                rng = random.Random(f"oura-hr:{self.seed}:{self.spec.user_id}:{utc_day}")
                values = [rng.gauss(0, 1) for _ in range(86_400 // step)]
            instant = datetime.fromtimestamp(slot, UTC)
            local_day = instant.astimezone(self._offset_for(instant.astimezone(home).date())).date()
            if local_day in self._worn_days:
                source = "awake"
                for interval in active:
                    if interval.start <= slot < interval.end:
                        source = interval.source
                        break
                if self.spec.ring_generation >= 3 or source in {"sleep", "rest"}:
                    noise = values[int(slot % 86_400) // step]
                    base = {
                        "sleep": self.spec.rhr_bpm + 3,
                        "rest": self.spec.rhr_bpm + 8,
                        "session": self.spec.rhr_bpm + 6,
                        "workout": self.spec.rhr_bpm + 70,
                    }.get(source, self.spec.rhr_bpm + 22)
                    yield {
                        "bpm": round(_clip(base + noise * 4, 38, 195)),
                        "source": source,
                        "timestamp": instant.isoformat(),
                        "timestamp_unix": int(slot * 1000),
                    }
            slot += step

    # ------------------------------------------------------------------ generation
    def _built(self) -> dict[str, list[Document]]:
        if self._collections is None:
            self._collections = _MemberBuilder(self).build()
            self._by_id = {
                name: {doc.id: doc.body for doc in docs} for name, docs in self._collections.items()
            }
        return self._collections


class _MemberBuilder:
    def __init__(self, member: MemberHistory) -> None:
        self.m = member
        self.spec = member.spec
        self.seed = member.seed
        self.now = member.now
        self.docs: dict[str, list[Document]] = {name: [] for name in COLLECTIONS}
        self.ring_id = _doc_id(random.Random(f"oura-ring:{self.seed}:{self.spec.user_id}"))
        person = self.spec.person
        self.life: Life | None = life(person, self.seed, self.now) if person else None

    def rng(self, *parts: object) -> random.Random:
        return random.Random(
            ":".join(["oura", str(self.seed), self.spec.user_id, *map(str, parts)])
        )

    def build(self) -> dict[str, list[Document]]:
        today = self.m.today
        first = today - timedelta(days=self.m.days - 1)
        day = first
        while day <= today:
            self.day(day, (today - day).days, (day - first).days)
            day += timedelta(days=1)
        for docs in self.docs.values():
            docs.sort(key=lambda d: (d.day, d.start, d.id))
        self.m._intervals.sort(key=lambda i: i.start)
        self.m._interval_starts = [i.start for i in self.m._intervals]
        return self.docs

    def add(self, name: str, day: date, tz: timezone, start: datetime, body: Json) -> None:
        self.docs[name].append(Document(day, tz, start, body))

    # ------------------------------------------------------------------ one day
    def day(self, day: date, days_ago: int, age_days: int) -> None:
        spec = self.spec
        if days_ago == spec.not_worn_days_ago:
            return  # the ring sat on the charger: nothing at all
        self.m._worn_days.add(day)
        tz = self.m._offset_for(day)
        rng = self.rng("day", day.isoformat())
        midnight = datetime.combine(day, time(0), tzinfo=tz)
        stamp = oura_time(midnight)
        fatigue = math.sin(age_days / 9.0) * 0.5 + rng.gauss(0, 0.5)
        low_battery = days_ago == spec.low_battery_days_ago

        sleep = self.long_sleep(rng, day, tz, fatigue, low_battery)
        if sleep is not None:
            self.sleep_scores(rng, day, tz, stamp, sleep, low_battery, fatigue)
            if spec.ring_generation >= 3:
                self.add(
                    "daily_spo2",
                    day,
                    tz,
                    midnight,
                    {
                        "id": _doc_id(rng),
                        "breathing_disturbance_index": None if low_battery else rng.randint(0, 18),
                        "day": day.isoformat(),
                        "spo2_percentage": None
                        if low_battery
                        else {"average": round(_clip(rng.gauss(96.6, 0.9), 92, 99.9), 3)},
                    },
                )
            readiness = sleep.get("readiness")
            pending = days_ago == 0 and spec.readiness_pending_today
            if (readiness is not None or low_battery) and not pending:
                contributors = (
                    readiness["contributors"]
                    if readiness
                    else self.readiness_contributors(rng, fatigue, age_days, low_battery=True)
                )
                self.add(
                    "daily_readiness",
                    day,
                    tz,
                    midnight,
                    {
                        "id": _doc_id(rng),
                        "contributors": contributors,
                        "day": day.isoformat(),
                        "score": readiness["score"] if readiness else None,
                        "temperature_deviation": readiness["temperature_deviation"]
                        if readiness
                        else None,
                        "temperature_trend_deviation": readiness["temperature_trend_deviation"]
                        if readiness
                        else None,
                        "timestamp": stamp,
                    },
                )
        self.naps(rng, day, tz, days_ago)
        workouts = self.workouts(rng, day, tz)
        self.activity(rng, day, tz, fatigue, workouts)
        self.stress(rng, day, tz, days_ago)
        self.sessions(rng, day, tz, days_ago)
        if age_days % 5 == 2 and day <= self.m.today:
            at = midnight + timedelta(hours=7, minutes=rng.randint(0, 90))
            if at <= self.now:
                self.add(
                    "vO2_max",
                    day,
                    tz,
                    at,
                    {
                        "id": _doc_id(rng),
                        "day": day.isoformat(),
                        "timestamp": oura_time(at),
                        "vo2_max": round(_clip(44 - self.m.age * 0.15 + rng.gauss(0, 1.2), 25, 60)),
                    },
                )

    # ------------------------------------------------------------------ sleep
    def long_sleep(
        self, rng: random.Random, day: date, tz: timezone, fatigue: float, low_battery: bool
    ) -> Json | None:
        if self.life is not None:
            return self.measured_sleep(self.life, rng, day, tz, fatigue, low_battery)
        evening = datetime.combine(day - timedelta(days=1), time(0), tzinfo=tz)
        bedtime = evening + timedelta(minutes=self.spec.bedtime_minutes + rng.randint(-50, 60))
        epochs = int(_clip(rng.gauss(92, 9), 66, 115))
        end = bedtime + timedelta(seconds=epochs * 300)
        if end > self.now:
            return None  # tonight is not over (or not synced) yet
        body = self.sleep_body(rng, day, bedtime, epochs, "long_sleep", 0, fatigue, low_battery)
        self.add("sleep", day, tz, bedtime, body)
        self.interval(bedtime, end, "sleep")
        return body

    def measured_sleep(
        self,
        truth: Life,
        rng: random.Random,
        day: date,
        tz: timezone,
        fatigue: float,
        low_battery: bool,
    ) -> Json | None:
        """The person's true night as the ring sees it."""
        night = truth.night(day)
        shift = rng.randint(-6, 6)
        bedtime = (night.bed + timedelta(minutes=shift)).astimezone(tz)
        rise = night.rise + timedelta(minutes=rng.randint(-6, 6))
        epochs = max(4, round((rise - bedtime).total_seconds() / 300))
        end = bedtime + timedelta(seconds=epochs * 300)
        if end > self.now:
            return None  # tonight is not over (or not synced) yet
        phases = _measured_phases(rng, night, shift, epochs)
        vitals = truth.day(day)
        lowest = vitals.resting_hr + rng.uniform(-1.5, 0.8)
        hrv = vitals.hrv_ms * rng.uniform(0.92, 1.0)
        body = self.sleep_body(
            rng,
            day,
            bedtime,
            epochs,
            "long_sleep",
            0,
            fatigue,
            low_battery,
            phases=phases,
            vitals=(lowest, hrv),
        )
        self.add("sleep", day, tz, bedtime, body)
        self.interval(bedtime, end, "sleep")
        return body

    def sleep_body(
        self,
        rng: random.Random,
        day: date,
        bedtime: datetime,
        epochs: int,
        kind: str,
        period: int,
        fatigue: float,
        low_battery: bool = False,
        *,
        phases: str | None = None,
        vitals: tuple[float, float] | None = None,
    ) -> Json:
        """A sleep period's document.

        ``phases`` and ``vitals`` (lowest heart rate, average HRV) are what the ring
        measured; without them they are made up here.
        """
        end = bedtime + timedelta(seconds=epochs * 300)
        body: Json = {
            "id": _doc_id(rng),
            "average_breath": None,
            "average_heart_rate": None,
            "average_hrv": None,
            "awake_time": None,
            "bedtime_end": oura_time(end),
            "bedtime_start": oura_time(bedtime),
            "day": day.isoformat(),
            "deep_sleep_duration": None,
            "efficiency": None,
            "heart_rate": None,
            "hrv": None,
            "latency": None,
            "light_sleep_duration": None,
            "low_battery_alert": low_battery,
            "lowest_heart_rate": None,
            "movement_30_sec": None,
            "period": period,
            "readiness": None,
            "readiness_score_delta": None,
            "rem_sleep_duration": None,
            "restless_periods": None,
            "sleep_algorithm_version": "v2",
            "sleep_analysis_reason": "foreground_sleep_analysis",
            "sleep_phase_30_sec": None,
            "sleep_phase_5_min": None,
            "sleep_score_delta": None,
            "time_in_bed": epochs * 300,
            "total_sleep_duration": None,
            "type": kind,
            "ring_id": self.ring_id,
            "app_sleep_phase_5_min": None,
        }
        if low_battery:
            return body
        if phases is None:
            phases = _phases(rng, epochs, nap=kind != "long_sleep")
        deep, light, rem, awake = (phases.count(c) * 300 for c in "1234")
        hr_items: list[float | None] = []
        hrv_items: list[float | None] = []
        rhr, hrv = self.spec.rhr_bpm + fatigue * 2, self.spec.hrv_ms - fatigue * 5
        if vitals is not None:
            rhr, hrv = vitals
        noise = _noise(rng, 2 * epochs)
        for index, phase in enumerate(phases):
            if phase == "4" and noise[index] > 0.5:
                hr_items.append(None)
                hrv_items.append(None)
                continue
            dip = -4 * math.sin(math.pi * index / max(1, epochs))
            hr_items.append(float(round(rhr + 3 + dip + noise[index] * 1.5)))
            hrv_items.append(float(round(_clip(hrv + noise[epochs + index] * 8, 8, 180))))
        if vitals is not None:  # the lowest heart rate and average HRV are the measured ones
            measured = [v for v in hr_items if v is not None]
            lift = round(rhr) - min(measured) if measured else 0.0
            hr_items = [None if v is None else v + lift for v in hr_items]
            measured = [v for v in hrv_items if v is not None]
            lift = round(hrv - sum(measured) / len(measured)) if measured else 0.0
            hrv_items = [None if v is None else _clip(v + lift, 8, 180) for v in hrv_items]
        hr_values = [v for v in hr_items if v is not None] or [rhr]
        hrv_values = [v for v in hrv_items if v is not None] or [hrv]
        latency = (len(phases) - len(phases.lstrip("4"))) * 300
        movement = "".join(
            rng.choice(_AWAKE_MOVES if phase == "4" else _ASLEEP_MOVES) for phase in phases
        )
        body.update(
            {
                "average_breath": round(_clip(rng.gauss(14.5, 0.8), 10, 22), 3),
                "average_heart_rate": round(sum(hr_values) / len(hr_values), 3),
                "average_hrv": round(sum(hrv_values) / len(hrv_values)),
                "awake_time": awake,
                "deep_sleep_duration": deep,
                "efficiency": max(1, round(100 * (deep + light + rem) / (epochs * 300))),
                "heart_rate": {
                    "interval": 300.0,
                    "items": hr_items,
                    "timestamp": oura_time(bedtime),
                },
                "hrv": {"interval": 300.0, "items": hrv_items, "timestamp": oura_time(bedtime)},
                "latency": latency,
                "light_sleep_duration": light,
                "lowest_heart_rate": round(min(hr_values)),
                "movement_30_sec": movement,
                "rem_sleep_duration": rem,
                "restless_periods": rng.randint(40, 320) * epochs // 96,
                "sleep_phase_5_min": phases,
                "app_sleep_phase_5_min": phases,
                "total_sleep_duration": deep + light + rem,
            }
        )
        if kind == "long_sleep":
            body["readiness"] = self.readiness(rng, fatigue, (self.m.today - day).days)
        else:
            body["readiness_score_delta"] = rng.randint(0, 3) if kind != "rest" else None
            body["sleep_score_delta"] = rng.randint(0, 4) if kind != "rest" else None
        return body

    def readiness(self, rng: random.Random, fatigue: float, days_ago: int) -> Json:
        age_days = self.m.days - 1 - days_ago
        contributors = self.readiness_contributors(rng, fatigue, age_days)
        known = [v for v in contributors.values() if v is not None]
        score = round(_clip(sum(known) / len(known) + rng.gauss(0, 3), 1, 100))
        deviation = round(_clip(rng.gauss(0, 0.25) + fatigue * 0.1, -2.5, 2.5), 2)
        return {
            "contributors": contributors,
            "score": score,
            "temperature_deviation": deviation,
            "temperature_trend_deviation": round(deviation * 0.6 + rng.gauss(0, 0.05), 2),
        }

    def readiness_contributors(
        self, rng: random.Random, fatigue: float, age_days: int, *, low_battery: bool = False
    ) -> Json:
        def c(mean: float) -> int:
            return round(_clip(rng.gauss(mean - fatigue * 8, 9), 1, 100))

        learning = age_days < 14  # baselines need two weeks of data
        return {
            "activity_balance": None if learning else c(82),
            "body_temperature": None if low_battery else c(92),
            "hrv_balance": None if learning or low_battery else c(78),
            "previous_day_activity": c(80),
            "previous_night": None if low_battery else c(76),
            "recovery_index": None if low_battery else c(74),
            "resting_heart_rate": None if low_battery else c(84),
            "sleep_balance": None if learning else c(80),
            "sleep_regularity": None if learning else c(79),
        }

    def sleep_scores(
        self,
        rng: random.Random,
        day: date,
        tz: timezone,
        stamp: str,
        sleep: Json,
        low_battery: bool,
        fatigue: float,
    ) -> None:
        if low_battery:
            contributors: Json = dict.fromkeys(
                (
                    "deep_sleep",
                    "efficiency",
                    "latency",
                    "rem_sleep",
                    "restfulness",
                    "timing",
                    "total_sleep",
                )
            )
            score = None
        else:
            total = sleep["total_sleep_duration"]
            contributors = {
                "deep_sleep": round(_clip(sleep["deep_sleep_duration"] / 54, 1, 100)),
                "efficiency": round(_clip(sleep["efficiency"] * 1.05, 1, 100)),
                "latency": round(_clip(100 - sleep["latency"] / 60 * 2.5, 1, 100)),
                "rem_sleep": round(_clip(sleep["rem_sleep_duration"] / 60, 1, 100)),
                "restfulness": round(_clip(rng.gauss(72 - fatigue * 5, 8), 1, 100)),
                "timing": round(_clip(rng.gauss(86, 10), 1, 100)),
                "total_sleep": round(_clip(total / 288, 1, 100)),
            }
            score = round(_clip(sum(contributors.values()) / 7 + rng.gauss(0, 2), 1, 100))
        self.add(
            "daily_sleep",
            day,
            tz,
            datetime.combine(day, time(0), tzinfo=tz),
            {
                "id": _doc_id(rng),
                "contributors": contributors,
                "day": day.isoformat(),
                "score": score,
                "timestamp": stamp,
            },
        )

    def naps(self, rng: random.Random, day: date, tz: timezone, days_ago: int) -> None:
        if self.life is not None:
            self.measured_naps(self.life, rng, day, tz, days_ago)
            return
        midnight = datetime.combine(day, time(0), tzinfo=tz)
        period = 1
        roll = rng.random()
        if roll < 0.11 or days_ago in {3, 9}:  # an afternoon nap the user confirmed
            start = midnight + timedelta(hours=14, minutes=rng.randint(0, 90))
            self.nap(rng, day, tz, start, rng.randint(4, 12), "sleep", period)
            period += 1
        elif roll < 0.15 or days_ago in {5, 15}:  # detected, then rejected in the app
            start = midnight + timedelta(hours=13, minutes=rng.randint(0, 60))
            self.nap(rng, day, tz, start, rng.randint(4, 8), "rest", period)
            period += 1
        if rng.random() < 0.04 or days_ago in {11, 40}:  # dozed off after 18:00: next day's
            start = midnight + timedelta(hours=19, minutes=rng.randint(0, 45))
            self.nap(rng, day + timedelta(days=1), tz, start, rng.randint(4, 9), "late_nap", 1)

    def measured_naps(
        self, truth: Life, rng: random.Random, day: date, tz: timezone, days_ago: int
    ) -> None:
        """The person's true naps; rests the user rejected and late naps where they were free."""
        midnight = datetime.combine(day, time(0), tzinfo=tz)
        period = 1
        for asleep, awake in truth.day(day).naps:
            start = (asleep + timedelta(minutes=rng.randint(0, 3))).astimezone(tz)
            epochs = max(4, round((awake - start).total_seconds() / 300))
            self.nap(rng, day, tz, start, epochs, "sleep", period)
            period += 1
        if rng.random() < 0.04 or days_ago in {5, 15}:  # detected, then rejected in the app
            epochs = rng.randint(4, 8)
            wanted = midnight + timedelta(hours=13, minutes=rng.randint(0, 60))
            rest = _free_start(truth, day, wanted, epochs * 5)
            if rest is not None:
                self.nap(rng, day, tz, rest, epochs, "rest", period)
        if rng.random() < 0.04 or days_ago in {11, 40}:  # dozed off after 18:00: next day's
            epochs = rng.randint(4, 9)
            wanted = midnight + timedelta(hours=19, minutes=rng.randint(0, 45))
            doze = _free_start(truth, day, wanted, epochs * 5)
            if doze is not None:
                self.nap(rng, day + timedelta(days=1), tz, doze, epochs, "late_nap", 1)

    def nap(
        self,
        rng: random.Random,
        day: date,
        tz: timezone,
        start: datetime,
        epochs: int,
        kind: str,
        period: int,
    ) -> None:
        end = start + timedelta(seconds=epochs * 300)
        if end > self.now or day > self.m.today:
            return
        body = self.sleep_body(rng, day, start, epochs, kind, period, 0.0)
        self.add("sleep", day, tz, start, body)
        self.interval(start, end, "rest" if kind == "rest" else "sleep")

    def interval(self, start: datetime, end: datetime, source: str) -> None:
        self.m._intervals.append(_Interval(start.timestamp(), end.timestamp(), source))

    # ------------------------------------------------------------------ activity
    def workouts(self, rng: random.Random, day: date, tz: timezone) -> list[tuple[int, int, str]]:
        """Workouts of the day; returns their (start slot, end slot, intensity) for activity."""
        if self.life is not None:
            return self.measured_workouts(self.life, rng, day, tz)
        slots: list[tuple[int, int, str]] = []
        count = rng.choices((0, 1, 2), weights=(50, 40, 10))[0]
        hours = sorted(rng.sample((7, 12, 17, 18), count))
        midnight = datetime.combine(day, time(0), tzinfo=tz)
        for hour in hours:
            name, _, low, high, intensity, has_distance, kcal = rng.choices(
                _ACTIVITIES, weights=_ACTIVITY_WEIGHTS
            )[0]
            minutes = rng.randint(low, high)
            start = midnight + timedelta(hours=hour, minutes=rng.randint(0, 40))
            end = start + timedelta(minutes=minutes, seconds=rng.randint(0, 59))
            if end > self.now:
                continue
            source = rng.choices(
                ("autodetected", "confirmed", "manual", "workout_heart_rate"),
                weights=(45 if name == "walking" else 10, 25, 25, 15),
            )[0]
            self.workout_document(
                rng, day, tz, start, end, minutes, name, intensity, has_distance, kcal, source
            )
            first = (hour - 4) * 12
            slots.append((first, first + minutes // 5 + 1, intensity))
        return slots

    def workout_document(
        self,
        rng: random.Random,
        day: date,
        tz: timezone,
        start: datetime,
        end: datetime,
        minutes: float,
        name: str,
        intensity: str,
        has_distance: bool,
        kcal: float,
        source: str,
    ) -> None:
        """One workout document as Oura's API sends it, and the interval it occupies."""
        speed = {"walking": 80, "running": 170, "cycling": 380, "hiking": 70}.get(name, 40)
        distance = (
            round(minutes * speed * rng.uniform(0.85, 1.15), 1)
            if has_distance and not (source == "manual" and rng.random() < 0.5)
            else None
        )
        self.add(
            "workout",
            day,
            tz,
            start,
            {
                "id": _doc_id(rng),
                "activity": name,
                "calories": round(minutes * kcal * rng.uniform(0.8, 1.2), 3),
                "day": day.isoformat(),
                "distance": distance,
                "end_datetime": oura_time(end),
                "intensity": intensity,
                "label": _LABELS.get(name) if rng.random() < 0.2 else None,
                "source": source,
                "start_datetime": oura_time(start),
            },
        )
        self.interval(start, end, "workout")

    def measured_workouts(
        self, truth: Life, rng: random.Random, day: date, tz: timezone
    ) -> list[tuple[int, int, str]]:
        """The person's true workouts the ring detected or the user logged."""
        slots: list[tuple[int, int, str]] = []
        day_start = datetime.combine(day, time(4), tzinfo=tz)
        for workout in truth.day(day).workouts:
            if workout.sport != "ice hockey" and rng.random() < 0.1:
                continue  # neither detected nor logged
            name, intensity, has_distance, kcal = _OURA_SPORTS[workout.sport]
            source = rng.choices(
                ("autodetected", "confirmed", "manual", "workout_heart_rate"),
                weights=(45 if name == "walking" else 10, 25, 25, 15),
            )[0]
            detected = source in {"autodetected", "confirmed"}
            late = rng.randint(120, 540) if detected else rng.randint(-60, 60)
            start = (workout.start + timedelta(seconds=late)).astimezone(tz)
            end = (workout.end + timedelta(seconds=rng.randint(-90, 60))).astimezone(tz)
            if end > self.now:
                continue
            minutes = (end - start).total_seconds() / 60
            self.workout_document(
                rng, day, tz, start, end, minutes, name, intensity, has_distance, kcal, source
            )
            first = int((start - day_start).total_seconds() // 300)
            slots.append((first, first + int(minutes) // 5 + 1, intensity))
        return slots

    def measured_classes(self, truth: Life, rng: random.Random, day: date) -> list[str]:
        """5-minute activity classes from 04:00.

        Resting while the person lay in bed; low activity as often as their true steps
        that hour say.
        """
        today, tomorrow = truth.day(day), truth.day(day + timedelta(days=1))
        lying = [(today.night.bed, today.night.rise), *today.naps]
        lying += [(tomorrow.night.bed, tomorrow.night.rise)]
        start = today.midnight + timedelta(hours=4)
        resting = [False] * 288
        for a, b in lying:  # slots whose middle minute (+2 min) lies in [a, b)
            first = math.ceil((a - start).total_seconds() / 300 - 0.4)
            last = math.ceil((b - start).total_seconds() / 300 - 0.4)
            for slot in range(max(0, first), min(288, last)):
                resting[slot] = True
        hourly = today.hourly_steps[4:] + tomorrow.hourly_steps[:4]
        active = [_clip(steps / 1500, 0.03, 0.9) for steps in hourly]
        return [
            "1" if resting[slot] else "3" if rng.random() < active[slot // 12] else "2"
            for slot in range(288)
        ]

    def measured_steps(self, truth: Life, rng: random.Random, day: date, classes: str) -> int:
        """The true steps of the 5-minute slots the ring was worn, counted a little off."""
        today, tomorrow = truth.day(day), truth.day(day + timedelta(days=1))
        hourly = today.hourly_steps[4:] + tomorrow.hourly_steps[:4]
        worn = sum(hourly[slot // 12] / 12 for slot, c in enumerate(classes) if c != "0")
        return round(worn * rng.uniform(0.96, 1.03))

    def activity(
        self,
        rng: random.Random,
        day: date,
        tz: timezone,
        fatigue: float,
        workouts: list[tuple[int, int, str]],
    ) -> None:
        day_start = datetime.combine(day, time(4), tzinfo=tz)  # Oura's activity day: 04:00-04:00
        if day_start > self.now:
            return
        if self.life is not None:
            classes = self.measured_classes(self.life, rng, day)
        else:
            classes = []
            for slot in range(288):
                hour = 4 + slot / 12
                if hour < 7 or hour >= 23:
                    classes.append("1")
                else:
                    classes.append("2" if rng.random() < 0.7 else "3")
        for first, last, intensity in workouts:
            level = {"easy": "3", "moderate": "4", "hard": "5"}[intensity]
            for slot in range(max(0, first), min(288, last)):
                classes[slot] = level
        if rng.random() < 0.08:  # took the ring off for a while
            gap, length = rng.randint(100, 200), rng.randint(6, 24)
            if self.life is not None:  # the person: a short charge, never while training
                length = (length + 2) // 4
                if any(c in "45" for c in classes[gap : gap + length]):
                    length = 0
            classes[gap : gap + length] = ["0"] * length
        elapsed = int((self.now - day_start).total_seconds() // 300)
        partial = elapsed < 288
        classes = classes[: max(1, elapsed)] if partial else classes
        class_5_min = "".join(classes)
        counts = {c: class_5_min.count(c) * 300 for c in "012345"}
        met_per_class = _MET_PER_CLASS
        at = rng.randrange(_NOISE_SIZE - 5)
        met_items: list[float | None] = []
        for c in class_5_min:
            met_items += _MET_TABLES[c][at : at + 5]
            at = (at + 5) % (_NOISE_SIZE - 5)

        def met_minutes(cls: str) -> int:
            return round(counts[cls] / 60 * met_per_class[cls])

        active_kcal = round(
            (counts["3"] * 2.5 + counts["4"] * 5 + counts["5"] * 10) / 60 * self.spec.weight_kg / 70
        )
        bmr = round(
            (10 * self.spec.weight_kg + 625 * self.spec.height_m - 5 * self.m.age)
            * (len(classes) / 288)
        )
        if self.life is not None:
            steps = self.measured_steps(self.life, rng, day, class_5_min)
        else:
            steps = round(counts["2"] / 60 * 8 + counts["3"] / 60 * 70 + counts["4"] / 60 * 110)
            steps += round(counts["5"] / 60 * 150)
        distance = round(steps * 0.74)
        target_meters = 8000
        self.add(
            "daily_activity",
            day,
            tz,
            day_start,
            {
                "id": _doc_id(rng),
                "active_calories": active_kcal,
                "average_met_minutes": round(
                    sum(v or 0.0 for v in met_items) / max(1, len(met_items)), 3
                ),
                "class_5_min": class_5_min,
                "contributors": {
                    "meet_daily_targets": round(_clip(rng.gauss(70, 15), 1, 100)),
                    "move_every_hour": round(_clip(rng.gauss(88, 10), 1, 100)),
                    "recovery_time": round(_clip(rng.gauss(85 + fatigue * 4, 10), 1, 100)),
                    "stay_active": round(_clip(rng.gauss(75, 12), 1, 100)),
                    "training_frequency": round(_clip(rng.gauss(80, 15), 1, 100)),
                    "training_volume": round(_clip(rng.gauss(82, 12), 1, 100)),
                },
                "day": day.isoformat(),
                "equivalent_walking_distance": distance,
                "high_activity_met_minutes": met_minutes("5"),
                "high_activity_time": counts["5"],
                "inactivity_alerts": rng.randint(0, 3),
                "low_activity_met_minutes": met_minutes("3"),
                "low_activity_time": counts["3"],
                "medium_activity_met_minutes": met_minutes("4"),
                "medium_activity_time": counts["4"],
                "met": {"interval": 60.0, "items": met_items, "timestamp": oura_time(day_start)},
                "meters_to_target": max(0, target_meters - distance),
                "non_wear_time": counts["0"],
                "resting_time": counts["1"],
                "score": None if partial else round(_clip(rng.gauss(80, 9), 1, 100)),
                "sedentary_met_minutes": met_minutes("2"),
                "sedentary_time": counts["2"],
                "steps": steps,
                "target_calories": 450,
                "target_meters": target_meters,
                "timestamp": oura_time(day_start),
                "total_calories": bmr + active_kcal,
            },
        )

    def stress(self, rng: random.Random, day: date, tz: timezone, days_ago: int) -> None:
        midnight = datetime.combine(day, time(0), tzinfo=tz)
        stress = rng.randint(0, 300) * 60
        recovery = rng.randint(0, 240) * 60
        summary = (
            "stressful" if stress > recovery * 2 else "restored" if recovery > stress else "normal"
        )
        self.add(
            "daily_stress",
            day,
            tz,
            midnight,
            {
                "id": _doc_id(rng),
                "day": day.isoformat(),
                "day_summary": None if days_ago == 0 else summary,
                "recovery_high": recovery,
                "stress_high": stress,
            },
        )

    def sessions(self, rng: random.Random, day: date, tz: timezone, days_ago: int) -> None:
        if rng.random() > 0.16 and days_ago != 2:
            return
        kind = rng.choices(("meditation", "breathing", "relaxation"), weights=(6, 3, 1))[0]
        midnight = datetime.combine(day, time(0), tzinfo=tz)
        start = midnight + timedelta(hours=20, minutes=rng.randint(0, 90))
        minutes = rng.randint(5, 20)
        if self.life is not None:  # when the person was free (the planted one for sure)
            free = _free_start(self.life, day, start, minutes)
            if free is None or (free != start and days_ago != 2):
                return
            start = free.astimezone(tz)
        end = start + timedelta(minutes=minutes)
        if end > self.now:
            return

        def sample(mean: float, spread: float) -> Json:
            return {
                "interval": 5.0,
                "items": [round(mean + z * spread, 1) for z in _noise(rng, minutes * 12)],
                "timestamp": oura_time(start),
            }

        self.add(
            "session",
            day,
            tz,
            start,
            {
                "id": _doc_id(rng),
                "day": day.isoformat(),
                "end_datetime": oura_time(end),
                "heart_rate": sample(self.spec.rhr_bpm + 6, 2),
                "heart_rate_variability": sample(self.spec.hrv_ms, 6),
                "mood": rng.choice(("bad", "worse", "same", "good", "great", None)),
                "motion_count": {
                    "interval": 5.0,
                    "items": [float(max(0, round(z))) for z in _noise(rng, minutes * 12)],
                    "timestamp": oura_time(start),
                },
                "start_datetime": oura_time(start),
                "type": kind,
            },
        )
        self.interval(start, end, "session")


# The person's sports as Oura names them: (activity, intensity, has distance, kcal per minute)
_OURA_SPORTS: dict[str, tuple[str, str, bool, float]] = {
    "running": ("running", "hard", True, 11.0),
    "weightlifting": ("strengthTraining", "moderate", False, 6.0),
    "functional fitness": ("crossTraining", "hard", False, 9.0),
    "cycling": ("cycling", "moderate", True, 8.5),
    "walking": ("walking", "easy", True, 4.5),
    "yoga": ("yoga", "easy", False, 3.5),
    "hiit": ("hiit", "hard", False, 10.0),
    "swimming": ("swimming", "hard", True, 9.0),
    "spin": ("cycling", "hard", False, 10.0),
    "tennis": ("tennis", "hard", False, 8.5),
    "pilates": ("pilates", "easy", False, 4.0),
    "hiking/rucking": ("hiking", "moderate", True, 7.0),
    "rowing": ("rowing", "hard", True, 9.5),
    "activity": ("other", "easy", False, 4.0),
    "ice hockey": ("iceHockey", "hard", False, 10.0),
}
_PHASE_OF = {"deep": "1", "light": "2", "rem": "3", "awake": "4"}


def _measured_phases(rng: random.Random, night: Night, shift: int, epochs: int) -> str:
    """The ring's hypnogram of a true night, awake at either end.

    Each 5-minute epoch is its middle minute's stage; a few epochs are read as light
    sleep (or light as deep or REM).
    """
    minutes = night.window(shift, shift + epochs * 5)
    phases = []
    for epoch in range(epochs):
        phase = _PHASE_OF[minutes[epoch * 5 + 2]]
        if phase != "4" and rng.random() < 0.06:
            phase = rng.choice("13") if phase == "2" else "2"
        phases.append(phase)
    phases[0] = phases[-1] = "4"
    return "".join(phases)


def _free_start(truth: Life, day: date, wanted: datetime, minutes: int) -> datetime | None:
    """``wanted``, or up to two hours later, when ``minutes`` fit while the person was up.

    Their naps and workouts keep 15 minutes clear either side; None if nothing fits.
    """
    today = truth.day(day)
    next_bed = truth.night(day + timedelta(days=1)).bed
    margin = timedelta(minutes=15)
    busy = [(w.start, w.end) for w in today.workouts] + list(today.naps)
    for step in range(5):
        start = wanted + timedelta(minutes=30 * step)
        end = start + timedelta(minutes=minutes)
        if start < today.night.rise + timedelta(hours=1) or end > next_bed - timedelta(hours=1):
            continue
        if not any(start < b + margin and a < end + margin for a, b in busy):
            return start
    return None


def _phases(rng: random.Random, epochs: int, *, nap: bool) -> str:
    """A 5-minute hypnogram: 1 deep, 2 light, 3 REM, 4 awake; starts and ends awake."""
    out: list[str] = ["4"] * rng.randint(1, 3)
    cycle = 0
    while len(out) < epochs - 1:
        late = cycle >= 2
        out += ["2"] * rng.randint(3, 6)
        out += ["1"] * (rng.randint(0, 2) if late or nap else rng.randint(4, 8))
        out += ["2"] * rng.randint(1, 3)
        if not nap:
            out += ["3"] * (rng.randint(4, 7) if late else rng.randint(1, 3))
        if rng.random() < 0.35:
            out += ["4"] * rng.randint(1, 2)
        cycle += 1
    out = [*out[: epochs - 1], "4"]
    return "".join(out)


@dataclass
class History:
    """Every member's history, by user id; members generate on first use."""

    now: datetime
    seed: int
    days: int
    members: dict[str, MemberHistory]


def generate_history(
    *,
    now: datetime,
    seed: int = 42,
    days: int = 400,
    members: int | tuple[MemberSpec, ...] = 2,
) -> History:
    """The synthetic history ending at ``now`` (documents are built lazily per member)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if days < 30:
        raise ValueError("keep at least 30 days of history")
    specs = members if isinstance(members, tuple) else _specs(members)
    return History(
        now=now,
        seed=seed,
        days=days,
        members={spec.user_id: MemberHistory(spec, seed, now, days) for spec in specs},
    )


def _specs(count: int) -> tuple[MemberSpec, ...]:
    if count < 1:
        raise ValueError("at least one member")
    specs = list(DEFAULT_MEMBERS[:count])
    for index in range(len(specs), count):
        base = DEFAULT_MEMBERS[index % len(DEFAULT_MEMBERS)]
        user_id = str(uuid.UUID(int=index * 7_919 + 1, version=4))
        specs.append(
            MemberSpec(
                **{
                    **base.__dict__,
                    "user_id": user_id,
                    "email": f"member{index + 1}@example.com",
                    "person": None,  # someone else: their own days
                }
            )
        )
    return tuple(specs)
