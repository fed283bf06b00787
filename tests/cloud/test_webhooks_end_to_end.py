"""From a change in a provider's sandbox to the user's store: the sandbox signs and delivers
the provider's notification to the cloud's webhook endpoint, the cloud queues a job, the job
fetches (or deletes) the record. WHOOP, Oura (subscriptions made by the cloud's renewal job
against the sandbox's subscription API) and Google Health (keyset read from the sandbox)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr

from tests.cloud.conftest import FITBIT, PUBLIC_URL, Cloud, Trio
from tests.cloud.data_support import new_tenant
from wellpipe.cloud.db.history import UserHistory
from wellpipe.cloud.jobs.oura import renew_subscriptions
from wellpipe.cloud.jobs.queue import queue_for
from wellpipe.cloud.jobs.tasks import enqueue_backfill, enqueue_reconcile, enqueue_webhook
from wellpipe.cloud.services.tokens import save_connection
from wellpipe.cloud.services.upstream import UpstreamBudget, install_budget
from wellpipe.core.models import DailyVitals, DataKind, Sleep, Workout
from wellpipe.core.provider_info import RateLimit
from wellpipe.providers.oura.mapping import vitals_id
from wellpipe.sandbox.changes import KEYSET_PATH

SECRET = "cloud-secret"


async def run_jobs(cloud: Cloud) -> None:
    """Run every waiting job with the real encrypted store, then return."""
    queue = queue_for(cloud.ctx)
    queue.extras["history"] = UserHistory.of
    await queue.run_worker(wait=False, reconcile_at_start=False)


def deliver_to(cloud: Cloud, sandbox: Any) -> None:
    """The sandbox's webhooks reach the cloud in process."""
    sandbox.outbox.transport = httpx2.ASGITransport(app=cloud.app)


# ------------------------------------------------------------------ WHOOP
async def test_whoop_rescore_create_and_delete_reach_the_store(cloud: Cloud) -> None:
    tenant = await new_tenant(cloud)
    sandbox = cloud.sandbox
    deliver_to(cloud, sandbox)
    sandbox.changes.set_webhook(f"{PUBLIC_URL}/webhooks/whoop", client_secret=SECRET)
    store = UserHistory.of(cloud.ctx, tenant.user_id)
    member = sandbox.member(tenant.member)
    recovery = member.recoveries[2].body
    sleep_id = recovery["sleep_id"]

    rescored = await sandbox.changes.update(
        "sleep", sleep_id, {"score": {"sleep_performance_percentage": 12.0}}
    )
    assert [d.statuses for d in rescored.deliveries] == [[204], [204]]
    await run_jobs(cloud)
    sleep = await store.get("whoop", DataKind.SLEEP, sleep_id)
    assert isinstance(sleep, Sleep)
    assert sleep.score is not None
    assert sleep.score.sleep_performance_pct == 12.0
    assert await store.get("whoop", DataKind.RECOVERY, str(recovery["cycle_id"])) is not None

    like = member.workouts[0].body
    made = await sandbox.changes.add(
        "workout",
        {k: v for k, v in like.items() if k not in ("id", "created_at", "updated_at")}
        | {"score": {**like["score"], "strain": 4.25}},
    )
    assert made.record is not None
    await run_jobs(cloud)
    workout = await store.get("whoop", DataKind.WORKOUT, made.record["id"])
    assert isinstance(workout, Workout)
    assert workout.score is not None
    assert workout.score.strain == 4.25

    await sandbox.changes.delete("workout", made.record["id"])
    await sandbox.changes.delete("sleep", sleep_id)
    await run_jobs(cloud)
    assert await store.get("whoop", DataKind.WORKOUT, made.record["id"]) is None
    assert await store.get("whoop", DataKind.SLEEP, sleep_id) is None
    assert await store.get("whoop", DataKind.RECOVERY, str(recovery["cycle_id"])) is None


