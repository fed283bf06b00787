"""`CloudContext`: what every use case of one service instance shares.

Built once per process by `wellpipe.cloud.app.create_app`. Nothing that matters lives
only here: users, sessions, tokens, keys, counters and budgets are in the database (or
Redis), so any number of workers can serve the same data. What a process does hold
(caches, locks, the shared HTTP pool) is `ServiceState`, typed, one field per concern.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx2

from wellpipe.cloud.db import Database
from wellpipe.cloud.settings import CloudSettings
from wellpipe.cloud.state import ServiceState
from wellpipe.core.ports import Clock

if TYPE_CHECKING:
    from wellpipe.cloud.security.crypto import TokenCipher

__all__ = ["CloudContext"]


@dataclass
class CloudContext:
    """Settings, storage and seams of one running service.

    Attributes:
        settings: The service's settings (keys filled in).
        db: The database.
        clock: Time (tests inject a fake one).
        provider_transport: An `httpx2` transport for provider calls instead of the
            network (the in-process sandbox in tests); ``None`` uses the network.
        provider_base_urls: Per-provider base URL overrides (the sandbox's origin).
        redis: A ``redis.asyncio.Redis`` when ``WELLPIPE_REDIS_URL`` is set.
        state: What this process holds in memory (see `ServiceState`).
    """

    settings: CloudSettings
    db: Database
    clock: Clock
    provider_transport: httpx2.AsyncBaseTransport | None = None
    provider_base_urls: dict[str, str] = field(default_factory=dict)
    redis: Any | None = None
    state: ServiceState = field(default_factory=ServiceState)

    def connect_redis(self, stack: AsyncExitStack) -> None:
        """Open ``settings.redis_url`` as `redis` (closed with ``stack``); none when unset.

        Every process of the service calls this (the web app's lifespan and ``wellpipe
        cloud worker``): the WHOOP budget is shared only if each of them counts where the
        others do.
        """
        if not self.settings.redis_url:
            return
        import redis.asyncio as redis
        from redis.asyncio.retry import Retry  # the sync one warns on every start
        from redis.backoff import NoBackoff

        # Fail fast when Redis is down: the limiters and the provider budgets fall back to
        # the database, the answer cache to the provider, rather than hold a request for
        # redis-py's default retries (~4 s).
        self.redis = redis.from_url(
            self.settings.redis_url,
            socket_connect_timeout=1.0,
            socket_timeout=2.0,
            retry=Retry(NoBackoff(), 0),
        )
        stack.push_async_callback(self.redis.aclose)

    @cached_property
    def cipher(self) -> TokenCipher:
        """The token cipher over the configured key ring."""
        from wellpipe.cloud.security.crypto import TokenCipher

        return TokenCipher.from_settings(self.settings)
