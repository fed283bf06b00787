"""Redis stops under load: data requests keep answering (faults degrade, they do not fail).

The service runs under uvicorn on a real port, with WHOOP = the in-process sandbox and its
Redis behind a TCP relay that the test stops (the port refuses, open connections are cut)
and starts again. While Redis is gone the burst limiter and the shared WHOOP budget count in
the database and the answer cache is skipped: every request answers 200 and the logs hold
warnings, never an error. Once Redis is back and the 30 s hand-over has passed, Redis counts
again. Also: the lifespan builds its Redis client without redis-py's sync-``Retry`` warning.
"""

from __future__ import annotations

import logging
import secrets
import warnings
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import pytest
import redis.asyncio as redis_client
import uvicorn
from anyio.abc import SocketStream, TaskGroup
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.cloud.conftest import Cloud, require_service
from tests.cloud.data_support import Tenant, new_tenant
from tests.cloud.limits_support import REDIS_URL, redis_reachable
from tests.conftest import ORIGIN
from tests.fakes import FakeClock
from wellpipe.cloud.app import create_app
from wellpipe.cloud.db.tables import UpstreamWindow
from wellpipe.cloud.services.cache import RedisStore, answer_cache
from wellpipe.cloud.services.limits import REDIS_RETRY_AFTER_S
from wellpipe.cloud.services.upstream import UpstreamBudget, install_budget
from wellpipe.cloud.settings import CloudSettings
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.server import listening_socket

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]


