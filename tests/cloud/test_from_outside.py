"""The gate's promises, checked over real HTTP (uvicorn on a loopback port).

* ``GET`` on the stateless MCP endpoint is a 405 at once: no event stream is held open.
* A request given back (the provider failed) carries rate-limit headers whose two
  families agree on what remains.
* Unknown parameters are refused, and nothing is logged at ERROR.
"""

from __future__ import annotations

import anyio
import pytest

from tests.cloud.conftest import Cloud
from tests.cloud.data_support import new_tenant
from tests.cloud.served_support import errors, served
from tests.fakes import FakeClock
from wellpipe.cloud.settings import CloudSettings
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.faults import Fault

pytestmark = pytest.mark.timeout(60)


async def test_get_on_the_mcp_endpoint_is_405_at_once_and_never_a_stream(
    cloud_settings: CloudSettings,
    clock: FakeClock,
    sandbox: WhoopSandbox,
    whoop_app_credentials: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with served(cloud_settings, clock, sandbox, caplog) as service:
        tenant = await new_tenant(service.cloud)
        auth = {"Authorization": f"Bearer {tenant.key}", "Accept": "text/event-stream"}
        async with service.client() as client:
            with anyio.fail_after(5):  # a held stream would hang here
                answers = [await client.get(path, headers=auth) for path in ("/api/mcp", "/mcp")]
            deleted = await client.delete("/api/mcp", headers=auth)
    for answer in [*answers, deleted]:
        assert answer.status_code == 405
        assert answer.headers["allow"] == "POST"
        assert answer.headers["content-type"] == "application/problem+json"
        assert "stateless" in answer.json()["detail"]
    assert errors(caplog) == []


async def test_a_given_back_request_has_headers_that_agree(
    cloud_settings: CloudSettings,
    clock: FakeClock,
    sandbox: WhoopSandbox,
    whoop_app_credentials: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with served(cloud_settings, clock, sandbox, caplog) as service:
        cloud: Cloud = service.cloud
        tenant = await new_tenant(cloud)
        async with service.client() as client:
            ok = await client.get("/api/v1/health?type=cycle&days=1", headers=tenant.auth)
            sandbox.inject(Fault(path_prefix="/developer/", status=503, times=1000))
            failed = await client.get("/api/v1/health?type=sleep&days=2", headers=tenant.auth)
            unknown = await client.get(
                "/api/v1/health?type=sleep&days=2&user_id=someone", headers=tenant.auth
            )
    assert ok.status_code == 200
    assert failed.status_code == 503
    remaining = failed.headers["x-ratelimit-remaining"]
    assert remaining == ok.headers["x-ratelimit-remaining"]  # given back: one counted so far
    assert f'"monthly";r={remaining};' in failed.headers["ratelimit"]
    assert unknown.status_code == 422
    assert "Unknown parameter 'user_id'" in unknown.json()["detail"]
    assert errors(caplog) == []
