"""One worker process of the cloud's cross-process refresh race (``tests/cloud/test_tokens.py``).

Run as ``python -m tests.cloud.tokens_race_worker CALLS`` with ``WELLPIPE_DATABASE_URL``,
``WELLPIPE_ENCRYPTION_KEYS``, ``RACE_ORIGIN`` (the WHOOP sandbox on loopback) and
``RACE_USER`` set. It writes ``ready``; then for every line on stdin it runs ``CALLS``
concurrent requests, each with its own `DatabaseTokenProvider` and `TokenRefresher`
(as every cloud request does), each asking for a valid access token and reading the
WHOOP profile with it, and writes one JSON line:
``{"ok": n, "failures": ["Error: message", ...], "refreshes": n}``. Exits at end of stdin.

``TOKENS_RACE_NO_CROSS_LOCK=1`` replaces the cross-process lock with a no-op: the
negative control, which must refresh more than once (and lose the grant).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread
import httpx2

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db import Database
from wellpipe.cloud.services.tokens import DatabaseTokenProvider, reconnect_action
from wellpipe.cloud.settings import CloudSettings
from wellpipe.core.clock import SystemClock
from wellpipe.oauth import ClientCredentials, OAuthClient, TokenRefresher
from wellpipe.providers.connector import get_connector

CLIENT = ClientCredentials("race-client", "race-secret", "http://wellpipe.test/callback/whoop")
PROFILE = "/developer/v2/user/profile/basic"


async def _round(
    ctx: CloudContext,
    oauth: OAuthClient,
    http: httpx2.AsyncClient,
    origin: str,
    user_id: str,
    calls: int,
) -> dict[str, object]:
    ok, refreshes = 0, 0
    failures: list[str] = []

    async def call() -> None:
        nonlocal ok, refreshes
        tokens = DatabaseTokenProvider(ctx, user_id=user_id, provider="whoop")
        refresher = TokenRefresher(
            tokens=tokens, oauth=oauth, reconnect_action=reconnect_action("whoop")
        )
        try:
            token = await refresher.access_token()
            response = await http.get(
                origin + PROFILE, headers={"Authorization": f"Bearer {token}"}
            )
            if response.status_code != 200:
                raise RuntimeError(f"profile answered {response.status_code}")
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
        else:
            ok += 1
        refreshes += refresher.refreshes

    async with anyio.create_task_group() as group:
        for _ in range(calls):
            group.start_soon(call)
    return {"ok": ok, "failures": failures, "refreshes": refreshes}


def _without_cross_process_lock() -> None:
    @asynccontextmanager
    async def no_lock(self: DatabaseTokenProvider, deadline: float) -> AsyncIterator[None]:
        yield

    DatabaseTokenProvider._cross_process_lock = no_lock  # type: ignore[method-assign]


async def main(calls: int) -> None:
    if os.environ.get("TOKENS_RACE_NO_CROSS_LOCK") == "1":
        _without_cross_process_lock()
    settings = CloudSettings()
    ctx = CloudContext(
        settings=settings, db=Database(settings.effective_database_url), clock=SystemClock()
    )
    origin, user_id = os.environ["RACE_ORIGIN"], os.environ["RACE_USER"]
    connector = get_connector("whoop")
    try:
        async with httpx2.AsyncClient(timeout=30) as http:
            oauth = connector.oauth_client(
                settings=connector.location(origin), credentials=CLIENT, http=http, clock=ctx.clock
            )
            sys.stdout.write("ready\n")
            sys.stdout.flush()
            while await anyio.to_thread.run_sync(sys.stdin.readline):
                report = await _round(ctx, oauth, http, origin, user_id, calls)
                sys.stdout.write(json.dumps(report) + "\n")
                sys.stdout.flush()
    finally:
        await ctx.db.dispose()


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]))
