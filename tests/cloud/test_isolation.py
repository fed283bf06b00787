"""Tenant isolation: user A's key (or A's assistant's OAuth token) never reads B's data.

A and B are connected to different WHOOP members. A tries B's identifiers (Wellpipe user
id, key id, WHOOP member id, record ids, email) in every REST route's path and query, in
headers, and in every MCP tool's arguments; requests run interleaved and concurrently,
and B's answers are cached before A asks. Nothing of B's ever comes back to A.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import insert, select

from tests.cloud.conftest import PUBLIC_URL, Cloud
from tests.cloud.data_support import Tenant, new_tenant
from tests.cloud.oauth_support import issue_token
from tests.fakes import FakeClock
from tests.history import records as history_records
from wellpipe.cloud.db.history import UserHistory
from wellpipe.cloud.db.tables import HistoryRecord, User
from wellpipe.cloud.security.crypto import HistoryDecryptionError
from wellpipe.cloud.services.upstream import UpstreamBudget, install_budget
from wellpipe.core.history import encode_record
from wellpipe.core.models import DataKind, DayRange, Record, RecordSet
from wellpipe.mcp.tools import TOOLS
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.whoop import History

KINDS = ("sleep", "recovery", "workout", "cycle")


@pytest.fixture
def sandbox(clock: FakeClock, history: History) -> WhoopSandbox:
    """WHOOP without rate limits: this test is about whose data comes back, not budgets."""
    return WhoopSandbox(clock=clock, history=history, rate_limits=())


@pytest.fixture(autouse=True)
def roomy_budget(cloud: Cloud) -> None:
    install_budget(
        cloud.ctx, UpstreamBudget(cloud.ctx, provider="whoop", limits=(), user_share=1.0)
    )
    cloud.ctx.settings = cloud.ctx.settings.model_copy(update={"burst_per_minute": 10_000})


async def identifiers(cloud: Cloud, tenant: Tenant) -> dict[str, Any]:
    """Everything that names the tenant or their data, read with their own key."""
    ids: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for kind in KINDS:
        listing = await cloud.client.get(f"/api/v1/health?type={kind}&days=30", headers=tenant.auth)
        assert listing.status_code == 200, listing.text
        ids[kind] = {record["id"] for record in listing.json()["records"]}
    [profile] = (await cloud.client.get("/api/v1/profile", headers=tenant.auth)).json()["sources"]
    return {
        "ids": ids,
        "email": profile["email"],
        "member": str(tenant.member),
        "user_id": tenant.user_id,
        "key_id": tenant.key.split("_")[2],
    }


def leaked(text: str, other: dict[str, Any]) -> list[str]:
    """Identifiers of ``other``'s data that appear in ``text``."""
    found = [value for values in other["ids"].values() for value in values if value in text]
    found += [other[name] for name in ("email", "user_id") if other[name] in text]
    if f'"source_id":"{other["member"]}"' in text.replace(" ", ""):
        found.append(other["member"])
    return found


async def collected(failures: list[str], check: Any, *args: Any) -> None:
    """Run a check inside a task group, keeping its failure instead of cancelling the others.

    (Cancelling requests in the middle of their database work can leave SQLAlchemy's
    aiosqlite connections hanging at close, which would turn a failure into a hang.)
    """
    try:
        await check(*args)
    except AssertionError as failure:
        failures.append(f"{args[0] if len(args) == 1 else args[:2]}: {failure}")


def hostile_query(other: dict[str, Any]) -> str:
    return "&".join(
        f"{name}={other[field]}"
        for name, field in [
            ("user_id", "user_id"),
            ("user", "user_id"),
            ("member", "member"),
            ("member_id", "member"),
            ("whoop_user_id", "member"),
            ("key_id", "key_id"),
            ("email", "email"),
        ]
    )


