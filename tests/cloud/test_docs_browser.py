"""``/api/docs`` in a real browser that may reach no host but the service itself.

Debian's Chromium against ``wellpipe cloud serve``, with every request to another origin
aborted and recorded: the docs must render (title, operations), take a key through
"Authorize", and "Try it out" must call this same origin with that key, with no foreign
request attempted, no console error (a CSP violation is one) and the CSP header present.

Locally this skips when Chromium or Playwright is missing; under ``CI=true`` it fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from tests.cloud.browser_support import Service, browser_missing, launch_options, serve
from tests.cloud.conftest import require_service
from wellpipe.cloud.web.docs import CSP

if TYPE_CHECKING:
    from playwright.async_api import Page, Route

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

PASSWORD = "correct horse battery staple"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    require_service(browser_missing())
    with serve(tmp_path / "home") as running:
        yield running


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def sign_up_and_create_a_key(page: Page, service: Service) -> str:
    await page.goto(service.url + "/signup")
    await page.fill("#email", "grace@example.com")
    await page.fill("#password", PASSWORD)
    await page.click("button:has-text('Create account')")
    await page.wait_for_url("**/dashboard")
    await page.fill("#key-name", "API docs")
    await page.click("button:has-text('Create key')")
    return (await page.inner_text("[data-testid=new-key]")).strip()


async def test_docs_render_authorize_and_try_it_out_with_no_other_host(
    service: Service, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    own = origin(service.url)
    foreign: list[str] = []
    problems: list[str] = []

    async def only_our_origin(route: Route) -> None:
        url = route.request.url
        if origin(url) == own:
            await route.continue_()
        else:
            foreign.append(url)
            await route.abort()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch_persistent_context(
            **launch_options(tmp_path / "profile")
        )
        try:
            await browser.route("**/*", only_our_origin)
            page = await browser.new_page()
            page.on(
                "console",
                lambda message: problems.append(message.text) if message.type == "error" else None,
            )
            page.on("pageerror", lambda error: problems.append(str(error)))
            key = await sign_up_and_create_a_key(page, service)

            # The page: Wellpipe's own HTML under its CSP, Swagger UI rendered from it.
            response = await page.goto(service.url + "/api/docs")
            assert response is not None
            assert response.status == 200
            assert response.headers["content-security-policy"] == CSP
            await page.wait_for_selector("[id^='operations-'][id$='-getHealth']")
            assert "Wellpipe API" in await page.inner_text(".information-container .title")
            assert await page.locator("[id^='operations-'][id$='-getUsage']").count() == 1
            icon = await page.get_attribute("link[rel=icon]", "href")
            assert icon == "/static/favicon.svg"
            assert foreign == [], foreign  # rendered with nothing from another host
            assert problems == [], problems

            # Authorize with the key (the bearer scheme), then close the dialog.
            await page.click("button.authorize")
            dialog = page.locator(".modal-ux")
            await dialog.locator("input").fill(key)
            await dialog.locator("button.authorize[type=submit]").click()
            await dialog.locator("button:has-text('Close')").click()

            # Try it out: getUsage, sent to this same origin with the key.
            usage = page.locator("[id^='operations-'][id$='-getUsage']")
            await usage.locator(".opblock-summary").first.click()
            await usage.locator("button.try-out__btn").click()
            async with page.expect_request(re.compile(r"/api/v1/usage")) as sent:
                await usage.locator("button.execute").click()
            request = await sent.value
            assert origin(request.url) == own
            assert await request.header_value("authorization") == f"Bearer {key}"
            status = usage.locator(".live-responses-table .response .response-col_status")
            await status.first.wait_for()
            assert (await status.first.inner_text()).strip() == "200"

            await page.screenshot(path=str(tmp_path / "api-docs.png"), full_page=True)
        finally:
            await browser.close()
    assert foreign == [], foreign
    assert problems == [], problems
    assert "Traceback" not in service.log_text()
