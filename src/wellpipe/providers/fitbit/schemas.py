"""Google Health API v4 JSON, field for field as its discovery document defines it.

Only what Wellpipe reads is modelled. Field names are Google's (camelCase).
Parsing is strict and follows Google's JSON conventions for protocol buffers:

* int64 values arrive as JSON **strings** of decimal digits (``"8123"``); a
  JSON number there is an error, not a guess;
* durations (and UTC offsets) are strings of seconds with an ``s`` suffix
  (``"1830s"``, ``"-18000s"``, ``"0.5s"``);
* timestamps are RFC 3339 strings; civil dates and times are objects
  (``{"year": 2026, "month": 11, "day": 21}``, ``{"hours": 7}``).

Unknown fields are ignored, so Google can add fields without breaking anyone;
enumerations are kept as strings, so an unknown value is opaque rather than an
error (the mapping decides what it understands).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, PlainValidator

__all__ = [
    "ActiveEnergyBurned",
    "ActiveEnergyBurnedRollupValue",
    "ActiveMinutesRollupByActivityLevel",
    "ActiveMinutesRollupValue",
    "ActiveZoneMinutes",
    "ActiveZoneMinutesRollupValue",
    "CivilDateTime",
    "DailyHeartRateVariability",
    "DailyOxygenSaturation",
    "DailyRespiratoryRate",
    "DailyRestingHeartRate",
    "DailyRestingHeartRateMetadata",
    "DailyRollUpDataPointsResponse",
    "DailyRollupDataPoint",
    "DailySleepTemperatureDerivations",
    "DailyVO2Max",
    "DataPoint",
    "DataSource",
    "Date",
    "Device",
    "Distance",
    "DistanceRollupValue",
    "Duration",
    "ErrorEnvelope",
    "ErrorInfo",
    "ErrorStatus",
    "Exercise",
    "ExerciseMetadata",
    "HeartRate",
    "HeartRateMetadata",
    "HeartRateRollupValue",
    "Height",
    "Identity",
    "Int64",
    "ListDataPointsResponse",
    "MetricsSummary",
    "ObservationSampleTime",
    "ObservationTimeInterval",
    "Profile",
    "ReconcileDataPointsResponse",
    "ReconciledDataPoint",
    "RollUpDataPointsResponse",
    "RollupDataPoint",
    "SedentaryPeriodRollupValue",
    "SessionTimeInterval",
    "Settings",
    "Sleep",
    "SleepMetadata",
    "SleepStage",
    "SleepSummary",
    "StageSummary",
    "Steps",
    "StepsRollupValue",
    "TimeInHeartRateZones",
    "TimeOfDay",
    "TotalCaloriesRollupValue",
    "Weight",
    "WeightRollupValue",
    "format_duration",
]

_INT64 = re.compile(r"-?\d{1,19}")
_DURATION = re.compile(r"(-?)(\d{1,12})(?:\.(\d{1,9}))?s")


def _int64(value: Any) -> int:
    if not isinstance(value, str) or not _INT64.fullmatch(value):
        raise ValueError("expected an int64 written as a JSON string of digits")
    number = int(value)
    if not -(2**63) <= number < 2**63:
        raise ValueError("the int64 is out of range")
    return number


def _duration(value: Any) -> timedelta:
    if not isinstance(value, str):
        raise ValueError('expected a duration written as a JSON string like "90s"')
    match = _DURATION.fullmatch(value)
    if match is None:
        raise ValueError('expected a duration written as a JSON string like "90s"')
    sign, whole, fraction = match.groups()
    micros = int((fraction or "").ljust(9, "0")[:6])
    span = timedelta(seconds=int(whole), microseconds=micros)
    return -span if sign else span


def format_duration(span: timedelta) -> str:
    """A duration the way Google writes it: whole seconds with an ``s`` (``"86400s"``)."""
    seconds = span.total_seconds()
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds:.6f}s"


Int64 = Annotated[int, PlainValidator(_int64, json_schema_input_type=str)]
"""An int64: a JSON string of decimal digits."""
Int32 = Annotated[int, Field(strict=True, ge=-(2**31), le=2**31 - 1)]
Duration = Annotated[timedelta, PlainValidator(_duration, json_schema_input_type=str)]
"""A ``google-duration``: a JSON string of seconds ending in ``s``."""


class _Wire(BaseModel):
    model_config = ConfigDict(defer_build=True, strict=True, frozen=True, extra="ignore")


# ------------------------------------------------------------------ time
class Date(_Wire):
    """``Date``: a calendar date (Google allows zeros for partial dates; Wellpipe needs whole)."""

    year: Int32 = 0
    month: Int32 = 0
    day: Int32 = 0

    def as_date(self) -> date:
        """The date as a `datetime.date`.

        Raises:
            ValueError: a partial or impossible date (a zero month, February 30th).
        """
        return date(self.year, self.month, self.day)


class TimeOfDay(_Wire):
    """``TimeOfDay``: a wall-clock time; every field defaults to zero."""

    hours: Int32 = 0
    minutes: Int32 = 0
    seconds: Int32 = 0
    nanos: Int32 = 0


class CivilDateTime(_Wire):
    """``CivilDateTime``: a wall-clock date and time with no zone or offset."""

    date: Date
    time: TimeOfDay | None = None

    def as_datetime(self) -> datetime:
        """The naive wall-clock reading (midnight when ``time`` is absent)."""
        moment = self.time or TimeOfDay()
        return datetime.combine(
            self.date.as_date(),
            time(
                min(moment.hours, 23),
                moment.minutes,
                min(moment.seconds, 59),
                moment.nanos // 1000,
            ),
        )


class SessionTimeInterval(_Wire):
    """``SessionTimeInterval``: a session's physical instants, UTC offsets and civil times."""

    startTime: AwareDatetime
    endTime: AwareDatetime
    startUtcOffset: Duration
    endUtcOffset: Duration
    civilStartTime: CivilDateTime | None = None
    civilEndTime: CivilDateTime | None = None

    @property
    def local_start(self) -> datetime:
        """The start, at the UTC offset the person was at."""
        return self.startTime.astimezone(timezone(self.startUtcOffset))

    @property
    def local_end(self) -> datetime:
        """The end, at the UTC offset the person was at."""
        return self.endTime.astimezone(timezone(self.endUtcOffset))