async def test_a_key_only_ever_reads_its_owners_data(cloud: Cloud) -> None:
    first, second = cloud.sandbox.member_ids[:2]
    alice = await new_tenant(cloud, member=first)
    bob = await new_tenant(cloud, member=second)
    theirs = await identifiers(cloud, bob)  # B reads first: B's answers are in the cache
    mine = await identifiers(cloud, alice)
    assert theirs["email"] != mine["email"]
    assert all(not (theirs["ids"][k] & mine["ids"][k]) for k in KINDS)

    hostile_headers = {
        **alice.auth,
        "X-User-Id": bob.user_id,
        "X-Wellpipe-User": bob.user_id,
        "X-Whoop-User-Id": theirs["member"],
        "Cookie": f"user_id={bob.user_id}",
    }
    query = hostile_query(theirs)
    urls = [
        *(f"/api/v1/health?type={t}&days=30" for t in (*KINDS, "summary", "profile")),
        *(
            f"/api/v1/{path}?start=2026-10-23&end=2026-11-21"
            for path in ("summary", "sleep", "recovery", "workouts", "cycles")
        ),
        "/api/v1/profile",
        "/api/v1/usage",
        *(  # kinds WHOOP lacks: a 409 saying so, and nothing of B's
            f"/api/v1/{path}?start=2026-10-23&end=2026-11-21"
            for path in ("readiness", "activity", "vitals")
        ),
    ]
    # B's identifiers as parameters: refused as unknown, before anything is read.
    hostile = [f"{url}{'&' if '?' in url else '?'}{query}" for url in urls]
    for kind in KINDS:
        urls += [
            f"/api/v1/records/{kind}/{record_id}" for record_id in sorted(theirs["ids"][kind])[:8]
        ]
    routes = {path for path in cloud.app.openapi()["paths"] if path.startswith("/api/v1/")}
    assert routes == {
        "/api/v1/health",
        "/api/v1/summary",
        "/api/v1/sleep",
        "/api/v1/recovery",
        "/api/v1/workouts",
        "/api/v1/cycles",
        "/api/v1/readiness",
        "/api/v1/activity",
        "/api/v1/vitals",
        "/api/v1/profile",
        "/api/v1/records/{kind}/{record_id}",
        "/api/v1/usage",
    }, "a new route must be added to this test"

    async def fetch(url: str) -> None:
        await collected(failures, check, url)

    async def check(url: str) -> None:
        response = await cloud.client.get(url, headers=hostile_headers)
        if url in hostile:
            assert response.status_code == 422, (url, response.text)
            assert "Unknown parameter" in response.json()["detail"], url
            assert leaked(response.text, theirs) == [], url
            return
        assert response.status_code in {200, 404, 409}, (url, response.text)
        asked = url.rsplit("/", 1)[-1] if "/records/" in url else "\0"
        assert leaked(response.text.replace(asked, ""), theirs) == [], url  # 404s repeat the id
        if "/records/" in url:
            assert response.status_code == 404, url  # B's record, asked with A's key
        elif url.startswith("/api/v1/usage"):
            assert response.json()["month_count"] > 0  # A's own count
        elif url.startswith(("/api/v1/readiness", "/api/v1/activity", "/api/v1/vitals")):
            assert response.status_code == 409, url
            assert "does not provide" in response.json()["detail"], url
        elif "summary" in url:  # rows of days, without ids: A's own, no trace of B's
            assert response.status_code == 200, url
            assert response.json()["records"], url
        else:
            assert mine["email"] in response.text or any(
                record_id in response.text for ids in mine["ids"].values() for record_id in ids
            ), url

    async def meanwhile(url: str) -> None:
        await collected(failures, bobs, url)

    async def bobs(url: str) -> None:  # B at the same time, on the same routes
        response = await cloud.client.get(url.split("?")[0], headers=bob.auth)
        assert leaked(response.text, mine) == [], url

    failures: list[str] = []
    async with anyio.create_task_group() as group:
        for url in [*urls, *hostile]:
            group.start_soon(fetch, url)
            group.start_soon(meanwhile, url)
    assert failures == []


