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

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.cloud.browser_support import Service, browser_missing, launch_options, serve
from tests.cloud.conftest import require_service

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
    from playwright.async_api import async_playwright

    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch_persistent_context(
            **launch_options(tmp_path / "profile")
        )
        try:
            page = await browser.new_page()
            page.on(
                "console",
                lambda message: problems.append(message.text) if message.type == "error" else None,
            )
            page.on("pageerror", lambda error: problems.append(str(error)))

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
            assert rest.json()["days"]
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
        finally:
            await browser.close()
    assert problems == [], problems
    assert "Traceback" not in service.log_text()