class ObservationTimeInterval(SessionTimeInterval):
    """``ObservationTimeInterval``: the same fields as a session's interval."""


class ObservationSampleTime(_Wire):
    """``ObservationSampleTime``: one instant, its UTC offset and its civil reading."""

    physicalTime: AwareDatetime
    utcOffset: Duration
    civilTime: CivilDateTime | None = None

    @property
    def local(self) -> datetime:
        """The instant at the UTC offset the person was at."""
        return self.physicalTime.astimezone(timezone(self.utcOffset))


# ------------------------------------------------------------------ sources
class Device(_Wire):
    """``Device``."""

    displayName: str | None = None
    manufacturer: str | None = None
    formFactor: str | None = None


class DataSource(_Wire):
    """``DataSource``: where a raw point came from (list only; reconcile merges sources)."""

    platform: str | None = None
    recordingMethod: str | None = None
    device: Device | None = None


# ------------------------------------------------------------------ sleep
class SleepStage(_Wire):
    """``SleepStage``: one segment of a sleep."""

    startTime: AwareDatetime
    endTime: AwareDatetime
    startUtcOffset: Duration
    endUtcOffset: Duration
    type: str
    """``AWAKE``, ``LIGHT``, ``DEEP``, ``REM``; classic: ``ASLEEP``, ``RESTLESS``, ``AWAKE``."""


class StageSummary(_Wire):
    """``StageSummary``: minutes and segment count of one stage type."""

    type: str | None = None
    minutes: Int64 | None = None
    count: Int64 | None = None


class SleepSummary(_Wire):
    """``SleepSummary`` (output only). Every field may be absent."""

    minutesAsleep: Int64 | None = None
    minutesAwake: Int64 | None = None
    minutesInSleepPeriod: Int64 | None = None
    minutesToFallAsleep: Int64 | None = None
    minutesAfterWakeUp: Int64 | None = None
    stagesSummary: list[StageSummary] = []


class SleepMetadata(_Wire):
    """``SleepMetadata``."""

    mainSleep: bool | None = None
    nap: bool | None = None
    processed: bool | None = None
    manuallyEdited: bool | None = None
    stagesStatus: str | None = None
    externalId: str | None = None


