"""The service starts on both databases, migrates, and answers errors as problem details."""

from __future__ import annotations

import anyio
import pytest

from tests.cloud.conftest import Cloud
from wellpipe.cloud.app import create_app
from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db.migrate import current_revision, head_revision
from wellpipe.cloud.services import deletion as deletion_module
from wellpipe.cloud.settings import CloudSettings


async def test_starts_migrated_and_healthy(cloud: Cloud) -> None:
    assert await current_revision(cloud.ctx.db) == head_revision()
    response = await cloud.client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    assert len(response.headers["x-request-id"]) == 16


async def test_unknown_address_is_a_problem_with_a_sentence(cloud: Cloud) -> None:
    response = await cloud.client.get("/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/not-found")
    assert body["request_id"] == response.headers["x-request-id"]


async def test_a_browser_gets_an_html_page_for_an_unknown_address(cloud: Cloud) -> None:
    response = await cloud.client.get("/no/such/page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "go back to the dashboard" in response.text
    assert response.headers["x-request-id"] in response.text
    api = await cloud.client.get("/api/v1/nothing", headers={"Accept": "text/html"})
    assert api.headers["content-type"] == "application/problem+json"


async def test_the_in_process_worker_retries_queued_revokes_on_the_job_queue(
    cloud_settings: CloudSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = anyio.Event()

    async def retry(ctx: CloudContext) -> int:
        calls.set()
        return 0

    monkeypatch.setattr(deletion_module, "retry_pending_revocations", retry)
    settings = cloud_settings.model_copy(
        update={"revocation_retry_s": 1.0, "jobs_in_process": True}
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        with anyio.fail_after(15):  # the periodic job runs on its next whole second
            await calls.wait()
