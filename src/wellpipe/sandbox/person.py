"""The demo's one person: who they are, and what truly happened to them day by day.

``wellpipe demo`` merges the three sandboxes' default members into one view, so
those three members are one synthetic person wearing three devices: a WHOOP band,
an Oura ring and a Fitbit tracker. This module is that person. `PERSON` says who
they are (the identity, height, weight, birth date and home time zone each API
carries in its own shape); `Life` says, for a seed, what really happened on each
local day: when they went to bed and got up and how they slept minute by minute,
their resting heart rate and HRV, their steps per clock hour, their workouts and
naps. Each sandbox measures this truth its own way and adds what a real device
adds (a few minutes' offset at either end of a night, stage splits a few percent
apart, resting heart rate and HRV by its own method, workouts it did not record);
the sandboxes keep their own device-only edge cases (unscorable records, a ring
left on the charger, a tracker in a drawer, a low-battery night, ...).

A day is keyed by the local date the person woke up on: ``night(day)`` is the main
sleep that ended that morning (bedtime the evening before), ``day(day)`` the waking
day that follows it. Every day draws from its own seeded stream, so a day's truth
depends on the seed and on which day it is (days count back from the home today,
0 = today), never on how much history a sandbox keeps.

Planted on purpose: a week abroad in another UTC offset (`PersonSpec.travel_days_ago`;
jet-lagged bedtimes at either end of it), a late ice-hockey game that runs past local
midnight (`PersonSpec.late_game_days_ago`) and the short night after it, which starts
after 01:00, and afternoon naps on `PersonSpec.nap_days_ago`. Both zones keep one
UTC offset all year (no DST), as WHOOP's and Oura's fixed offsets need.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import cached_property, lru_cache

__all__ = [
    "PERSON",
    "SPORTS",
    "Day",
    "Life",
    "Night",
    "PersonSpec",
    "Workout",
    "life",
    "offset_tz",
]

STAGES = ("awake", "light", "deep", "rem")


@dataclass(frozen=True)
class PersonSpec:
    """Who the person is. Day fields count back from the home today (0 = today)."""

    first_name: str
    last_name: str
    email: str
    birth_date: date
    biological_sex: str
    height_m: float
    weight_kg: float
    """Today's weight (older weigh-ins drift from it)."""
    home_offset: str
    home_zone: str
    """An IANA zone whose UTC offset is ``home_offset`` all year."""
    travel_offset: str
    travel_zone: str
    """An IANA zone whose UTC offset is ``travel_offset`` all year."""
    travel_days_ago: tuple[int, int]
    """First and last day (days ago, first >= last) spent in ``travel_offset``."""
    late_game_days_ago: int
    """An evening ice-hockey game runs past midnight; the next night starts after 01:00."""
    nap_days_ago: tuple[int, ...]
    """Days with an afternoon nap for sure (others have one now and then)."""
    rhr_bpm: float
    hrv_ms: float
    max_heart_rate: int

    def age_on(self, day: date) -> int:
        """Age in whole years on ``day``."""
        born = self.birth_date
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


PERSON = PersonSpec(
    first_name="Alex",
    last_name="Rivera",
    email="alex.rivera@example.com",
    birth_date=date(1989, 4, 17),
    biological_sex="male",
    height_m=1.7818,
    weight_kg=76.2043,
    home_offset="-05:00",
    home_zone="America/Panama",
    travel_offset="+01:00",
    travel_zone="Africa/Lagos",
    travel_days_ago=(68, 62),
    late_game_days_ago=12,
    nap_days_ago=(3, 9),
    rhr_bpm=52.0,
    hrv_ms=62.0,
    max_heart_rate=191,
)
"""The default member of every sandbox (WHOOP's Alex Rivera)."""