@pytest.mark.parametrize("credential", ["api key", "oauth token"])
async def test_mcp_tools_only_ever_read_the_callers_data(cloud: Cloud, credential: str) -> None:
    first, second = cloud.sandbox.member_ids[:2]
    alice = await new_tenant(cloud, member=first)
    bob = await new_tenant(cloud, member=second)
    theirs = await identifiers(cloud, bob)
    mine = await identifiers(cloud, alice)
    if credential == "oauth token":  # what a connector (Claude, ChatGPT) presents
        alice = replace(alice, key=await issue_token(cloud.ctx, alice.user_id))
        bob = replace(bob, key=await issue_token(cloud.ctx, bob.user_id))

    calls: list[tuple[str, dict[str, Any]]] = [
        ("get-daily-summary", {"days": 30}),
        ("get-recent-sleep", {"days": 30}),
        ("get-recent-recovery", {"days": 30}),
        ("get-recent-workouts", {"days": 30}),
        ("get-recent-cycles", {"days": 30}),
        ("get-range", {"kind": "summary", "start": "2026-10-23", "end": "2026-11-21"}),
        ("get-profile", {}),
    ]
    calls += [
        ("get-record", {"kind": kind, "id": record_id})
        for kind in KINDS
        for record_id in sorted(theirs["ids"][kind])[:5]
    ]
    smuggled = [
        (name, {**args, "user_id": bob.user_id, "member_id": theirs["member"]})
        for name, args in calls[:7]
    ]
    lacking = ("get-recent-readiness", "get-recent-activity", "get-recent-vitals")  # not WHOOP's
    calls += [(name, {"days": 30}) for name in lacking]
    calls += [("search", {"query": "sleep last 30 days"}), ("search", {"query": "workouts"})]
    calls += [
        ("fetch", {"id": f"{kind}:whoop:{record_id}"})
        for kind in KINDS
        for record_id in sorted(theirs["ids"][kind])[:2]
    ]
    assert {name for name, _ in calls} == {tool.name for tool in TOOLS}

    async def as_user(
        tenant: Tenant, mode: str, other: dict[str, Any], own: dict[str, Any]
    ) -> None:
        headers = {**tenant.auth, "X-User-Id": bob.user_id if tenant is alice else alice.user_id}
        transport = httpx2.ASGITransport(app=cloud.app)
        async with (
            httpx2.AsyncClient(transport=transport, headers=headers, base_url=PUBLIC_URL) as http,
            Client(
                streamable_http_client(f"{PUBLIC_URL}/api/mcp", http_client=http), mode=mode
            ) as client,
        ):
            for name, args in calls:
                result = await client.call_tool(name, args)
                text = json.dumps(result.structured_content) + " ".join(
                    getattr(block, "text", "") for block in result.content
                )
                echoed = text
                if name in {"get-record", "fetch"}:  # an error may repeat the id asked for
                    echoed = text.replace(str(args["id"]).rsplit(":", 1)[-1], "")
                assert leaked(echoed, other) == [], (name, args)
                if name in {"get-record", "fetch"} and tenant is alice:
                    assert result.is_error, (name, args)
                    assert name == "fetch" or "has no" in text
                elif name in lacking:
                    assert result.is_error, (name, text)
                    assert "does not provide" in text
                elif name not in {"get-record", "fetch"}:
                    assert not result.is_error, text
                    if name in {"get-recent-sleep", "get-profile"}:
                        assert leaked(text, own) != [], name  # the caller's own data
            for name, args in smuggled:
                result = await client.call_tool(name, args)
                assert result.is_error
                assert "unknown argument" in " ".join(
                    getattr(b, "text", "") for b in result.content
                )

    failures: list[str] = []
    async with anyio.create_task_group() as group:  # both users at once, both eras
        for who, mode, other, own in [
            (alice, "legacy", theirs, mine),
            (bob, "2026-07-28", mine, theirs),
            (alice, "2026-07-28", theirs, mine),
            (bob, "legacy", mine, theirs),
        ]:
            group.start_soon(collected, failures, as_user, who, mode, other, own)
    assert failures == []


# ------------------------------------------------------------ the history store
NOW_H = datetime(2026, 11, 21, 12, tzinfo=UTC)


