"""Webhooks: signatures (valid, tampered, wrong secret, stale, replayed) for WHOOP, Oura and
Google Health, and the fetch a webhook triggers, from the sandbox's signed delivery to the
record in the user's encrypted store."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import httpx2
import pytest
from pydantic import SecretStr

from tests.cloud.conftest import FITBIT, PUBLIC_URL, Cloud, Trio
from tests.cloud.data_support import new_tenant
from wellpipe.cloud.db.history import UserHistory
from wellpipe.cloud.jobs.queue import queue_for
from wellpipe.cloud.services.tokens import save_connection
from wellpipe.core.models import DataKind
from wellpipe.sandbox.webhooks import WebhookSender, tink_keyset

SECRET = "cloud-secret"


def sender(cloud: Cloud, path: str, secret: str = SECRET, authorization: str = "") -> WebhookSender:
    return WebhookSender(
        url=f"{PUBLIC_URL}{path}",
        client_secret=secret,
        transport=httpx2.ASGITransport(app=cloud.app),
        authorization=authorization,
    )


def now_ms(cloud: Cloud) -> int:
    return int(cloud.ctx.clock.now().timestamp() * 1000)


async def jobs(cloud: Cloud) -> list[str]:
    """The tasks of the jobs waiting in the queue (in memory or PostgreSQL)."""
    queue = queue_for(cloud.ctx)
    await queue.open()
    return [job.task_name for job in await queue.app.job_manager.list_jobs_async(status="todo")]


async def run_jobs(cloud: Cloud) -> None:
    """Run every waiting job with the real encrypted store, then return."""
    queue = queue_for(cloud.ctx)
    queue.extras["history"] = UserHistory.of
    await queue.run_worker(wait=False, reconcile_at_start=False)


# ------------------------------------------------------------------ WHOOP
async def test_whoop_signature_valid_tampered_wrong_secret_stale_and_replayed(
    cloud: Cloud,
) -> None:
    tenant = await new_tenant(cloud)
    send = sender(cloud, "/webhooks/whoop")
    body, headers = send.whoop_delivery(
        user_id=tenant.member or 0,
        record_id="3c3d33d5-0000-4000-8000-000000000000",
        event="workout.updated",
        trace_id="trace-1",
        timestamp_ms=now_ms(cloud),
    )
    client = cloud.client
    tampered = body.replace(b"workout", b"sleep")
    assert (
        await client.post("/webhooks/whoop", content=tampered, headers=headers)
    ).status_code == 401
    wrong = sender(cloud, "/webhooks/whoop", secret="not-the-secret")
    _, bad_headers = wrong.whoop_delivery(
        user_id=1, record_id="x", event="workout.updated", trace_id="t", timestamp_ms=now_ms(cloud)
    )
    assert (
        await client.post("/webhooks/whoop", content=body, headers=bad_headers)
    ).status_code == 401
    stale_body, stale = send.whoop_delivery(
        user_id=tenant.member or 0,
        record_id="x",
        event="workout.updated",
        trace_id="old",
        timestamp_ms=now_ms(cloud) - 6 * 60 * 1000,
    )
    answer = await client.post("/webhooks/whoop", content=stale_body, headers=stale)
    assert answer.status_code == 401
    assert "stale" in answer.json()["detail"]
    assert await jobs(cloud) == []

    assert (await client.post("/webhooks/whoop", content=body, headers=headers)).status_code == 204
    assert (await client.post("/webhooks/whoop", content=body, headers=headers)).status_code == 204
    waiting = await jobs(cloud)
    assert waiting == ["webhook_fetch"]  # the replay was deduplicated


async def test_whoop_unknown_account_is_acknowledged_and_dropped(cloud: Cloud) -> None:
    send = sender(cloud, "/webhooks/whoop")
    body, headers = send.whoop_delivery(
        user_id=987654, record_id="x", event="sleep.updated", timestamp_ms=now_ms(cloud)
    )
    assert (
        await cloud.client.post("/webhooks/whoop", content=body, headers=headers)
    ).status_code == 204
    assert await jobs(cloud) == []


async def test_a_whoop_recovery_event_fetches_sleep_then_recovery_into_the_store(
    cloud: Cloud,
) -> None:
    tenant = await new_tenant(cloud)
    member = cloud.sandbox.member(tenant.member)
    recovery = member.recoveries[0].body
    sleep_id = recovery["sleep_id"]
    send = sender(cloud, "/webhooks/whoop")
    body, headers = send.whoop_delivery(
        user_id=tenant.member or 0,
        record_id=sleep_id,
        event="recovery.updated",
        timestamp_ms=now_ms(cloud),
    )
    before = len(cloud.sandbox.requests)
    assert (
        await cloud.client.post("/webhooks/whoop", content=body, headers=headers)
    ).status_code == 204
    assert len(cloud.sandbox.requests) == before  # the answer did not wait for WHOOP
    await run_jobs(cloud)
    paths = [r.path for r in list(cloud.sandbox.requests)[before:] if "/developer/" in r.path]
    assert paths == [
        f"/developer/v2/activity/sleep/{sleep_id}",
        f"/developer/v2/cycle/{recovery['cycle_id']}/recovery",
    ]
    store = UserHistory.of(cloud.ctx, tenant.user_id)
    kept = await store.get("whoop", DataKind.RECOVERY, str(recovery["cycle_id"]))
    assert kept is not None
    assert await store.get("whoop", DataKind.SLEEP, sleep_id) is not None

    deleted, headers = send.whoop_delivery(
        user_id=tenant.member or 0,
        record_id=sleep_id,
        event="sleep.deleted",
        timestamp_ms=now_ms(cloud),
    )
    assert (
        await cloud.client.post("/webhooks/whoop", content=deleted, headers=headers)
    ).status_code == 204
    await run_jobs(cloud)
    assert await store.get("whoop", DataKind.SLEEP, sleep_id) is None
    assert await store.get("whoop", DataKind.RECOVERY, str(recovery["cycle_id"])) is None


# ------------------------------------------------------------------ Oura
@pytest.fixture
async def oura_cloud(trio: Trio) -> Trio:
    trio.cloud.ctx.settings = trio.cloud.ctx.settings.model_copy(
        update={"oura_webhook_verification_token": SecretStr("verify-me")}
    )
    return trio


async def test_oura_verification_challenge(oura_cloud: Trio) -> None:
    client = oura_cloud.cloud.client
    ok = await client.get(
        "/webhooks/oura", params={"verification_token": "verify-me", "challenge": "c1"}
    )
    assert ok.status_code == 200
    assert ok.json() == {"challenge": "c1"}
    refused = await client.get(
        "/webhooks/oura", params={"verification_token": "nope", "challenge": "c"}
    )
    assert refused.status_code == 403


async def test_oura_signature_valid_tampered_wrong_secret_stale_and_replayed(
    oura_cloud: Trio,
) -> None:
    cloud = oura_cloud.cloud
    member = oura_cloud.oura.member_ids[0]
    await save_connection(
        cloud.ctx,
        user_id=(await new_tenant(cloud, connect=False)).user_id,
        provider="oura",
        tokens=oura_cloud.oura.issue_token_set(member, client_id="cloud-client"),
        provider_user_id=member,
    )
    send = sender(cloud, "/webhooks/oura")
    now_s = int(cloud.ctx.clock.now().timestamp())
    event = {"user_id": member, "object_id": "doc-1", "data_type": "workout"}
    body, headers = send.oura_delivery(**event, timestamp_s=now_s)
    client = cloud.client
    assert (
        await client.post("/webhooks/oura", content=body + b" ", headers=headers)
    ).status_code == 200
    # ^ trailing whitespace: the raw body changed, the re-serialization did not ("either")
    assert (
        await client.post(
            "/webhooks/oura", content=body.replace(b"doc-1", b"doc-2"), headers=headers
        )
    ).status_code == 401
    _, wrong = sender(cloud, "/webhooks/oura", secret="other").oura_delivery(
        **event, timestamp_s=now_s
    )
    assert (await client.post("/webhooks/oura", content=body, headers=wrong)).status_code == 401
    stale_body, stale = send.oura_delivery(**event, timestamp_s=now_s - 3600)
    assert (
        await client.post("/webhooks/oura", content=stale_body, headers=stale)
    ).status_code == 401
    assert (await client.post("/webhooks/oura", content=body, headers=headers)).status_code == 200
    assert await jobs(cloud) == ["webhook_fetch"]  # deduplicated


async def test_oura_raw_only_setting_refuses_a_reserialized_match(oura_cloud: Trio) -> None:
    cloud = oura_cloud.cloud
    cloud.ctx.settings = cloud.ctx.settings.model_copy(update={"oura_signature_body": "raw"})
    send = sender(cloud, "/webhooks/oura")
    now_s = int(cloud.ctx.clock.now().timestamp())
    body, headers = send.oura_delivery(
        user_id="u", object_id="d", data_type="workout", timestamp_s=now_s
    )
    answer = await cloud.client.post("/webhooks/oura", content=body + b" ", headers=headers)
    assert answer.status_code == 401


# ------------------------------------------------------------------ Google Health
@pytest.fixture
async def google_cloud(trio: Trio) -> tuple[Trio, WebhookSender]:
    cloud = trio.cloud
    send = sender(cloud, "/webhooks/google", authorization="Bearer hook-secret")
    keyset = tink_keyset(send.google)
    cloud.ctx.settings = cloud.ctx.settings.model_copy(
        update={
            "google_webhook_authorization": SecretStr("Bearer hook-secret"),
            "google_webhook_keyset_url": f"{FITBIT}/_keyset.json",
        }
    )
    inner = cloud.ctx.provider_transport
    assert inner is not None

    class WithKeyset(httpx2.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            if request.url.path == "/_keyset.json":
                return httpx2.Response(200, json=keyset)
            assert inner is not None
            return await inner.handle_async_request(request)

    cloud.ctx.provider_transport = WithKeyset()
    return trio, send


async def test_google_verification_posts(google_cloud: tuple[Trio, WebhookSender]) -> None:
    _, send = google_cloud
    assert (await send.google_verification(with_secret=True)).status_code == 201
    assert (await send.google_verification(with_secret=False)).status_code == 401


async def test_google_signature_valid_tampered_wrong_key_no_secret_and_replayed(
    google_cloud: tuple[Trio, WebhookSender],
) -> None:
    trio, send = google_cloud
    cloud = trio.cloud
    member = trio.fitbit.member(trio.fitbit.member_ids[0])
    health_id = member.spec.health_user_id
    await save_connection(
        cloud.ctx,
        user_id=(await new_tenant(cloud, connect=False)).user_id,
        provider="fitbit",
        tokens=trio.fitbit.issue_token_set(trio.fitbit.member_ids[0], client_id="cloud-client"),
        provider_user_id=health_id,
    )
    body, headers = send.google_delivery(
        health_user_id=health_id, data_type="steps", days=("2026-11-20", "2026-11-21")
    )
    client = cloud.client
    assert (
        await client.post(
            "/webhooks/google", content=body.replace(b"steps", b"sleep"), headers=headers
        )
    ).status_code == 401
    other = WebhookSender(url=send.url, authorization=send.authorization)
    _, forged = other.google_delivery(
        health_user_id=health_id, data_type="steps", days=("2026-11-20", "2026-11-21")
    )
    assert (await client.post("/webhooks/google", content=body, headers=forged)).status_code == 401
    no_secret = {k: v for k, v in headers.items() if k != "Authorization"}
    assert (
        await client.post("/webhooks/google", content=body, headers=no_secret)
    ).status_code == 401
    legacy = {
        ("X-HEALTHAPI-SIGNATURE" if k.startswith("GOOGLE") else k): v for k, v in headers.items()
    }
    assert (await client.post("/webhooks/google", content=body, headers=legacy)).status_code == 204
    assert (await client.post("/webhooks/google", content=body, headers=headers)).status_code == 204
    assert await jobs(cloud) == ["webhook_fetch"]  # one, not two


def test_whoop_signature_matches_the_documented_formula() -> None:
    """The sandbox's signature is base64(HMAC-SHA256(secret, timestamp + body))."""
    send = WebhookSender(url="http://x", client_secret="s")
    body, headers = send.whoop_delivery(
        user_id=1, record_id="r", event="sleep.updated", trace_id="t", timestamp_ms=1700000000000
    )
    import base64

    expected = base64.b64encode(
        hmac.new(b"s", b"1700000000000" + body, hashlib.sha256).digest()
    ).decode()
    assert headers["X-WHOOP-Signature"] == expected
    assert json.loads(body)["type"] == "sleep.updated"
    assert timedelta(0) == timedelta(0)