# (WHOOP sport name, weight, minutes low/high, steps per minute, training load per hour)
SPORTS: tuple[tuple[str, int, int, int, int, float], ...] = (
    ("running", 24, 25, 75, 158, 1.0),
    ("weightlifting", 18, 40, 80, 6, 0.6),
    ("functional fitness", 12, 35, 60, 28, 0.9),
    ("cycling", 11, 40, 120, 0, 0.8),
    ("walking", 10, 20, 60, 108, 0.3),
    ("yoga", 8, 30, 75, 3, 0.2),
    ("hiit", 6, 20, 45, 45, 1.1),
    ("swimming", 4, 25, 60, 0, 0.8),
    ("spin", 3, 30, 50, 0, 1.0),
    ("tennis", 3, 45, 100, 55, 0.8),
    ("pilates", 3, 40, 60, 3, 0.3),
    ("hiking/rucking", 4, 90, 240, 96, 0.6),
    ("rowing", 2, 25, 60, 0, 0.9),
    ("activity", 2, 15, 45, 40, 0.4),
)
"""What the person trains, named as WHOOP names it; each sandbox maps the name to its own."""
_SPORT_WEIGHTS = [sport[1] for sport in SPORTS]
_LATE_GAME = ("ice hockey", 0, 88, 88, 30, 1.2)
_LOAD = {sport[0]: sport[5] for sport in (*SPORTS, _LATE_GAME)}

# Steps in a fully awake, non-training clock hour, by local hour.
_HOURLY_STEPS = (
    (120,) * 6 + (600, 700, 650) + (420,) * 3 + (900,) + (420,) * 4 + (650,) * 4 + (260,) * 3
)


def offset_tz(tzd: str) -> timezone:
    """A fixed ``±HH:MM`` (or ``Z``) offset as a `timezone`."""
    if tzd in {"Z", "+00:00"}:
        return UTC
    sign = -1 if tzd[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(tzd[1:3]), minutes=int(tzd[4:6])))


