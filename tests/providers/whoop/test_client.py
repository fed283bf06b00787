from __future__ import annotations

import math
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx2
import pytest

from tests.conftest import NOW, connect
from tests.fakes import FakeClock
from wellpipe.core import (
    MemoryTokenProvider,
    NotFound,
    ProviderResponseError,
    ReauthorizationRequired,
)
from wellpipe.net import USER_AGENT
from wellpipe.providers.whoop import WhoopProvider
from wellpipe.providers.whoop.client import format_instant
from wellpipe.sandbox import Fault, WhoopSandbox

YEAR_START = NOW - timedelta(days=365)


def data_requests(sandbox: WhoopSandbox, path: str) -> list[dict[str, str]]:
    return [dict(r.query) for r in sandbox.requests if r.path == f"/developer/v2{path}"]


async def test_every_member_data_endpoint_returns_its_wire_model(
    whoop: WhoopProvider, sandbox: WhoopSandbox
) -> None:
    client = whoop.client
    member = sandbox.member()
    cycle_id = member.cycles[1].body["id"]
    sleep_id = UUID(member.sleeps[0].body["id"])
    workout_id = UUID(member.workouts[0].body["id"])

    assert (await client.get_cycle(cycle_id)).id == cycle_id
    assert (await client.get_sleep_for_cycle(cycle_id)).cycle_id == cycle_id
    assert (await client.get_recovery_for_cycle(cycle_id)).cycle_id == cycle_id
    assert (await client.get_sleep(sleep_id)).id == sleep_id
    assert (await client.get_workout(workout_id)).id == workout_id
    assert (await client.get_profile()).email == member.profile["email"]
    assert (await client.get_body_measurement()).max_heart_rate == member.body_measurement[
        "max_heart_rate"
    ]
    start, end = NOW - timedelta(days=3), NOW
    assert [c.id async for c in client.cycles(start=start, end=end)]
    assert [r.cycle_id async for r in client.recoveries(start=start, end=end)]
    assert [s.id async for s in client.sleeps(start=start, end=end)]
    assert [w.id async for w in client.workouts(start=start, end=end)]


async def test_collections_follow_next_token_with_25_a_page_and_the_same_window(
    whoop: WhoopProvider, sandbox: WhoopSandbox
) -> None:
    start, end = NOW - timedelta(days=90), NOW
    cycles = [c async for c in whoop.client.cycles(start=start, end=end)]
    sent = data_requests(sandbox, "/cycle")
    assert len(sent) == math.ceil(len(cycles) / 25)
    assert all(q["limit"] == "25" for q in sent)
    assert {(q["start"], q["end"]) for q in sent} == {(format_instant(start), format_instant(end))}
    assert "nextToken" not in sent[0]
    assert all("nextToken" in q for q in sent[1:])
    assert len({c.id for c in cycles}) == len(cycles)
    assert [c.start for c in cycles] == sorted((c.start for c in cycles), reverse=True)


async def test_a_full_year_of_all_four_collections_takes_the_minimum_requests(
    whoop: WhoopProvider, sandbox: WhoopSandbox
) -> None:
    client = whoop.client
    counts = {
        "/cycle": len([c async for c in client.cycles(start=YEAR_START, end=NOW)]),
        "/recovery": len([r async for r in client.recoveries(start=YEAR_START, end=NOW)]),
        "/activity/sleep": len([s async for s in client.sleeps(start=YEAR_START, end=NOW)]),
        "/activity/workout": len([w async for w in client.workouts(start=YEAR_START, end=NOW)]),
    }
    assert counts["/cycle"] >= 365
    for path, records in counts.items():
        assert len(data_requests(sandbox, path)) == math.ceil(records / 25), path


