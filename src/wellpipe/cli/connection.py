"""Local connections: each provider's settings and tokens from the home folder's ``.env``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx2

from wellpipe.cli.env_tokens import EnvTokenProvider
from wellpipe.cli.home import LocalPaths
from wellpipe.cli.local_config import AppKeys, LocalConfig
from wellpipe.core.clock import SystemClock
from wellpipe.core.errors import ReauthorizationRequired
from wellpipe.core.ports import Clock
from wellpipe.net import RequestBudget
from wellpipe.providers.connector import ConnectedProvider, get_connector
from wellpipe.providers.whoop import WhoopProvider

__all__ = [
    "CREDENTIALS_HINT",
    "RECONNECT_ACTION",
    "connected_providers",
    "credentials_hint",
    "has_tokens",
    "open_local",
    "open_local_whoop",
    "reconnect_action",
]


def reconnect_action(provider: str) -> str:
    """The next step for a user whose grant at ``provider`` is dead."""
    return f"run `wellpipe auth {provider}` to connect again"


def credentials_hint(provider: str, display_name: str) -> str:
    """The next step for a user whose client id or secret the provider rejects."""
    keys = AppKeys(provider)
    return (
        f"check {keys.client_id} and {keys.client_secret} against your {display_name} "
        "developer app, or run `wellpipe init` again"
    )


RECONNECT_ACTION = reconnect_action("whoop")
"""The next step for a user whose WHOOP grant is dead."""

CREDENTIALS_HINT = credentials_hint("whoop", "WHOOP")
"""The next step for a user whose client id or secret WHOOP rejects."""


def has_tokens(
    paths: LocalPaths, provider: str, *, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether tokens for ``provider`` are stored (the ``.env``, or the environment's seed)."""
    store = EnvTokenProvider(paths, provider=provider, clock=SystemClock(), environ=environ)
    return store.has_tokens


def connected_providers(
    paths: LocalPaths,
    *,
    environ: Mapping[str, str] | None = None,
    installed: list[str] | None = None,
) -> list[str]:
    """The installed providers whose tokens are stored, sorted by name."""
    from wellpipe.providers import available_providers

    names = available_providers() if installed is None else installed
    return [name for name in sorted(names) if has_tokens(paths, name, environ=environ)]


@asynccontextmanager
async def open_local(
    provider: str,
    paths: LocalPaths,
    *,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    throttle: RequestBudget | None = None,
) -> AsyncIterator[ConnectedProvider]:
    """The provider for the account connected in ``paths``'s ``.env``.

    Args:
        provider: The provider's name (``"oura"``).
        paths: The CLI's files.
        clock: Time source (the system clock by default).
        environ: The process environment (``os.environ`` when ``None``).
        transport: An `httpx2` transport to use instead of the network.
        throttle: The outbound request budget (default: the provider's per-app limits).

    Raises:
        UnknownProviderError: no such provider is installed.
        ConfigError: the developer app is not configured (run ``wellpipe init``).
        ReauthorizationRequired: no account is connected (run ``wellpipe auth <name>``).
    """
    connector = get_connector(provider)
    info = connector.info
    clock = clock or SystemClock()
    config = LocalConfig.load(paths, environ)
    credentials = config.credentials(provider)
    location = config.location(provider)
    tokens = EnvTokenProvider(paths, provider=provider, clock=clock, environ=environ)
    if await tokens.current() is None:
        raise ReauthorizationRequired(
            provider=provider,
            reason=f"no {info.display_name} account is connected yet",
            action=f"run `wellpipe auth {provider}` to connect one",
        )
    async with connector.open_account(
        credentials=credentials,
        tokens=tokens,
        location=location,
        clock=clock,
        transport=transport,
        throttle=throttle,
        reconnect_action=reconnect_action(provider),
        credentials_hint=credentials_hint(provider, info.display_name),
    ) as opened:
        yield opened


@asynccontextmanager
async def open_local_whoop(
    paths: LocalPaths,
    *,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    throttle: RequestBudget | None = None,
) -> AsyncIterator[WhoopProvider]:
    """`open_local` for WHOOP, typed as a `WhoopProvider`."""
    async with open_local(
        "whoop", paths, clock=clock, environ=environ, transport=transport, throttle=throttle
    ) as provider:
        assert isinstance(provider, WhoopProvider)
        yield provider
