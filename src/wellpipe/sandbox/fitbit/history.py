"""Deterministic synthetic Fitbit history, in the Google Health API's shapes.

For every member, civil day by civil day (in the time zone they were in that day):

* a main sleep ending that morning: ``STAGES`` with contiguous stage segments
  covering the whole session, sometimes ``CLASSIC`` (ASLEEP/RESTLESS/AWAKE) when
  stages were rejected; afternoon naps (classic, ``REJECTED_NAP``); the newest
  night still ``processed: false``; one night that starts after midnight;
* exercises (types from the discovery document's enum) with a metrics summary,
  and the Active Zone Minutes they earned, one point per minute;
* steps and distance per hour from TWO sources: the tracker (``FITBIT``) and a
  phone (``HEALTH_CONNECT``) whose hours overlap the tracker's, so summing a raw
  ``list`` double-counts while ``reconcile`` and the roll-ups merge them (the
  tracker wins an hour both recorded; the phone fills the tracker's charging hour);
* total calories for every hour of a worn day, active energy for active hours;
* the nightly daily types (resting HR, HRV, SpO2, breathing rate, skin
  temperature) and a daily VO2 max; weight on some mornings; one height;
* heart-rate samples, one a minute, generated on demand for the window asked
  (never stored).

Edge cases: days with no data at all (the tracker stayed in a drawer), a travel
week in another time zone, a night without SpO2, and the newest night unprocessed
(no nightly metrics yet). The same seed and ``now`` give the same bytes.

The first default member is `wellpipe.sandbox.person.PERSON` (the WHOOP and Oura
sandboxes' default member too): the same age (from the birth date), height and
latest weigh-in, the same home time zone and travel week (zones with one UTC offset
all year), and the person's true nights, naps, workouts, steps, resting heart rate
and HRV as a tracker measures them: sessions a few minutes off at either end, stage
boundaries a couple of minutes off, steps from the true hourly steps (the charging
hour falls when the person was not training), a resting heart rate a little above
the truth, a daily RMSSD a little below it, most workouts (some never tracked).
"""

from __future__ import annotations

import bisect
import gc
import operator
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from wellpipe.sandbox.fitbit.types import (
    ACTIVITY,
    civil,
    date_json,
    duration,
    offset_seconds,
    rfc3339,
)
from wellpipe.sandbox.person import PERSON, Life, PersonSpec, life

__all__ = [
    "DEFAULT_MEMBERS",
    "History",
    "MemberHistory",
    "MemberSpec",
    "Point",
    "generate_history",
]

Json = dict[str, Any]
WEARABLE_SOURCES = frozenset({"tracker", "tracker-active", "derived", "scale"})
"""``google-wearables``: trackers and scales; no phone, no manual logs."""


@dataclass(frozen=True)
class MemberSpec:
    """One synthetic Google Health user. Day fields count back from today (0 = today)."""

    health_user_id: str
    legacy_user_id: str
    home_zone: str
    travel_zone: str
    travel_days_ago: tuple[int, int]
    """First and last day (days ago, first >= last) spent in ``travel_zone``."""
    no_data_days_ago: tuple[int, ...]
    missing_spo2_days_ago: int
    late_sleep_days_ago: int
    """The night that starts after local midnight (the session lies wholly in one civil day)."""
    age: int
    membership_start: date
    height_mm: int
    weight_g: float
    rhr_bpm: float
    hrv_ms: float
    vo2_max: float
    walking_stride_mm: int
    running_stride_mm: int
    tracker: tuple[str, str]
    """Display name and form factor of the wearable."""
    phone: tuple[str, str, str]
    """Display name, manufacturer and app package of the phone writing via Health Connect."""
    metric_units: bool
    locale: str
    person: PersonSpec | None = None
    """The shared synthetic person this member is (their days come from it), if any.

    Then ``age`` is the person's age on the member's today, from their birth date."""


DEFAULT_MEMBERS: tuple[MemberSpec, ...] = (
    MemberSpec(
        health_user_id="108227641895330742118",
        legacy_user_id="9XKQ7B",
        home_zone=PERSON.home_zone,
        travel_zone=PERSON.travel_zone,
        travel_days_ago=PERSON.travel_days_ago,
        no_data_days_ago=(26, 25),
        missing_spo2_days_ago=9,
        late_sleep_days_ago=PERSON.late_game_days_ago - 1,
        age=PERSON.age_on(date(2026, 11, 21)),
        membership_start=date(2019, 3, 14),
        height_mm=round(PERSON.height_m * 1000),
        weight_g=round(PERSON.weight_kg * 1000, 1),
        rhr_bpm=PERSON.rhr_bpm,
        hrv_ms=PERSON.hrv_ms,
        vo2_max=44.5,
        walking_stride_mm=741,
        running_stride_mm=1136,
        tracker=("Charge 6", "FITNESS_BAND"),
        phone=("Galaxy S24", "Samsung", "com.sec.android.app.shealth"),
        metric_units=False,
        locale="en_US",
        person=PERSON,
    ),
    MemberSpec(
        health_user_id="117460913338125649207",
        legacy_user_id="4TRW2M",
        home_zone="Asia/Kolkata",
        travel_zone="Asia/Tokyo",
        travel_days_ago=(110, 104),
        no_data_days_ago=(60,),
        missing_spo2_days_ago=17,
        late_sleep_days_ago=5,
        age=31,
        membership_start=date(2021, 8, 2),
        height_mm=1652,
        weight_g=60_150.0,
        rhr_bpm=61.0,
        hrv_ms=35.0,
        vo2_max=39.8,
        walking_stride_mm=686,
        running_stride_mm=1050,
        tracker=("Pixel Watch 3", "WATCH"),
        phone=("Pixel 9", "Google", "com.google.android.apps.fitness"),
        metric_units=True,
        locale="en_IN",
    ),
)


@dataclass(slots=True)
class Point:
    """One stored data point, rendered to JSON only when served.

    ``start`` is the interval start, the sample time, or (daily types) local
    midnight, as an aware UTC instant; ``civil_start`` is the same moment on the
    member's wall clock (naive). ``value`` is the type's payload without its
    ``interval``/``sampleTime`` (daily payloads carry ``date``).
    """

    start: datetime
    end: datetime | None
    civil_start: datetime
    civil_end: datetime | None
    start_offset: int
    end_offset: int
    source: str
    value: Json
    point_id: str | None = None


@dataclass
class _Block:
    start: datetime
    end: datetime
    kind: str  # "sleep" | "exercise"
    bpm: float


@dataclass
class _MemberData:
    """What generation produces for one member."""

    points: dict[str, list[Point]] = field(default_factory=dict)
    reconciled: dict[str, list[Point]] = field(default_factory=dict)
    by_id: dict[str, dict[str, Point]] = field(default_factory=dict)
    blocks: list[_Block] = field(default_factory=list)
    unworn: list[tuple[datetime, datetime]] = field(default_factory=list)
    zone_changes: list[tuple[datetime, str]] = field(default_factory=list)
    daily_rhr: dict[date, int] = field(default_factory=dict)


