"""`create_app`: the cloud service as one FastAPI application.

Routes: the dashboard (``/``), REST (``/api/v1``), MCP (``/api/mcp`` and ``/mcp``), the
OAuth authorization server for assistants' connectors (``/.well-known/oauth-*``,
``/authorize``, ``/token``, ``/register``, ``/revoke``), providers' webhooks
(``/webhooks/*``), ``/healthz``. With ``WELLPIPE_JOBS_IN_PROCESS`` (what ``cloud serve``
sets on SQLite) the process also runs a job worker. Every response
carries an ``X-Request-ID`` and security headers; any
unexpected failure is a problem-details 500 with that id, never a stack trace.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import httpx2
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from wellpipe import __version__
from wellpipe.cloud.api import mcp_endpoint, oauth, rest, webhooks
from wellpipe.cloud.api.problems import Problem, problem_response
from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db import Database, upgrade_to_head
from wellpipe.cloud.jobs.runner import close_jobs, run_in_process
from wellpipe.cloud.logs import install_redaction
from wellpipe.cloud.security.crypto import TokenCipher
from wellpipe.cloud.services import authorization
from wellpipe.cloud.settings import CloudSettings, ensure_secrets
from wellpipe.cloud.web import consent
from wellpipe.cloud.web import docs as api_docs
from wellpipe.cloud.web import routes as web
from wellpipe.cloud.web.middleware import RequestContext
from wellpipe.cloud.web.pages import error_page
from wellpipe.core.clock import SystemClock
from wellpipe.core.ports import Clock
from wellpipe.providers import available_providers

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


async def _forget_expired(ctx: CloudContext, every_s: float) -> None:
    """Delete expired assistant tokens and codes, and unused registrations, forever."""
    while True:
        await anyio.sleep(every_s)
        try:
            await authorization.forget_expired(ctx)
        except Exception:
            logger.exception("Forgetting expired assistant tokens failed; will try again")


def _wants_html(request: Request) -> bool:
    """A browser asking for a page (not a program calling the API)."""
    path = request.url.path
    if path.startswith(("/api/", "/mcp", "/openapi.json")):
        return False
    return "text/html" in request.headers.get("accept", "")


def _check_test_mode(settings: CloudSettings) -> None:
    """Refuse the OAuth test mode unless every provider is on its sandbox (no real data)."""
    if not settings.oauth_testing:
        return
    real = [name for name in available_providers() if not settings.uses_sandbox(name)]
    if real:
        raise ValueError(
            "The OAuth test mode (WELLPIPE_OAUTH_TEST_MODE / WELLPIPE_OAUTH_TEST_USER) relaxes "
            "sign-in checks, so it only runs with every provider on its sandbox; "
            f"{', '.join(real)} is not. Turn the test mode off, or set WELLPIPE_SANDBOX=1."
        )


def create_app(
    settings: CloudSettings | None = None,
    *,
    clock: Clock | None = None,
    provider_transport: httpx2.AsyncBaseTransport | None = None,
    provider_base_urls: dict[str, str] | None = None,
    migrate: bool | None = None,
) -> FastAPI:
    """The service.

    Args:
        settings: Settings (default: from the environment); missing keys are
            generated into the home folder for development.
        clock: Time source.
        provider_transport: Send provider requests here instead of the network.
        provider_base_urls: Per-provider origins (e.g. a sandbox's).
        migrate: Bring the schema to the newest revision at start-up (default: yes,
            unless ``WELLPIPE_AUTO_MIGRATE=0``; `wellpipe cloud serve` migrates once itself).
    """
    if migrate is None:
        migrate = os.environ.get("WELLPIPE_AUTO_MIGRATE", "1") not in {"0", "false", "no"}
    settings, _ = ensure_secrets(settings or CloudSettings())
    TokenCipher.from_settings(settings)  # fail closed at start-up on a bad key ring
    _check_test_mode(settings)
    ctx = CloudContext(
        settings=settings,
        db=Database(settings.effective_database_url, pool_size=settings.database_pool_size),
        clock=clock or SystemClock(),
        provider_transport=provider_transport,
        provider_base_urls={**settings.sandbox_origins, **(provider_base_urls or {})},
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        install_redaction()  # after uvicorn configured its handlers
        async with AsyncExitStack() as stack:
            if migrate:
                await upgrade_to_head(ctx.db)
            ctx.connect_redis(stack)
            stack.push_async_callback(ctx.db.dispose)
            await stack.enter_async_context(mcp_cm)
            stack.push_async_callback(close_jobs, ctx)
            group = await stack.enter_async_context(anyio.create_task_group())
            if settings.jobs_in_process:  # provider revoke retries are a periodic job
                group.start_soon(run_in_process, ctx)
            if settings.revocation_retry_s > 0:
                group.start_soon(_forget_expired, ctx, 3600.0)
            try:
                yield
            finally:
                group.cancel_scope.cancel()

    app = FastAPI(
        title="Wellpipe API",
        version=__version__,
        summary="Your own wearable health data, for AI assistants.",
        description=(
            "Read your connected WHOOP, Oura and Fitbit (Google Health) data, one provider "
            "or all of them merged by day. Authenticate every request with your Wellpipe "
            "API key: `Authorization: Bearer wp_live_...` (create one in the dashboard). "
            "Errors are problem details with a sentence saying what to do."
        ),
        lifespan=lifespan,
        docs_url=None,  # served offline by wellpipe.cloud.web.docs
        redoc_url=None,
        openapi_url="/openapi.json",
        servers=[{"url": settings.public_url}],
    )
    app.state.ctx = ctx

    app.add_middleware(RequestContext, page=error_page)

    @app.exception_handler(Problem)
    async def on_problem(request: Request, problem: Problem) -> JSONResponse:
        return problem_response(request, problem)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, invalid: RequestValidationError) -> JSONResponse:
        first = invalid.errors()[0] if invalid.errors() else {}
        where = ".".join(
            str(part) for part in first.get("loc", ()) if part not in {"query", "body"}
        )
        message = first.get("msg", "invalid value")
        sentence = f"{where or 'The request'}: {message}; fix it and try again."
        return problem_response(request, Problem(422, "invalid-request", sentence))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, error: StarletteHTTPException) -> Response:
        kinds = {401: "unauthorized", 403: "forbidden", 404: "not-found"}
        kind = kinds.get(error.status_code, "invalid-request")
        detail = str(error.detail) or "The request failed."
        if error.status_code == 404:
            if _wants_html(request):
                return error_page(
                    request,
                    404,
                    "Page not found",
                    "There is nothing at this address; go back to the dashboard.",
                )
            detail = "There is nothing at this address; see /api/docs for the API."
        elif error.status_code == 405:
            detail = "This address does not accept that method; see /api/docs."
        problem = Problem(error.status_code, kind, detail, headers=dict(error.headers or {}))
        return problem_response(request, problem)

    @app.exception_handler(Exception)
    async def on_crash(request: Request, _error: Exception) -> JSONResponse:
        logger.exception("Unhandled error (request %s)", getattr(request.state, "request_id", "-"))
        problem = Problem(
            500,
            "internal-error",
            "Wellpipe hit an unexpected error; try again, and quote the request id if it persists.",
        )
        return problem_response(request, problem)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    app.include_router(rest.router)
    app.include_router(webhooks.router)
    app.include_router(oauth.router)
    app.include_router(consent.router)
    app.include_router(api_docs.router)
    app.include_router(web.router)
    mcp_cm = mcp_endpoint.mount_mcp(app, ctx)
    return app