class Sleep(_Wire):
    """``Sleep``: a sleep session, possibly with stages."""

    interval: SessionTimeInterval
    type: str | None = None
    """``CLASSIC`` or ``STAGES``."""
    stages: list[SleepStage] = []
    summary: SleepSummary | None = None
    metadata: SleepMetadata | None = None
    createTime: AwareDatetime | None = None
    updateTime: AwareDatetime | None = None


# ------------------------------------------------------------------ exercise
class TimeInHeartRateZones(_Wire):
    """``TimeInHeartRateZones``."""

    lightTime: Duration | None = None
    moderateTime: Duration | None = None
    vigorousTime: Duration | None = None
    peakTime: Duration | None = None


class MetricsSummary(_Wire):
    """``MetricsSummary``: an exercise's totals. Every field may be absent."""

    caloriesKcal: float | None = None
    distanceMillimeters: float | None = None
    steps: Int64 | None = None
    averageHeartRateBeatsPerMinute: Int64 | None = None
    activeZoneMinutes: Int64 | None = None
    averageSpeedMillimetersPerSecond: float | None = None
    averagePaceSecondsPerMeter: float | None = None
    elevationGainMillimeters: float | None = None
    heartRateZoneDurations: TimeInHeartRateZones | None = None
    runVo2Max: float | None = None


class ExerciseMetadata(_Wire):
    """``ExerciseMetadata``."""

    hasGps: bool | None = None


class Exercise(_Wire):
    """``Exercise``: one workout session."""

    interval: SessionTimeInterval
    exerciseType: str
    displayName: str
    metricsSummary: MetricsSummary
    activeDuration: Duration | None = None
    exerciseMetadata: ExerciseMetadata | None = None
    notes: str | None = None
    createTime: AwareDatetime | None = None
    updateTime: AwareDatetime | None = None


# ------------------------------------------------------------------ interval types
class Steps(_Wire):
    """``Steps``: a step count over an interval."""

    interval: ObservationTimeInterval
    count: Int64


class Distance(_Wire):
    """``Distance``: millimetres over an interval."""

    interval: ObservationTimeInterval
    millimeters: Int64


class ActiveZoneMinutes(_Wire):
    """``ActiveZoneMinutes``: minutes earned in one heart-rate zone over an interval."""

    interval: ObservationTimeInterval
    activeZoneMinutes: Int64
    heartRateZone: str


class ActiveEnergyBurned(_Wire):
    """``ActiveEnergyBurned``: kilocalories burned by activity over an interval."""

    interval: ObservationTimeInterval
    kcal: float


# ------------------------------------------------------------------ daily types
class DailyRestingHeartRateMetadata(_Wire):
    """``DailyRestingHeartRateMetadata``."""

    calculationMethod: str | None = None


class DailyRestingHeartRate(_Wire):
    """``DailyRestingHeartRate``."""

    date: Date
    beatsPerMinute: Int64
    dailyRestingHeartRateMetadata: DailyRestingHeartRateMetadata | None = None


class DailyHeartRateVariability(_Wire):
    """``DailyHeartRateVariability``: the night's RMSSD (ms) and friends."""

    date: Date
    averageHeartRateVariabilityMilliseconds: float | None = None
    deepSleepRootMeanSquareOfSuccessiveDifferencesMilliseconds: float | None = None
    nonRemHeartRateBeatsPerMinute: Int64 | None = None
    entropy: float | None = None


class DailyOxygenSaturation(_Wire):
    """``DailyOxygenSaturation``: the night's average SpO2 with a confidence interval."""

    date: Date
    averagePercentage: float
    lowerBoundPercentage: float | None = None
    upperBoundPercentage: float | None = None
    standardDeviationPercentage: float | None = None


class DailyRespiratoryRate(_Wire):
    """``DailyRespiratoryRate``: breaths per minute during the main sleep."""

    date: Date
    breathsPerMinute: float


class DailySleepTemperatureDerivations(_Wire):
    """``DailySleepTemperatureDerivations``: nightly skin temperature and its 30-day baseline."""

    date: Date
    nightlyTemperatureCelsius: float
    baselineTemperatureCelsius: float | None = None
    relativeNightlyStddev30dCelsius: float | None = None


