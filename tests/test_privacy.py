"""Canaries: no token, code, secret or health value reaches a log line or an error message."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import CREDENTIALS, NOW, ORIGIN, connect
from tests.fakes import FakeClock
from wellpipe.core import (
    DataKind,
    MemoryTokenProvider,
    ProviderError,
    ReauthorizationRequired,
    TimeWindow,
    WellpipeError,
)
from wellpipe.net import build_http_client
from wellpipe.providers.whoop import WhoopSettings, whoop_oauth_client
from wellpipe.sandbox import Fault, WhoopSandbox


async def test_no_secret_or_health_value_is_logged_or_put_in_an_error(
    sandbox: WhoopSandbox,
    clock: FakeClock,
    whoop_settings: WhoopSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, httpx2, httpcore, stamina
    canaries: set[str] = {CREDENTIALS.client_secret}
    messages: list[str] = []

    # Sign in: the browser's part happens at the sandbox, the code exchange is ours.
    async with build_http_client(base_url=ORIGIN, transport=sandbox.transport()) as http:
        oauth = whoop_oauth_client(
            settings=whoop_settings, credentials=CREDENTIALS, http=http, clock=clock
        )
        state = oauth.new_state()
        query = parse_qs(urlsplit(oauth.authorization_url(state)).query)
        _, headers, _ = sandbox.auth.authorize({k: v[0] for k, v in query.items()})
        code = parse_qs(urlsplit(headers["location"]).query)["code"][0]
        tokens = await oauth.exchange_code(code)
    canaries |= {state, code, tokens.access_token, tokens.refresh_token or ""}
    store = MemoryTokenProvider(tokens, clock=clock)

    async with connect(sandbox, clock, tokens=store) as whoop:
        window = TimeWindow(start=NOW - timedelta(days=14), end=NOW)
        records = await whoop.read({DataKind.RECOVERY, DataKind.SLEEP}, window)
        sentinel = next(r.score for r in records.recoveries if r.score is not None)
        canaries |= {repr(sentinel.hrv_rmssd_ms), (await whoop.profile()).email or "no email"}

        sandbox.auth.expire_access_tokens()  # a 401, then a refresh
        sandbox.inject(Fault(path_prefix="/developer/v2/cycle", status=503, times=2))
        await whoop.read({DataKind.CYCLE}, window)
        canaries |= {await store.get_access_token() or "", await store.get_refresh_token() or ""}

        for fault in (
            Fault(path_prefix="/developer/v2/user", status=500, times=10),
            Fault(path_prefix="/developer/v2/user", body="wrong_type"),
            Fault(path_prefix="/developer/v2/user", status=429, headers={"Retry-After": "7200"}),
        ):
            sandbox.inject(fault)
            with pytest.raises(ProviderError) as caught:
                await whoop.profile()
            messages += [str(caught.value), repr(caught.value)]
            sandbox.faults.clear()
        clock.advance(7200)  # WHOOP asked for a two-hour pause, and the throttle keeps it

        await whoop.revoke()  # the member disconnects Wellpipe: the grant is dead
        with pytest.raises(ReauthorizationRequired) as dead:
            await whoop.profile()
        messages += [str(dead.value), repr(dead.value)]

    messages += [record.getMessage() for record in caplog.records]
    messages += [str(record.exc_info[1]) for record in caplog.records if record.exc_info]
    assert len(caplog.records) > 10  # the libraries did log; we are checking real output
    leaks = {canary for canary in canaries if canary and any(canary in m for m in messages)}
    assert leaks == set()
    assert all(isinstance(e, str) for e in messages)
    assert issubclass(ReauthorizationRequired, WellpipeError)