async def test_a_delivery_the_cloud_answers_503_is_retried_and_lands(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await new_tenant(cloud)
    sandbox = cloud.sandbox
    deliver_to(cloud, sandbox)
    sandbox.changes.set_webhook(f"{PUBLIC_URL}/webhooks/whoop", client_secret=SECRET)
    failures = [RuntimeError("queue down")]

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return await enqueue_webhook(*args, **kwargs)

    monkeypatch.setattr("wellpipe.cloud.api.webhooks.enqueue_webhook", flaky)
    workout = sandbox.member(tenant.member).workouts[3].body
    change = await sandbox.changes.update("workout", workout["id"], {"score": {"strain": 7.5}})
    delivery = change.deliveries[0]
    assert delivery.statuses == [503]
    assert delivery.describe()["state"] == "pending"
    cloud.clock.advance(60)
    await sandbox.outbox.flush()
    assert delivery.statuses == [503, 204]
    await run_jobs(cloud)
    stored = await UserHistory.of(cloud.ctx, tenant.user_id).get(
        "whoop", DataKind.WORKOUT, workout["id"]
    )
    assert isinstance(stored, Workout)
    assert stored.score is not None
    assert stored.score.strain == 7.5


# ------------------------------------------------------------------ Oura
@pytest.fixture
async def oura_trio(trio: Trio) -> Trio:
    cloud = trio.cloud
    cloud.ctx.settings = cloud.ctx.settings.model_copy(
        update={
            "oura_webhook_verification_token": SecretStr("verify-me"),
            "oura_webhook_data_types": ["sleep", "workout"],
        }
    )
    trio.oura.subscriptions.lifetime = timedelta(days=7)
    deliver_to(cloud, trio.oura)
    return trio


async def oura_user(trio: Trio) -> str:
    """A cloud user connected to the Oura sandbox's first member."""
    member = trio.oura.member_ids[0]
    user = (await new_tenant(trio.cloud, connect=False)).user_id
    await save_connection(
        trio.cloud.ctx,
        user_id=user,
        provider="oura",
        tokens=trio.oura.issue_token_set(member, client_id="cloud-client"),
        provider_user_id=member,
    )
    return user


async def test_oura_subscriptions_made_by_the_cloud_deliver_changes_to_the_store(
    oura_trio: Trio,
) -> None:
    cloud, oura = oura_trio.cloud, oura_trio.oura
    user = await oura_user(oura_trio)
    assert await renew_subscriptions(cloud.ctx) == 6  # verification challenge passed, 6 times
    held = oura.subscriptions.subscriptions.values()
    assert sorted((s.event_type, s.data_type) for s in held) == sorted(
        (e, d) for e in ("create", "update", "delete") for d in ("sleep", "workout")
    )
    assert {s.callback_url for s in held} == {f"{PUBLIC_URL}/webhooks/oura"}
    assert await renew_subscriptions(cloud.ctx) == 0  # nothing expires soon

    store = UserHistory.of(cloud.ctx, user)
    sleep = next(d for d in reversed(oura.member().collection("sleep")) if d.body["time_in_bed"])
    await oura.changes.update("sleep", sleep.id, {"average_hrv": 99})
    workout = oura.member().collection("workout")[-1]
    added = await oura.changes.add("workout", {k: v for k, v in workout.body.items() if k != "id"})
    assert added.record is not None
    await run_jobs(cloud)
    kept = await store.get("oura", DataKind.SLEEP, sleep.id)
    assert isinstance(kept, Sleep)
    assert kept.score is not None
    assert kept.score.avg_hrv_rmssd_ms == 99
    assert await store.get("oura", DataKind.WORKOUT, added.record["id"]) is not None
    await oura.changes.delete("workout", added.record["id"])
    await run_jobs(cloud)
    assert await store.get("oura", DataKind.WORKOUT, added.record["id"]) is None

    # renewal before expiry moves every expiration_time
    before = {s.id: s.expiration_time for s in oura.subscriptions.subscriptions.values()}
    cloud.clock.advance(timedelta(days=6).total_seconds())
    assert await renew_subscriptions(cloud.ctx) == 6
    after = {s.id: s.expiration_time for s in oura.subscriptions.subscriptions.values()}
    assert after.keys() == before.keys()
    assert all(after[k] > before[k] for k in before)


async def test_an_oura_day_document_synced_late_rereads_its_own_day(oura_trio: Trio) -> None:
    """A ring synced after days offline: ``event_time`` is today, the document's ``day`` is
    days before, and that day is what gets read again."""
    cloud, oura = oura_trio.cloud, oura_trio.oura
    cloud.ctx.settings = cloud.ctx.settings.model_copy(
        update={"oura_webhook_data_types": ["daily_spo2"]}
    )
    user = await oura_user(oura_trio)  # the first member wears a Gen3 ring: daily_spo2
    assert await renew_subscriptions(cloud.ctx) == 3
    today = cloud.clock.now().date()
    document = next(
        d for d in reversed(oura.member().collection("daily_spo2")) if d.day <= today - timedelta(5)
    )
    change = await oura.changes.update(
        "daily_spo2", document.id, {"spo2_percentage": {"average": 91.5}}
    )
    assert [d.state for d in change.deliveries] == ["delivered"]
    await run_jobs(cloud)
    vitals = await UserHistory.of(cloud.ctx, user).get(
        "oura", DataKind.VITALS, vitals_id(document.day)
    )
    assert isinstance(vitals, DailyVitals)
    assert vitals.spo2_pct == 91.5


async def test_oura_410_cancels_and_the_renewal_job_subscribes_again(oura_trio: Trio) -> None:
    cloud, oura = oura_trio.cloud, oura_trio.oura
    await renew_subscriptions(cloud.ctx)
    inner = httpx2.ASGITransport(app=cloud.app)

    class Gone(httpx2.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            if request.method == "POST":
                return httpx2.Response(410)
            return await inner.handle_async_request(request)

    oura.outbox.transport = Gone()
    sleep = oura.member().collection("sleep")[-1]
    change = await oura.changes.update("sleep", sleep.id, {"average_hrv": 50})
    assert [d.state for d in change.deliveries] == ["gone"]
    assert ("update", "sleep") not in {
        (s.event_type, s.data_type) for s in oura.subscriptions.subscriptions.values()
    }
    oura.outbox.transport = inner
    # The next run finds it missing from Oura's list (its old expiry is still days away).
    assert await renew_subscriptions(cloud.ctx) == 1
    assert ("update", "sleep") in {
        (s.event_type, s.data_type) for s in oura.subscriptions.subscriptions.values()
    }
    assert await renew_subscriptions(cloud.ctx) == 0  # the others were left alone
    change = await oura.changes.update("sleep", sleep.id, {"average_hrv": 51})
    assert [d.state for d in change.deliveries] == ["delivered"]


# ------------------------------------------------------------------ Google Health
async def test_google_notifications_verified_with_the_sandbox_keyset_reach_the_store(
    trio: Trio,
) -> None:
    cloud, fitbit = trio.cloud, trio.fitbit
    cloud.ctx.settings = cloud.ctx.settings.model_copy(
        update={
            "google_webhook_authorization": SecretStr("Bearer hook-secret"),
            "google_webhook_keyset_url": f"{FITBIT}{KEYSET_PATH}",
        }
    )
    deliver_to(cloud, fitbit)
    await fitbit.changes.register_subscriber(
        f"{PUBLIC_URL}/webhooks/google", authorization="Bearer hook-secret"
    )
    member = fitbit.member()
    user = (await new_tenant(cloud, connect=False)).user_id
    await save_connection(
        cloud.ctx,
        user_id=user,
        provider="fitbit",
        tokens=fitbit.issue_token_set(member.user_id, client_id="cloud-client"),
        provider_user_id=member.user_id,
    )
    today = cloud.clock.now().date()
    exercise = next(
        p
        for p in member.points["exercise"]
        if p.point_id and p.civil_start.date() <= today - timedelta(days=2)
    )
    assert exercise.point_id is not None
    change = await fitbit.changes.update(
        "exercise", exercise.point_id, {"metricsSummary": {"caloriesKcal": 321.0}}
    )
    assert change.deliveries[0].statuses == [204]
    assert KEYSET_PATH in [r.path for r in fitbit.requests]  # the cloud read the sandbox's keys
    await run_jobs(cloud)
    store = UserHistory.of(cloud.ctx, user)
    kept = await store.get("fitbit", DataKind.WORKOUT, exercise.point_id)
    assert isinstance(kept, Workout)
    assert kept.score is not None
    assert kept.score.energy_kcal == 321.0

    await fitbit.changes.delete("exercise", exercise.point_id)
    await run_jobs(cloud)
    assert await store.get("fitbit", DataKind.WORKOUT, exercise.point_id) is None


# ------------------------------------------------------------------ backfill and reconcile jobs
async def test_the_backfill_job_fills_the_store_and_a_reconciliation_then_reads_little(
    cloud: Cloud,
) -> None:
    tenant = await new_tenant(cloud)
    # A budget a year's backfill fits in at once (how the lane shares a tight one:
    # tests/cloud/test_jobs.py); with the default, the job resumes a minute later.
    install_budget(
        cloud.ctx, UpstreamBudget(cloud.ctx, provider="whoop", limits=(RateLimit(10_000, 60),))
    )
    store = UserHistory.of(cloud.ctx, tenant.user_id)
    await enqueue_backfill(cloud.ctx, user_id=tenant.user_id, provider="whoop")
    await run_jobs(cloud)
    coverage = await store.coverage("whoop")
    assert coverage.backfill == {} or all(c.done for c in coverage.backfill.values())
    assert coverage.counts[DataKind.SLEEP] > 100
    assert coverage.counts[DataKind.RECOVERY] > 100
    backfilled = len(cloud.sandbox.requests)

    await enqueue_reconcile(cloud.ctx, user_id=tenant.user_id, provider="whoop")
    await run_jobs(cloud)
    reread = [r for r in list(cloud.sandbox.requests)[backfilled:] if "/developer/" in r.path]
    assert 0 < len(reread) <= 4  # the recent days: one page of each collection
    assert (await store.coverage("whoop")).counts == coverage.counts
