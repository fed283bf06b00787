"""The service starts on both databases, migrates, and answers errors as problem details."""

from __future__ import annotations

from tests.cloud.conftest import Cloud
from wellpipe.cloud.db.migrate import current_revision, head_revision


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