async def history_user(cloud: Cloud, user_id: str) -> UserHistory:
    async with cloud.ctx.db.transaction() as session:
        session.add(User(id=user_id, email=f"{user_id}@example.test", created_at=cloud.clock.now()))
    return UserHistory.of(cloud.ctx, user_id)


def lived(user: str, day: date) -> list[Record]:
    """One person's day under WHOOP's ids: the other tenant's records carry the same ids."""
    minutes = 300 if user == "alice" else 470
    return [
        history_records.sleep(day, asleep_min=minutes),
        history_records.workout(day),
        history_records.cycle(day, open_=user == "bob"),
    ]


async def test_one_users_history_never_returns_anothers_rows(cloud: Cloud) -> None:
    """Alice and Bob have records with the very same provider ids; each sees only their own."""
    alice = await history_user(cloud, "alice")
    bob = await history_user(cloud, "bob")
    carol = await history_user(cloud, "carol")  # nothing stored
    last = date(2026, 11, 20)
    days = DayRange(first=last - timedelta(days=29), last=last)
    kinds = [DataKind.SLEEP, DataKind.WORKOUT, DataKind.CYCLE]
    mine = {n: lived("alice", last - timedelta(days=n)) for n in range(30)}
    theirs = {n: lived("bob", last - timedelta(days=n)) for n in range(30)}

    async def put(store: UserHistory, records: list[Record]) -> None:
        await store.put(records, now=NOW_H)

    async with anyio.create_task_group() as group:  # interleaved writes of both
        for n in range(30):
            group.start_soon(put, alice, mine[n])
            group.start_soon(put, bob, theirs[n])

    def asleep(records: RecordSet) -> set[float]:
        return {s.score.asleep_duration_min for s in records.sleeps if s.score is not None}

    assert asleep(await alice.read("whoop", kinds, days)) == {300}
    assert asleep(await bob.read("whoop", kinds, days)) == {470}
    sleep_id = mine[0][0].source_id
    assert sleep_id == theirs[0][0].source_id
    assert await alice.get("whoop", DataKind.SLEEP, sleep_id) == mine[0][0]
    assert await bob.get("whoop", DataKind.SLEEP, sleep_id) == theirs[0][0]
    assert sorted(map(encode_record, [r async for r in alice.scan()])) == sorted(
        encode_record(r) for records in mine.values() for r in records
    )
    assert sorted(map(encode_record, [r async for r in bob.scan()])) == sorted(
        encode_record(r) for records in theirs.values() for r in records
    )
    assert await alice.unsettled_days("whoop", kinds, days.first) == ()
    assert len(await bob.unsettled_days("whoop", kinds, days.first)) == 30
    assert (await carol.read("whoop", kinds, days)).sleeps == ()
    assert await carol.get("whoop", DataKind.SLEEP, sleep_id) is None
    assert [r async for r in carol.scan()] == []
    assert (await carol.coverage("whoop")).counts == {}

    # Alice's deletes, replaces and forgets never reach Bob's rows.
    assert await alice.remove("whoop", DataKind.SLEEP, sleep_id)
    assert await bob.get("whoop", DataKind.SLEEP, sleep_id) == theirs[0][0]
    assert await alice.replace("whoop", kinds, days, [], now=NOW_H) == 89
    assert (await bob.coverage("whoop")).total == 90
    assert (await bob.coverage("whoop")).spans == {}
    await alice.put(mine[1], now=NOW_H)
    assert await alice.forget("whoop") == 3
    assert (await bob.coverage("whoop")).total == 90

    # A row of Bob's copied under Alice's name does not open for her.
    async with cloud.ctx.db.sessions() as session:
        stolen = (
            await session.execute(
                select(HistoryRecord.__table__).where(HistoryRecord.user_id == "bob").limit(1)
            )
        ).one()
    async with cloud.ctx.db.transaction() as session:
        await session.execute(insert(HistoryRecord).values({**stolen._mapping, "user_id": "alice"}))
    with pytest.raises(HistoryDecryptionError):
        await alice.read("whoop", kinds, days)
