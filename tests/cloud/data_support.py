"""Helpers for the data tests (REST, MCP, isolation, OpenAPI): users with keys and WHOOP."""

from __future__ import annotations

from dataclasses import dataclass

import httpx2

from tests.cloud.conftest import Cloud
from tests.cloud.limits_support import add_user
from tests.fakes import FlakyNetwork
from wellpipe.cloud.services.keys import create_key
from wellpipe.cloud.services.tokens import save_connection

CLIENT_ID = "cloud-client"
"""The WHOOP developer app the cloud fixture configures."""


@dataclass(frozen=True)
class Tenant:
    """A Wellpipe user with an API key, connected to one sandbox member (or not)."""

    user_id: str
    key: str
    member: int | None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def new_tenant(
    cloud: Cloud, *, member: int | None = None, connect: bool = True, plan: str = "FREE"
) -> Tenant:
    """A user with a key; connected to ``member`` (default: the first) unless told not to."""
    user_id = await add_user(cloud.ctx, plan=plan)
    created = await create_key(cloud.ctx, user_id=user_id, name="tests")
    if not connect:
        return Tenant(user_id=user_id, key=created.full_key, member=None)
    member = cloud.sandbox.member_ids[0] if member is None else member
    await save_connection(
        cloud.ctx,
        user_id=user_id,
        provider="whoop",
        tokens=cloud.sandbox.issue_token_set(member, client_id=CLIENT_ID),
        provider_user_id=str(member),
    )
    return Tenant(user_id=user_id, key=created.full_key, member=member)


def record_upstream(cloud: Cloud) -> FlakyNetwork:
    """Route the cloud's provider requests through a recorder (``.sent``) on the way."""
    inner = cloud.ctx.provider_transport
    assert inner is not None
    network = FlakyNetwork(inner)
    cloud.ctx.provider_transport = network
    return network


def data_requests(network: FlakyNetwork) -> list[httpx2.Request]:
    """The requests that reached WHOOP's data API (not its token endpoint)."""
    return [r for r in network.sent if r.url.path.startswith("/developer/")]


def bearer_of(request: httpx2.Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    assert scheme.lower() == "bearer", request.headers.get("authorization")
    return token
