"""The local WHOOP connection: settings and tokens from the home folder's ``.env``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx2

from wellpipe.cli.env_tokens import EnvTokenProvider
from wellpipe.cli.home import LocalPaths
from wellpipe.cli.local_config import LocalConfig
from wellpipe.core.clock import SystemClock
from wellpipe.core.errors import ReauthorizationRequired
from wellpipe.core.ports import Clock
from wellpipe.net import Throttle
from wellpipe.providers.whoop import WhoopProvider, open_whoop

__all__ = ["CREDENTIALS_HINT", "RECONNECT_ACTION", "open_local_whoop"]

RECONNECT_ACTION = "run `wellpipe auth whoop` to connect again"
"""The next step for a user whose WHOOP grant is dead."""

CREDENTIALS_HINT = (
    "check WHOOP_CLIENT_ID and WHOOP_CLIENT_SECRET against your WHOOP developer app, "
    "or run `wellpipe init` again"
)
"""The next step for a user whose client id or secret WHOOP rejects."""


@asynccontextmanager
async def open_local_whoop(
    paths: LocalPaths,
    *,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    throttle: Throttle | None = None,
) -> AsyncIterator[WhoopProvider]:
    """A `WhoopProvider` for the member connected in ``paths``'s ``.env``.

    Args:
        paths: The CLI's files.
        clock: Time source (the system clock by default).
        environ: The process environment (``os.environ`` when ``None``).
        transport: An `httpx2` transport to use instead of the network.
        throttle: The outbound request budget (default: WHOOP's per-app limits).

    Raises:
        ConfigError: the WHOOP developer app is not configured (run ``wellpipe init``).
        ReauthorizationRequired: no WHOOP account is connected (run ``wellpipe auth whoop``).
    """
    clock = clock or SystemClock()
    config = LocalConfig.load(paths, environ)
    credentials = config.whoop_credentials()
    settings = config.whoop_settings()
    tokens = EnvTokenProvider(paths, provider="whoop", clock=clock, environ=environ)
    if await tokens.current() is None:
        raise ReauthorizationRequired(
            provider="whoop",
            reason="no WHOOP account is connected yet",
            action="run `wellpipe auth whoop` to connect one",
        )
    async with open_whoop(
        credentials=credentials,
        tokens=tokens,
        settings=settings,
        clock=clock,
        transport=transport,
        throttle=throttle,
        reconnect_action=RECONNECT_ACTION,
        credentials_hint=CREDENTIALS_HINT,
    ) as provider:
        yield provider
