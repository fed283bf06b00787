"""REST and MCP are two faces of one reader: the same questions get the same data.

A user connected to WHOOP, Oura and Fitbit asks both faces the same questions (recent
days of every kind, explicit ranges, one provider, the profile, one record) and the same
wrong ones. The rows REST lists are exactly the MCP table's rows as objects, the notes are
the same, and a refusal is the same sentence in each face's own form (a problem detail, a
tool error), never a CLI command.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.cloud.conftest import Trio
from tests.cloud.limits_support import add_user
from tests.cloud.test_mcp_endpoint import mcp_client, text_of
from tests.cloud.test_providers import connect_all
from wellpipe.cloud.services.keys import create_key
from wellpipe.mcp.answers import readable

pytestmark = pytest.mark.timeout(120)

QUESTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("get-daily-summary", {"days": 7}, "/api/v1/health?type=summary&days=7"),
    ("get-recent-sleep", {"days": 14}, "/api/v1/health?type=sleep&days=14"),
    ("get-recent-recovery", {"days": 7}, "/api/v1/health?type=recovery&days=7"),
    ("get-recent-readiness", {"days": 7}, "/api/v1/health?type=readiness&days=7"),
    ("get-recent-activity", {"days": 7}, "/api/v1/health?type=activity&days=7"),
    ("get-recent-vitals", {"days": 7}, "/api/v1/health?type=vitals&days=7"),
    ("get-recent-workouts", {"days": 14}, "/api/v1/health?type=workout&days=14"),
    ("get-recent-cycles", {"days": 7}, "/api/v1/health?type=cycle&days=7"),
    (
        "get-range",
        {"kind": "sleep", "start": "2026-11-01", "end": "2026-11-14"},
        "/api/v1/sleep?start=2026-11-01&end=2026-11-14",
    ),
    (
        "get-range",
        {"kind": "summary", "start": "2026-09-01", "end": "2026-11-21"},
        "/api/v1/summary?start=2026-09-01&end=2026-11-21",
    ),
    (
        "get-range",
        {"kind": "vitals", "start": "2026-10-01", "end": "2026-10-31", "provider": "fitbit"},
        "/api/v1/vitals?start=2026-10-01&end=2026-10-31&provider=fitbit",
    ),
    (
        "get-recent-sleep",
        {"days": 7, "provider": "oura"},
        "/api/v1/health?type=sleep&provider=oura",
    ),
]

REFUSALS: list[tuple[str, dict[str, Any], str, int]] = [
    # Oura has no WHOOP recovery: MCP's tool error, REST's 409, one sentence.
    (
        "get-recent-recovery",
        {"days": 7, "provider": "oura"},
        "/api/v1/health?type=recovery&days=7&provider=oura",
        409,
    ),
    ("get-record", {"kind": "sleep", "id": "nope"}, "/api/v1/records/sleep/nope", 404),
    (
        "get-range",
        {"kind": "sleep", "start": "2027-03-01", "end": "2027-03-02"},
        "/api/v1/sleep?start=2027-03-01&end=2027-03-02",
        422,
    ),
]


def as_objects(table: dict[str, Any]) -> list[dict[str, Any]]:
    """An MCP table's rows as objects without empty cells (what REST lists)."""
    columns = table["columns"]
    return [
        {column: cell for column, cell in zip(columns, row, strict=True) if cell is not None}
        for row in table["rows"]
    ]


@pytest.fixture
async def auth(trio: Trio) -> dict[str, str]:
    user_id = await add_user(trio.cloud.ctx)
    await connect_all(trio, user_id)
    created = await create_key(trio.cloud.ctx, user_id=user_id, name="faces")
    return {"Authorization": f"Bearer {created.full_key}"}


async def test_rest_lists_the_rows_mcp_shows_for_every_question(
    trio: Trio, auth: dict[str, str]
) -> None:
    client = trio.cloud.client
    async with mcp_client(trio.cloud, auth, "legacy") as mcp:
        for tool, arguments, url in QUESTIONS:
            tooled = await mcp.call_tool(tool, arguments)
            assert tooled.is_error is False, (tool, text_of(tooled))
            table: dict[str, Any] = tooled.structured_content or {}
            response = await client.get(url, headers=auth)
            assert response.status_code == 200, (url, response.text)
            rest = response.json()

            assert rest["records"] == as_objects(table), url
            assert rest["count"] == len(table["rows"]) > 0, url
            assert (rest["first_day"], rest["last_day"]) == (
                table["first_day"],
                table["last_day"],
            ), url
            assert rest.get("utc_offset") == table.get("utc_offset"), url
            assert rest["notes"] == (table.get("notes") or []), url
            assert rest["sources"] == table["provider"].split(","), url


async def test_the_profile_and_one_record_are_the_same_through_both(
    trio: Trio, auth: dict[str, str]
) -> None:
    client = trio.cloud.client
    async with mcp_client(trio.cloud, auth, "legacy") as mcp:
        profile = (await mcp.call_tool("get-profile", {})).structured_content or {}
        rest_profile = (await client.get("/api/v1/profile", headers=auth)).json()
        assert rest_profile["sources"] == profile["sources"]
        assert [s["provider"] for s in profile["sources"]] == ["fitbit", "oura", "whoop"]
        assert isinstance(profile["sources"][1].get("age"), int)  # Oura's personal_info age

        listing = (await client.get("/api/v1/health?type=sleep&days=7", headers=auth)).json()
        for row in listing["records"][:6]:
            tooled = await mcp.call_tool("get-record", {"kind": "sleep", "id": row["id"]})
            assert tooled.is_error is False, text_of(tooled)
            rest = (await client.get(f"/api/v1/records/sleep/{row['id']}", headers=auth)).json()
            # The tool rounds for a reader and leaves empty lists out; REST keeps every digit.
            assert readable(rest["record"]) == (tooled.structured_content or {})["record"]
            assert rest["provider"] == row["source"] == rest["record"]["provider"]


async def test_a_refusal_is_the_same_sentence_through_both_and_never_a_command(
    trio: Trio, auth: dict[str, str]
) -> None:
    client = trio.cloud.client
    user_before = (await client.get("/api/v1/usage", headers=auth)).json()["month_count"]
    async with mcp_client(trio.cloud, auth, "legacy") as mcp:
        for tool, arguments, url, status in REFUSALS:
            tooled = await mcp.call_tool(tool, arguments)
            response = await client.get(url, headers=auth)

            assert tooled.is_error is True, (tool, arguments)
            assert response.status_code == status, (url, response.text)
            sentence = response.json()["detail"]
            assert text_of(tooled) == sentence, url
            assert "`wellpipe " not in sentence, sentence  # the cloud names no CLI command
    usage = (await client.get("/api/v1/usage", headers=auth)).json()["month_count"]
    assert usage == user_before  # refused through either face: not counted


async def test_both_faces_count_one_answered_question_alike(
    trio: Trio, auth: dict[str, str]
) -> None:
    client = trio.cloud.client
    response = await client.get("/api/v1/health?type=sleep&days=3", headers=auth)
    after_rest = int(response.headers["x-ratelimit-remaining"])
    async with mcp_client(trio.cloud, auth, "legacy") as mcp:
        await mcp.list_tools()  # free
        answered = await mcp.call_tool("get-recent-sleep", {"days": 3})
        assert answered.is_error is False
    usage = (await client.get("/api/v1/usage", headers=auth)).json()
    assert usage["remaining"] == after_rest - 1  # one REST call, one tool call: two counted
    assert usage["month_count"] == 2
