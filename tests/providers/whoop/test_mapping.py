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
            "source_id": "0bc35611-1de8-4d99-86f6-053272b06193",
            "day": "2026-11-21",
            "extras": {
                "cycle_id": 1190000400,
                "sleep_need_baseline_min": 455.43595,
                "sleep_need_from_debt_min": 1.2452166666666666,
                "sleep_need_from_strain_min": 16.78785,
                "sleep_need_from_naps_min": 0.0,
            },
            "updated_at": "2026-11-21T12:14:14.078000Z",
            "start": "2026-11-20T23:11:46.369000-05:00",
            "end": "2026-11-21T07:02:35.907000-05:00",
            "score_state": "scored",
            "score": {
                "in_bed_duration_min": 470.8256333333333,
                "asleep_duration_min": 449.59845,
                "awake_duration_min": 21.227183333333333,
                "light_sleep_duration_min": 270.30991666666665,
                "deep_sleep_duration_min": 86.95966666666666,
                "rem_sleep_duration_min": 92.32886666666667,
                "no_data_duration_min": 0.0,
                "sleep_cycle_count": 5,
                "disturbance_count": 12,
                "latency_min": None,
                "sleep_need_min": 473.4690166666667,
                "sleep_performance_pct": 95.0,
                "sleep_score_pct": None,
                "sleep_consistency_pct": 92.0,
                "sleep_efficiency_pct": 95.49149794945319,
                "respiratory_rate_per_min": 15.3408203125,
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
            "source_id": "3ea929df-3a55-44fe-9398-b5f96b657215",
            "day": "2026-11-18",
            "extras": {
                "cycle_id": 1190000397,
                "sleep_need_baseline_min": 438.25148333333334,
                "sleep_need_from_debt_min": 0.0,
                "sleep_need_from_strain_min": 0.0,
                "sleep_need_from_naps_min": 0.0,
            },
            "updated_at": "2026-11-18T21:11:47.295000Z",
            "start": "2026-11-18T14:59:04.975000-05:00",
            "end": "2026-11-18T16:01:18.046000-05:00",
            "score_state": "scored",
            "score": {
                "in_bed_duration_min": 62.21785,
                "asleep_duration_min": 54.096916666666665,
                "awake_duration_min": 8.120933333333333,
                "light_sleep_duration_min": 48.71415,
                "deep_sleep_duration_min": 4.353166666666667,
                "rem_sleep_duration_min": 1.0296,
                "no_data_duration_min": 0.0,
                "sleep_cycle_count": 1,
                "disturbance_count": 4,
                "latency_min": None,
                "sleep_need_min": 438.25148333333334,
                "sleep_performance_pct": None,
                "sleep_score_pct": None,
                "sleep_consistency_pct": None,
                "sleep_efficiency_pct": None,
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
            "source_id": "506b2bcf-877f-43bc-971d-7c6c645bbe51",
            "day": "2026-11-17",
            "extras": {"cycle_id": 1190000396},
            "updated_at": "2026-11-17T10:51:04.142000Z",
            "start": "2026-11-16T22:49:14.700000-05:00",
            "end": "2026-11-17T05:34:49.404000-05:00",
            "score_state": "unscorable",
            "score": None,
            "kind": "sleep",
            "nap": False,
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
            "updated_at": "2026-11-21T15:30:00Z",
            "start": "2026-11-20T23:11:46.369000-05:00",
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
            "updated_at": "2026-11-19T04:11:34.498000Z",
            "start": "2026-11-17T23:19:44.383000-05:00",
            "end": "2026-11-18T23:10:05.760000-05:00",
            "score_state": "scored",
            "score": {
                "strain": 6.2642674,
                "energy_kcal": 1941.4435946462713,
                "avg_heart_rate_bpm": 65,
                "max_heart_rate_bpm": 132,
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
            "updated_at": "2026-11-19T10:48:38.289000Z",
            "start": "2026-11-18T23:10:05.760000-05:00",
            "end": "2026-11-19T05:41:47.906000-05:00",
            "score_state": "scored",
            "score": {
                "recovery_score_pct": 41.0,
                "resting_heart_rate_bpm": 52.0,
                "hrv_rmssd_ms": 53.015625,
                "spo2_pct": 96.5,
                "skin_temp_celsius": 33.75,
                "calibrating": False,
            },
            "kind": "recovery",
            "sleep_source_id": "6af1cc13-bb6c-42f9-be25-4af2455bb533",
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
            "updated_at": "2026-11-19T07:50:00.341000Z",
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
            "source_id": "8a309deb-08cf-427a-a62f-49525c1b70c3",
            "day": "2026-11-09",
            "extras": {},
            "updated_at": "2026-11-10T05:31:52.758000Z",
            "start": "2026-11-09T22:49:52.377000-05:00",
            "end": "2026-11-10T00:17:54.602000-05:00",
            "score_state": "scored",
            "score": {
                "strain": 15.0941759,
                "energy_kcal": 1073.1357552581262,
                "avg_heart_rate_bpm": 115,
                "max_heart_rate_bpm": 166,
                "heart_rate_recorded_pct": 98.9434,
                "distance_m": None,
                "altitude_gain_m": None,
                "altitude_change_m": None,
                "steps": None,
                "active_zone_min": None,
                "intensity": None,
                "heart_rate_zones": {
                    "zone_0_min": 4.149366666666666,
                    "zone_1_min": 18.675283333333333,
                    "zone_2_min": 22.276083333333332,
                    "zone_3_min": 29.165416666666665,
                    "zone_4_min": 10.086033333333333,
                    "zone_5_min": 2.75465,
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
            "updated_at": "2026-11-20T09:21:34.970000Z",
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
            "source_id": "704d161f-b536-4791-a517-9bf2574ae5d4",
            "day": "2026-10-16",
            "extras": {},
            "updated_at": "2026-10-16T14:48:53.852000Z",
            "start": "2026-10-16T08:24:10.682000-05:00",
            "end": "2026-10-16T09:28:48.790000-05:00",
            "score_state": "unscorable",
            "score": None,
            "kind": "workout",
            "sport": "running",
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
            "source_id": "3418e0c1-ff46-4fbd-9a3c-f74891f48108",
            "day": "2026-09-20",
            "extras": {
                "cycle_id": 1190000338,
                "sleep_need_baseline_min": 465.95756666666665,
                "sleep_need_from_debt_min": 0.0,
                "sleep_need_from_strain_min": 0.0,
                "sleep_need_from_naps_min": 0.0,
            },
            "updated_at": "2026-09-20T06:41:37.416000Z",
            "start": "2026-09-19T23:20:38.143000+01:00",
            "end": "2026-09-20T07:38:27.821000+01:00",
            "score_state": "scored",
            "score": {
                "in_bed_duration_min": 497.82796666666667,
                "asleep_duration_min": 467.46368333333334,
                "awake_duration_min": 30.364283333333333,
                "light_sleep_duration_min": 269.4869166666667,
                "deep_sleep_duration_min": 101.08861666666667,
                "rem_sleep_duration_min": 96.88815,
                "no_data_duration_min": 0.0,
                "sleep_cycle_count": 5,
                "disturbance_count": 14,
                "latency_min": None,
                "sleep_need_min": 465.95756666666665,
                "sleep_performance_pct": 100.0,
                "sleep_score_pct": None,
                "sleep_consistency_pct": 86.0,
                "sleep_efficiency_pct": 93.90064733874935,
                "respiratory_rate_per_min": 15.43359375,
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
            "updated_at": "2026-07-29T01:23:42.715000Z",
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
