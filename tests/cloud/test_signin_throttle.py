"""The sign-in throttle from outside, over real HTTP, on SQLite and PostgreSQL.

An attacker guessing the owner's password from one address is stopped there (429), while
the owner still signs in from another address, and from the attacker's own address in
the browser that holds the owner's device cookie. Clients connect from distinct loopback
addresses (127.0.0.2, 127.0.0.3), so the service sees them as the network would.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import AsyncIterator

import httpx2
import pytest
from sqlalchemy import select

from tests.cloud.served_support import SAME_ORIGIN, Served, csrf_of, errors, served
from tests.fakes import FakeClock
from wellpipe.cloud.db.tables import AuditEvent
from wellpipe.cloud.services import accounts
from wellpipe.cloud.settings import CloudSettings
from wellpipe.sandbox import WhoopSandbox

PASSWORD = "correct horse battery staple"
OWNER = "owner@example.com"
ATTACKER_ADDRESS = "127.0.0.2"
OWNER_ELSEWHERE = "127.0.0.3"


@pytest.fixture
async def service(
    cloud_settings: CloudSettings,
    clock: FakeClock,
    sandbox: WhoopSandbox,
    whoop_app_credentials: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[Served]:
    caplog.set_level(logging.INFO, logger="wellpipe")
    async with served(cloud_settings, clock, sandbox, caplog) as started:
        yield started


async def sign_in(browser: httpx2.AsyncClient, email: str, password: str) -> httpx2.Response:
    """Open the sign-in page and send its form, as a browser does."""
    token = csrf_of((await browser.get("/signin")).text)
    return await browser.post(
        "/signin",
        data={"csrf_token": token, "email": email, "password": password},
        headers=SAME_ORIGIN,
    )


async def sign_out(browser: httpx2.AsyncClient) -> None:
    token = csrf_of((await browser.get("/dashboard")).text)
    out = await browser.post("/signout", data={"csrf_token": token}, headers=SAME_ORIGIN)
    assert out.status_code == 303


def signed_in(response: httpx2.Response) -> bool:
    return response.status_code == 303 and response.headers["location"] == "/dashboard"


async def failure_reasons(service: Served) -> list[str]:
    async with service.cloud.ctx.db.sessions() as session:
        rows = await session.scalars(
            select(AuditEvent.detail)
            .where(AuditEvent.event == "signin.failed")
            .order_by(AuditEvent.id)
        )
        return [json.loads(detail)["reason"] for detail in rows]


async def test_an_attacker_is_stopped_where_they_are_and_the_owner_is_not(
    service: Served, caplog: pytest.LogCaptureFixture
) -> None:
    await accounts.create_user(service.cloud.ctx, email=OWNER, password=PASSWORD)
    owners_browser = service.client(ATTACKER_ADDRESS)  # the owner shares the attacker's NAT
    attacker = service.client(ATTACKER_ADDRESS)
    owner_elsewhere = service.client(OWNER_ELSEWHERE)
    stranger_here = service.client(ATTACKER_ADDRESS)
    async with owners_browser, attacker, owner_elsewhere, stranger_here:
        # The owner signed in from this browser before: it holds the device cookie.
        first = await sign_in(owners_browser, OWNER, PASSWORD)
        assert signed_in(first)
        device = next(c for c in first.headers.get_list("set-cookie") if "wellpipe_device=" in c)
        attributes = {part.strip().lower() for part in device.split(";")[1:]}
        assert {"httponly", "path=/", "samesite=lax"} <= attributes
        assert f"max-age={accounts.DEVICE_COOKIE_TTL_S}" in attributes
        await sign_out(owners_browser)

        for _ in range(accounts.MAX_FAILURES_PER_CLIENT):
            wrong = await sign_in(attacker, OWNER, "not the password at all")
            assert wrong.status_code == 400
        refused = await sign_in(attacker, OWNER, PASSWORD)  # even the right password
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("text/html")
        wait_s = int(refused.headers["retry-after"])
        assert 0 < wait_s <= accounts.SIGNIN_WINDOW_S
        minutes = math.ceil(wait_s / 60)
        assert f"Too many sign-in attempts; try again in {minutes} minutes." in refused.text
        assert "wellpipe_device=" not in refused.headers.get("set-cookie", "")

        # The owner signs in from elsewhere, and here in their own browser.
        assert signed_in(await sign_in(owner_elsewhere, OWNER, PASSWORD))
        assert OWNER in (await owner_elsewhere.get("/dashboard")).text
        assert signed_in(await sign_in(owners_browser, OWNER, PASSWORD))
        assert OWNER in (await owners_browser.get("/dashboard")).text

        # Another browser here, without the cookie, is the attacker as far as anyone can tell.
        assert (await sign_in(stranger_here, OWNER, PASSWORD)).status_code == 429
        # The attacker's own account's device cookie does not unlock the owner's account.
        await accounts.create_user(service.cloud.ctx, email="eve@example.com", password=PASSWORD)
        assert signed_in(await sign_in(attacker, "eve@example.com", PASSWORD))
        await sign_out(attacker)
        assert (await sign_in(attacker, OWNER, PASSWORD)).status_code == 429

    reasons = await failure_reasons(service)
    assert reasons == ["credentials"] * accounts.MAX_FAILURES_PER_CLIENT + ["throttled"] * 3
    assert errors(caplog) == []


async def test_a_window_later_the_attacker_may_try_again(service: Served) -> None:
    await accounts.create_user(service.cloud.ctx, email=OWNER, password=PASSWORD)
    async with service.client(ATTACKER_ADDRESS) as attacker:
        for _ in range(accounts.MAX_FAILURES_PER_CLIENT):
            assert (await sign_in(attacker, OWNER, "not the password")).status_code == 400
        assert (await sign_in(attacker, OWNER, "not the password")).status_code == 429
        service.cloud.clock.advance(accounts.SIGNIN_WINDOW_S)
        assert (await sign_in(attacker, OWNER, "not the password")).status_code == 400