class MemberHistory:
    """Everything one member has. Collections are newest first (interval start descending).

    The data is generated on first use (of ``points``, ``heart_rate_minutes``, ...), once,
    even when several threads ask at the same moment; the identity, profile and settings
    need none of it. A member's history depends only on its spec, the seed, ``now`` and
    ``days``, never on which member was generated first.
    """

    def __init__(self, spec: MemberSpec, seed: int, now: datetime, days: int) -> None:
        self.spec = spec
        self.seed = seed
        self.now = now.astimezone(UTC)
        self.days = days
        self.first_day = self.now.astimezone(ZoneInfo(spec.home_zone)).date() - timedelta(days=days)
        self.sources = _sources(spec)
        self._data: _MemberData | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        if self._data is None:
            return f"MemberHistory(health_user_id={self.spec.health_user_id}, not generated yet)"
        counts = {kind: len(points) for kind, points in self._data.points.items()}
        return f"MemberHistory(health_user_id={self.spec.health_user_id}, {counts=})"

    # ------------------------------------------------------------------ generated data
    @property
    def generated(self) -> bool:
        """Whether the history has been generated yet."""
        return self._data is not None

    def _generated(self) -> _MemberData:
        data = self._data
        if data is None:
            with self._lock, _cyclic_gc_paused():
                data = self._data
                if data is None:
                    data = self._data = _Builder(self).build()
        return data

    @property
    def points(self) -> dict[str, list[Point]]:
        """Every stored point by data type (kebab-case), newest first."""
        return self._generated().points

    @property
    def reconciled(self) -> dict[str, list[Point]]:
        """``points`` with overlapping sources merged (what ``reconcile`` serves)."""
        return self._generated().reconciled

    @property
    def by_id(self) -> dict[str, dict[str, Point]]:
        """Identifiable points by data type and point id."""
        return self._generated().by_id

    @property
    def blocks(self) -> list[_Block]:
        """Sleeps and exercises (heart-rate shapes), oldest first."""
        return self._generated().blocks

    @property
    def unworn(self) -> list[tuple[datetime, datetime]]:
        """Half-open UTC spans the tracker was off the wrist, oldest first."""
        return self._generated().unworn

    @property
    def zone_changes(self) -> list[tuple[datetime, str]]:
        """From which instant on the member was in which IANA zone, oldest first."""
        return self._generated().zone_changes

    @property
    def daily_rhr(self) -> dict[date, int]:
        """Resting heart rate by civil day."""
        return self._generated().daily_rhr

    # ------------------------------------------------------------------ users.*
    @property
    def user_id(self) -> str:
        """The numeric ``healthUserId``."""
        return self.spec.health_user_id

    def identity(self) -> Json:
        """``users.getIdentity``."""
        return {
            "name": "users/me/identity",
            "healthUserId": self.spec.health_user_id,
            "legacyUserId": self.spec.legacy_user_id,
        }

    @property
    def age(self) -> int:
        """The member's age in years (the person's, on the member's today)."""
        person = self.spec.person
        if person is None:
            return self.spec.age
        return person.age_on(self.now.astimezone(ZoneInfo(self.spec.home_zone)).date())

    def profile(self, scopes: frozenset[str]) -> Json:
        """``users.getProfile``; stride lengths only with the activity scope."""
        body: Json = {
            "name": f"users/{self.user_id}/profile",
            "age": self.age,
            "membershipStartDate": date_json(self.spec.membership_start),
        }
        if ACTIVITY in scopes:
            body["autoWalkingStrideLengthMm"] = self.spec.walking_stride_mm
            body["autoRunningStrideLengthMm"] = self.spec.running_stride_mm
        return body

    def settings(self) -> Json:
        """``users.getSettings``: the home time zone and unit preferences."""
        zone = ZoneInfo(self.spec.home_zone)
        metric = self.spec.metric_units
        return {
            "name": f"users/{self.user_id}/settings",
            "timeZone": self.spec.home_zone,
            "utcOffset": duration(offset_seconds(self.now.astimezone(zone).utcoffset())),
            "autoStrideEnabled": True,
            "distanceUnit": "DISTANCE_UNIT_KILOMETERS" if metric else "DISTANCE_UNIT_MILES",
            "weightUnit": "WEIGHT_UNIT_KILOGRAMS" if metric else "WEIGHT_UNIT_POUNDS",
            "heightUnit": "HEIGHT_UNIT_CENTIMETERS" if metric else "HEIGHT_UNIT_INCHES",
            "temperatureUnit": (
                "TEMPERATURE_UNIT_CELSIUS" if metric else "TEMPERATURE_UNIT_FAHRENHEIT"
            ),
            "waterUnit": "WATER_UNIT_ML" if metric else "WATER_UNIT_FL_OZ",
            "glucoseUnit": "GLUCOSE_UNIT_MMOL_L" if metric else "GLUCOSE_UNIT_MG_DL",
            "swimUnit": "SWIM_UNIT_METERS" if metric else "SWIM_UNIT_YARDS",
            "strideLengthWalkingType": "STRIDE_LENGTH_TYPE_AUTO",
            "strideLengthRunningType": "STRIDE_LENGTH_TYPE_AUTO",
            "languageLocale": self.spec.locale,
            "foodLanguageCode": "en-US" if self.spec.locale == "en_US" else "en-IN",
        }

    # ------------------------------------------------------------------ heart rate
    def zone_at(self, instant: datetime) -> str:
        """The IANA zone the member was in at ``instant``."""
        index = bisect.bisect_right(self.zone_changes, (instant, "~")) - 1
        return self.zone_changes[max(0, index)][1]

    def worn(self, minute: datetime) -> bool:
        """Whether the tracker was on the wrist at this minute."""
        index = bisect.bisect_right(self.unworn, (minute, minute)) - 1
        return not (index >= 0 and self.unworn[index][0] <= minute < self.unworn[index][1])

    def heart_rate_minutes(self, lower: datetime, upper: datetime) -> Iterator[Point]:
        """Heart-rate samples in ``[lower, upper)``, newest first, one per worn minute.

        Generated on demand from a hash of the minute (never stored): the same
        minute always has the same value.
        """
        lower = max(lower, self.first_day_start())
        upper = min(upper, self.now)
        first = -(-int(lower.timestamp()) // 60)
        minute = -(-int(upper.timestamp()) // 60) - 1
        unworn = [(int(a.timestamp()) // 60, int(b.timestamp()) // 60) for a, b in self.unworn]
        blocks = [
            (int(b.start.timestamp()) // 60, int(b.end.timestamp()) // 60, b.kind, b.bpm)
            for b in self.blocks
        ]
        iu = bisect.bisect_right(unworn, (minute, minute)) - 1
        ib = bisect.bisect_right(blocks, (minute, minute + 1)) - 1
        user = int(self.spec.health_user_id[-6:])
        offsets: dict[int, int] = {}
        epoch = datetime(1970, 1, 1)
        while minute >= first:
            while iu >= 0 and unworn[iu][0] > minute:
                iu -= 1
            if iu >= 0 and unworn[iu][0] <= minute < unworn[iu][1]:
                minute = unworn[iu][0] - 1
                continue
            while ib >= 0 and blocks[ib][0] > minute:
                ib -= 1
            hour = minute // 60
            off = offsets.get(hour)
            if off is None:
                instant = datetime.fromtimestamp(minute * 60, UTC)
                zone = ZoneInfo(self.zone_at(instant))
                off = offsets[hour] = offset_seconds(instant.astimezone(zone).utcoffset())
            local = epoch + timedelta(seconds=minute * 60 + off)
            noise = _unit(self.seed, user, minute)
            rhr = self.daily_rhr.get(local.date(), round(self.spec.rhr_bpm))
            if ib >= 0 and blocks[ib][0] <= minute < blocks[ib][1]:
                if blocks[ib][2] == "sleep":
                    bpm = round(rhr - 3 + 6 * noise)
                else:
                    bpm = round(blocks[ib][3] - 12 + 24 * noise)
            else:
                daytime = 8 if 9 <= local.hour < 21 else 2
                bpm = round(rhr + 10 + daytime + 22 * noise * noise)
            yield Point(
                datetime.fromtimestamp(minute * 60, UTC),
                None,
                local,
                None,
                off,
                off,
                "tracker",
                {"beatsPerMinute": str(bpm), "metadata": _hr_metadata(bpm, self)},
            )
            minute -= 1

    def first_day_start(self) -> datetime:
        """Local midnight of the first day of history."""
        zone = ZoneInfo(self.zone_changes[0][1])
        return datetime.combine(self.first_day, time(0), tzinfo=zone).astimezone(UTC)


def _hr_metadata(bpm: int, member: MemberHistory) -> Json:
    active = bpm > member.spec.rhr_bpm + 35
    return {"motionContext": "ACTIVE" if active else "SEDENTARY", "sensorLocation": "WRIST"}


def _unit(seed: int, user: int, stamp: int) -> float:
    """A deterministic uniform value in [0, 1) (splitmix64 of the inputs)."""
    z = (seed * 0x9E3779B97F4A7C15 + user * 0xBF58476D1CE4E5B9 + stamp) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return ((z ^ (z >> 31)) >> 11) / float(1 << 53)


@dataclass
class History:
    """The whole synthetic world: members by ``healthUserId`` (each generates on first use)."""

    now: datetime
    seed: int
    days: int
    members: dict[str, MemberHistory]

    def __repr__(self) -> str:
        return (
            f"History(now={self.now.isoformat()}, seed={self.seed}, days={self.days}, "
            f"members={list(self.members)})"
        )


# ---------------------------------------------------------------------- rendering
def render_interval(point: Point) -> Json:
    """An ``ObservationTimeInterval`` / ``SessionTimeInterval``."""
    assert point.end is not None
    assert point.civil_end is not None
    return {
        "startTime": rfc3339(point.start),
        "startUtcOffset": duration(point.start_offset),
        "endTime": rfc3339(point.end),
        "endUtcOffset": duration(point.end_offset),
        "civilStartTime": civil(point.civil_start),
        "civilEndTime": civil(point.civil_end),
    }


def render_sample_time(point: Point) -> Json:
    """An ``ObservationSampleTime``."""
    return {
        "physicalTime": rfc3339(point.start),
        "utcOffset": duration(point.start_offset),
        "civilTime": civil(point.civil_start),
    }


# ---------------------------------------------------------------------- generation
_EXERCISES: tuple[tuple[str, str, int, int, int, bool, bool], ...] = (
    # (exerciseType, displayName, weight, minutes low, minutes high, on foot, GPS)
    ("RUNNING", "Running", 22, 25, 70, True, True),
    ("WALKING", "Walking", 20, 20, 60, True, True),
    ("WEIGHTLIFTING", "Weightlifting", 15, 35, 70, False, False),
    ("BIKING", "Biking", 10, 35, 110, False, True),
    ("YOGA", "Yoga", 9, 30, 70, False, False),
    ("HIIT", "HIIT", 7, 20, 40, False, False),
    ("ELLIPTICAL", "Elliptical", 6, 25, 50, True, False),
    ("SWIMMING_POOL", "Pool swimming", 4, 25, 60, False, False),
    ("TENNIS", "Tennis", 4, 45, 100, True, False),
    ("HIKING", "Hiking", 3, 90, 220, True, True),
)
_EXERCISE_WEIGHTS = [e[2] for e in _EXERCISES]
_PERSON_EXERCISES: dict[str, tuple[str, str, int, int, int, bool, bool]] = {
    # the person's sports (WHOOP's names) as exercise types; weights and minutes unused
    "running": ("RUNNING", "Running", 0, 0, 0, True, True),
    "weightlifting": ("WEIGHTLIFTING", "Weightlifting", 0, 0, 0, False, False),
    "functional fitness": (
        "FUNCTIONAL_STRENGTH_TRAINING",
        "Functional training",
        0,
        0,
        0,
        False,
        False,
    ),
    "cycling": ("BIKING", "Biking", 0, 0, 0, False, True),
    "walking": ("WALKING", "Walking", 0, 0, 0, True, True),
    "yoga": ("YOGA", "Yoga", 0, 0, 0, False, False),
    "hiit": ("HIIT", "HIIT", 0, 0, 0, False, False),
    "swimming": ("SWIMMING_POOL", "Pool swimming", 0, 0, 0, False, False),
    "spin": ("SPINNING", "Spinning", 0, 0, 0, False, False),
    "tennis": ("TENNIS", "Tennis", 0, 0, 0, True, False),
    "pilates": ("PILATES", "Pilates", 0, 0, 0, False, False),
    "hiking/rucking": ("HIKING", "Hiking", 0, 0, 0, True, True),
    "rowing": ("ROWING_MACHINE", "Rowing machine", 0, 0, 0, False, False),
    "activity": ("OTHER", "Activity", 0, 0, 0, False, False),
    "ice hockey": ("HOCKEY", "Ice hockey", 0, 0, 0, True, False),
}
_STAGE_OF = {"awake": "AWAKE", "light": "LIGHT", "deep": "DEEP", "rem": "REM"}
_NIGHTLY = (
    "daily-heart-rate-variability",
    "daily-oxygen-saturation",
    "daily-respiratory-rate",
    "daily-sleep-temperature-derivations",
)
_NEWEST_FIRST = operator.attrgetter("start", "source")
"""Sort key of stored points (with ``reverse=True``): interval start, then source."""
_STAGE_TYPES = ("AWAKE", "LIGHT", "DEEP", "REM")
_CLASSIC_TYPES = ("AWAKE", "RESTLESS", "ASLEEP")


def _fitness(vo2: float) -> str:
    for bound, level in (
        (35, "POOR"),
        (39, "FAIR"),
        (43, "AVERAGE"),
        (47, "GOOD"),
        (52, "VERY_GOOD"),
    ):
        if vo2 < bound:
            return level
    return "EXCELLENT"


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a member generates.

    Generation allocates some 45,000 points and their payloads, none of them garbage;
    with the collector on, each full pass re-walks everything built so far, which cost
    about a third of the generation time. Reference counting still frees as usual;
    the collector resumes (if it was on) as soon as the member is built.
    """
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _sources(spec: MemberSpec) -> dict[str, Json]:
    """The member's ``dataSource`` bodies by the short names points carry."""
    tracker_device = {
        "displayName": spec.tracker[0],
        "manufacturer": "Google",
        "formFactor": spec.tracker[1],
    }
    return {
        "tracker": {
            "platform": "FITBIT",
            "recordingMethod": "PASSIVELY_MEASURED",
            "device": tracker_device,
        },
        "tracker-active": {
            "platform": "FITBIT",
            "recordingMethod": "ACTIVELY_MEASURED",
            "device": tracker_device,
        },
        "derived": {
            "platform": "FITBIT",
            "recordingMethod": "DERIVED",
            "device": tracker_device,
        },
        "phone": {
            "platform": "HEALTH_CONNECT",
            "recordingMethod": "PASSIVELY_MEASURED",
            "device": {
                "displayName": spec.phone[0],
                "manufacturer": spec.phone[1],
                "formFactor": "PHONE",
            },
            "application": {"packageName": spec.phone[2]},
        },
        "scale": {
            "platform": "FITBIT",
            "recordingMethod": "ACTIVELY_MEASURED",
            "device": {
                "displayName": "Aria Air",
                "manufacturer": "Fitbit",
                "formFactor": "SCALE",
            },
        },
        "manual": {"platform": "FITBIT", "recordingMethod": "MANUAL"},
    }


class _Builder:
    def __init__(self, member: MemberHistory) -> None:
        spec = member.spec
        self.spec = spec
        self.now = member.now
        self.seed = member.seed
        self.rng = random.Random(f"wellpipe-fitbit-sandbox:{member.seed}:{spec.health_user_id}")
        self.home = ZoneInfo(spec.home_zone)
        self.travel = ZoneInfo(spec.travel_zone)
        self.today = member.now.astimezone(self.home).date()
        self.first_day = member.first_day
        self.data = _MemberData()
        self.points: dict[str, list[Point]] = {}
        self.next_id = 41_000_000_000 + self.rng.randrange(1_000_000_000)
        self.temp_history: list[float] = []
        self.vo2 = spec.vo2_max
        self.last_main_sleep: Point | None = None
        self.offsets: dict[tuple[str, date], tuple[datetime, datetime, int | None]] = {}
        self.utc_memo: dict[tuple[ZoneInfo, datetime], tuple[datetime, int]] = {}
        self.exercise_load: list[tuple[datetime, datetime, int, float]] = []
        self.life: Life | None = life(spec.person, member.seed, member.now) if spec.person else None
        self.last_main_minutes: list[str] | None = None

    # ----------------------------------------------------------------- helpers
    def days_ago(self, day: date) -> int:
        return (self.today - day).days

    def zone_for(self, day: date) -> ZoneInfo:
        first, last = self.spec.travel_days_ago
        return self.travel if last <= self.days_ago(day) <= first else self.home

    def new_id(self) -> str:
        self.next_id += self.rng.randrange(3, 400)
        return str(self.next_id)

    def to_utc(self, zone: ZoneInfo, moment: datetime) -> tuple[datetime, int]:
        """A wall-clock time in ``zone`` as a UTC instant and its offset.

        Memoised: an hour's points share their interval ends, so most calls repeat one.
        """
        key = (zone, moment)
        known = self.utc_memo.get(key)
        if known is None:
            known = self.utc_memo[key] = self._to_utc(zone, moment)
        return known

    def _to_utc(self, zone: ZoneInfo, moment: datetime) -> tuple[datetime, int]:
        day = moment.date()
        cached = self.offsets.get((zone.key, day))
        if cached is None:
            midnight = datetime.combine(day, time(0))
            first = offset_seconds(midnight.replace(tzinfo=zone).utcoffset())
            last = offset_seconds(midnight.replace(hour=23, minute=59, tzinfo=zone).utcoffset())
            utc_midnight = midnight.replace(tzinfo=UTC) - timedelta(seconds=first)
            cached = (midnight, utc_midnight, first if first == last else None)
            self.offsets[(zone.key, day)] = cached
        midnight, utc_midnight, offset = cached
        if offset is None:  # a DST change that day: ask the zone
            offset = offset_seconds(moment.replace(tzinfo=zone).utcoffset())
            return (moment - timedelta(seconds=offset)).replace(tzinfo=UTC), offset
        return utc_midnight + (moment - midnight), offset

    def add(
        self,
        kind: str,
        zone: ZoneInfo,
        civil_start: datetime,
        civil_end: datetime | None,
        source: str,
        value: Json,
        point_id: str | None = None,
    ) -> Point | None:
        start_utc, start_off = self.to_utc(zone, civil_start)
        end_utc = None
        end_off = start_off
        if civil_end is not None:
            end_utc, end_off = self.to_utc(zone, civil_end)
            if end_utc > self.now:
                return None
        elif start_utc > self.now:
            return None
        point = Point(
            start_utc,
            end_utc,
            civil_start,
            civil_end,
            start_off,
            end_off,
            source,
            value,
            point_id,
        )
        self.points.setdefault(kind, []).append(point)
        return point

    # ----------------------------------------------------------------- build
    def build(self) -> _MemberData:
        member = self.data
        previous_zone: str | None = None
        day = self.first_day
        while day <= self.today:
            zone = self.zone_for(day)
            if zone.key != previous_zone:
                midnight = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
                member.zone_changes.append((midnight, zone.key))
                previous_zone = zone.key
            if self.days_ago(day) in self.spec.no_data_days_ago:
                start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
                member.unworn.append((start, start + timedelta(days=1)))
            else:
                self.build_day(day, zone)
            day += timedelta(days=1)
        self.mark_newest_night_unprocessed()
        if self.life is not None and self.points.get("weight"):
            # the newest weigh-in is the weight the person's other devices know
            newest = self.points["weight"][-1]
            newest.value["weightGrams"] = self.spec.weight_g
        self.add_height()
        member.unworn.sort()
        member.blocks.sort(key=lambda b: b.start)
        for kind, points in self.points.items():
            points.sort(key=_NEWEST_FIRST, reverse=True)
            member.points[kind] = points
            member.reconciled[kind] = _reconcile(points)
            ids = {p.point_id: p for p in points if p.point_id is not None}
            if ids:
                member.by_id[kind] = ids
        return member

    def build_day(self, day: date, zone: ZoneInfo) -> None:
        rng = self.rng
        self.exercise_load = []
        sleep = self.add_night(day, zone)
        wake = sleep.civil_end if sleep is not None and sleep.civil_end else None
        wake_civil = wake or datetime.combine(day, time(7, 10))
        exercises = self.add_exercises(day, zone, wake_civil)
        self.add_nap(day, zone, exercises)
        charging = rng.randrange(9, 20)
        if self.life is not None:
            charging = self.free_hour(self.life, day, zone, charging)
        charge_start = datetime.combine(day, time(charging)).replace(tzinfo=zone)
        self.data.unworn.append(
            (charge_start.astimezone(UTC), (charge_start + timedelta(hours=1)).astimezone(UTC))
        )
        self.add_movement(day, zone, wake_civil, exercises, charging)
        self.add_daily(day, zone, sleep)
        if rng.random() < 0.28:
            self.add_weight(day, zone, wake_civil)

    def civil(self, instant: datetime, zone: ZoneInfo) -> datetime:
        """An instant on ``zone``'s wall clock (naive)."""
        return instant.astimezone(zone).replace(tzinfo=None)

    def free_hour(self, truth: Life, day: date, zone: ZoneInfo, wanted: int) -> int:
        """``wanted`` or the next hour from 09:00 to 19:00 the person neither trained nor napped."""
        today = truth.day(day)
        busy = [(self.civil(w.start, zone), self.civil(w.end, zone)) for w in today.workouts]
        busy += [(self.civil(a, zone), self.civil(b, zone)) for a, b in today.naps]
        for step in range(11):
            hour = 9 + (wanted - 9 + step) % 11
            start = datetime.combine(day, time(hour))
            end = start + timedelta(hours=1)
            if not any(start < b and a < end for a, b in busy):
                return hour
        return wanted

    # ----------------------------------------------------------------- sleep
    def add_night(self, day: date, zone: ZoneInfo) -> Point | None:
        rng = self.rng
        if self.life is not None:
            return self.measured_night(self.life, day, zone)
        if self.days_ago(day) == self.spec.late_sleep_days_ago:
            onset = datetime.combine(day, time(0, 40 + rng.randrange(15)))
            minutes = rng.randrange(380, 420)
        else:
            onset_h = min(24.9, max(21.5, rng.gauss(22.9, 0.55)))
            onset = datetime.combine(day - timedelta(days=1), time(0)) + timedelta(
                minutes=round(onset_h * 60)
            )
            weekend = day.weekday() >= 5
            minutes = round(min(570.0, max(270.0, rng.gauss(445 + (30 if weekend else 0), 40))))
        classic = rng.random() < 0.06
        stages = self.classic_stages(minutes) if classic else self.stage_cycle(minutes)
        status = (
            rng.choice(("REJECTED_COVERAGE", "REJECTED_MAX_GAP", "REJECTED_START_GAP"))
            if classic
            else "SUCCEEDED"
        )
        point = self.add_sleep(zone, onset, stages, classic, status, main=True)
        if point is not None:
            self.last_main_sleep = point
            start = point.start
            assert point.end is not None
            self.data.blocks.append(_Block(start, point.end, "sleep", 0.0))
        return point

    def measured_night(self, truth: Life, day: date, zone: ZoneInfo) -> Point | None:
        """The person's true night as the tracker sees it.

        A few minutes off at either end, stage boundaries a couple of minutes off, and
        sometimes only classic stages.
        """
        rng = self.rng
        night = truth.night(day)
        shift = rng.randrange(-5, 6)
        minutes = night.window(shift, len(night.by_minute) + rng.randrange(-5, 6))
        minutes[0] = minutes[-1] = "awake"
        classic = rng.random() < 0.06
        stages = _classic_of(rng, minutes) if classic else _stages_of(rng, minutes)
        status = (
            rng.choice(("REJECTED_COVERAGE", "REJECTED_MAX_GAP", "REJECTED_START_GAP"))
            if classic
            else "SUCCEEDED"
        )
        onset = self.civil(night.bed + timedelta(minutes=shift), zone)
        point = self.add_sleep(zone, onset, stages, classic, status, main=True)
        if point is not None:
            self.last_main_sleep = point
            self.last_main_minutes = minutes
            assert point.end is not None
            self.data.blocks.append(_Block(point.start, point.end, "sleep", 0.0))
        return point

    def stage_cycle(self, minutes: int) -> list[tuple[str, int]]:
        rng = self.rng
        chunks: list[tuple[str, int]] = []
        for cycle in range(minutes // 40 + 2):
            early = cycle < 2
            chunks += [
                ("LIGHT", rng.randrange(18, 40)),
                ("DEEP", rng.randrange(20, 40) if early else rng.randrange(4, 16)),
                ("LIGHT", rng.randrange(8, 20)),
                ("REM", rng.randrange(6, 14) if early else rng.randrange(16, 34)),
            ]
            if rng.random() < 0.55:
                chunks.append(("AWAKE", rng.randrange(1, 5)))
        return _assemble(rng.randrange(2, 14), chunks, rng.randrange(1, 9), minutes, "LIGHT")

    def classic_stages(self, minutes: int) -> list[tuple[str, int]]:
        rng = self.rng
        chunks: list[tuple[str, int]] = []
        for _ in range(minutes // 30 + 2):
            chunks += [
                ("ASLEEP", rng.randrange(25, 90)),
                ("RESTLESS", rng.randrange(1, 6)),
                ("ASLEEP", rng.randrange(10, 40)),
                ("AWAKE", rng.randrange(1, 4)),
            ]
        return _assemble(rng.randrange(1, 10), chunks, rng.randrange(1, 6), minutes, "ASLEEP")

    def add_sleep(
        self,
        zone: ZoneInfo,
        onset: datetime,
        stages: list[tuple[str, int]],
        classic: bool,
        status: str,
        *,
        main: bool,
    ) -> Point | None:
        """A session of ``stages`` (minutes of physical time) from the civil ``onset``."""
        rng = self.rng
        sleep_id = self.new_id()
        start_utc, _ = self.to_utc(zone, onset)
        total = sum(length for _, length in stages)
        end_utc = start_utc + timedelta(minutes=total)
        created = end_utc + timedelta(minutes=rng.randrange(3, 25), seconds=rng.randrange(60))
        stamp = rfc3339(created)
        segments: list[Json] = []
        cursor = start_utc
        at, offset = _instant(cursor, zone)  # a segment ends where the next starts
        for stage, length in stages:
            seg_end = cursor + timedelta(minutes=length)
            end_at, end_offset = _instant(seg_end, zone)
            segments.append(
                {
                    "startTime": at,
                    "startUtcOffset": offset,
                    "endTime": end_at,
                    "endUtcOffset": end_offset,
                    "type": stage,
                    "createTime": stamp,
                    "updateTime": stamp,
                }
            )
            cursor, at, offset = seg_end, end_at, end_offset
        value: Json = {
            "type": "CLASSIC" if classic else "STAGES",
            "stages": segments,
            "summary": _summary(stages, classic),
            "metadata": _compact(
                {
                    "mainSleep": main or None,
                    "nap": (not main) or None,
                    "processed": True,
                    "stagesStatus": status,
                }
            ),
            "createTime": stamp,
            "updateTime": rfc3339(created + timedelta(minutes=rng.randrange(1, 30))),
        }
        if end_utc > self.now:
            return None
        start_local, end_local = start_utc.astimezone(zone), end_utc.astimezone(zone)
        point = Point(
            start_utc,
            end_utc,
            start_local.replace(tzinfo=None),
            end_local.replace(tzinfo=None),
            offset_seconds(start_local.utcoffset()),
            offset_seconds(end_local.utcoffset()),
            "tracker",
            value,
            sleep_id,
        )
        self.points.setdefault("sleep", []).append(point)
        return point

    def add_nap(
        self, day: date, zone: ZoneInfo, exercises: list[tuple[datetime, datetime]]
    ) -> None:
        rng = self.rng
        if self.life is not None:
            for nap_start, nap_end in self.life.day(day).naps:
                start = self.civil(nap_start, zone) + timedelta(minutes=rng.randrange(0, 3))
                length = round((nap_end - nap_start).total_seconds() / 60)
                point = self.add_sleep(
                    zone, start, self.classic_stages(length), True, "REJECTED_NAP", main=False
                )
                if point is not None and point.end is not None:
                    self.data.blocks.append(_Block(point.start, point.end, "sleep", 0.0))
            return
        if rng.random() >= 0.1:
            return
        start = datetime.combine(day, time(13, 30)) + timedelta(minutes=rng.randrange(0, 100))
        minutes = rng.randrange(25, 80)
        end = start + timedelta(minutes=minutes)
        if any(start < e_end and s < end for s, e_end in exercises):
            return
        point = self.add_sleep(
            zone, start, self.classic_stages(minutes), True, "REJECTED_NAP", main=False
        )
        if point is not None and point.end is not None:
            self.data.blocks.append(_Block(point.start, point.end, "sleep", 0.0))

    def mark_newest_night_unprocessed(self) -> None:
        """The last night's stages are still computing: classic, ``processed`` unset."""
        point = self.last_main_sleep
        if point is None:
            return
        end = point.civil_end
        assert end is not None
        assert point.end is not None
        minutes = round((point.end - point.start).total_seconds() / 60)
        self.rng = random.Random(f"wellpipe-fitbit-sandbox:{self.seed}:newest")
        if self.life is not None and self.last_main_minutes is not None:
            stages = _classic_of(self.rng, self.last_main_minutes)
        else:
            stages = self.classic_stages(minutes)
        self.points["sleep"].remove(point)
        zone = self.zone_for(end.date())
        replacement = self.add_sleep(zone, point.civil_start, stages, True, "", main=True)
        if replacement is not None:
            replacement.value["metadata"] = {"mainSleep": True}
            replacement.point_id = point.point_id
        for kind in _NIGHTLY:  # computed once the night is processed: not yet
            self.points[kind] = [
                p for p in self.points.get(kind, []) if p.civil_start.date() != end.date()
            ]

    # ----------------------------------------------------------------- exercise
    def add_exercises(
        self, day: date, zone: ZoneInfo, wake: datetime
    ) -> list[tuple[datetime, datetime]]:
        rng = self.rng
        if self.life is not None:
            return self.measured_exercises(self.life, day, zone)
        count = rng.choices((0, 1, 2), weights=(35, 50, 15))[0]
        slots = [
            wake + timedelta(minutes=rng.randrange(50, 140)),
            datetime.combine(day, time(17, 30)) + timedelta(minutes=rng.randrange(0, 120)),
        ]
        rng.shuffle(slots)
        done: list[tuple[datetime, datetime]] = []
        for slot in sorted(slots[:count]):
            kind = rng.choices(_EXERCISES, weights=_EXERCISE_WEIGHTS)[0]
            if kind[0] == "HIKING" and day.weekday() < 5:
                kind = _EXERCISES[1]
            start = slot.replace(second=rng.randrange(60))
            minutes = rng.randrange(kind[3], kind[4] + 1)
            end = start + timedelta(minutes=minutes, seconds=rng.randrange(60))
            if end.date() != day or (done and start < done[-1][1] + timedelta(hours=1)):
                continue
            if self.add_exercise(zone, start, end, kind):
                done.append((start, end))
        return done

    def measured_exercises(
        self, truth: Life, day: date, zone: ZoneInfo
    ) -> list[tuple[datetime, datetime]]:
        """The person's true workouts the tracker recorded (nearly all), to the minute."""
        rng = self.rng
        done: list[tuple[datetime, datetime]] = []
        for workout in truth.day(day).workouts:
            if workout.sport != "ice hockey" and rng.random() < 0.08:
                continue  # not tracked
            start = self.civil(workout.start + timedelta(seconds=rng.randrange(-60, 61)), zone)
            end = self.civil(workout.end + timedelta(seconds=rng.randrange(-60, 61)), zone)
            steps = round(workout.steps * rng.uniform(0.95, 1.05))
            if self.add_exercise(zone, start, end, _PERSON_EXERCISES[workout.sport], steps):
                done.append((start, end))
        return done

    def add_exercise(
        self,
        zone: ZoneInfo,
        start: datetime,
        end: datetime,
        kind: tuple[str, str, int, int, int, bool, bool],
        known_steps: int | None = None,
    ) -> bool:
        rng = self.rng
        exercise_type, name, _, _, _, on_foot, gps = kind
        seconds = int((end - start).total_seconds())
        paused = rng.randrange(0, 240) if gps else 0
        active_s = max(60, seconds - paused)
        intensity = {"WALKING": 0.55, "YOGA": 0.45, "HIKING": 0.6}.get(exercise_type, 0.8)
        avg_hr = round(
            self.spec.rhr_bpm + (185 - self.spec.rhr_bpm) * intensity * rng.uniform(0.8, 1.0)
        )
        minutes = active_s / 60
        fat = round(minutes * rng.uniform(0.2, 0.5)) if intensity > 0.5 else 0
        cardio = round(minutes * rng.uniform(0.1, 0.45)) if intensity > 0.7 else 0
        peak = round(minutes * rng.uniform(0.0, 0.12)) if intensity > 0.7 else 0
        light = max(0, round(minutes) - fat - cardio - peak)
        kcal = round(minutes * rng.uniform(6.5, 11.0) * (intensity + 0.3), 1)
        summary: Json = {
            "caloriesKcal": kcal,
            "averageHeartRateBeatsPerMinute": str(avg_hr),
            "activeZoneMinutes": str(fat + 2 * (cardio + peak)) if fat + cardio + peak else None,
            "heartRateZoneDurations": _compact(
                {
                    "lightTime": duration(light * 60) if light else None,
                    "moderateTime": duration(fat * 60) if fat else None,
                    "vigorousTime": duration(cardio * 60) if cardio else None,
                    "peakTime": duration(peak * 60) if peak else None,
                }
            ),
        }
        steps = 0
        if on_foot:
            cadence = 160 if exercise_type == "RUNNING" else 110
            if known_steps is None:
                steps = round(minutes * cadence * rng.uniform(0.85, 1.05))
            else:
                steps = known_steps
            summary["steps"] = str(steps)
        if gps:
            speed_mm_s = {"RUNNING": 2900, "WALKING": 1400, "BIKING": 6200, "HIKING": 1150}[
                exercise_type
            ] * rng.uniform(0.85, 1.15)
            distance_mm = speed_mm_s * active_s
            summary["distanceMillimeters"] = round(distance_mm)
            summary["averageSpeedMillimetersPerSecond"] = round(speed_mm_s, 1)
            if exercise_type in {"RUNNING", "WALKING", "HIKING"}:
                summary["averagePaceSecondsPerMeter"] = round(1000 / speed_mm_s, 4)
            summary["elevationGainMillimeters"] = round(rng.uniform(2_000, 60_000) * minutes / 30)
        created = end + timedelta(minutes=rng.randrange(1, 15))
        value: Json = _compact(
            {
                "exerciseType": exercise_type,
                "displayName": name,
                "activeDuration": duration(active_s),
                "metricsSummary": _compact(summary),
                "exerciseMetadata": {"hasGps": True} if gps else None,
                "createTime": rfc3339(self.to_utc(zone, created)[0]),
                "updateTime": rfc3339(self.to_utc(zone, created)[0]),
            }
        )
        point = self.add("exercise", zone, start, end, "tracker-active", value, self.new_id())
        if point is None or point.end is None:
            return False
        self.data.blocks.append(_Block(point.start, point.end, "exercise", float(avg_hr)))
        minute = start.replace(second=0) + timedelta(minutes=2)
        for zone_name, count, per in (
            ("FAT_BURN", fat, 1),
            ("CARDIO", cardio, 2),
            ("PEAK", peak, 2),
        ):
            for _ in range(count):
                self.add(
                    "active-zone-minutes",
                    zone,
                    minute,
                    minute + timedelta(minutes=1),
                    "tracker",
                    {"activeZoneMinutes": str(per), "heartRateZone": zone_name},
                )
                minute += timedelta(minutes=1)
        self.exercise_load.append((start, end, steps, kcal))
        return True

    # ----------------------------------------------------------------- movement
    def add_movement(
        self,
        day: date,
        zone: ZoneInfo,
        wake: datetime,
        exercises: list[tuple[datetime, datetime]],
        charging: int,
    ) -> None:
        rng = self.rng
        spec = self.spec
        load = self.exercise_load
        bmr_hour = (1500 + 9.0 * spec.weight_g / 1000) / 24
        first_hour = wake.hour + 1 if wake.date() == day else 0
        truth = self.life.day(day).hourly_steps if self.life is not None else None
        counted = rng.uniform(0.97, 1.03) if truth is not None else 1.0
        for hour in range(24):
            start = datetime.combine(day, time(hour))
            end = start + timedelta(hours=1)
            extra_steps = 0
            extra_kcal = 0.0
            for e_start, e_end, e_steps, e_kcal in load:
                overlap = (min(end, e_end) - max(start, e_start)).total_seconds()
                if overlap > 0:
                    share = overlap / (e_end - e_start).total_seconds()
                    extra_steps += round(e_steps * share)
                    extra_kcal += e_kcal * share
            awake = first_hour <= hour <= 22
            steps = 0
            if truth is not None:  # the person's true steps (workouts included)
                awake = truth[hour] > 0
                steps = round(truth[hour] * counted)  # none in a sedentary hour: no point
            elif awake:
                steps = max(0, round(rng.gauss(520, 260))) + extra_steps
                if rng.random() < 0.12:
                    steps = 0  # a sedentary hour: Google sends no point, not a zero
            active_kcal = round(steps * 0.042 + extra_kcal, 1)
            if hour != charging:
                self.add(
                    "total-calories",
                    zone,
                    start,
                    end,
                    "tracker",
                    {"kcal": round(bmr_hour * rng.uniform(0.97, 1.03) + active_kcal, 1)},
                )
                if steps:
                    self.add_steps(zone, start, end, "tracker", steps, spec.walking_stride_mm)
                if active_kcal >= 1:
                    self.add(
                        "active-energy-burned", zone, start, end, "tracker", {"kcal": active_kcal}
                    )
            if not awake:
                continue
            if hour == charging and truth is not None:
                phone_steps = max(40, round(truth[hour] * rng.uniform(0.6, 0.9)))
            elif hour == charging:
                phone_steps = max(40, round(rng.gauss(450, 150)))
            elif rng.random() < 0.7 and steps:
                phone_steps = round(steps * rng.uniform(0.55, 0.9))
            else:
                continue
            self.add_steps(
                zone, start, end, "phone", phone_steps, round(spec.walking_stride_mm * 0.94)
            )

    def add_steps(
        self, zone: ZoneInfo, start: datetime, end: datetime, source: str, steps: int, stride: int
    ) -> None:
        self.add("steps", zone, start, end, source, {"count": str(steps)})
        self.add("distance", zone, start, end, source, {"millimeters": str(steps * stride)})

    # ----------------------------------------------------------------- daily
    def add_daily(self, day: date, zone: ZoneInfo, sleep: Point | None) -> None:
        rng = self.rng
        spec = self.spec
        midnight = datetime.combine(day, time(0))
        if self.life is not None:  # the person's true night: RMSSD a little low, RHR high
            truth = self.life.day(day)
            hrv = truth.hrv_ms * rng.uniform(0.88, 0.98)
            above = rng.uniform(-0.5, 1.5) if sleep is not None else rng.uniform(1.5, 3.5)
            rhr = round(truth.resting_hr + above)
        else:
            hrv = spec.hrv_ms * rng.lognormvariate(0, 0.14)
            rhr = round(spec.rhr_bpm + 0.12 * (spec.hrv_ms - hrv) + rng.gauss(0, 1.0))
        self.data.daily_rhr[day] = rhr
        when = "WITH_SLEEP" if sleep is not None else "ONLY_WITH_AWAKE_DATA"

        def daily(kind: str, value: Json) -> None:
            self.add(kind, zone, midnight, None, "derived", {"date": date_json(day), **value})

        daily(
            "daily-resting-heart-rate",
            {
                "beatsPerMinute": str(rhr),
                "dailyRestingHeartRateMetadata": {"calculationMethod": when},
            },
        )
        self.vo2 = min(spec.vo2_max + 3, max(spec.vo2_max - 3, self.vo2 + rng.gauss(0, 0.12)))
        if rng.random() < 0.93:
            daily(
                "daily-vo2-max",
                _compact(
                    {
                        "vo2Max": round(self.vo2, 2),
                        "cardioFitnessLevel": _fitness(self.vo2),
                        "estimated": True if rng.random() < 0.6 else None,
                        "vo2MaxCovariance": round(rng.uniform(0.8, 2.4), 3),
                    }
                ),
            )
        if sleep is None:
            return
        daily(
            "daily-heart-rate-variability",
            {
                "averageHeartRateVariabilityMilliseconds": round(hrv, 3),
                "deepSleepRootMeanSquareOfSuccessiveDifferencesMilliseconds": round(
                    hrv * rng.uniform(1.02, 1.2), 3
                ),
                "nonRemHeartRateBeatsPerMinute": str(rhr + rng.randrange(0, 4)),
                "entropy": round(rng.uniform(1.9, 2.6), 3),
            },
        )
        if self.days_ago(day) != spec.missing_spo2_days_ago and rng.random() < 0.97:
            avg = min(99.5, max(92.0, rng.gauss(96.2, 0.8)))
            spread = rng.uniform(1.2, 2.4)
            daily(
                "daily-oxygen-saturation",
                {
                    "averagePercentage": round(avg, 1),
                    "lowerBoundPercentage": round(avg - spread, 1),
                    "upperBoundPercentage": round(min(100.0, avg + spread * 0.8), 1),
                    "standardDeviationPercentage": round(rng.uniform(0.5, 1.4), 2),
                },
            )
        daily("daily-respiratory-rate", {"breathsPerMinute": round(rng.gauss(15.1, 0.6), 1)})
        nightly = rng.gauss(34.3, 0.3)
        self.temp_history = [*self.temp_history[-29:], nightly]
        ordered = sorted(self.temp_history)
        baseline = ordered[len(ordered) // 2]
        mean = sum(self.temp_history) / len(self.temp_history)
        stddev = (sum((t - mean) ** 2 for t in self.temp_history) / len(self.temp_history)) ** 0.5
        daily(
            "daily-sleep-temperature-derivations",
            _compact(
                {
                    "nightlyTemperatureCelsius": round(nightly, 2),
                    "baselineTemperatureCelsius": round(baseline, 2),
                    "relativeNightlyStddev30dCelsius": round(stddev, 3) or None,
                }
            ),
        )

    def add_weight(self, day: date, zone: ZoneInfo, wake: datetime) -> None:
        rng = self.rng
        when = max(wake, datetime.combine(day, time(6))) + timedelta(
            minutes=rng.randrange(10, 50), seconds=rng.randrange(60)
        )
        if self.life is not None:  # what the person weighed that morning, on the scale
            grams = round(self.life.day(day).weight_kg * 1000 + rng.gauss(0, 120), 1)
        else:
            drift = 900 * (self.days_ago(day) / 365)
            grams = round(self.spec.weight_g + drift + rng.gauss(0, 450), 1)
        source = "scale" if rng.random() < 0.85 else "manual"
        self.add("weight", zone, when, None, source, {"weightGrams": grams}, self.new_id())

    def add_height(self) -> None:
        day = self.first_day
        zone = self.zone_for(day)
        self.add(
            "height",
            zone,
            datetime.combine(day, time(9, 0)),
            None,
            "manual",
            {"heightMillimeters": str(self.spec.height_mm)},
        )
        self.points["height"].sort(key=lambda p: p.start, reverse=True)


def _instant(instant: datetime, zone: ZoneInfo) -> tuple[str, str]:
    """An instant's RFC 3339 time and the UTC offset ``zone`` had then (a google-duration)."""
    return rfc3339(instant), duration(offset_seconds(instant.astimezone(zone).utcoffset()))


def _assemble(
    head: int, chunks: list[tuple[str, int]], tail: int, minutes: int, filler: str
) -> list[tuple[str, int]]:
    """Awake ``head``, then ``chunks`` cut to fit, then awake ``tail``: exactly ``minutes``.

    Neighbours of one stage merge, so segments alternate as Google's do.
    """
    middle = minutes - head - tail
    plan: list[tuple[str, int]] = [("AWAKE", head)]
    used = 0
    for stage, length in chunks:
        take = min(length, middle - used)
        if take <= 0:
            break
        plan.append((stage, take))
        used += take
    if plan[-1][0] == "AWAKE" and len(plan) > 1:
        plan[-1] = (filler, plan[-1][1])
    plan.append(("AWAKE", tail))
    merged: list[tuple[str, int]] = []
    for stage, length in plan:
        if merged and merged[-1][0] == stage:
            merged[-1] = (stage, merged[-1][1] + length)
        else:
            merged.append((stage, length))
    return merged


def _runs(minutes: list[str]) -> list[tuple[str, int]]:
    runs: list[tuple[str, int]] = []
    for stage in minutes:
        if runs and runs[-1][0] == stage:
            runs[-1] = (stage, runs[-1][1] + 1)
        else:
            runs.append((stage, 1))
    return runs


def _stages_of(rng: random.Random, minutes: list[str]) -> list[tuple[str, int]]:
    """The tracker's stages of a true night, minute by minute.

    Each boundary between two sleep stages is a couple of minutes off.
    """
    runs = [(_STAGE_OF[stage], length) for stage, length in _runs(minutes)]
    for index in range(1, len(runs)):
        (before, a), (after, b) = runs[index - 1], runs[index]
        if "AWAKE" in {before, after}:
            continue
        move = max(1 - a, min(b - 1, rng.randint(-2, 2)))
        runs[index - 1], runs[index] = (before, a + move), (after, b - move)
    return runs


def _classic_of(rng: random.Random, minutes: list[str]) -> list[tuple[str, int]]:
    """Classic stages of a true night: asleep, restless now and then, awake."""
    classic = ["AWAKE" if stage == "awake" else "ASLEEP" for stage in minutes]
    index = 1
    while index < len(classic) - 1:
        if classic[index] == "ASLEEP" and rng.random() < 1 / 60:
            for offset in range(rng.randint(1, 3)):
                if index + offset < len(classic) - 1 and classic[index + offset] == "ASLEEP":
                    classic[index + offset] = "RESTLESS"
            index += 5
        index += 1
    return _runs(classic)


def _summary(stages: list[tuple[str, int]], classic: bool) -> Json:
    asleep_types = {"ASLEEP"} if classic else {"LIGHT", "DEEP", "REM"}
    total = sum(length for _, length in stages)
    asleep = sum(length for stage, length in stages if stage in asleep_types)
    to_fall = stages[0][1] if stages[0][0] == "AWAKE" else 0
    after = stages[-1][1] if stages[-1][0] == "AWAKE" and len(stages) > 1 else 0
    kinds = _CLASSIC_TYPES if classic else _STAGE_TYPES
    return {
        "minutesInSleepPeriod": str(total),
        **_compact(
            {
                "minutesAsleep": _i64(asleep),
                "minutesAwake": _i64(total - asleep - to_fall - after),
                "minutesToFallAsleep": _i64(to_fall),
                "minutesAfterWakeUp": _i64(after),
            }
        ),
        "stagesSummary": [
            _compact(
                {
                    "type": kind,
                    "minutes": _i64(sum(n for s, n in stages if s == kind)),
                    "count": _i64(sum(1 for s, _ in stages if s == kind)),
                }
            )
            for kind in kinds
        ],
    }


def _i64(value: int) -> str | None:
    """An int64 as Google writes it: a string, and absent when zero (proto3 JSON)."""
    return str(value) if value else None


def _compact(value: Json) -> Json:
    return {key: item for key, item in value.items() if item is not None and item != {}}


def _reconcile(points: list[Point]) -> list[Point]:
    """One stream: for an interval several sources recorded, the first by source priority."""
    if not any(p.source == "phone" for p in points):
        return points
    chosen: dict[datetime, Point] = {}
    for point in points:
        current = chosen.get(point.start)
        if current is None or (current.source == "phone" and point.source != "phone"):
            chosen[point.start] = point
    return sorted(chosen.values(), key=lambda p: (p.start, p.source), reverse=True)


def generate_history(
    *,
    now: datetime,
    seed: int = 42,
    days: int = 400,
    members: int | tuple[MemberSpec, ...] = 2,
) -> History:
    """The synthetic history for ``days`` days up to ``now``; each member generates on first use.

    Args:
        now: The present moment; nothing after it exists yet.
        seed: Same seed and ``now``, same history.
        days: How far back the history goes (at least 120).
        members: How many of the default members (1 or 2), or explicit specs.
    """
    if days < 120:
        raise ValueError("the Fitbit sandbox keeps at least 120 days of history")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if isinstance(members, int):
        if not 1 <= members <= len(DEFAULT_MEMBERS):
            raise ValueError(f"the Fitbit sandbox has 1 to {len(DEFAULT_MEMBERS)} default members")
        specs = DEFAULT_MEMBERS[:members]
    else:
        specs = members
    lazy = {spec.health_user_id: MemberHistory(spec, seed, now, days) for spec in specs}
    return History(now=now, seed=seed, days=days, members=lazy)