class DailyVO2Max(_Wire):
    """``DailyVO2Max``: cardio fitness, ml/kg/min."""

    date: Date
    vo2Max: float
    cardioFitnessLevel: str | None = None
    estimated: bool | None = None
    vo2MaxCovariance: float | None = None


# ------------------------------------------------------------------ sample types
class Weight(_Wire):
    """``Weight``: grams at one instant."""

    sampleTime: ObservationSampleTime
    weightGrams: float
    notes: str | None = None


class Height(_Wire):
    """``Height``: millimetres at one instant."""

    sampleTime: ObservationSampleTime
    heightMillimeters: Int64


class HeartRateMetadata(_Wire):
    """``HeartRateMetadata``."""

    motionContext: str | None = None
    sensorLocation: str | None = None


class HeartRate(_Wire):
    """``HeartRate``: one heart-rate sample."""

    sampleTime: ObservationSampleTime
    beatsPerMinute: Int64
    metadata: HeartRateMetadata | None = None


# ------------------------------------------------------------------ data points
class _Payloads(_Wire):
    """The ``DataPoint`` union members Wellpipe reads; exactly one is set per point."""

    sleep: Sleep | None = None
    exercise: Exercise | None = None
    steps: Steps | None = None
    distance: Distance | None = None
    activeZoneMinutes: ActiveZoneMinutes | None = None
    activeEnergyBurned: ActiveEnergyBurned | None = None
    dailyRestingHeartRate: DailyRestingHeartRate | None = None
    dailyHeartRateVariability: DailyHeartRateVariability | None = None
    dailyOxygenSaturation: DailyOxygenSaturation | None = None
    dailyRespiratoryRate: DailyRespiratoryRate | None = None
    dailySleepTemperatureDerivations: DailySleepTemperatureDerivations | None = None
    dailyVo2Max: DailyVO2Max | None = None
    weight: Weight | None = None
    height: Height | None = None
    heartRate: HeartRate | None = None


class DataPoint(_Payloads):
    """``DataPoint``: one raw point from one source (``list``, ``get``)."""

    name: str | None = None
    """``users/{healthUserId}/dataTypes/{type}/dataPoints/{id}`` for identifiable types."""
    dataSource: DataSource | None = None

    @property
    def point_name(self) -> str | None:
        """The resource name, whichever method returned the point."""
        return self.name


class ReconciledDataPoint(_Payloads):
    """``ReconciledDataPoint``: one point of the merged stream (``reconcile``); no source."""

    dataPointName: str | None = None

    @property
    def point_name(self) -> str | None:
        """The resource name, whichever method returned the point."""
        return self.dataPointName


class ListDataPointsResponse(_Wire):
    """``ListDataPointsResponse``. An empty or absent ``nextPageToken`` means the last page."""

    dataPoints: list[DataPoint] = []
    nextPageToken: str | None = None


class ReconcileDataPointsResponse(_Wire):
    """``ReconcileDataPointsResponse``."""

    dataPoints: list[ReconciledDataPoint] = []
    nextPageToken: str | None = None


# ------------------------------------------------------------------ roll-ups
class StepsRollupValue(_Wire):
    """``StepsRollupValue``."""

    countSum: Int64 | None = None


class DistanceRollupValue(_Wire):
    """``DistanceRollupValue``."""

    millimetersSum: Int64 | None = None


class TotalCaloriesRollupValue(_Wire):
    """``TotalCaloriesRollupValue``."""

    kcalSum: float | None = None


class ActiveEnergyBurnedRollupValue(_Wire):
    """``ActiveEnergyBurnedRollupValue``."""

    kcalSum: float | None = None


class ActiveZoneMinutesRollupValue(_Wire):
    """``ActiveZoneMinutesRollupValue``: per-zone sums (a cardio or peak minute counts two)."""

    sumInFatBurnHeartZone: Int64 | None = None
    sumInCardioHeartZone: Int64 | None = None
    sumInPeakHeartZone: Int64 | None = None


class ActiveMinutesRollupByActivityLevel(_Wire):
    """``ActiveMinutesRollupByActivityLevel``."""

    activityLevel: str | None = None
    """``LIGHT``, ``MODERATE`` or ``VIGOROUS``."""
    activeMinutesSum: Int64 | None = None


