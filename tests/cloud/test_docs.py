"""``/api/docs`` names no other host, runs no inline script, and serves its own assets.

The browser half (Swagger UI renders and works with every other host blocked) is
``test_docs_browser.py``; these are the fast checks on what the service sends.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path

import httpx2
import pytest
from pydantic import SecretStr

from tests.cloud.conftest import PUBLIC_URL, new_key_ring
from wellpipe.cloud.app import create_app
from wellpipe.cloud.settings import CloudSettings

MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
VENDOR = files("fastapi_swagger.resources")
FOREVER = "public, max-age=31536000, immutable"


class Page(HTMLParser):
    """Every URL the page links (``src``/``href``), its inline scripts and inline styles."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self.inline_styles = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.urls += [value for name, value in attrs if name in {"src", "href"} and value]
        if tag == "script":
            self._in_script = "src" not in found
        self.inline_styles += tag == "style" or "style" in found
        self.inline_scripts += any(name.startswith("on") for name in found)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        self.inline_scripts += self._in_script and bool(data.strip())


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx2.AsyncClient]:
    settings = CloudSettings(
        home=tmp_path,
        encryption_keys=SecretStr(new_key_ring("k1")),
        api_key_pepper=SecretStr(secrets.token_urlsafe(32)),
        public_url=PUBLIC_URL,
        sandbox=False,
    )
    app = create_app(settings, migrate=False)  # the docs touch no database
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url=PUBLIC_URL) as http:
        yield http


async def docs_page(client: httpx2.AsyncClient) -> tuple[httpx2.Response, Page]:
    response = await client.get("/api/docs")
    assert response.status_code == 200
    page = Page()
    page.feed(response.text)
    return response, page


async def test_the_page_links_only_its_own_origin_and_runs_no_inline_script(
    client: httpx2.AsyncClient,
) -> None:
    response, page = await docs_page(client)
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "http://" not in response.text
    assert "https://" not in response.text
    assert page.urls, "the page links its assets"
    assert all(url.startswith("/") and not url.startswith("//") for url in page.urls), page.urls
    assert page.inline_scripts == 0
    assert page.inline_styles == 0
    assert "/static/favicon.svg" in page.urls
    assert 'data-openapi-url="/openapi.json"' in response.text


async def test_the_page_carries_a_strict_content_security_policy(
    client: httpx2.AsyncClient,
) -> None:
    response, _ = await docs_page(client)
    directives = [part.split() for part in response.headers["content-security-policy"].split(";")]
    policy = {name: sources for name, *sources in directives}
    assert policy["default-src"] == ["'none'"]
    for directive in ("script-src", "style-src", "connect-src", "form-action"):
        assert policy[directive] == ["'self'"], directive
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert response.headers["cache-control"] == "no-cache"  # it names the assets' versions
    assert response.headers["x-frame-options"] == "DENY"  # the app's own headers stay


async def test_every_asset_is_served_with_its_type_and_a_long_cache(
    client: httpx2.AsyncClient,
) -> None:
    _, page = await docs_page(client)
    assets = [url for url in page.urls if url.startswith("/api/docs/assets/")]
    names = {url.split("?")[0].rsplit("/", 1)[1] for url in assets}
    assert names == {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-init.js"}
    for url in assets:
        response = await client.get(url)
        name = url.split("?")[0].rsplit("/", 1)[1]
        assert response.status_code == 200, url
        assert response.headers["content-type"] == MEDIA_TYPES[Path(name).suffix], url
        assert response.headers["cache-control"] == FOREVER, url
        assert response.headers["x-content-type-options"] == "nosniff"
        if name.startswith("swagger-ui"):  # from the package, byte for byte
            assert response.content == (VENDOR / name).read_bytes()
    favicon = await client.get("/static/favicon.svg")
    assert favicon.status_code == 200
    assert favicon.headers["content-type"] == "image/svg+xml"


async def test_an_asset_without_the_current_version_must_be_revalidated(
    client: httpx2.AsyncClient,
) -> None:
    for url in ("/api/docs/assets/swagger-ui.css", "/api/docs/assets/swagger-ui.css?v=0ld"):
        response = await client.get(url)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-cache"


async def test_nothing_else_is_served_from_the_assets(client: httpx2.AsyncClient) -> None:
    for name in ("favicon-32x32.png", "__init__.py", "..%2F..%2Fdocs.py", "swagger-ui.js"):
        response = await client.get(f"/api/docs/assets/{name}")
        assert response.status_code == 404, name
        assert response.headers["content-type"] == "application/problem+json"


async def test_the_docs_stay_out_of_the_openapi_document(client: httpx2.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith("/api/docs")]
    assert (await client.get("/docs/oauth2-redirect")).status_code == 404
