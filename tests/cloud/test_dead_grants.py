"""Every grant dead at once, on SQLite and PostgreSQL, across a restart: fast answers, no locks.

The scenario a new user hit: three providers connected, the service restarted, and every
stored grant refused at once. Concurrent requests each refresh, find ``invalid_grant`` and
mark their connection while the others count, refund and audit. On SQLite that used to
leave a write transaction open (a statement cancelled mid-flight) and every later request
waited on "database is locked". Now each answers within a second and nothing is counted.
"""

from __future__ import annotations

import logging

import anyio
import httpx2
import pytest

from tests.cloud.conftest import FITBIT, OURA, ByHost, Trio, running
from tests.cloud.limits_support import add_user
from tests.conftest import ORIGIN
from tests.fakes import FakeClock
from wellpipe.cloud.services.keys import create_key
from wellpipe.cloud.services.limits import usage_summary
from wellpipe.cloud.services.tokens import connection_status, save_connection
from wellpipe.cloud.settings import CloudSettings
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.fitbit import FitbitSandbox
from wellpipe.sandbox.oura import OuraSandbox

pytestmark = pytest.mark.timeout(60)


async def _dead_tenant(trio: Trio) -> tuple[str, str]:
    """A user whose three stored grants the serving sandboxes never issued."""
    ctx = trio.cloud.ctx
    user_id = await add_user(ctx)
    key = (await create_key(ctx, user_id=user_id, name="tests")).full_key
    strangers = {
        "whoop": WhoopSandbox(clock=trio.cloud.clock).issue_token_set(client_id="cloud-client"),
        "oura": OuraSandbox(clock=trio.cloud.clock).issue_token_set(client_id="cloud-client"),
        "fitbit": FitbitSandbox(clock=trio.cloud.clock).issue_token_set(client_id="cloud-client"),
    }
    for provider, tokens in strangers.items():
        await save_connection(
            ctx, user_id=user_id, provider=provider, tokens=tokens, provider_user_id=None
        )
    return user_id, key


async def _burst(client: httpx2.AsyncClient, key: str, n: int) -> list[httpx2.Response]:
    answers: list[httpx2.Response] = []
    auth = {"Authorization": f"Bearer {key}"}

    async def one(index: int) -> None:
        path = "/api/v1/health?type=summary&days=7" if index % 2 else "/api/v1/health?type=sleep"
        answers.append(await client.get(path, headers=auth))

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            for index in range(n):
                group.start_soon(one, index)
    return answers


async def test_every_grant_dead_answers_409_fast_before_and_after_a_restart(
    trio: Trio,
    cloud_settings: CloudSettings,
    clock: FakeClock,
    sandbox: WhoopSandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    user_id, key = await _dead_tenant(trio)

    first = await _burst(trio.cloud.client, key, 8)
    assert {answer.status_code for answer in first} == {409}
    statuses = {
        info.provider: info.status for info in await connection_status(trio.cloud.ctx, user_id)
    }
    assert statuses == {"whoop": "needs_reauth", "oura": "needs_reauth", "fitbit": "needs_reauth"}

    # A restart: a new app (new process state) on the same database.
    routes: dict[str, httpx2.AsyncBaseTransport] = {
        "whoop.test": sandbox.transport(),
        "oura.test": trio.oura.transport(),
        "fitbit.test": trio.fitbit.transport(),
    }
    async with running(
        cloud_settings,
        clock,
        sandbox,
        transport=ByHost(routes),
        base_urls={"whoop": ORIGIN, "oura": OURA, "fitbit": FITBIT},
    ) as again:
        second = await _burst(again.client, key, 8)
        assert {answer.status_code for answer in second} == {409}
        assert all("reconnect" in answer.json()["detail"] for answer in second)
        usage = await usage_summary(again.ctx, user_id)
        assert usage.month_count == 0  # a dead grant is the provider's failure: never counted

    text = caplog.text
    assert "database is locked" not in text
    assert "Task was destroyed" not in text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
