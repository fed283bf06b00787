"""The sandboxes' records change after the fact, and each sandbox tells as its provider does:
WHOOP's v2 webhooks, Oura's subscription API and events, Google Health's verified
subscribers, signed notifications and public keyset. Retries run on the sandbox clock."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

import httpx2
import pytest
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from tests.conftest import NOW
from tests.fakes import FakeClock
from wellpipe.cloud.security.webhook_signatures import (
    TinkKeyset,
    verify_google,
    verify_oura,
    verify_whoop,
)
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.changes import KEYSET_PATH, SubscriberRejected
from wellpipe.sandbox.fitbit import FitbitSandbox
from wellpipe.sandbox.fitbit import History as GoogleHistory
from wellpipe.sandbox.fitbit import generate_history as google_history
from wellpipe.sandbox.oura import History as OuraHistory
from wellpipe.sandbox.oura import OuraSandbox
from wellpipe.sandbox.oura import generate_history as oura_history
from wellpipe.sandbox.whoop import History

HOOK = "http://receiver.test/hook"
SECRET = "app-secret"
APP = {"x-client-id": "app", "x-client-secret": SECRET}


class Receiver:
    """A webhook receiver: answers Oura's challenge and Google's verification, logs events."""

    def __init__(self, *answers: int, token: str = "verify", authorization: str = "Bearer s"):
        self.answers = list(answers)
        self.token = token
        self.authorization = authorization
        self.got: list[tuple[dict[str, str], bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        status, payload = 204, b""
        if request.method == "GET":
            query = request.query_params
            if query.get("verification_token") == self.token:
                status, payload = 200, json.dumps({"challenge": query["challenge"]}).encode()
            else:
                status = 403
        else:
            body = await request.body()
            if json.loads(body) == {"type": "verification"}:
                given = request.headers.get("authorization")
                status = 201 if given == self.authorization else 401
            else:
                self.got.append((dict(request.headers), body))
                status = self.answers.pop(0) if self.answers else 204
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": payload})

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.got]


def wire(outbox: Any, receiver: Receiver) -> None:
    outbox.transport = httpx2.ASGITransport(app=receiver)


def client(sandbox: Any, base: str = "http://sandbox.test") -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=sandbox.transport(), base_url=base)


# ------------------------------------------------------------------ WHOOP
@pytest.fixture
def whoop(clock: FakeClock, history: History) -> tuple[WhoopSandbox, Receiver]:
    sandbox = WhoopSandbox(clock=clock, history=history)
    receiver = Receiver()
    wire(sandbox.outbox, receiver)
    sandbox.changes.set_webhook(HOOK, client_secret=SECRET)
    return sandbox, receiver


async def test_whoop_sleep_rescore_is_served_and_sends_sleep_and_recovery_events(
    whoop: tuple[WhoopSandbox, Receiver], clock: FakeClock, history: History
) -> None:
    sandbox, receiver = whoop
    recovery = sandbox.member().recoveries[3].body
    sleep_id = recovery["sleep_id"]
    old_sleep = sandbox.member().sleep_by_id[sleep_id]
    clock.advance(600)
    change = await sandbox.changes.update(
        "sleep", sleep_id, {"score": {"sleep_performance_percentage": 12.0}}
    )
    assert [d.state for d in change.deliveries] == ["delivered", "delivered"]
    events = receiver.events()
    assert [(e["type"], e["id"]) for e in events] == [
        ("sleep.updated", sleep_id),
        ("recovery.updated", sleep_id),  # the recovery event carries the SLEEP id
    ]
    assert {e["user_id"] for e in events} == {sandbox.member_ids[0]}
    for headers, body in receiver.got:
        verify_whoop(
            secret=SECRET,
            headers=headers,
            body=body,
            now_s=clock.now().timestamp(),
            max_age_s=300,
        )

    token = sandbox.issue_tokens()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    async with client(sandbox) as http:
        one = (await http.get(f"/developer/v2/activity/sleep/{sleep_id}", headers=auth)).json()
        page = await http.get("/developer/v2/activity/sleep", params={"limit": 25}, headers=auth)
        cycle = recovery["cycle_id"]
        rescored = (await http.get(f"/developer/v2/cycle/{cycle}/recovery", headers=auth)).json()
    assert one["score"]["sleep_performance_percentage"] == 12.0
    assert (
        one["score"]["sleep_efficiency_percentage"]
        == old_sleep["score"]["sleep_efficiency_percentage"]
    )
    assert one["updated_at"] > old_sleep["updated_at"]
    assert rescored["updated_at"] == one["updated_at"]
    listed = next(r for r in page.json()["records"] if r["id"] == sleep_id)
    assert listed == one
    # copy-on-write: the shared history and another sandbox on it are untouched
    assert history.members[sandbox.member_ids[0]].sleep_by_id[sleep_id] == old_sleep
    other = WhoopSandbox(clock=clock, history=history)
    assert other.member().sleep_by_id[sleep_id] == old_sleep


async def test_whoop_add_and_delete_workout_and_sleep(
    whoop: tuple[WhoopSandbox, Receiver],
) -> None:
    sandbox, receiver = whoop
    like = sandbox.member().workouts[0].body
    body = {k: v for k, v in like.items() if k not in ("id", "created_at", "updated_at")}
    added = await sandbox.changes.add("workout", body)
    assert added.record is not None
    new_id = added.record["id"]
    assert sandbox.member().workout_by_id[new_id]["sport_name"] == like["sport_name"]
    await sandbox.changes.delete("workout", new_id)
    assert new_id not in sandbox.member().workout_by_id
    sleep = next(r.body for r in sandbox.member().sleeps if not r.body["nap"])
    await sandbox.changes.delete("sleep", sleep["id"])
    assert sleep["cycle_id"] not in sandbox.member().recovery_by_cycle
    assert [(e["type"], e["id"]) for e in receiver.events()] == [
        ("workout.updated", new_id),  # creates arrive as *.updated
        ("workout.deleted", new_id),
        ("sleep.deleted", sleep["id"]),
        ("recovery.deleted", sleep["id"]),
    ]
    assert len({e["trace_id"] for e in receiver.events()}) == 4


async def test_whoop_failed_delivery_is_retried_five_times_on_the_clock(
    whoop: tuple[WhoopSandbox, Receiver], clock: FakeClock
) -> None:
    sandbox, receiver = whoop
    receiver.answers = [503, 500]
    workout = sandbox.member().workouts[1].body
    change = await sandbox.changes.update("workout", workout["id"], {"score": {"strain": 3.5}})
    delivery = change.deliveries[0]
    assert delivery.describe()["state"] == "pending"
    assert await sandbox.outbox.flush() == []  # not due yet
    clock.advance(60)
    await sandbox.outbox.flush()
    assert delivery.statuses == [503, 500]
    clock.advance(300)
    await sandbox.outbox.flush()
    assert delivery.state == "delivered"
    first, _, last = (json.loads(b) for _, b in receiver.got)
    assert first["trace_id"] == last["trace_id"]
    stamps = [h["x-whoop-signature-timestamp"] for h, _ in receiver.got]
    assert stamps[0] != stamps[-1]  # re-signed at each attempt

    receiver.answers = [503] * 6
    failing = (await sandbox.changes.delete("workout", workout["id"])).deliveries[0]
    for _ in range(10):
        clock.advance(3600)
        await sandbox.outbox.flush()
    assert failing.state == "failed"
    assert len(failing.statuses) == 6  # the first attempt and 5 retries


async def test_whoop_changes_and_webhooks_through_the_sandbox_routes(
    clock: FakeClock, history: History
) -> None:
    sandbox = WhoopSandbox(clock=clock, history=history)
    receiver = Receiver()
    wire(sandbox.outbox, receiver)
    workout = sandbox.member().workouts[0].body
    async with client(sandbox) as http:
        setup = await http.post("/_sandbox/webhooks", json={"url": HOOK, "client_secret": "s"})
        assert setup.status_code == 201
        changed = await http.post(
            "/_sandbox/changes",
            json={"action": "update", "kind": "workout", "id": workout["id"], "changes": {}},
        )
        assert changed.status_code == 200
        assert changed.json()["deliveries"][0]["state"] == "delivered"
        missing = await http.post(
            "/_sandbox/changes", json={"action": "delete", "kind": "workout", "id": "nope"}
        )
        assert missing.status_code == 404
        bad = await http.post("/_sandbox/changes", json={"action": "rename", "kind": "sleep"})
        assert bad.status_code == 400
        log = (await http.get("/_sandbox/webhooks")).json()
        assert [d["event"]["type"] for d in log] == ["workout.updated"]
        flushed = (await http.post("/_sandbox/webhooks/flush")).json()
        assert flushed == {"attempted": [], "pending": 0}


async def test_whoop_without_a_webhook_url_changes_quietly(
    clock: FakeClock, history: History
) -> None:
    sandbox = WhoopSandbox(clock=clock, history=history)
    change = await sandbox.changes.update("cycle", str(sandbox.member().cycles[2].body["id"]), {})
    assert change.deliveries == []
    assert sandbox.outbox.deliveries == []


# ------------------------------------------------------------------ Oura
@pytest.fixture(scope="module")
def ring() -> OuraHistory:
    return oura_history(now=NOW, days=60)


@pytest.fixture
def oura(clock: FakeClock, ring: OuraHistory) -> tuple[OuraSandbox, Receiver]:
    sandbox = OuraSandbox(clock=clock, history=ring, subscription_lifetime=timedelta(days=7))
    receiver = Receiver()
    wire(sandbox.outbox, receiver)
    return sandbox, receiver


async def subscribe(http: httpx2.AsyncClient, event_type: str, data_type: str) -> dict[str, Any]:
    answer = await http.post(
        "/v2/webhook/subscription",
        headers=APP,
        json={
            "callback_url": HOOK,
            "verification_token": "verify",
            "event_type": event_type,
            "data_type": data_type,
        },
    )
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


async def test_oura_subscription_api(oura: tuple[OuraSandbox, Receiver], clock: FakeClock) -> None:
    sandbox, _ = oura
    async with client(sandbox) as http:
        made = await subscribe(http, "update", "sleep")
        assert set(made) == {"id", "callback_url", "event_type", "data_type", "expiration_time"}
        assert made["expiration_time"] == (clock.now() + timedelta(days=7)).isoformat()
        refused = await http.post(
            "/v2/webhook/subscription",
            headers=APP,
            json={
                "callback_url": HOOK,
                "verification_token": "wrong",
                "event_type": "update",
                "data_type": "sleep",
            },
        )
        assert refused.status_code == 400  # the callback did not echo the challenge
        invalid = await http.post(
            "/v2/webhook/subscription",
            headers=APP,
            json={"callback_url": HOOK, "verification_token": "v", "event_type": "update"},
        )
        assert invalid.status_code == 422
        assert invalid.json()["detail"][0]["loc"] == ["body", "data_type"]
        bad_type = await http.post(
            "/v2/webhook/subscription",
            headers=APP,
            json={
                "callback_url": HOOK,
                "verification_token": "verify",
                "event_type": "upsert",
                "data_type": "sleep",
            },
        )
        assert bad_type.status_code == 422
        assert (await http.get("/v2/webhook/subscription")).status_code == 401
        other_app = {"x-client-id": "other", "x-client-secret": "x"}
        assert (await http.get("/v2/webhook/subscription", headers=other_app)).json() == []
        listed = (await http.get("/v2/webhook/subscription", headers=APP)).json()
        assert listed == [made]
        path = f"/v2/webhook/subscription/{made['id']}"
        assert (await http.get(path, headers=other_app)).status_code == 403
        assert (await http.get(path, headers=APP)).json() == made
        clock.advance(86_400)
        renewed = (
            await http.put(f"/v2/webhook/subscription/renew/{made['id']}", headers=APP)
        ).json()
        assert renewed["expiration_time"] == (clock.now() + timedelta(days=7)).isoformat()
        updated = await http.put(
            path, headers=APP, json={"verification_token": "verify", "data_type": "workout"}
        )
        assert updated.json()["data_type"] == "workout"
        assert (await http.delete(path, headers=APP)).status_code == 204
        assert (await http.delete(path, headers=APP)).status_code == 403
        assert (
            await http.put("/v2/webhook/subscription/renew/nope", headers=APP)
        ).status_code == 403


async def test_oura_events_go_to_matching_live_subscriptions_signed(
    oura: tuple[OuraSandbox, Receiver], clock: FakeClock, ring: OuraHistory
) -> None:
    sandbox, receiver = oura
    async with client(sandbox) as http:
        await subscribe(http, "update", "sleep")
        await subscribe(http, "delete", "workout")
    sleep = sandbox.member().collection("sleep")[-2]
    await sandbox.changes.update("sleep", sleep.id, {"average_hrv": 99})
    workout = sandbox.member().collection("workout")[-1]
    await sandbox.changes.update("workout", workout.id, {"calories": 1.0})  # nobody subscribed
    await sandbox.changes.delete("workout", workout.id)
    events = receiver.events()
    assert [(e["event_type"], e["data_type"], e["object_id"]) for e in events] == [
        ("update", "sleep", sleep.id),
        ("delete", "workout", workout.id),
    ]
    assert events[0]["user_id"] == sandbox.member_ids[0]
    for headers, body in receiver.got:
        verify_oura(
            secret=SECRET,
            headers=headers,
            body=body,
            now_s=clock.now().timestamp(),
            max_age_s=300,
            signed="raw",
        )
    assert sandbox.member().document("sleep", sleep.id)["average_hrv"] == 99  # type: ignore[index]
    assert sandbox.member().document("workout", workout.id) is None
    assert ring.members[sandbox.member_ids[0]].document("workout", workout.id) is not None

    clock.advance(8 * 86_400)  # the subscriptions expired: no more events
    await sandbox.changes.update("sleep", sleep.id, {"average_hrv": 98})
    assert len(receiver.got) == 2


async def test_oura_add_is_a_create_event_and_410_cancels_the_subscription(
    oura: tuple[OuraSandbox, Receiver],
) -> None:
    sandbox, receiver = oura
    async with client(sandbox) as http:
        await subscribe(http, "create", "workout")
    like = sandbox.member().collection("workout")[-1].body
    receiver.answers = [410]
    added = await sandbox.changes.add("workout", {k: v for k, v in like.items() if k != "id"})
    assert added.record is not None
    assert added.deliveries[0].state == "gone"
    assert sandbox.subscriptions.subscriptions == {}
    assert sandbox.member().document("workout", added.record["id"]) is not None
    again = await sandbox.changes.add("workout", {k: v for k, v in like.items() if k != "id"})
    assert again.deliveries == []


# ------------------------------------------------------------------ Google Health
@pytest.fixture(scope="module")
def google() -> GoogleHistory:
    return google_history(now=NOW, days=120, members=1)


async def test_google_keyset_route_subscriber_verification_and_signed_notifications(
    clock: FakeClock, google: GoogleHistory
) -> None:
    sandbox = FitbitSandbox(clock=clock, history=google)
    receiver = Receiver(authorization="Bearer s")
    wire(sandbox.outbox, receiver)
    with pytest.raises(SubscriberRejected):
        await sandbox.changes.register_subscriber(HOOK, authorization="Bearer wrong")
    await sandbox.changes.register_subscriber(
        HOOK, authorization="Bearer s", data_types=frozenset({"exercise"})
    )
    member = sandbox.member()
    exercise = member.points["exercise"][0]
    assert exercise.point_id is not None
    await sandbox.changes.update(
        "exercise", exercise.point_id, {"metricsSummary": {"caloriesKcal": 1.0}}
    )
    steps = member.points["steps"][0]
    await sandbox.changes.add_point(
        "steps", dataclasses.replace(steps, start=steps.start + timedelta(minutes=1))
    )  # not a data type the subscriber asked for
    await sandbox.changes.delete("exercise", exercise.point_id)
    (upsert, delete) = receiver.events()
    assert upsert["data"]["operation"] == "UPSERT"
    assert delete["data"]["operation"] == "DELETE"
    assert upsert["data"]["dataType"] == "exercise"
    assert upsert["data"]["healthUserId"] == member.user_id
    day = exercise.civil_start.date().isoformat()
    assert upsert["data"]["intervals"][0]["civilIso8601TimeInterval"]["startTime"].startswith(day)

    async with client(sandbox) as http:
        keyset = TinkKeyset.parse((await http.get(KEYSET_PATH)).json())
        token = sandbox.issue_tokens()["access_token"]
        gone = await http.get(
            f"/v4/users/me/dataTypes/exercise/dataPoints/{exercise.point_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert gone.status_code == 404
    for headers, body in receiver.got:
        verify_google(
            authorization="Bearer s",
            headers=headers,
            body=body,
            keyset=keyset,
            signature_headers=["google-health-api-signature"],
        )
    assert exercise.point_id in google.members[member.user_id].by_id["exercise"]


async def test_google_subscriber_route_and_retries(clock: FakeClock, google: GoogleHistory) -> None:
    sandbox = FitbitSandbox(clock=clock, history=google)
    receiver = Receiver(503)
    wire(sandbox.outbox, receiver)
    async with client(sandbox) as http:
        setup = await http.post(
            "/_sandbox/webhooks", json={"endpoint": HOOK, "authorization": "Bearer s"}
        )
        assert setup.status_code == 201
        rejected = await http.post(
            "/_sandbox/webhooks", json={"endpoint": HOOK, "authorization": "Bearer no"}
        )
        assert rejected.status_code == 400
        like = sandbox.member().points["sleep"][0]
        added = await http.post(
            "/_sandbox/changes",
            json={
                "action": "add",
                "kind": "sleep",
                "like": like.point_id,
                "id": "added-sleep-1",
                "shift_s": -86_400 * 3,
            },
        )
        assert added.status_code == 201
    assert "added-sleep-1" in sandbox.member().by_id["sleep"]
    delivery = sandbox.outbox.deliveries[0]
    assert delivery.describe()["state"] == "pending"
    clock.advance(60)
    await sandbox.outbox.flush()
    assert delivery.state == "delivered"
    assert receiver.got[0][1] == receiver.got[1][1]
