"""``/api/docs``: the browsable API docs, served whole by Wellpipe (no other host involved).

FastAPI's built-in page loads Swagger UI from a CDN, its icon from another site, and starts
it with an inline script. This page is plain HTML under a strict Content-Security-Policy:
Swagger UI's bundle and stylesheet come from the ``fastapi-swagger`` package (the upstream
swagger-ui-dist files, unmodified), the start-up script is ``docs_assets/swagger-init.js``,
and the icon is the dashboard's. Every asset URL carries a hash of its content, so a browser
keeps the asset for a year and fetches the new one as soon as it changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

__all__ = ["ASSETS_PATH", "CSP", "DOCS_PATH", "router"]

DOCS_PATH = "/api/docs"
ASSETS_PATH = "/api/docs/assets"
FAVICON = "/static/favicon.svg"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
"""The docs page's policy: every script, style, image and request from this origin only.

No inline script or style; ``data:`` images only for the icons inlined in Swagger UI's CSS.
"""

_VENDOR = "fastapi_swagger.resources"
_OWN = Path(__file__).parent / "docs_assets"
_JS = "text/javascript; charset=utf-8"
_CSS = "text/css; charset=utf-8"
_SOURCES = {
    "swagger-ui.css": (_VENDOR, _CSS),
    "swagger-ui-bundle.js": (_VENDOR, _JS),
    "swagger-init.js": (None, _JS),
}
"""Every file the page needs: name -> (package shipping it, or ours; media type)."""

_FOREVER = "public, max-age=31536000, immutable"  # the URL names this exact content

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class _Asset:
    body: bytes
    media_type: str
    version: str


@cache
def _assets() -> dict[str, _Asset]:
    """The assets, read once (the Swagger UI bundle is about 1.5 MB)."""
    loaded: dict[str, _Asset] = {}
    for name, (package, media_type) in _SOURCES.items():
        body = (files(package) / name if package else _OWN / name).read_bytes()
        version = hashlib.sha256(body).hexdigest()[:12]
        loaded[name] = _Asset(body=body, media_type=media_type, version=version)
    return loaded


def _url(name: str) -> str:
    return f"{ASSETS_PATH}/{name}?v={_assets()[name].version}"


def _page(title: str, openapi_url: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} - Swagger UI</title>
<link rel="icon" href="{FAVICON}" type="image/svg+xml">
<link rel="stylesheet" href="{escape(_url("swagger-ui.css"))}">
</head>
<body>
<noscript>These docs need JavaScript. The OpenAPI document itself is at
<a href="{escape(openapi_url)}">{escape(openapi_url)}</a>.</noscript>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
<script src="{escape(_url("swagger-ui-bundle.js"))}"></script>
<script src="{escape(_url("swagger-init.js"))}"></script>
</body>
</html>
"""


@router.get(DOCS_PATH, response_class=HTMLResponse)
async def docs_page(request: Request) -> Response:
    """Swagger UI for this service's OpenAPI document ("Authorize" takes a Wellpipe key)."""
    app = request.app
    return HTMLResponse(
        _page(str(app.title), str(app.openapi_url)),
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
    )


@router.get(ASSETS_PATH + "/{name}")
async def docs_asset(name: str, v: str = "") -> Response:
    """One of the docs page's scripts or its stylesheet.

    Args:
        name: The file.
        v: The content hash the page linked; with any other (an older page, or none)
            the file is still served, but must be revalidated rather than kept.
    """
    asset = _assets().get(name)
    if asset is None:
        raise HTTPException(404)
    cache_control = _FOREVER if v == asset.version else "no-cache"
    return Response(
        asset.body,
        media_type=asset.media_type,
        headers={"Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"},
    )
