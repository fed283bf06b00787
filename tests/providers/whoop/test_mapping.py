"""Wire → core mapping, snapshot-tested on sandbox payloads, edge cases included."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any, TypeVar

import pytest
from inline_snapshot import snapshot
from pydantic import BaseModel

from wellpipe.providers.whoop import mapping
from wellpipe.providers.whoop import schemas as wire
from wellpipe.sandbox.whoop import History

ALEX, SAM = 10129, 20458


def sleeps(history: History, user: int) -> list[dict[str, Any]]:
    return [r.body for r in history.members[user].sleeps]


def cycles(history: History, user: int) -> list[dict[str, Any]]:
    return [r.body for r in history.members[user].cycles]


def workouts(history: History, user: int) -> list[dict[str, Any]]:
    return [r.body for r in history.members[user].workouts]


def recoveries(history: History, user: int) -> list[dict[str, Any]]:
    return [r.body for r in history.members[user].recoveries]


ModelT = TypeVar("ModelT", bound=BaseModel)


def parse(model: type[ModelT], body: dict[str, Any]) -> ModelT:
    """As the client parses: from JSON text, strictly."""
    return model.model_validate_json(json.dumps(body))


def dump(model: Any) -> Any:
    return model.model_dump(mode="json")


def sleep_of(history: History, user: int, sleep_id: str) -> wire.Sleep:
    return parse(wire.Sleep, history.members[user].sleep_by_id[sleep_id])


def test_a_scored_night(history: History) -> None:
    body = next(s for s in sleeps(history, ALEX) if not s["nap"] and s["score_state"] == "SCORED")
    assert dump(mapping.sleep_to_core(parse(wire.Sleep, body))) == snapshot(
        {
            "provider": "whoop",
            "source_id": "f06c6773-4db9-4fcf-a861-764e57f5b585",
            "day": "2026-11-21",
            "extras": {
                "cycle_id": 1190000400,
                "sleep_need_baseline_min": 450.5563666666667,
                "sleep_need_from_debt_min": 14.123916666666666,
                "sleep_need_from_strain_min": 30.960683333333332,
                "sleep_need_from_naps_min": 0.0,
            },
            "start": "2026-11-21T00:14:19.118000-05:00",
            "end": "2026-11-21T09:06:33.190000-05:00",
            "score_state": "scored",
            "score": {
                "in_bed_duration_min": 532.2345333333334,
                "asleep_duration_min": 492.20641666666666,
                "awake_duration_min": 40.02811666666667,
                "light_sleep_duration_min": 294.87806666666665,
                "deep_sleep_duration_min": 94.18838333333333,
                "rem_sleep_duration_min": 103.13996666666667,
                "no_data_duration_min": 0.0,
                "sleep_cycle_count": 5,
                "disturbance_count": 17,
                "latency_min": None,
                "sleep_need_min": 495.64096666666666,
                "sleep_performance_pct": 99.0,
                "sleep_score_pct": None,
                "sleep_consistency_pct": 67.0,
                "sleep_efficiency_pct": 92.47923346574781,
                "respiratory_rate_per_min": 14.35546875,
                "avg_heart_rate_bpm": None,
                "lowest_heart_rate_bpm": None,
                "avg_hrv_rmssd_ms": None,
            },
            "kind": "sleep",
            "nap": False,
            "stages": [],
        }
    )


def test_a_nap_without_performance_or_consistency(history: History) -> None:
    body = next(s for s in sleeps(history, ALEX) if s["nap"] and s["score_state"] == "SCORED")
    core = mapping.sleep_to_core(parse(wire.Sleep, body))
    assert core.score is not None
    assert core.score.sleep_performance_pct is None
    assert dump(core) == snapshot(
        {
            "provider": "whoop",
            "source_id": "e30e0d05-4b1e-422e-a685-955eccfa2233",
            "day": "2026-11-14",
            "extras": {
                "cycle_id": 1190000393,
                "sleep_need_baseline_min": 440.1308,
                "sleep_need_from_debt_min": 0.0,
                "sleep_need_from_strain_min": 0.0,
                "sleep_need_from_naps_min": 0.0,
            },
            "start": "2026-11-14T15:24:29.196000-05:00",
            "end": "2026-11-14T16:14:06.071000-05:00",
            "score_state": "scored",
            "score": {
                "in_bed_duration_min": 49.61456666666667,
                "asleep_duration_min": 42.36695,
                "awake_duration_min": 7.247616666666667,
                "light_sleep_duration_min": 35.3616,
                "deep_sleep_duration_min": 2.388333333333333,
                "rem_sleep_duration_min": 4.617016666666666,
                "no_data_duration_min": 0.0,
                "sleep_cycle_count": 1,
                "disturbance_count": 7,
                "latency_min": None,
                "sleep_need_min": 440.1308,
                "sleep_performance_pct": None,
                "sleep_score_pct": None,
                "sleep_consistency_pct": None,
                "sleep_efficiency_pct": 85.3921596950358,
                "respiratory_rate_per_min": None,
                "avg_heart_rate_bpm": None,
                "lowest_heart_rate_bpm": None,
                "avg_hrv_rmssd_ms": None,
            },
            "kind": "sleep",
            "nap": True,
            "stages": [],
        }
    )


def test_an_unscorable_sleep_has_no_score(history: History) -> None:
    body = next(s for s in sleeps(history, ALEX) if s["score_state"] == "UNSCORABLE")
    assert "score" not in body
    assert dump(mapping.sleep_to_core(parse(wire.Sleep, body))) == snapshot(
        {
            "provider": "whoop",
            "source_id": "9d3c79bf-c4d3-42e9-9d7c-f3633e960c94",
            "day": "2026-10-14",
            "extras": {"cycle_id": 1190000362},
            "start": "2026-10-14T14:28:27.935000-05:00",
            "end": "2026-10-14T15:01:47.100000-05:00",
            "score_state": "unscorable",
            "score": None,
            "kind": "sleep",
            "nap": True,
            "stages": [],
        }
    )


def test_the_current_cycle_is_open_and_pending(history: History) -> None:
    body = cycles(history, ALEX)[0]
    main = history.members[ALEX].main_sleep_by_cycle[body["id"]]
    core = mapping.cycle_to_core(parse(wire.Cycle, body), main_sleep=parse(wire.Sleep, main))
    assert core.in_progress
    assert dump(core) == snapshot(
        {
            "provider": "whoop",
            "source_id": "1190000400",
            "day": "2026-11-21",
            "extras": {},
            "start": "2026-11-21T00:14:19.118000-05:00",
            "end": None,
            "score_state": "pending",
            "score": None,
            "kind": "cycle",
        }
    )


def test_a_finished_cycle_belongs_to_the_day_its_sleep_ended(history: History) -> None:
    body = cycles(history, ALEX)[3]
    main = parse(wire.Sleep, history.members[ALEX].main_sleep_by_cycle[body["id"]])
    core = mapping.cycle_to_core(parse(wire.Cycle, body), main_sleep=main)
    assert core.day == mapping.sleep_to_core(main).day
    assert dump(core) == snapshot(
        {
            "provider": "whoop",
            "source_id": "1190000397",
            "day": "2026-11-18",
            "extras": {},
            "start": "2026-11-17T23:21:50.806000-05:00",
            "end": "2026-11-18T23:19:24.982000-05:00",
            "score_state": "scored",
            "score": {
                "strain": 9.9899871,
                "energy_kcal": 2222.9923518164437,
                "avg_heart_rate_bpm": 71,
                "max_heart_rate_bpm": 147,
            },
            "kind": "cycle",
        }
    )


def test_a_recovery_from_a_whoop_4_with_spo2_and_skin_temperature(history: History) -> None:
    body = recoveries(history, ALEX)[2]
    core = mapping.recovery_to_core(
        parse(wire.Recovery, body), sleep=sleep_of(history, ALEX, body["sleep_id"])
    )
    assert dump(core) == snapshot(
        {
            "provider": "whoop",
            "source_id": "1190000398",
            "day": "2026-11-19",
            "extras": {},
            "start": "2026-11-18T23:19:24.982000-05:00",
            "end": "2026-11-19T07:12:20.039000-05:00",
            "score_state": "scored",
            "score": {
                "recovery_score_pct": 43.0,
                "resting_heart_rate_bpm": 53.0,
                "hrv_rmssd_ms": 54.1953125,
                "spo2_pct": 96.1875,
                "skin_temp_celsius": 33.29,
                "calibrating": False,
            },
            "kind": "recovery",
            "sleep_source_id": "43485773-294d-4b4e-90c9-20c27016502b",
            "cycle_source_id": "1190000398",
        }
    )


def test_a_recovery_from_a_whoop_3_without_spo2_or_skin_temperature(history: History) -> None:
    body = recoveries(history, SAM)[2]
    core = mapping.recovery_to_core(
        parse(wire.Recovery, body), sleep=sleep_of(history, SAM, body["sleep_id"])
    )
    assert core.score is not None
    assert core.score.spo2_pct is None
    assert dump(core) == snapshot(
        {
            "provider": "whoop",
            "source_id": "1200000398",
            "day": "2026-11-19",
            "extras": {},
            "start": "2026-11-18T23:27:30.626000Z",
            "end": "2026-11-19T07:43:05.061000Z",
            "score_state": "scored",
            "score": {
                "recovery_score_pct": 46.0,
                "resting_heart_rate_bpm": 59.0,
                "hrv_rmssd_ms": 39.95703125,
                "spo2_pct": None,
                "skin_temp_celsius": None,
                "calibrating": False,
            },
            "kind": "recovery",
            "sleep_source_id": "4fd7b4be-8926-4021-a792-f6db8a30c6d8",
            "cycle_source_id": "1200000398",
        }
    )


def test_a_calibrating_recovery_says_so(history: History) -> None:
    body = next(r for r in reversed(recoveries(history, ALEX)) if r.get("score"))
    core = mapping.recovery_to_core(
        parse(wire.Recovery, body), sleep=sleep_of(history, ALEX, body["sleep_id"])
    )
    assert core.score is not None
    assert core.score.calibrating


def test_a_workout_past_midnight_stays_on_the_day_it_started(history: History) -> None:
    body = next(w for w in workouts(history, ALEX) if w["sport_name"] == "ice hockey")
    core = mapping.workout_to_core(parse(wire.WorkoutV2, body))
    assert core.end.date() == core.day + timedelta(days=1)
    assert dump(core) == snapshot(
        {
            "provider": "whoop",
            "source_id": "f5311184-1832-4a84-a470-b0ded9fda2c0",
            "day": "2026-11-09",
            "extras": {},
            "start": "2026-11-09T22:50:00-05:00",
            "end": "2026-11-10T00:18:00-05:00",
            "score_state": "scored",
            "score": {
                "strain": 13.2403228,
                "energy_kcal": 887.9660611854684,
                "avg_heart_rate_bpm": 129,
                "max_heart_rate_bpm": 159,
                "heart_rate_recorded_pct": 92.5204,
                "distance_m": None,
                "altitude_gain_m": None,
                "altitude_change_m": None,
                "steps": None,
                "active_zone_min": None,
                "intensity": None,
                "heart_rate_zones": {
                    "zone_0_min": 3.4995333333333334,
                    "zone_1_min": 13.205566666666666,
                    "zone_2_min": 22.659633333333332,
                    "zone_3_min": 19.4186,
                    "zone_4_min": 18.379,
                    "zone_5_min": 4.255566666666667,
                },
            },
            "kind": "workout",
            "sport": "ice hockey",
        }
    )


def test_a_gps_workout_with_distance_and_altitude(history: History) -> None:
    body = next(
        w for w in workouts(history, SAM) if w.get("score", {}).get("distance_meter") is not None
    )
    assert dump(mapping.workout_to_core(parse(wire.WorkoutV2, body))) == snapshot(
        {
            "provider": "whoop",
            "source_id": "17152c69-4ceb-4d33-b5de-41cbfbb069e9",
            "day": "2026-11-20",
            "extras": {},
            "start": "2026-11-20T08:37:13.142000Z",
            "end": "2026-11-20T09:07:49.784000Z",
            "score_state": "scored",
            "score": {
                "strain": 13.8559678,
                "energy_kcal": 307.39125239005733,
                "avg_heart_rate_bpm": 122,
                "max_heart_rate_bpm": 166,
                "heart_rate_recorded_pct": 100.0,
                "distance_m": 5157.5,
                "altitude_gain_m": 21.1328125,
                "altitude_change_m": 6.31982421875,
                "steps": None,
                "active_zone_min": None,
                "intensity": None,
                "heart_rate_zones": {
                    "zone_0_min": 1.9045333333333334,
                    "zone_1_min": 6.549666666666667,
                    "zone_2_min": 7.72055,
                    "zone_3_min": 9.04625,
                    "zone_4_min": 3.3785833333333333,
                    "zone_5_min": 2.011066666666667,
                },
            },
            "kind": "workout",
            "sport": "running",
        }
    )


def test_an_unscorable_workout(history: History) -> None:
    body = next(w for w in workouts(history, ALEX) if w["score_state"] == "UNSCORABLE")
    assert dump(mapping.workout_to_core(parse(wire.WorkoutV2, body))) == snapshot(
        {
            "provider": "whoop",
            "source_id": "4dd02751-a1fb-43b4-9dee-e7063565963f",
            "day": "2026-11-13",
            "extras": {},
            "start": "2026-11-13T17:46:25.960000-05:00",
            "end": "2026-11-13T19:15:14.752000-05:00",
            "score_state": "unscorable",
            "score": None,
            "kind": "workout",
            "sport": "cycling",
        }
    )


def test_travel_moves_the_local_day_with_the_offset(history: History) -> None:
    away = next(
        s for s in sleeps(history, ALEX) if s["timezone_offset"] == "+01:00" and not s["nap"]
    )
    core = mapping.sleep_to_core(parse(wire.Sleep, away))
    assert core.start.utcoffset() == timedelta(hours=1)
    assert dump(core) == snapshot(
        {
            "provider": "whoop",
            "source_id": "388ddede-46fb-4c2c-95bf-c820bee066e9",
            "day": "2026-09-20",
            "extras": {
                "cycle_id": 1190000338,
                "sleep_need_baseline_min": 451.4116333333333,
                "sleep_need_from_debt_min": 28.921683333333334,
                "sleep_need_from_strain_min": 3.0319166666666666,
                "sleep_need_from_naps_min": 0.0,
            },
            "start": "2026-09-19T23:07:53.762000+01:00",
            "end": "2026-09-20T08:43:37.089000+01:00",
            "score_state": "scored",
            "score": {
                "in_bed_duration_min": 575.7221166666667,
                "asleep_duration_min": 537.0587333333333,
                "awake_duration_min": 38.663383333333336,
                "light_sleep_duration_min": 329.93958333333336,
                "deep_sleep_duration_min": 103.52371666666667,
                "rem_sleep_duration_min": 103.59543333333333,
                "no_data_duration_min": 0.0,
                "sleep_cycle_count": 6,
                "disturbance_count": 11,
                "latency_min": None,
                "sleep_need_min": 483.3652333333333,
                "sleep_performance_pct": 100.0,
                "sleep_score_pct": None,
                "sleep_consistency_pct": 63.0,
                "sleep_efficiency_pct": 93.28436719485647,
                "respiratory_rate_per_min": 15.33984375,
                "avg_heart_rate_bpm": None,
                "lowest_heart_rate_bpm": None,
                "avg_hrv_rmssd_ms": None,
            },
            "kind": "sleep",
            "nap": False,
            "stages": [],
        }
    )


def test_a_half_hour_offset_and_a_z_offset(history: History) -> None:
    india = next(s for s in sleeps(history, SAM) if s["timezone_offset"] == "+05:30")
    home = next(s for s in sleeps(history, SAM) if s["timezone_offset"] == "Z")
    assert mapping.sleep_to_core(parse(wire.Sleep, india)).end.utcoffset() == timedelta(
        hours=5, minutes=30
    )
    assert mapping.sleep_to_core(parse(wire.Sleep, home)).end.utcoffset() == timedelta(0)
    assert dump(mapping.sleep_to_core(parse(wire.Sleep, india))) == snapshot(
        {
            "provider": "whoop",
            "source_id": "8ca870af-4eef-4a09-93eb-1c88521a47b9",
            "day": "2026-07-29",
            "extras": {
                "cycle_id": 1200000285,
                "sleep_need_baseline_min": 447.5774833333333,
                "sleep_need_from_debt_min": 43.940583333333336,
                "sleep_need_from_strain_min": 21.788866666666667,
                "sleep_need_from_naps_min": 0.0,
            },
            "start": "2026-07-28T23:10:21.335000+05:30",
            "end": "2026-07-29T06:36:41.025000+05:30",
            "score_state": "scored",
            "score": {
                "in_bed_duration_min": 446.3281666666667,
                "asleep_duration_min": 418.51686666666666,
                "awake_duration_min": 27.8113,
                "light_sleep_duration_min": 239.71986666666666,
                "deep_sleep_duration_min": 96.79816666666666,
                "rem_sleep_duration_min": 81.99883333333334,
                "no_data_duration_min": 0.0,
                "sleep_cycle_count": 5,
                "disturbance_count": 14,
                "latency_min": None,
                "sleep_need_min": 513.3069333333333,
                "sleep_performance_pct": 82.0,
                "sleep_score_pct": None,
                "sleep_consistency_pct": 92.0,
                "sleep_efficiency_pct": 93.76886737673215,
                "respiratory_rate_per_min": 14.9150390625,
                "avg_heart_rate_bpm": None,
                "lowest_heart_rate_bpm": None,
                "avg_hrv_rmssd_ms": None,
            },
            "kind": "sleep",
            "nap": False,
            "stages": [],
        }
    )


def test_profile_and_body_measurement(history: History) -> None:
    member = history.members[ALEX]
    assert dump(mapping.profile_to_core(parse(wire.UserBasicProfile, member.profile))) == snapshot(
        {
            "kind": "profile",
            "provider": "whoop",
            "source_id": "10129",
            "email": "alex.rivera@example.com",
            "first_name": "Alex",
            "last_name": "Rivera",
            "age": None,
            "biological_sex": None,
        }
    )
    assert dump(
        mapping.body_measurement_to_core(parse(wire.UserBodyMeasurement, member.body_measurement))
    ) == snapshot(
        {
            "kind": "body_measurement",
            "provider": "whoop",
            "height_m": 1.7818,
            "weight_kg": 76.2043,
            "max_heart_rate_bpm": 191,
        }
    )


# ------------------------------------------------------------------ rules on hand-made payloads
CYCLE = {
    "id": 1,
    "user_id": 1,
    "created_at": "2026-11-20T04:00:00.000Z",
    "updated_at": "2026-11-20T04:00:00.000Z",
    "timezone_offset": "-05:00",
    "score_state": "SCORED",
    "score": {"strain": 8.5, "kilojoule": 8368.0, "average_heart_rate": 65, "max_heart_rate": 150},
}


@pytest.mark.parametrize(
    ("start_utc", "day"),
    [
        ("2026-11-20T03:34:00.000Z", date(2026, 11, 20)),  # 22:34 local, the evening before
        ("2026-11-20T05:01:00.000Z", date(2026, 11, 20)),  # 00:01 local
        ("2026-11-20T16:30:00.000Z", date(2026, 11, 20)),  # 11:30 local, after a night shift
        ("2026-11-20T17:30:00.000Z", date(2026, 11, 21)),  # 12:30 local: tomorrow's sleep
    ],
)
def test_without_its_sleep_a_cycle_belongs_to_the_day_twelve_hours_after_it_began(
    start_utc: str, day: date
) -> None:
    core = mapping.cycle_to_core(parse(wire.Cycle, {**CYCLE, "start": start_utc}))
    assert core.day == day


def test_a_current_cycle_may_already_carry_a_running_score() -> None:
    # Seen live: WHOOP reports the open cycle as SCORED with the strain so far.
    core = mapping.cycle_to_core(parse(wire.Cycle, {**CYCLE, "start": "2026-11-20T03:34:00Z"}))
    assert core.in_progress
    assert core.score is not None
    assert core.score.energy_kcal == pytest.approx(2000.0)


def test_a_recovery_without_its_sleep_is_placed_by_its_cycle() -> None:
    recovery = parse(
        wire.Recovery,
        {
            "cycle_id": 1,
            "sleep_id": "ecfc6a15-4661-442f-a9a4-f160dd7afae8",
            "user_id": 1,
            "created_at": "2026-11-20T12:00:00Z",
            "updated_at": "2026-11-20T12:00:00Z",
            "score_state": "PENDING_SCORE",
        },
    )
    cycle = parse(wire.Cycle, {**CYCLE, "start": "2026-11-20T03:34:00Z"})
    core = mapping.recovery_to_core(recovery, cycle=cycle)
    assert core.day == date(2026, 11, 20)
    assert core.end is None
    with pytest.raises(ValueError, match="its sleep or its cycle"):
        mapping.recovery_to_core(recovery)


@pytest.mark.parametrize(
    ("tzd", "minutes"),
    [("Z", 0), ("+00:00", 0), ("-05:00", -300), ("+05:30", 330), ("+14:00", 840)],
)
def test_time_zone_designators(tzd: str, minutes: int) -> None:
    offset = mapping.parse_offset(tzd).utcoffset(None)
    assert offset == timedelta(minutes=minutes)
