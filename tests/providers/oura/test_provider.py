"""`OuraProvider` against the in-process sandbox: reads by kind, days, notes, records, revoke."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.conftest import NOW
from tests.fakes import FakeClock
from tests.providers.oura.conftest import connect_oura, oura_tokens
from wellpipe.core import (
    DataKind,
    DayRange,
    MemoryTokenProvider,
    NotFound,
    ReauthorizationRequired,
    ScopeNotGranted,
    ScoreState,
    TimeWindow,
    UnsupportedDataKind,
    read_days,
)
from wellpipe.providers import available_providers, get_provider_info
from wellpipe.providers.connector import get_connector
from wellpipe.providers.oura import CONNECTOR, INFO, OuraProvider
from wellpipe.providers.oura.info import SCOPES
from wellpipe.providers.oura.provider import query_days
from wellpipe.sandbox.oura import OuraSandbox

API = "/v2/usercollection"
TODAY = date(2026, 11, 21)
KINDS = {DataKind.SLEEP, DataKind.READINESS, DataKind.ACTIVITY, DataKind.VITALS, DataKind.WORKOUT}


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def week() -> TimeWindow:
    return DayRange.ending(TODAY, days=7).query_window()


def data_paths(sandbox: OuraSandbox) -> set[str]:
    return {r.path for r in sandbox.requests if r.path.startswith(API)}


async def test_a_week_of_days_joins_sleep_readiness_activity_vitals_and_workouts(
    oura: OuraProvider,
) -> None:
    days = DayRange(first=days_ago(7), last=days_ago(1))
    summaries = await read_days(oura, days)
    assert [s.day for s in summaries] == days.days()
    for summary in summaries:
        assert summary.provider == "oura"
        assert summary.sleep is not None
        assert not summary.sleep.nap
        assert summary.sleep.score is not None
        assert summary.sleep.score.sleep_score_pct is not None
        assert summary.sleep.stages
        assert summary.readiness is not None
        assert summary.readiness.score_pct is not None
        assert summary.activity is not None
        assert summary.activity.steps is not None
        assert summary.vitals is not None
        assert summary.vitals.resting_heart_rate_bpm == summary.sleep.score.lowest_heart_rate_bpm
        assert summary.vitals.spo2_pct is not None
        assert all(w.day == summary.day for w in summary.workouts)
        assert all(n.score is None or n.score.sleep_score_pct is None for n in summary.naps)


async def test_each_kind_reads_only_the_routes_it_needs(
    oura: OuraProvider, oura_sandbox: OuraSandbox
) -> None:
    records = await oura.read({DataKind.WORKOUT}, week())
    assert records.workouts
    assert not records.sleeps
    assert data_paths(oura_sandbox) == {f"{API}/workout"}
    oura_sandbox.requests.clear()
    await oura.read({DataKind.SLEEP}, week())
    assert data_paths(oura_sandbox) == {f"{API}/sleep", f"{API}/daily_sleep"}
    oura_sandbox.requests.clear()
    await oura.read({DataKind.VITALS, DataKind.READINESS}, week())
    assert data_paths(oura_sandbox) == {
        f"{API}/{r}" for r in ("daily_spo2", "daily_stress", "vO2_max", "daily_readiness", "sleep")
    }
    assert len(oura_sandbox.requests) == 5  # daily_readiness once, for both kinds


async def test_the_window_is_asked_for_as_local_days_with_a_day_to_spare(
    oura: OuraProvider, oura_sandbox: OuraSandbox
) -> None:
    window = TimeWindow(start=datetime(2026, 11, 10, tzinfo=UTC), end=NOW)
    assert query_days(window) == (date(2026, 11, 8), date(2026, 11, 23))
    await oura.read({DataKind.ACTIVITY}, window)
    [query] = [dict(r.query) for r in oura_sandbox.requests]
    assert query == {"start_date": "2026-11-08", "end_date": "2026-11-23"}


async def test_rejected_rests_never_become_sleeps_and_naps_are_naps(
    oura: OuraProvider, oura_sandbox: OuraSandbox
) -> None:
    window = DayRange(first=days_ago(60), last=TODAY).query_window()
    records = await oura.read({DataKind.SLEEP}, window)
    periods = oura_sandbox.member().collection("sleep")
    recent = [d for d in periods if d.day >= days_ago(60)]
    rests = {d.id for d in recent if d.body["type"] == "rest"}
    naps = {d.id for d in recent if d.body["type"] in ("sleep", "late_nap")}
    assert rests
    assert naps
    ids = {s.source_id for s in records.sleeps}
    assert not ids & rests
    assert naps <= ids
    kinds = {d.id: d.body["type"] for d in periods}  # a late nap may count for the day before
    assert all(s.nap == (kinds[s.source_id] in ("sleep", "late_nap")) for s in records.sleeps)


async def test_the_low_battery_night_is_unscorable_and_its_day_has_no_sleep_score(
    oura: OuraProvider, oura_sandbox: OuraSandbox
) -> None:
    night = next(
        d for d in oura_sandbox.member().collection("sleep") if d.body["low_battery_alert"]
    )
    [day] = await read_days(oura, DayRange(first=night.day, last=night.day))
    assert day.sleep is not None
    assert day.sleep.source_id == night.id
    assert day.sleep.score_state is ScoreState.UNSCORABLE
    assert day.sleep.score is None
    assert day.vitals is None or day.vitals.resting_heart_rate_bpm is None


async def test_the_travel_week_keeps_the_offset_slept_in(oura: OuraProvider) -> None:
    days = DayRange(first=days_ago(70), last=days_ago(60))
    summaries = await read_days(oura, days)
    offsets = {s.sleep.end.utcoffset() for s in summaries if s.sleep}
    assert offsets == {timedelta(hours=-5), timedelta(hours=1)}
    assert all(s.sleep is not None and s.sleep.day == s.day for s in summaries)


async def test_a_day_the_ring_was_not_worn_is_empty_not_zero(
    oura: OuraProvider, oura_sandbox: OuraSandbox
) -> None:
    worn = {d.day for d in oura_sandbox.member().collection("daily_activity")}
    bare = next(days_ago(n) for n in range(1, 60) if days_ago(n) not in worn)
    [day] = await read_days(oura, DayRange(first=bare, last=bare))
    assert day.activity is None
    assert day.readiness is None


async def test_a_gen2_ring_has_vitals_without_spo2(
    oura_sandbox: OuraSandbox, clock: FakeClock
) -> None:
    tokens = oura_tokens(oura_sandbox, clock, user_id=oura_sandbox.member_ids[1])
    async with connect_oura(oura_sandbox, clock, tokens=tokens) as oura:
        records = await oura.read({DataKind.VITALS}, week())
    assert records.vitals
    assert all(v.spo2_pct is None and v.breathing_disturbance_index is None for v in records.vitals)
    assert all(v.resting_heart_rate_bpm is not None for v in records.vitals)
    assert records.notes == ()


async def test_a_scope_left_unticked_drops_its_kind_with_a_note(
    oura_sandbox: OuraSandbox, clock: FakeClock
) -> None:
    tokens = oura_tokens(oura_sandbox, clock, scopes=frozenset(SCOPES) - {"workout"})
    async with connect_oura(oura_sandbox, clock, tokens=tokens) as oura:
        records = await oura.read(KINDS, week())
    assert records.workouts == ()
    assert records.sleeps
    assert records.readiness
    assert records.activities
    assert records.vitals
    [note] = records.notes
    assert note.startswith("Oura did not give Wellpipe the `workout` permission")


async def test_without_spo2_the_vitals_still_come_with_a_note(
    oura_sandbox: OuraSandbox, clock: FakeClock
) -> None:
    tokens = oura_tokens(oura_sandbox, clock, scopes=frozenset(SCOPES) - {"spo2Daily"})
    async with connect_oura(oura_sandbox, clock, tokens=tokens) as oura:
        records = await oura.read({DataKind.VITALS}, week())
    assert records.vitals
    assert all(v.spo2_pct is None for v in records.vitals)
    assert all(v.hrv_rmssd_ms is not None for v in records.vitals)
    [note] = records.notes
    assert "`spo2Daily` permission" in note


async def test_when_every_kind_is_refused_the_refusal_is_raised(
    oura_sandbox: OuraSandbox, clock: FakeClock
) -> None:
    tokens = oura_tokens(oura_sandbox, clock, scopes=frozenset({"personal"}))
    async with connect_oura(oura_sandbox, clock, tokens=tokens) as oura:
        with pytest.raises(ScopeNotGranted) as caught:
            await oura.read({DataKind.SLEEP, DataKind.WORKOUT}, week())
        assert caught.value.scope in {"daily", "workout"}
        assert (await oura.profile()).email is None  # personal without email


@pytest.mark.parametrize("kind", [DataKind.RECOVERY, DataKind.CYCLE, DataKind.PROFILE])
async def test_read_refuses_kinds_oura_does_not_list(oura: OuraProvider, kind: DataKind) -> None:
    with pytest.raises(UnsupportedDataKind, match=f"Oura does not provide {kind.value} data"):
        await oura.read({kind}, week())


async def test_records_by_id(oura: OuraProvider, oura_sandbox: OuraSandbox) -> None:
    member = oura_sandbox.member()
    night = next(d for d in reversed(member.collection("sleep")) if d.body["type"] == "long_sleep")
    sleep = await oura.record(DataKind.SLEEP, night.id)
    assert sleep.source_id == night.id
    assert sleep.day == night.day
    daily = next(d for d in member.collection("daily_sleep") if d.day == night.day)
    assert sleep.score is not None  # type: ignore[attr-defined]
    assert sleep.score.sleep_score_pct == daily.body["score"]  # type: ignore[attr-defined]
    for kind, route in [
        (DataKind.READINESS, "daily_readiness"),
        (DataKind.ACTIVITY, "daily_activity"),
        (DataKind.WORKOUT, "workout"),
    ]:
        doc = member.collection(route)[-1]
        record = await oura.record(kind, doc.id)
        assert (record.source_id, record.day) == (doc.id, doc.day)
    vitals = await oura.record(DataKind.VITALS, f"vitals-{days_ago(2).isoformat()}")
    assert vitals.day == days_ago(2)


async def test_a_nap_by_id_has_no_sleep_score(
    oura: OuraProvider, oura_sandbox: OuraSandbox
) -> None:
    nap = next(d for d in oura_sandbox.member().collection("sleep") if d.body["type"] == "sleep")
    record = await oura.record(DataKind.SLEEP, nap.id)
    assert record.nap  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kind", "source_id"),
    [
        (DataKind.SLEEP, "no-such-sleep"),
        (DataKind.SLEEP, "../personal_info"),
        (DataKind.WORKOUT, ""),
        (DataKind.VITALS, "vitals-someday"),
        (DataKind.VITALS, "vitals-2026-1-2"),
        (DataKind.VITALS, "vitals-2020-01-01"),
    ],
)
async def test_unknown_or_malformed_ids_are_not_found(
    oura: OuraProvider, kind: DataKind, source_id: str
) -> None:
    with pytest.raises(NotFound):
        await oura.record(kind, source_id)


async def test_a_rejected_rest_by_id_is_not_found(
    oura: OuraProvider, oura_sandbox: OuraSandbox
) -> None:
    rest = next(d for d in oura_sandbox.member().collection("sleep") if d.body["type"] == "rest")
    with pytest.raises(NotFound):
        await oura.record(DataKind.SLEEP, rest.id)


async def test_record_refuses_kinds_oura_does_not_list(oura: OuraProvider) -> None:
    with pytest.raises(UnsupportedDataKind):
        await oura.record(DataKind.CYCLE, "1")


async def test_profile_and_body_measurement(oura: OuraProvider, oura_sandbox: OuraSandbox) -> None:
    info = oura_sandbox.member().personal_info
    profile = await oura.profile()
    assert (profile.source_id, profile.email, profile.age) == (info["id"], info["email"], 37)
    assert profile.first_name is None
    assert profile.display_name == info["email"]
    body = await oura.body_measurement()
    assert (body.height_m, body.weight_kg) == (info["height"], info["weight"])


async def test_revoking_access_kills_the_grant_and_revoking_again_is_fine(
    oura: OuraProvider, oura_sandbox: OuraSandbox, tokens: MemoryTokenProvider
) -> None:
    await oura.revoke()
    [revoke] = [r for r in oura_sandbox.requests if r.path == "/oauth/revoke"]
    assert revoke.method == "GET"
    assert dict(revoke.query) == {"access_token": await tokens.get_access_token()}
    with pytest.raises(ReauthorizationRequired):
        await oura.profile()
    assert tokens.reauthorization_reason is not None
    await oura.revoke()  # the grant is already dead: nothing to do, no error


def test_oura_is_registered_through_its_entry_point() -> None:
    assert "oura" in available_providers()
    assert get_provider_info("oura") is INFO
    assert get_connector("oura") is CONNECTOR
    assert INFO.scopes_for(DataKind.VITALS) == ("daily", "spo2Daily")
    assert INFO.rotating_refresh_tokens
    assert not INFO.pkce


def test_the_connector_points_every_oura_url_at_a_sandbox_origin() -> None:
    location = CONNECTOR.location("http://127.0.0.1:8765")
    assert location.origin == "http://127.0.0.1:8765"
    assert location.oauth_endpoints.authorize_url == "http://127.0.0.1:8765/oauth/authorize"
    assert location.oauth_endpoints.token_url == "http://127.0.0.1:8765/oauth/token"
    default = CONNECTOR.location(None)
    assert default.oauth_endpoints.authorize_url == "https://cloud.ouraring.com/oauth/authorize"
    assert default.oauth_endpoints.token_url == "https://api.ouraring.com/oauth/token"