class RedisRelay:
    """A TCP relay to the test Redis on a port of its own, to stop and restart "Redis"."""

    def __init__(self, group: TaskGroup) -> None:
        self._group = group
        self.port = 0
        self._scope = anyio.CancelScope()
        self._closed = anyio.Event()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Listen (on the same port as before, once there was one) and relay to Redis."""
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=self.port)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        self._scope, self._closed = anyio.CancelScope(), anyio.Event()
        self._group.start_soon(self._serve, listener, self._scope, self._closed)

    async def stop(self) -> None:
        """Close the port and cut every relayed connection, as a stopped Redis does."""
        self._scope.cancel()
        await self._closed.wait()

    @staticmethod
    async def _serve(listener: Any, scope: anyio.CancelScope, closed: anyio.Event) -> None:
        try:
            with scope:
                async with listener:
                    await listener.serve(RedisRelay._relay)
        finally:
            closed.set()

    @staticmethod
    async def _relay(client: SocketStream) -> None:
        async with (
            client,
            await anyio.connect_tcp("127.0.0.1", 6379) as upstream,
            anyio.create_task_group() as pumps,
        ):

            async def pump(source: SocketStream, sink: SocketStream) -> None:
                try:
                    async for chunk in source:
                        await sink.send(chunk)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass
                pumps.cancel_scope.cancel()

            pumps.start_soon(pump, client, upstream)
            pumps.start_soon(pump, upstream, client)


@dataclass
class Served:
    """The service under uvicorn, reached over real HTTP."""

    cloud: Cloud
    url: str


@asynccontextmanager
async def serving(
    settings: CloudSettings, clock: FakeClock, sandbox: WhoopSandbox
) -> AsyncIterator[Served]:
    """The app under uvicorn on a free port of 127.0.0.1 (its lifespan run by uvicorn)."""
    sock = listening_socket("127.0.0.1", 0)
    sock.setblocking(False)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app: FastAPI = create_app(
        settings.model_copy(update={"public_url": url}),
        clock=clock,
        provider_transport=sandbox.transport(),
        provider_base_urls={"whoop": ORIGIN},
    )
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", log_config=None)
    )
    try:
        async with (
            anyio.create_task_group() as group,
            httpx2.AsyncClient(base_url=url, timeout=30) as client,
        ):
            group.start_soon(server.serve, [sock])
            try:
                # The socket listens already: this waits for start-up, it never races it.
                assert (await client.get("/healthz")).status_code == 200
                yield Served(Cloud(app, app.state.ctx, client, sandbox, clock), url)
            finally:
                server.should_exit = True
    finally:
        sock.close()


async def redis_counted(probe: Any, prefix: str) -> int:
    """Requests the shared WHOOP budget counted in Redis (its minute windows)."""
    keys = [key async for key in probe.scan_iter(match=f"{prefix}:whoop:60:*")]
    return sum(int(value) for value in await probe.mget(keys)) if keys else 0


async def database_counted(cloud: Cloud) -> int:
    """Requests the shared WHOOP budget counted in the database (its minute windows)."""
    async with cloud.ctx.db.sessions() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(UpstreamWindow.count), 0)).where(
                UpstreamWindow.provider == "whoop", UpstreamWindow.window_s == 60
            )
        )
    return int(total or 0)


async def statuses(client: httpx2.AsyncClient, calls: list[tuple[Tenant, int]]) -> list[int]:
    """Statuses of ``/api/v1/health?type=sleep&days=N`` for each ``(tenant, N)``, all at once."""
    found: list[int] = [0] * len(calls)

    async def one(index: int, tenant: Tenant, days: int) -> None:
        url = f"/api/v1/health?type=sleep&days={days}"
        found[index] = (await client.get(url, headers=tenant.auth)).status_code

    async with anyio.create_task_group() as group:
        for index, (tenant, days) in enumerate(calls):
            group.start_soon(one, index, tenant, days)
    return found


async def test_data_requests_keep_answering_while_redis_is_stopped(
    whoop_app_credentials: tuple[str, str],
    cloud_settings: CloudSettings,
    clock: FakeClock,
    sandbox: WhoopSandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    require_service(redis_reachable())
    caplog.set_level(logging.WARNING)
    prefix = f"wellpipe-test:{secrets.token_hex(6)}"
    probe = redis_client.from_url(REDIS_URL)
    try:
        async with anyio.create_task_group() as relays:
            relay = RedisRelay(relays)
            await relay.start()
            settings = cloud_settings.model_copy(update={"redis_url": relay.url})
            async with serving(settings, clock, sandbox) as served:
                cloud = served.cloud
                assert isinstance(answer_cache(cloud.ctx).store, RedisStore)
                install_budget(
                    cloud.ctx, UpstreamBudget(cloud.ctx, provider="whoop", redis_prefix=prefix)
                )
                members = sandbox.member_ids  # two: some tenants share one WHOOP member
                tenants = [await new_tenant(cloud, member=members[n % 2]) for n in range(4)]

                # Redis up: Redis counts; the history answers repeats without a request.
                assert await statuses(cloud.client, [(t, 3) for t in tenants]) == [200] * 4
                in_redis = await redis_counted(probe, prefix)
                assert in_redis >= 4
                assert await database_counted(cloud) == 0
                assert await statuses(cloud.client, [(t, 3) for t in tenants]) == [200] * 4
                assert await redis_counted(probe, prefix) == in_redis

                # Redis stopped, under load: kept and unkept days alike answer 200, and so
                # do profiles (whose short cache lives in Redis).
                await relay.stop()
                load = [(t, days) for t in tenants for days in (3, 4, 5, 6)]
                assert await statuses(cloud.client, load) == [200] * len(load)
                for tenant in tenants:
                    profile = await cloud.client.get("/api/v1/profile", headers=tenant.auth)
                    assert profile.status_code == 200
                assert await database_counted(cloud) >= len(load)  # the budget held, in SQL
                assert await redis_counted(probe, prefix) == in_redis

                # Redis back: after the hand-over it counts again.
                await relay.start()
                clock.advance(REDIS_RETRY_AFTER_S)
                assert await statuses(cloud.client, [(t, 7) for t in tenants]) == [200] * 4
                assert await redis_counted(probe, prefix) > in_redis
            await relay.stop()
    finally:
        async for key in probe.scan_iter(match=f"{prefix}:*"):
            await probe.delete(key)
        await probe.aclose()

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("Redis failed for the shared WHOOP budget (") for m in said)
    assert any(m.startswith("Answer cache in Redis failed (") for m in said)
    keys = {tenant.key for tenant in tenants}
    assert not any(key in message for key in keys for message in said)


async def test_the_lifespan_builds_its_redis_client_without_a_warning(
    cloud_settings: CloudSettings, clock: FakeClock, sandbox: WhoopSandbox
) -> None:
    """redis-py warns when an asyncio client gets the sync ``Retry``: every worker, every start."""
    settings = cloud_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    app = create_app(settings, clock=clock, provider_transport=sandbox.transport())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as pytest's filterwarnings=error, said out loud
        async with app.router.lifespan_context(app):
            ctx = app.state.ctx
            assert ctx.redis is not None
            retry = ctx.redis.get_retry()
            assert retry is not None
            assert type(retry).__module__ == "redis.asyncio.retry"
            assert await _refused(ctx.redis.ping())  # fails fast: nothing listens on port 1


async def _refused(call: Awaitable[object]) -> bool:
    try:
        await call
    except Exception:  # redis.exceptions.ConnectionError
        return True
    return False