async def test_an_unknown_id_is_not_found(whoop: WhoopProvider) -> None:
    with pytest.raises(NotFound) as caught:
        await whoop.client.get_sleep(uuid4())
    assert caught.value.endpoint == "GET /developer/v2/activity/sleep/{sleepId}"
    with pytest.raises(NotFound):
        await whoop.client.get_cycle(1)


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ("drop_required_field", "records[0].start", "a required field is missing"),
        ("wrong_type", "records[0].user_id", "input should be a valid integer"),
        ("truncated", None, "the body is not valid JSON"),
        ("not_json", None, "the body is not valid JSON"),
        ("empty", None, "the body is not valid JSON"),
    ],
)
async def test_a_malformed_collection_names_the_endpoint_and_the_field(
    whoop: WhoopProvider, sandbox: WhoopSandbox, body: Any, field: str | None, problem: str
) -> None:
    sandbox.inject(Fault(path_prefix="/developer/v2/activity/sleep", body=body))
    with pytest.raises(ProviderResponseError) as caught:
        [s async for s in whoop.client.sleeps(start=NOW - timedelta(days=2), end=NOW)]
    assert caught.value.endpoint == "GET /developer/v2/activity/sleep"
    assert caught.value.field == field
    assert caught.value.problem == problem


async def test_a_scored_record_without_its_score_is_a_malformed_response(
    whoop: WhoopProvider, sandbox: WhoopSandbox
) -> None:
    def drop_score(data: Any) -> Any:
        data["records"][1].pop("score")  # [0] is the current cycle, not yet scored
        return data

    sandbox.inject(Fault(path_prefix="/developer/v2/cycle", mutate=drop_score))
    with pytest.raises(ProviderResponseError) as caught:
        [c async for c in whoop.client.cycles(start=NOW - timedelta(days=5), end=NOW)]
    assert caught.value.field == "records[1]"


async def test_a_malformed_single_record_names_its_field(
    whoop: WhoopProvider, sandbox: WhoopSandbox
) -> None:
    sandbox.inject(Fault(path_prefix="/developer/v2/user/profile", body="drop_required_field"))
    with pytest.raises(ProviderResponseError) as caught:
        await whoop.client.get_profile()
    assert caught.value.field == "user_id"
    assert caught.value.endpoint == "GET /developer/v2/user/profile/basic"


async def test_a_next_token_that_repeats_stops_the_read(
    whoop: WhoopProvider, sandbox: WhoopSandbox
) -> None:
    def loop(data: Any) -> Any:
        data["next_token"] = "MTIzOjEyMzEyMw"
        return data

    sandbox.inject(Fault(path_prefix="/developer/v2/activity/workout", mutate=loop, times=5))
    with pytest.raises(ProviderResponseError) as caught:
        [w async for w in whoop.client.workouts(start=NOW - timedelta(days=30), end=NOW)]
    assert caught.value.field == "next_token"
    assert len(data_requests(sandbox, "/activity/workout")) == 2


@pytest.mark.parametrize("token", ["", None])
async def test_an_empty_or_null_next_token_ends_the_collection(
    whoop: WhoopProvider, sandbox: WhoopSandbox, token: str | None
) -> None:
    def end_here(data: Any) -> Any:
        data["next_token"] = token
        return data

    sandbox.inject(Fault(path_prefix="/developer/v2/cycle", mutate=end_here))
    cycles = [c async for c in whoop.client.cycles(start=NOW - timedelta(days=60), end=NOW)]
    assert len(cycles) == 25
    assert len(data_requests(sandbox, "/cycle")) == 1


async def test_requests_carry_wellpipes_user_agent(
    sandbox: WhoopSandbox, clock: FakeClock, tokens: MemoryTokenProvider
) -> None:
    seen: list[str] = []
    inner = sandbox.transport()

    async def spy(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers["user-agent"])
        return await inner.handle_async_request(request)

    async with connect(sandbox, clock, tokens=tokens, transport=httpx2.MockTransport(spy)) as whoop:
        await whoop.profile()
    assert seen == [USER_AGENT]
    assert USER_AGENT.startswith("wellpipe/")


async def test_revoking_access_kills_the_grant(
    whoop: WhoopProvider, sandbox: WhoopSandbox, tokens: MemoryTokenProvider
) -> None:
    await whoop.revoke()
    with pytest.raises(ReauthorizationRequired):
        await whoop.profile()
    assert tokens.reauthorization_reason is not None


def test_query_times_are_whoops_utc_millisecond_format() -> None:
    assert format_instant(NOW) == "2026-11-21T15:30:00.000Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_instant(NOW.replace(tzinfo=None))
