"""ChatGPT's search and fetch: plain words to one read, ids back, one day or record in full.

WHOOP, Oura and Fitbit each through their own sandbox, as in test_three_providers; the
present is Saturday 2026-11-21 (UTC, the server's default zone).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp import Client

from tests.conftest import NOW, connect
from tests.fakes import FakeClock
from tests.providers.fitbit.conftest import connect as connect_fitbit
from tests.providers.oura.conftest import connect_oura
from wellpipe.core import HealthProvider
from wellpipe.core.reading import LIVE_DAYS, Reader
from wellpipe.mcp.search import SEARCH_LIMIT, DayId, RecordId, parse_id, parse_query
from wellpipe.mcp.server import ProviderNotConnected, build_server
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.fitbit import FitbitSandbox
from wellpipe.sandbox.fitbit.history import History as GoogleHistory
from wellpipe.sandbox.fitbit.history import generate_history as google_history
from wellpipe.sandbox.oura import History as OuraHistory
from wellpipe.sandbox.oura import OuraSandbox
from wellpipe.sandbox.oura import generate_history as oura_history
from wellpipe.sandbox.whoop import History

TODAY = date(2026, 11, 21)  # a Saturday
LAST_7 = [TODAY - timedelta(days=i) for i in range(7)]  # newest first


@pytest.fixture(scope="module")
def ring_history() -> OuraHistory:
    return oura_history(now=NOW)


@pytest.fixture(scope="module")
def google_data() -> GoogleHistory:
    return google_history(now=NOW)


@dataclass
class Three:
    """One user with WHOOP, Oura and Fitbit connected, each its own sandbox."""

    clock: FakeClock
    sandboxes: dict[str, Any]
    opened: list[str | None]

    @asynccontextmanager
    async def connect(self, wanted: str | None) -> AsyncIterator[Sequence[HealthProvider]]:
        """Every provider sorted by name, or only the one asked for (as a real connect)."""
        self.opened.append(wanted)
        names = sorted(self.sandboxes)
        if wanted is not None and wanted not in names:
            raise ProviderNotConnected(wanted, connected=names)
        openers: dict[str, Any] = {
            "fitbit": connect_fitbit,
            "oura": connect_oura,
            "whoop": connect,
        }
        async with AsyncExitStack() as stack:
            yield [
                await stack.enter_async_context(openers[name](self.sandboxes[name], self.clock))
                for name in names
                if wanted in (None, name)
            ]

    def requests(self) -> dict[str, int]:
        return {name: len(sandbox.requests) for name, sandbox in self.sandboxes.items()}

    async def call(self, name: str, arguments: dict[str, Any], **server: Any) -> Any:
        built = build_server(connect=self.connect, clock=self.clock, **server)
        async with Client(built) as client:
            return await client.call_tool(name, arguments)

    async def answer(self, name: str, arguments: dict[str, Any], **server: Any) -> Any:
        result = await self.call(name, arguments, **server)
        assert result.is_error is False, text_of(result)
        return shaped(result)


@pytest.fixture
def three(
    clock: FakeClock, history: History, ring_history: OuraHistory, google_data: GoogleHistory
) -> Three:
    sandboxes = {
        "fitbit": FitbitSandbox(clock=clock, history=google_data),
        "oura": OuraSandbox(clock=clock, history=ring_history),
        "whoop": WhoopSandbox(clock=clock, history=history),
    }
    return Three(clock=clock, sandboxes=sandboxes, opened=[])


def text_of(result: Any) -> str:
    assert len(result.content) == 1
    assert result.content[0].type == "text"
    text: str = result.content[0].text
    return text


def shaped(result: Any) -> dict[str, Any]:
    """The one text content, parsed, which is exactly the structured content."""
    parsed: dict[str, Any] = json.loads(text_of(result))
    assert parsed == result.structured_content
    return parsed


# ------------------------------------------------------------------ the query language
@pytest.mark.parametrize(
    ("query", "kind", "provider", "first", "last"),
    [
        ("", None, None, "2026-11-15", "2026-11-21"),
        ("sleep last week", "sleep", None, "2026-11-09", "2026-11-15"),
        ("workouts in November", "workout", None, "2026-11-01", "2026-11-21"),
        ("oura readiness", "readiness", "oura", "2026-11-15", "2026-11-21"),
        ("How did I sleep?", "sleep", None, "2026-11-15", "2026-11-21"),
        ("recovery yesterday", "recovery", None, "2026-11-20", "2026-11-20"),
        ("sleep last night", "sleep", None, "2026-11-21", "2026-11-21"),
        ("today", None, None, "2026-11-21", "2026-11-21"),
        ("day before yesterday", None, None, "2026-11-19", "2026-11-19"),
        ("exercise this week", "workout", None, "2026-11-16", "2026-11-21"),
        ("WHOOP strain past week", "cycle", "whoop", "2026-11-15", "2026-11-21"),
        ("cycles last 14 days", "cycle", None, "2026-11-08", "2026-11-21"),
        ("steps over the last two weeks", "activity", None, "2026-11-08", "2026-11-21"),
        ("fitbit activity last month", "activity", "fitbit", "2026-10-01", "2026-10-31"),
        ("google health steps this month", "activity", "fitbit", "2026-11-01", "2026-11-21"),
        ("resting heart rate past month", "vitals", None, "2026-10-23", "2026-11-21"),
        ("body weight", "vitals", None, "2026-11-15", "2026-11-21"),
        ("HRV in October", "vitals", None, "2026-10-01", "2026-10-31"),
        ("daily summary November 2025", None, None, "2025-11-01", "2025-11-30"),
        ("december", None, None, "2025-12-01", "2025-12-31"),  # the latest December begun
        ("sleep 2026-11-03", "sleep", None, "2026-11-03", "2026-11-03"),
        ("2026-11-01 to 2026-11-07", None, None, "2026-11-01", "2026-11-07"),
        ("workouts 2026-11-07 2026-11-01", "workout", None, "2026-11-01", "2026-11-07"),
        (
            "sleep 2026\u201311\u201301 \u2013 2026\u201311\u201304",
            "sleep",
            None,
            "2026-11-01",
            "2026-11-04",
        ),
        ("between Nov 3 and November 5th", None, None, "2026-11-03", "2026-11-05"),
        ("whoop recovery on 3 Nov 2026", "recovery", "whoop", "2026-11-03", "2026-11-03"),
        ("naps 3 days ago", "sleep", None, "2026-11-18", "2026-11-18"),
        ("last monday", None, None, "2026-11-16", "2026-11-16"),
        ("saturday", None, None, "2026-11-21", "2026-11-21"),
        ("last saturday", None, None, "2026-11-14", "2026-11-14"),
        ("last weekend", None, None, "2026-11-14", "2026-11-15"),
        ("sleep and recovery last week", None, None, "2026-11-09", "2026-11-15"),
        ("whoop vs oura sleep", "sleep", None, "2026-11-15", "2026-11-21"),
        ("day strain", "cycle", None, "2026-11-15", "2026-11-21"),
        ("marathon training", "workout", None, "2026-11-15", "2026-11-21"),
        ("what's the weather like", None, None, "2026-11-15", "2026-11-21"),
        ("last 200 days", None, None, "2026-08-24", "2026-11-21"),  # cut to LIVE_DAYS
    ],
)
def test_plain_words_become_one_kind_one_provider_one_window(
    query: str, kind: str | None, provider: str | None, first: str, last: str
) -> None:
    parsed = parse_query(query, today=TODAY)
    assert (parsed.kind, parsed.provider) == (kind, provider)
    assert (str(parsed.first), str(parsed.last)) == (first, last)


def test_how_a_query_was_read_is_said() -> None:
    assert parse_query("oura sleep last week", today=TODAY).described == (
        "sleeps from oura, 2026-11-09 to 2026-11-15 (last week)"
    )
    lost = parse_query("what's the weather like", today=TODAY)
    assert len(lost.notes) == 1
    assert "Nothing in the query was understood" in lost.notes[0]
    assert "last week" in lost.notes[0]  # says what it does understand
    long = parse_query("last 200 days", today=TODAY)
    assert "at most 90" in long.notes[0]
    assert parse_query("", today=TODAY).notes == ()


@given(st.text(max_size=200))
def test_any_words_give_a_window_the_reader_takes(text: str) -> None:
    parsed = parse_query(text, today=TODAY)
    assert parsed.first <= parsed.last
    assert (parsed.last - parsed.first).days < LIVE_DAYS


@given(st.text(max_size=300))
def test_any_text_is_an_id_or_a_value_error(text: str) -> None:
    try:
        parsed = parse_id(text)
    except ValueError as refused:
        message = str(refused)
    else:
        assert parse_id(str(parsed)) == parsed
        return
    assert "run search first" in message


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("day:2026-11-30", DayId(date(2026, 11, 30))),
        ("day:oura:2026-11-30", DayId(date(2026, 11, 30), "oura")),
        ("sleep:whoop:3fa85f64-5717-4562-b3fc-2c963f66afa6", None),
        ("cycle:whoop:93845", RecordId("cycle", "whoop", "93845")),
        ("workout:fitbit:a:b", RecordId("workout", "fitbit", "a:b")),
    ],
)
def test_ids_read_back_to_what_they_name(text: str, parsed: DayId | RecordId | None) -> None:
    found = parse_id(text)
    assert str(found) == text
    if parsed is not None:
        assert found == parsed


@pytest.mark.parametrize(
    "text",
    ["", "day:", "day:2026-02-30", "day:yesterday", "sleep:whoop:", "nap:whoop:1", "get-record"],
)
def test_a_malformed_id_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="run search first and pass one of its ids"):
        parse_id(text)


# ------------------------------------------------------------------ search
async def test_search_answers_exactly_the_shape_chatgpt_reads(three: Three) -> None:
    result = await three.call("search", {"query": ""})
    assert result.is_error is False
    answer = shaped(result)  # one text content holding the JSON, the same as structured
    assert set(answer) == {"results", "searched"}
    assert answer["searched"] == "daily summaries from every connected provider, " + (
        "2026-11-15 to 2026-11-21"
    )
    for item in answer["results"]:
        assert set(item) == {"id", "title", "text"}  # no url without a link base
        assert all(isinstance(value, str) and value for value in item.values())
        assert "\n" not in item["text"]
    # One result per day, newest first, each a day of every connected provider.
    assert [item["id"] for item in answer["results"]] == [f"day:{day}" for day in LAST_7]
    first = answer["results"][0]
    assert first["title"] == "Daily summary, Sat 2026-11-21 (Fitbit (Google Health) + Oura + WHOOP)"
    assert "whoop: " in first["text"]
    assert first["text"].count(" | ") == 2  # one part per source
    assert "steps" in first["text"]


async def test_links_only_with_a_link_base(three: Three) -> None:
    answer = await three.answer(
        "search", {"query": "whoop sleep yesterday"}, link_base="https://wellpipe.test/d/"
    )
    [item] = answer["results"]
    assert item["url"] == "https://wellpipe.test/d/" + item["id"]
    fetched = await three.answer("fetch", {"id": item["id"]}, link_base="https://wellpipe.test/d/")
    assert fetched["url"] == item["url"]


async def test_sleep_last_week_lists_last_weeks_sleeps_newest_first(three: Three) -> None:
    answer = await three.answer("search", {"query": "sleep last week"})
    ids = [item["id"] for item in answer["results"]]
    assert {item.split(":")[0] for item in ids} == {"sleep"}
    assert {item.split(":")[1] for item in ids} == {"fitbit", "oura", "whoop"}
    days = [item["title"].split(", ")[1][4:14] for item in answer["results"]]
    assert days == sorted(days, reverse=True)
    assert set(days) <= {str(date(2026, 11, 9) + timedelta(days=i)) for i in range(7)}
    assert answer["searched"].endswith("2026-11-09 to 2026-11-15 (last week)")
    whoop = next(item for item in answer["results"] if ":whoop:" in item["id"])
    assert "asleep_duration_min" in whoop["text"]
    assert "sleep_performance_pct" in whoop["text"]


async def test_a_provider_named_in_the_query_is_the_only_one_opened_and_read(
    three: Three,
) -> None:
    before = three.requests()
    answer = await three.answer("search", {"query": "Oura readiness"})
    after = three.requests()
    assert three.opened == ["oura"]
    assert after["whoop"] == before["whoop"]
    assert after["fitbit"] == before["fitbit"]
    assert after["oura"] > before["oura"]
    kinds_and_sources = {tuple(item["id"].split(":")[:2]) for item in answer["results"]}
    assert kinds_and_sources == {("readiness", "oura")}
    assert len(answer["results"]) >= 6  # today's readiness may not be out yet
    assert all(item["title"].endswith("(Oura)") for item in answer["results"])
    assert "readiness_score_pct" in answer["results"][0]["text"]


async def test_workouts_in_november(three: Three) -> None:
    answer = await three.answer("search", {"query": "workouts in November"})
    assert answer["results"]
    for item in answer["results"]:
        assert item["id"].startswith("workout:")
        assert item["title"].startswith("Workout: ")
        assert "2026-11-" in item["title"]
    if len(answer["results"]) == SEARCH_LIMIT:
        assert any("newest of" in note for note in answer.get("notes", []))


async def test_a_capped_search_says_what_it_left_out(three: Three) -> None:
    answer = await three.answer("search", {"query": "whoop last month"})
    assert len(answer["results"]) == SEARCH_LIMIT
    assert answer["results"][0]["id"] == "day:whoop:2026-10-31"
    assert answer["results"][-1]["id"] == "day:whoop:2026-10-12"
    assert answer["notes"] == [
        "Showing the 20 newest of 31 matches; the rest are from 2026-10-01 to 2026-10-12: "
        "search those days for them."
    ]


async def test_words_it_does_not_understand_still_answer(three: Three) -> None:
    answer = await three.answer("search", {"query": "🙂 tell me everything, quickly!!"})
    assert len(answer["results"]) == 7  # "everything": the daily summaries
    lost = await three.answer("search", {"query": "what's the weather like"})
    assert [item["id"] for item in lost["results"]] == [f"day:{day}" for day in LAST_7]
    assert "Nothing in the query was understood" in lost["notes"][0]


async def test_search_refusals_are_tool_errors_that_say_what_to_do(three: Three) -> None:
    unsupported = await three.call("search", {"query": "whoop readiness"})
    assert unsupported.is_error is True
    assert "does not provide readiness" in text_of(unsupported)
    future = await three.call("search", {"query": "sleep 2027-01-05"})
    assert future.is_error is True
    assert "in the future" in text_of(future)
    too_long = await three.call("search", {"query": "x" * 201})
    assert too_long.is_error is True
    assert "query" in text_of(too_long)
    extra = await three.call("search", {"query": "sleep", "provider": "whoop"})
    assert extra.is_error is True
    assert "unknown argument 'provider'" in text_of(extra)


async def test_one_search_is_one_read_costing_what_get_range_costs(
    three: Three, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    for name in ("recent", "between", "record", "profiles"):
        original = getattr(Reader, name)

        def counted(*args: Any, _name: str = name, _original: Any = original) -> Any:
            calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(Reader, name, counted)

    for query, kind in [
        ("sleep last week", "sleep"),
        ("", "summary"),
        ("workouts in November", "workout"),
    ]:
        parsed = parse_query(query, today=TODAY)
        before = three.requests()
        await three.answer("search", {"query": query})
        searched = {k: v - before[k] for k, v in three.requests().items()}
        before = three.requests()
        ranged = {"kind": kind, "start": str(parsed.first), "end": str(parsed.last)}
        assert (await three.call("get-range", ranged)).is_error is False
        read = {k: v - before[k] for k, v in three.requests().items()}
        assert searched == read, query
    assert calls == ["between"] * 6
    assert three.opened == [None] * 6  # one connect per call, every provider


# ------------------------------------------------------------------ fetch
async def test_search_then_fetch_a_day(three: Three) -> None:
    found = await three.answer("search", {"query": "yesterday"})
    [day] = found["results"]
    assert day["id"] == "day:2026-11-20"
    fetched = await three.answer("fetch", {"id": day["id"]})
    assert set(fetched) == {"id", "title", "text", "metadata"}
    assert fetched["id"] == day["id"]
    assert fetched["title"] == day["title"]
    assert fetched["metadata"] == {
        "kind": "summary",
        "day": "2026-11-20",
        "providers": "fitbit,oura,whoop",
    }
    lines = fetched["text"].splitlines()
    assert lines[0] == "summary (local times UTC-05:00):"  # one person, one offset
    assert lines[1].startswith("day|source|asleep_duration_min")
    headings = [line.split(" (")[0].rstrip(":") for line in lines if line.endswith(":")]
    assert headings[0] == "summary"
    assert {"sleep", "recovery", "cycle", "readiness", "activity", "vitals"} <= set(headings)
    assert "A record alone: fetch <kind>:<provider>:<id column>" in fetched["text"]
    # Every table row is that day's.
    rows = [line for line in lines if line.startswith("2026-")]
    assert rows
    assert all(line.startswith("2026-11-20|") for line in rows)


async def test_search_then_fetch_a_record(three: Three) -> None:
    found = await three.answer("search", {"query": "sleep yesterday"})
    sleep = next(item for item in found["results"] if ":oura:" in item["id"])
    kind, _, source_id = sleep["id"].split(":", 2)
    assert kind == "sleep"
    before = three.requests()
    fetched = await three.answer("fetch", {"id": sleep["id"]})
    after = three.requests()
    assert three.opened[-1] == "oura"  # the id names its provider: only it is opened
    assert after["whoop"] == before["whoop"]
    assert after["fitbit"] == before["fitbit"]
    assert set(fetched) == {"id", "title", "text", "metadata"}
    assert fetched["id"] == sleep["id"]
    assert fetched["title"] == sleep["title"] == "Sleep, Fri 2026-11-20 (Oura)"
    assert fetched["metadata"] == {"kind": "sleep", "provider": "oura", "day": "2026-11-20"}
    lines = fetched["text"].splitlines()
    assert lines[:2] == [sleep["title"], "local times: UTC-05:00"]
    # A night starts the evening before the day it ends: both times carry their date.
    assert re.fullmatch(r"start: \d\d-\d\d \d\d:\d\d", lines[2])
    assert "asleep_duration_min: 500" in lines
    assert "sleep_score_pct: 90" in lines
    assert "avg_heart_rate_bpm: 54.27" in lines  # beyond the listing's columns
    assert lines[-1].startswith("stages: awake 23:39-23:44, light 23:44-00:14")
    # get-record reads the same record.
    record = await three.call("get-record", {"kind": "sleep", "id": source_id})
    assert record.structured_content["record"]["score"]["sleep_score_pct"] == 90


async def test_a_recovery_points_at_its_sleep_and_cycle(three: Three) -> None:
    found = await three.answer("search", {"query": "recovery yesterday"})
    [recovery] = found["results"]
    fetched = await three.answer("fetch", {"id": recovery["id"]})
    lines = fetched["text"].splitlines()
    sleep_id = next(line for line in lines if line.startswith("its sleep: fetch ")).split()[-1]
    assert (await three.answer("fetch", {"id": sleep_id}))["metadata"]["kind"] == "sleep"


async def test_fetch_of_a_provider_day(three: Three) -> None:
    fetched = await three.answer("fetch", {"id": "day:oura:2026-11-20"})
    assert three.opened == ["oura"]
    assert fetched["metadata"]["providers"] == "oura"
    assert "readiness" in fetched["text"]
    assert "|source|" not in fetched["text"]  # one provider: its tables as they are


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ({"id": "2026-11-20"}, "run search first and pass one of its ids"),
        ({"id": "sleep:whoop:"}, "run search first and pass one of its ids"),
        ({"id": "x" * 301}, "at most 300 characters"),
        ({}, "id is required"),
        ({"id": "sleep:whoop:no-such-sleep"}, "run search again and pass one of the ids"),
        ({"id": "readiness:oura:no-such-day"}, "run search again and pass one of the ids"),
        ({"id": "day:2031-01-01"}, "in the future"),
        ({"id": "sleep:garmin:1"}, "garmin is not a provider Wellpipe has"),
    ],
)
async def test_fetch_of_a_malformed_or_unknown_id_is_a_tool_error_saying_what_to_do(
    three: Three, arguments: dict[str, Any], says: str
) -> None:
    result = await three.call("fetch", arguments)
    assert result.is_error is True
    assert says in text_of(result)
    assert "Traceback" not in text_of(result)


async def test_a_malformed_id_opens_nothing(three: Three) -> None:
    before = three.requests()
    result = await three.call("fetch", {"id": "not an id"})
    assert result.is_error is True
    assert three.opened == []
    assert three.requests() == before