def _clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _hours(midnight: datetime, start: datetime, end: datetime) -> Iterator[tuple[int, float]]:
    """The clock hours (0-23 after ``midnight``) ``[start, end)`` touches, with seconds in each."""
    a = (start - midnight).total_seconds()
    b = (end - midnight).total_seconds()
    for hour in range(max(0, int(a // 3600)), min(24, math.ceil(b / 3600))):
        seconds = min(b, hour * 3600 + 3600) - max(a, hour * 3600)
        if seconds > 0:
            yield hour, seconds


def _overlap(a: datetime, b: datetime, c: datetime, d: datetime) -> float:
    """Seconds ``[a, b)`` and ``[c, d)`` share."""
    return max(0.0, (min(b, d) - max(a, c)).total_seconds())


@dataclass(frozen=True)
class Night:
    """A main sleep: in bed from ``bed`` to ``rise``, stage by stage."""

    day: date
    """The local date the person woke up on."""
    tzd: str
    bed: datetime
    """Lay down (UTC, a whole minute)."""
    rise: datetime
    """Got up: ``bed`` plus the stages' minutes."""
    stages: tuple[tuple[str, int], ...]
    """(stage, minutes) from ``bed`` to ``rise``, awake first and last.

    Stages: ``awake``, ``light``, ``deep``, ``rem``."""
    late: bool = False
    """The night after the late game: it starts after 01:00."""

    @cached_property
    def by_minute(self) -> tuple[str, ...]:
        """The stage of every minute in bed."""
        return tuple(stage for stage, minutes in self.stages for _ in range(minutes))

    def minutes(self, stage: str) -> int:
        """Minutes spent in ``stage``."""
        return sum(minutes for name, minutes in self.stages if name == stage)

    @property
    def asleep_minutes(self) -> int:
        """Minutes asleep (light, deep and REM)."""
        return len(self.by_minute) - self.minutes("awake")

    def window(self, start: int, end: int) -> list[str]:
        """Stages minute by minute from ``start`` to ``end`` minutes after ``bed``.

        Minutes outside the night are awake (a device that starts early or stops late
        sees the person lying awake).
        """
        minutes = self.by_minute
        return [minutes[m] if 0 <= m < len(minutes) else "awake" for m in range(start, end)]

    def seconds_between(self, start: datetime, end: datetime) -> dict[str, float]:
        """Seconds per stage in ``[start, end)``; time outside the night counts as awake."""
        out = dict.fromkeys(STAGES, 0.0)
        cursor = self.bed
        for stage, minutes in self.stages:
            until = cursor + timedelta(minutes=minutes)
            out[stage] += _overlap(start, end, cursor, until)
            cursor = until
        outside = (end - start).total_seconds() - _overlap(start, end, self.bed, self.rise)
        out["awake"] += max(0.0, outside)
        return out


@dataclass(frozen=True)
class Workout:
    """A training session as it really happened."""

    sport: str
    """WHOOP's name for it (see `SPORTS`; ``ice hockey`` for the late game)."""
    start: datetime
    end: datetime
    steps: int


@dataclass(frozen=True)
class Day:
    """One local day: the night that ended that morning and the waking day after it."""

    day: date
    tzd: str
    night: Night
    workouts: tuple[Workout, ...]
    naps: tuple[tuple[datetime, datetime], ...]
    hourly_steps: tuple[int, ...]
    """Steps in each local clock hour (0-23) of ``day``."""
    resting_hr: float
    """Resting heart rate over the night that ended this morning."""
    hrv_ms: float
    """Overnight HRV (RMSSD) of that night."""
    weight_kg: float
    """What a scale would read that morning."""
    midnight: datetime = field(repr=False)
    """Local midnight starting ``day``."""

    @property
    def steps(self) -> int:
        """Steps over the whole local day."""
        return sum(self.hourly_steps)


@dataclass(frozen=True)
class _Plan:
    workouts: tuple[Workout, ...]
    naps: tuple[tuple[datetime, datetime], ...]


class Life:
    """What truly happened to ``person`` on every day, for ``seed`` (built on demand, cached)."""

    def __init__(self, person: PersonSpec, seed: int, today: date) -> None:
        self.person = person
        self.seed = seed
        self.today = today
        """The home date at the sandbox's ``now``."""
        self._nights: dict[date, Night] = {}
        self._plans: dict[date, _Plan] = {}
        self._days: dict[date, Day] = {}

    def __repr__(self) -> str:
        return f"Life({self.person.email}, seed={self.seed}, today={self.today.isoformat()})"

    # ------------------------------------------------------------------ where and when
    def days_ago(self, day: date) -> int:
        """How many days before the home today ``day`` is."""
        return (self.today - day).days

    def abroad(self, day: date) -> bool:
        """Whether ``day`` is spent in the travel offset."""
        first, last = self.person.travel_days_ago
        return last <= self.days_ago(day) <= first

    def tzd(self, day: date) -> str:
        """The UTC offset the person lives by on ``day`` (``±HH:MM``)."""
        return self.person.travel_offset if self.abroad(day) else self.person.home_offset

    def zone(self, day: date) -> str:
        """The IANA zone the person is in on ``day``."""
        return self.person.travel_zone if self.abroad(day) else self.person.home_zone

    def tz(self, day: date) -> timezone:
        """`tzd` as a `timezone`."""
        return offset_tz(self.tzd(day))

    def midnight(self, day: date) -> datetime:
        """Local midnight starting ``day`` (in the offset of ``day``)."""
        return datetime.combine(day, time(0), tzinfo=self.tz(day))

    def _rng(self, kind: str, day: date) -> random.Random:
        return random.Random(f"wellpipe-person:{self.seed}:{kind}:{day.isoformat()}")

    # ------------------------------------------------------------------ nights
    def night(self, day: date) -> Night:
        """The main sleep that ended on the morning of ``day``."""
        known = self._nights.get(day)
        if known is None:
            known = self._nights[day] = self._night(day)
        return known

    def _night(self, day: date) -> Night:
        person = self.person
        rng = self._rng("night", day)
        ago = self.days_ago(day)
        first, last = person.travel_days_ago
        late = ago == person.late_game_days_ago - 1
        if late:  # home from the game after midnight; up at the usual time
            bed_h = 25.4 + rng.uniform(0, 0.08)
            asleep = rng.gauss(395, 15)
        else:
            bed_h = _clip(rng.gauss(23.1, 0.45), 22.0, 24.5)
            jet = _clip(
                (self._offset_hours(person.travel_offset) - self._offset_hours(person.home_offset))
                / 6,
                -1.0,
                1.0,
            )
            if ago == first:  # the first night abroad: the body clock disagrees
                bed_h = _clip(bed_h + jet, 21.9, 24.6)
            elif ago == last - 1:  # the first night home
                bed_h = _clip(bed_h - jet, 21.9, 24.6)
            weekend = day.weekday() >= 5
            asleep = _clip(rng.gauss(435 + (27 if weekend else 0), 36), 300, 555)
        stages = _hypnogram(rng, round(asleep))
        evening = datetime.combine(day - timedelta(days=1), time(0), tzinfo=self.tz(day))
        bed = (evening + timedelta(minutes=round(bed_h * 60))).astimezone(UTC)
        rise = bed + timedelta(minutes=sum(minutes for _, minutes in stages))
        return Night(day, self.tzd(day), bed, rise, stages, late)

    @staticmethod
    def _offset_hours(tzd: str) -> float:
        return offset_tz(tzd).utcoffset(None).total_seconds() / 3600

    # ------------------------------------------------------------------ days
    def day(self, day: date) -> Day:
        """Everything true about ``day``."""
        known = self._days.get(day)
        if known is None:
            known = self._days[day] = self._day(day)
        return known

    def _plan(self, day: date) -> _Plan:
        known = self._plans.get(day)
        if known is None:
            known = self._plans[day] = self._make_plan(day)
        return known

    def _make_plan(self, day: date) -> _Plan:
        """The day's workouts and naps, between the night before and the next one."""
        rng = self._rng("plan", day)
        night = self.night(day)
        next_bed = self.night(day + timedelta(days=1)).bed
        midnight = self.midnight(day)
        earliest = night.rise + timedelta(minutes=50)
        latest = min(next_bed - timedelta(minutes=75), midnight + timedelta(hours=23, minutes=59))
        workouts: list[Workout] = []
        if self.days_ago(day) == self.person.late_game_days_ago:
            start = midnight + timedelta(hours=22, minutes=50)
            game = _LATE_GAME[2]
            steps = round(game * _LATE_GAME[4] * rng.uniform(0.9, 1.1))
            workouts.append(Workout(_LATE_GAME[0], start, start + timedelta(minutes=game), steps))
        else:
            count = rng.choices((0, 1, 2), weights=(30, 50, 20))[0]
            slots = [
                night.rise + timedelta(minutes=rng.uniform(50, 150)),
                midnight + timedelta(hours=rng.uniform(17.0, 19.5)),
            ]
            rng.shuffle(slots)
            for slot in sorted(slots[:count]):
                sport = rng.choices(SPORTS, weights=_SPORT_WEIGHTS)[0]
                if sport[0] == "hiking/rucking" and day.weekday() < 5:
                    sport = SPORTS[0]
                minutes = rng.uniform(sport[2], sport[3])
                start = slot.replace(microsecond=0)
                end = start + timedelta(seconds=round(minutes * 60))
                steps = round(minutes * sport[4] * rng.uniform(0.9, 1.1))
                if (
                    start < earliest
                    or end > latest
                    or (workouts and start < workouts[-1].end + timedelta(hours=1))
                ):
                    continue
                workouts.append(Workout(sport[0], start, end, steps))
        naps: tuple[tuple[datetime, datetime], ...] = ()
        planted = self.days_ago(day) in self.person.nap_days_ago
        if planted or rng.random() < 0.10:
            length = timedelta(minutes=round(rng.uniform(20, 75)))
            hours = [rng.uniform(13.5, 15.5)]
            if planted:
                hours += [14.0, 15.0, 16.0]
            for hour in hours:
                start = midnight + timedelta(minutes=round(hour * 60))
                if self._nap_fits(start, start + length, night, next_bed, workouts):
                    naps = ((start, start + length),)
                    break
            if planted and not naps:  # napped instead of training
                start = midnight + timedelta(hours=15)
                workouts = [
                    w
                    for w in workouts
                    if w.end + timedelta(minutes=30) <= start
                    or start + length + timedelta(minutes=30) <= w.start
                ]
                naps = ((start, start + length),)
        return _Plan(tuple(workouts), naps)

    @staticmethod
    def _nap_fits(
        start: datetime, end: datetime, night: Night, next_bed: datetime, workouts: list[Workout]
    ) -> bool:
        margin = timedelta(minutes=30)
        return (
            start >= night.rise + timedelta(hours=3, minutes=10)
            and end <= next_bed - timedelta(hours=3)
            and not any(start < w.end + margin and w.start < end + margin for w in workouts)
        )

    def _day(self, day: date) -> Day:
        person = self.person
        rng = self._rng("day", day)
        night = self.night(day)
        next_night = self.night(day + timedelta(days=1))
        plan = self._plan(day)
        before = self._plan(day - timedelta(days=1))
        midnight = self.midnight(day)
        busy = [0.0] * 24  # seconds of each hour in bed, napping or training
        trained = [0.0] * 24  # workout steps in each hour
        for a, b in [(night.bed, night.rise), (next_night.bed, next_night.rise), *plan.naps]:
            for hour, seconds in _hours(midnight, a, b):
                busy[hour] += seconds
        for w in [*before.workouts, *plan.workouts]:
            length = (w.end - w.start).total_seconds()
            for hour, seconds in _hours(midnight, w.start, w.end):
                busy[hour] += seconds
                trained[hour] += w.steps * seconds / length
        weekend = 1.15 if day.weekday() >= 5 else 1.0
        hourly: list[int] = []
        for hour, usual in enumerate(_HOURLY_STEPS):
            free = max(0.0, 3600 - busy[hour]) / 3600
            rate = max(0.0, rng.gauss(usual, usual * 0.45)) * weekend
            if 9 <= hour < 17 and rng.random() < 0.12:
                rate = rng.uniform(0, 40)  # a sedentary hour at the desk
            hourly.append(round(rate * free + trained[hour]))
        rhr, hrv = self._vitals(day, night, before.workouts)
        ago = self.days_ago(day)
        weight = person.weight_kg + 0.9 * ago / 365 + rng.gauss(0, 0.3)
        return Day(
            day=day,
            tzd=self.tzd(day),
            night=night,
            workouts=plan.workouts,
            naps=plan.naps,
            hourly_steps=tuple(hourly),
            resting_hr=rhr,
            hrv_ms=hrv,
            weight_kg=round(weight, 4),
            midnight=midnight,
        )

    def _vitals(
        self, day: date, night: Night, yesterday: tuple[Workout, ...]
    ) -> tuple[float, float]:
        """Resting heart rate and HRV over the night that ended on ``day``."""
        person = self.person
        rng = self._rng("vitals", day)
        load = sum(_LOAD[w.sport] * (w.end - w.start).total_seconds() / 3600 for w in yesterday)
        hrv = person.hrv_ms * math.exp(rng.gauss(0, 0.12))
        hrv *= 1 - 0.05 * max(0.0, load - 0.8)
        if rng.random() < 0.05:
            hrv *= 0.8  # a late night out
        ago = self.days_ago(day)
        first, last = person.travel_days_ago
        if first - 2 <= ago <= first:
            hrv *= 0.88  # jet lag
        elif ago == last - 1:
            hrv *= 0.92
        if night.late:
            hrv *= 0.85
        hrv *= 0.9 + 0.1 * _clip(night.asleep_minutes / 440, 0.5, 1.0)
        rhr = person.rhr_bpm * (1 + 0.12 * (person.hrv_ms / hrv - 1)) + rng.gauss(0, 1.0)
        return round(rhr, 3), round(hrv, 3)


def _hypnogram(rng: random.Random, asleep: int) -> tuple[tuple[str, int], ...]:
    """Stages of a night with ``asleep`` minutes asleep: ~90-minute cycles, deep early, REM late."""
    segments: list[tuple[str, int]] = [("awake", int(_clip(round(rng.gauss(11, 5)), 3, 30)))]
    done = 0
    cycle = 0
    while done < asleep:
        early = cycle < 2
        deep = rng.randint(22, 40) if early else rng.randint(3, 14)
        rem = rng.randint(8, 16) if early else rng.randint(18, 34)
        light = max(10, rng.randint(82, 104) - deep - rem)
        first_light = round(light * rng.uniform(0.45, 0.7))
        for stage, minutes in (
            ("light", first_light),
            ("deep", deep),
            ("light", light - first_light),
            ("rem", rem),
        ):
            take = min(minutes, asleep - done)
            if take > 0:
                segments.append((stage, take))
                done += take
        if done < asleep and rng.random() < 0.5:
            segments.append(("awake", rng.randint(1, 6)))
        cycle += 1
    segments.append(("awake", rng.randint(2, 9)))
    merged: list[tuple[str, int]] = []
    for stage, minutes in segments:
        if merged and merged[-1][0] == stage:
            merged[-1] = (stage, merged[-1][1] + minutes)
        else:
            merged.append((stage, minutes))
    return tuple(merged)


@lru_cache(maxsize=8)
def _life(person: PersonSpec, seed: int, today: date) -> Life:
    return Life(person, seed, today)


def life(person: PersonSpec, seed: int, now: datetime) -> Life:
    """The (shared, cached) `Life` of ``person`` for ``seed`` as seen at ``now``.

    Every sandbox built with the same seed and ``now`` reads the same object, so the
    truth is computed once however many devices measure it.
    """
    return _life(person, seed, now.astimezone(offset_tz(person.home_offset)).date())
