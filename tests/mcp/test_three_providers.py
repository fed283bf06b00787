"""End to end: the MCP tools over WHOOP, Oura and Fitbit, each through its own sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
from mcp import Client

from tests.conftest import NOW, connect
from tests.fakes import FakeClock
from tests.providers.fitbit.conftest import connect as connect_fitbit
from tests.providers.oura.conftest import connect_oura
from wellpipe.core import HealthProvider
from wellpipe.mcp.server import Connect, ProviderNotConnected, build_server
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.fitbit import FitbitSandbox
from wellpipe.sandbox.fitbit.history import History as GoogleHistory
from wellpipe.sandbox.fitbit.history import generate_history as google_history
from wellpipe.sandbox.oura import History as OuraHistory
from wellpipe.sandbox.oura import OuraSandbox
from wellpipe.sandbox.oura import generate_history as oura_history
from wellpipe.sandbox.whoop import History


@pytest.fixture(scope="module")
def ring_history() -> OuraHistory:
    return oura_history(now=NOW)


@pytest.fixture(scope="module")
def google_data() -> GoogleHistory:
    return google_history(now=NOW)


@pytest.fixture
def everything(
    clock: FakeClock, history: History, ring_history: OuraHistory, google_data: GoogleHistory
) -> Connect:
    """One user with all three connected: every provider sorted by name, or the one asked."""
    whoop = WhoopSandbox(clock=clock, history=history)
    oura = OuraSandbox(clock=clock, history=ring_history)
    google = FitbitSandbox(clock=clock, history=google_data)

    @asynccontextmanager
    async def open_all(wanted: str | None) -> AsyncIterator[Sequence[HealthProvider]]:
        names = ["fitbit", "oura", "whoop"]
        if wanted is not None and wanted not in names:
            raise ProviderNotConnected(wanted, connected=names)
        async with AsyncExitStack() as stack:
            providers: list[HealthProvider] = [
                await stack.enter_async_context(connect_fitbit(google, clock)),
                await stack.enter_async_context(connect_oura(oura, clock)),
                await stack.enter_async_context(connect(whoop, clock)),
            ]
            yield [p for p in providers if wanted in (None, p.info.name)]

    return open_all


async def ask(connector: Connect, clock: FakeClock, name: str, arguments: dict[str, Any]) -> Any:
    async with Client(build_server(connect=connector, clock=clock)) as client:
        result = await client.call_tool(name, arguments)
    assert result.is_error is False, getattr(result.content[0], "text", "")
    answer: dict[str, Any] = result.structured_content
    return answer


def rows_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(zip(answer["columns"], row, strict=True)) for row in answer["rows"]]


async def test_my_sleep_last_week_is_one_merged_labelled_answer(
    everything: Connect, clock: FakeClock
) -> None:
    answer = await ask(everything, clock, "get-recent-sleep", {"days": 7})
    assert answer["provider"] == "fitbit,oura,whoop"
    rows = rows_of(answer)
    assert {row["source"] for row in rows} == {"fitbit", "oura", "whoop"}
    days = [row["day"] for row in rows]
    assert days == sorted(days)
    assert all(answer["first_day"] <= day <= answer["last_day"] for day in days)
    oura_rows = [row for row in rows if row["source"] == "oura"]
    assert any(row["sleep_score_pct"] is not None for row in oura_rows)
    whoop_rows = [row for row in rows if row["source"] == "whoop"]
    assert all(row["sleep_score_pct"] is None for row in whoop_rows)


async def test_a_fourteen_day_summary_joins_the_three_by_day_and_source(
    everything: Connect, clock: FakeClock
) -> None:
    answer = await ask(everything, clock, "get-daily-summary", {"days": 14})
    rows = rows_of(answer)
    assert len({row["day"] for row in rows}) == 14
    keys = [(row["day"], row["source"]) for row in rows]
    assert len(keys) == len(set(keys))  # one row per day and source
    assert keys == sorted(keys, key=lambda key: key[0])
    for row in rows:
        if row["source"] != "whoop":
            assert row["recovery_score_pct"] is None
        if row["source"] != "oura":
            assert row["readiness_score_pct"] is None
    assert any(row["steps"] for row in rows if row["source"] == "fitbit")
    assert any(row["recovery_score_pct"] for row in rows if row["source"] == "whoop")
    assert any(row["readiness_score_pct"] for row in rows if row["source"] == "oura")


async def test_filters_and_kinds_one_provider_lacks(everything: Connect, clock: FakeClock) -> None:
    fitbit = await ask(everything, clock, "get-recent-vitals", {"days": 7, "provider": "fitbit"})
    assert fitbit["provider"] == "fitbit"
    assert "source" not in fitbit["columns"]
    readiness = await ask(everything, clock, "get-recent-readiness", {"days": 7})
    assert readiness["provider"] == "oura"  # only Oura has readiness
    assert readiness["rows"]


async def test_a_record_is_found_at_whichever_provider_has_the_id(
    everything: Connect, clock: FakeClock
) -> None:
    sleeps = rows_of(await ask(everything, clock, "get-recent-sleep", {"days": 3}))
    for row in sleeps:
        record = await ask(everything, clock, "get-record", {"kind": "sleep", "id": str(row["id"])})
        assert record["record"]["provider"] == row["source"]
    async with Client(build_server(connect=everything, clock=clock)) as client:
        unknown = await client.call_tool("get-record", {"kind": "sleep", "id": "no-such-id"})
    assert unknown.is_error is True
    assert "check the id" in getattr(unknown.content[0], "text", "")


async def test_the_merged_summary_says_what_each_provider_says_alone(
    everything: Connect, clock: FakeClock
) -> None:
    """Merging adds a label and nothing else: each source's rows match its own summary."""
    merged = await ask(everything, clock, "get-daily-summary", {"days": 14})
    merged_rows = rows_of(merged)
    for name in ("fitbit", "oura", "whoop"):
        alone = rows_of(
            await ask(everything, clock, "get-daily-summary", {"days": 14, "provider": name})
        )
        assert (alone[0]["day"], alone[-1]["day"]) == (merged["first_day"], merged["last_day"])
        labelled = {row["day"]: row for row in merged_rows if row["source"] == name}
        assert labelled, f"{name} has no row in the merged summary"
        for row in alone:
            if row["day"] not in labelled:  # a day this provider recorded nothing
                assert all(v is None for k, v in row.items() if k != "day")
                continue
            mine = labelled[row["day"]]
            assert {k: v for k, v in mine.items() if k in row} == row
            # Columns only another provider fills are empty on this provider's rows.
            assert all(v is None for k, v in mine.items() if k not in row and k != "source")
