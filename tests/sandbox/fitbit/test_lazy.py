"""Members' histories are generated on first use, once, so a sandbox starts at once."""

from __future__ import annotations

import gc
import threading

import httpx2

from tests.conftest import NOW
from tests.fakes import FakeClock
from tests.sandbox.fitbit.conftest import API, bearer_for
from wellpipe.sandbox.fitbit import FitbitSandbox, generate_history
from wellpipe.sandbox.fitbit.history import Point


async def test_a_new_sandbox_generates_only_the_member_a_request_reads(clock: FakeClock) -> None:
    fitbit = FitbitSandbox(clock=clock, days=120)
    first, second = (fitbit.member(user_id) for user_id in fitbit.member_ids)

    def generated() -> list[bool]:
        return [first.generated, second.generated]

    assert generated() == [False, False]
    async with httpx2.AsyncClient(
        base_url="http://google.test", transport=fitbit.transport()
    ) as http:
        headers = bearer_for(fitbit)
        identity = await http.get(f"{API}/identity", headers=headers)
        assert identity.status_code == 200
        assert generated() == [False, False]  # identity, profile and settings need no history
        sleeps = await http.get(f"{API}/dataTypes/sleep/dataPoints", headers=headers)
    assert sleeps.status_code == 200
    assert sleeps.json()["dataPoints"]
    assert generated() == [True, False]
    assert "not generated yet" in repr(second)


def test_threads_asking_at_once_share_one_generation() -> None:
    member = next(iter(generate_history(now=NOW, seed=5, days=120, members=1).members.values()))
    start = threading.Barrier(4)
    seen: list[dict[str, list[Point]]] = []

    def read() -> None:
        start.wait()
        seen.append(member.points)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 4
    assert all(points is seen[0] for points in seen)


def test_the_garbage_collector_is_on_again_after_a_member_generates() -> None:
    member = next(iter(generate_history(now=NOW, seed=6, days=120, members=1).members.values()))
    assert member.points["steps"]
    assert gc.isenabled()