class ActiveMinutesRollupValue(_Wire):
    """``ActiveMinutesRollupValue``."""

    activeMinutesRollupByActivityLevel: list[ActiveMinutesRollupByActivityLevel] = []


class SedentaryPeriodRollupValue(_Wire):
    """``SedentaryPeriodRollupValue``."""

    durationSum: Duration | None = None


class HeartRateRollupValue(_Wire):
    """``HeartRateRollupValue``."""

    beatsPerMinuteAvg: float | None = None
    beatsPerMinuteMin: float | None = None
    beatsPerMinuteMax: float | None = None


class WeightRollupValue(_Wire):
    """``WeightRollupValue``."""

    weightGramsAvg: float | None = None


class _RollupValues(_Wire):
    steps: StepsRollupValue | None = None
    distance: DistanceRollupValue | None = None
    totalCalories: TotalCaloriesRollupValue | None = None
    activeEnergyBurned: ActiveEnergyBurnedRollupValue | None = None
    activeZoneMinutes: ActiveZoneMinutesRollupValue | None = None
    activeMinutes: ActiveMinutesRollupValue | None = None
    sedentaryPeriod: SedentaryPeriodRollupValue | None = None
    heartRate: HeartRateRollupValue | None = None
    weight: WeightRollupValue | None = None


class DailyRollupDataPoint(_RollupValues):
    """``DailyRollupDataPoint``: one civil window's roll-up, merged across sources."""

    civilStartTime: CivilDateTime
    civilEndTime: CivilDateTime


class DailyRollUpDataPointsResponse(_Wire):
    """``DailyRollUpDataPointsResponse``: no ``nextPageToken``, ever."""

    rollupDataPoints: list[DailyRollupDataPoint] = []


class RollupDataPoint(_RollupValues):
    """``RollupDataPoint``: one physical window's roll-up."""

    startTime: AwareDatetime
    endTime: AwareDatetime


class RollUpDataPointsResponse(_Wire):
    """``RollUpDataPointsResponse``."""

    rollupDataPoints: list[RollupDataPoint] = []
    nextPageToken: str | None = None


# ------------------------------------------------------------------ the user
class Identity(_Wire):
    """``Identity``: the Google Health user id (and the old Fitbit one)."""

    healthUserId: str
    legacyUserId: str | None = None
    name: str | None = None


class Profile(_Wire):
    """``Profile``: age and stride lengths; no name, no email."""

    name: str | None = None
    age: Int32 | None = None
    membershipStartDate: Date | None = None
    autoRunningStrideLengthMm: Int32 | None = None
    autoWalkingStrideLengthMm: Int32 | None = None
    userConfiguredRunningStrideLengthMm: Int32 | None = None
    userConfiguredWalkingStrideLengthMm: Int32 | None = None


class Settings(_Wire):
    """``Settings``: time zone and unit preferences."""

    name: str | None = None
    timeZone: str | None = None
    utcOffset: Duration | None = None
    languageLocale: str | None = None
    distanceUnit: str | None = None
    heightUnit: str | None = None
    weightUnit: str | None = None
    temperatureUnit: str | None = None


# ------------------------------------------------------------------ errors (AIP-193)
class ErrorInfo(BaseModel):
    """One entry of ``details``; only ``google.rpc.ErrorInfo`` entries carry a ``reason``."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="ignore", populate_by_name=True)

    type: str | None = Field(default=None, alias="@type")
    reason: str | None = None
    domain: str | None = None
    metadata: dict[str, str] = {}


class ErrorStatus(BaseModel):
    """``Status`` as REST sends it (with ``status``), read leniently: never hide the error."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="ignore")

    code: int | None = None
    message: str | None = None
    status: str | None = None
    details: list[ErrorInfo] = []

    @property
    def reasons(self) -> list[str]:
        """Every ``details[].reason``, in order."""
        return [d.reason for d in self.details if d.reason]


class ErrorEnvelope(BaseModel):
    """``{"error": ErrorStatus}``."""

    model_config = ConfigDict(defer_build=True, frozen=True, extra="ignore")

    error: ErrorStatus
