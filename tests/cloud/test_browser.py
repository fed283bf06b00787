"""The whole product in a real browser: Debian's Chromium against ``wellpipe cloud serve``.

A newcomer's first minutes: sign up, connect WHOOP (the service's built-in sandbox
approves at once and sends the browser back), create a key and read it off the page,
use it from REST and from an MCP client, and see the dashboard count those requests.
The page must load with no console error (a CSP violation would be one).

Locally this skips when Chromium or Playwright is missing; under ``CI=true`` it fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.cloud.browser_support import Service, browser_missing, serve, watched_page
from tests.cloud.conftest import require_service

if TYPE_CHECKING:
    from playwright.async_api import ViewportSize

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

SHARED_SCREENSHOT = Path("/tmp/wellpipe-dashboard.png")
PASSWORD = "correct horse battery staple"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    require_service(browser_missing())
    with serve(tmp_path / "home") as running:
        yield running


def usage_count(text: str) -> int:
    found = re.match(r"\s*(\d+)", text)
    assert found, f"no count in {text!r}"
    return int(found.group(1))


async def test_sign_up_connect_create_a_key_use_it_and_see_the_usage(
    service: Service, tmp_path: Path
) -> None:
    async with watched_page(tmp_path / "profile") as (page, problems):
        # Landing -> sign up.
        await page.goto(service.url + "/")
        await page.click("text=Create a free account")
        await page.wait_for_url("**/signup")
        await page.fill("#email", "ada@example.com")
        await page.fill("#password", PASSWORD)
        await page.click("button:has-text('Create account')")
        await page.wait_for_url("**/dashboard")
        assert "Welcome to Wellpipe" in await page.inner_text("main")

        # Connect WHOOP: out to the sandbox's authorize page, which approves and
        # redirects back to /callback/whoop, then to the dashboard.
        card = page.locator("[data-provider=whoop]")
        await card.locator("button:has-text('Connect WHOOP')").click()
        await page.wait_for_url("**/dashboard")
        assert "Connected" in await card.inner_text()
        assert await card.locator("button:has-text('Disconnect WHOOP')").count() == 1

        # Create a key; it is on the page exactly once.
        before = usage_count(await page.inner_text("[data-testid=usage-count]"))
        await page.fill("#key-name", "Browser test")
        await page.click("button:has-text('Create key')")
        key = (await page.inner_text("[data-testid=new-key]")).strip()
        assert re.fullmatch(r"wp_live_[A-Za-z0-9]+_[A-Za-z0-9]+", key)
        await page.reload()
        assert await page.locator("[data-testid=new-key]").count() == 0
        assert key not in await page.content()

        # Use the key: REST, then MCP over streamable HTTP.
        auth = {"Authorization": f"Bearer {key}"}
        async with httpx2.AsyncClient(base_url=service.url, timeout=20) as http:
            rest = await http.get(
                "/api/v1/health", params={"type": "summary", "days": 7}, headers=auth
            )
        assert rest.status_code == 200, rest.text
        assert rest.json()["records"]
        async with (
            httpx2.AsyncClient(headers=auth, timeout=20) as http,
            Client(
                streamable_http_client(service.url + "/api/mcp", http_client=http),
                mode="legacy",
            ) as mcp,
        ):
            result = await mcp.call_tool("get-daily-summary", {"days": 3})
        assert not result.is_error, result

        # The dashboard counts both requests: the number, the chart and the table move.
        await page.reload()
        after = usage_count(await page.inner_text("[data-testid=usage-count]"))
        assert after >= before + 2
        chart_total = await page.get_attribute("[data-testid=usage-chart]", "data-total")
        assert chart_total is not None
        assert int(chart_total) >= 2
        assert "never" not in await page.inner_text("[data-key-id]")  # last used is set
        assert "Data read" in await page.inner_text("main")  # the audit log

        await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        await page.screenshot(path=str(SHARED_SCREENSHOT), full_page=True)

        # Revoking in the dashboard stops the key on the very next request.
        await page.click("[data-key-id] button:has-text('Revoke')")
        await page.wait_for_url("**/dashboard")
        async with httpx2.AsyncClient(base_url=service.url, timeout=20) as http:
            refused = await http.get(
                "/api/v1/health", params={"type": "summary", "days": 7}, headers=auth
            )
        assert refused.status_code == 401
    assert problems == [], problems
    assert "Traceback" not in service.log_text()


# The page may not scroll sideways, and nothing may stick out of the screen or be cut
# off by its box. What sits inside a deliberate scroll box (a wide table in its
# `.table-wrap`) is that box's business: only the box itself is checked.
LAYOUT_PROBLEMS = """() => {
  const width = window.innerWidth;
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > width) {
    problems.push(`the page scrolls sideways: ${root.scrollWidth} > ${width}`);
  }
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const classes = (el) => typeof el.className === 'string' && el.className.trim()
    ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
  const name = (el) => el.tagName.toLowerCase() + classes(el)
    + ' ' + JSON.stringify((el.textContent || '').trim().slice(0, 40));
  const boxed = '.card, .hero-art, .hero-art *, dd';
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('.visually-hidden, .skip-link')) continue;
    let up = el.parentElement;
    while (up && up !== document.body && !scrolls(up)) up = up.parentElement;
    if (up && up !== document.body) continue;
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (box.width === 0 || style.visibility === 'hidden') continue;
    if (box.left < -0.5 || box.right > width + 0.5) {
      problems.push('outside the screen: ' + name(el));
    }
    const cut = ['hidden', 'clip'].includes(style.overflowX) || el.matches(boxed);
    if (cut && !scrolls(el) && el.scrollWidth > el.clientWidth + 1) {
      problems.push(`wider than its box (${el.scrollWidth} > ${el.clientWidth}): ` + name(el));
    }
  }
  return problems;
}"""
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


async def test_landing_and_dashboard_fit_a_phone_with_scopes_and_usage_in_words(
    service: Service, tmp_path: Path
) -> None:
    async with watched_page(tmp_path / "profile") as (page, problems):
        # The landing page, terminal mock-up included, at a phone's and a desktop's width.
        for size, name in [(PHONE, "phone"), (DESKTOP, "desktop")]:
            await page.set_viewport_size(size)
            await page.goto(service.url + "/")
            assert await page.evaluate(LAYOUT_PROBLEMS) == [], name
            terminal = page.locator("[data-testid=terminal]")
            assert await terminal.evaluate("el => el.scrollWidth <= el.clientWidth"), name
            assert "/api/mcp" in await terminal.inner_text()
            await page.screenshot(path=str(tmp_path / f"landing-{name}.png"), full_page=True)

        # On the phone: sign up, connect all three providers (the sandboxes approve at
        # once), and make one counted REST request.
        await page.set_viewport_size(PHONE)
        await page.goto(service.url + "/signup")
        await page.fill("#email", "lin@example.com")
        await page.fill("#password", PASSWORD)
        await page.click("button:has-text('Create account')")
        await page.wait_for_url("**/dashboard")
        for provider in ("whoop", "oura", "fitbit"):
            card = page.locator(f"[data-provider={provider}]")
            await card.locator("form[action^='/connect/'] button").click()
            await page.wait_for_url("**/dashboard")
            assert await card.locator(".badge-ok").count() == 1, provider
        await page.fill("#key-name", "Phone")
        await page.click("button:has-text('Create key')")
        key = (await page.inner_text("[data-testid=new-key]")).strip()
        async with httpx2.AsyncClient(base_url=service.url, timeout=20) as http:
            rest = await http.get(
                "/api/v1/health",
                params={"type": "sleep", "days": 3},
                headers={"Authorization": f"Bearer {key}"},
            )
        assert rest.status_code == 200, rest.text

        await page.goto(service.url + "/dashboard")
        assert await page.evaluate(LAYOUT_PROBLEMS) == []
        fitbit = page.locator("[data-provider=fitbit]")
        access = fitbit.locator("[data-testid=access-fitbit]")
        assert await access.inner_text() == (
            "Sleep, Health metrics, Activity and fitness, Profile, Settings"
        )
        assert "googleapis" not in await fitbit.inner_text()
        lines = await access.evaluate(
            "el => el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight)"
        )
        assert lines <= 3.05, f"the scopes take {lines:.1f} lines"
        usage = await page.inner_text("[data-testid=usage-endpoints]")
        assert "Recent data by type" in usage
        assert "via the REST API" in usage
        assert "rest:" not in usage
        await page.screenshot(path=str(tmp_path / "dashboard-phone.png"), full_page=True)
        await fitbit.screenshot(path=str(tmp_path / "fitbit-phone.png"))
    assert problems == [], problems
    assert "Traceback" not in service.log_text()
