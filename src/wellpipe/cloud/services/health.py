"""One user's connected provider, as REST and MCP read it.

`open_provider` yields a `HealthProvider` for a Wellpipe user: their stored (encrypted)
provider tokens, the provider app of this service, the app's budget shared by every
worker, and a short-lived answer cache. The client's own credential (API key) is never
involved: upstream requests carry only the user's stored provider token.

`record_access` writes the ``data.accessed`` audit rows (what was read, never a value).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import httpx2
from pydantic import BaseModel

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db.history import UserHistory
from wellpipe.cloud.services.audit import append_events, event_row
from wellpipe.cloud.services.cache import AnswerCache, answer_cache
from wellpipe.cloud.services.tokens import (
    ConnectionInfo,
    DatabaseTokenProvider,
    connection_status,
    reconnect_action,
)
from wellpipe.cloud.services.upstream import ProviderBusy, UserBudget, budget_for
from wellpipe.core.errors import (
    AuthError,
    ConfigError,
    NotFound,
    ProviderRateLimited,
    ReauthorizationRequired,
)
from wellpipe.core.models import BodyMeasurement, DataKind, Profile, Record, RecordSet, TimeWindow
from wellpipe.core.provider_info import ProviderInfo
from wellpipe.core.reading import LIVE_DAYS
from wellpipe.core.stored import StoredProvider
from wellpipe.oauth import ClientCredentials
from wellpipe.providers import available_providers
from wellpipe.providers.connector import ConnectedProvider, ProviderConnector, get_connector

__all__ = [
    "AccessLog",
    "CloudProvider",
    "NoProviderConnected",
    "ProviderNotConnected",
    "SharedTransport",
    "close_shared_http",
    "connector_for",
    "forget_connection",
    "open_provider",
    "open_providers",
    "record_access",
]

logger = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)


def connector_for(ctx: CloudContext, provider: str) -> ProviderConnector:
    """The provider's connector, looked up once per process (entry points are slow to scan)."""
    known = ctx.state.connectors
    found = known.get(provider)
    if found is None:
        found = known[provider] = get_connector(provider)
    return found


class ProviderNotConnected(AuthError):
    """The user has not connected this provider to their Wellpipe account."""

    def __init__(self, *, provider: str, display_name: str) -> None:
        super().__init__(
            f"{display_name} is not connected to your Wellpipe account: "
            f"connect {display_name} in the Wellpipe dashboard first.",
            provider=provider,
        )


class NoProviderConnected(AuthError):
    """The user has connected no provider at all (or none that this service offers)."""

    def __init__(self, offered: list[str]) -> None:
        shown = [get_connector(name).info.display_name for name in offered]
        if len(shown) == 1:
            sentence = (
                f"{shown[0]} is not connected to your Wellpipe account: connect {shown[0]} "
                "in the Wellpipe dashboard first."
            )
        else:
            which = ", ".join(shown[:-1]) + (f" or {shown[-1]}" if shown else "a provider")
            sentence = (
                "No provider is connected to your Wellpipe account: connect "
                f"{which} in the Wellpipe dashboard first."
            )
        super().__init__(sentence, provider=offered[0] if len(offered) == 1 else "")


class SharedTransport(httpx2.AsyncBaseTransport):
    """One connection pool for every provider client of the process; clients never close it."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, *, owned: bool) -> None:
        self.inner = inner
        self.owned = owned

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send through the shared pool."""
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Stays open: the pool outlives each request's client (see `close_shared_http`)."""


def _shared_transport(ctx: CloudContext) -> SharedTransport:
    shared = ctx.state.provider_http
    if shared is None or (
        ctx.provider_transport is not None and shared.inner is not ctx.provider_transport
    ):
        if ctx.provider_transport is not None:
            shared = SharedTransport(ctx.provider_transport, owned=False)
        else:
            pool = httpx2.AsyncHTTPTransport(
                limits=httpx2.Limits(max_connections=100, max_keepalive_connections=20)
            )
            shared = SharedTransport(pool, owned=True)
        ctx.state.provider_http = shared
    return shared


async def close_shared_http(ctx: CloudContext) -> None:
    """Close the process's provider connection pool (at shutdown)."""
    shared, ctx.state.provider_http = ctx.state.provider_http, None
    if shared is not None and shared.owned:
        await shared.inner.aclose()


class _Live:
    """The user's provider itself: opened on first use, its own 429s said as `ProviderBusy`."""

    def __init__(
        self,
        *,
        provider: str,
        info: ProviderInfo,
        opener: Callable[[], Awaitable[ConnectedProvider]],
    ) -> None:
        self._provider = provider
        self._opener = opener
        self.info = info

    async def _ask(self, fetch: Callable[[ConnectedProvider], Awaitable[T]]) -> T:
        try:
            return await fetch(await self._opener())
        except ProviderBusy:
            raise
        except ProviderRateLimited as limited:  # the provider's own 429: say it the same way
            raise ProviderBusy(
                provider=self._provider,
                display_name=self.info.display_name,
                endpoint=limited.endpoint,
                retry_after=limited.retry_after,
            ) from None

    async def read(self, kinds: Collection[DataKind], window: TimeWindow) -> RecordSet:
        """Records of ``kinds`` overlapping ``window``, from the provider."""
        return await self._ask(lambda p: p.read(kinds, window))

    async def record(self, kind: DataKind, source_id: str) -> Record:
        """One record by id, from the provider."""
        return await self._ask(lambda p: _as_record(p.record(kind, source_id)))

    async def profile(self) -> Profile:
        """The profile, from the provider."""
        return await self._ask(lambda p: p.profile())

    async def body_measurement(self) -> BodyMeasurement:
        """The body measurement, from the provider."""
        return await self._ask(lambda p: p.body_measurement())


CLOUD_SYNC_ACTION = (
    "Wellpipe is still fetching this history (the dashboard shows how far it got): ask "
    f"again once it is done, or ask for at most {LIVE_DAYS} days"
)
"""What a cloud user does about a long question the store cannot answer yet."""


class CloudProvider:
    """A user's provider for the length of one request, answered from their history store.

    Reads go through `StoredProvider`: the provider is opened (and budgeted) only when the
    store lacks a day or holds one that may still change.

    Attributes:
        user_id: The Wellpipe user.
        records_read: Records this request returned (for the audit log; never values).
        history: The user's history store (sealed under their data key).
    """

    def __init__(
        self,
        *,
        ctx: CloudContext,
        user_id: str,
        provider: str,
        account: str | None,
        connector: ProviderConnector,
        opener: Callable[[], Awaitable[ConnectedProvider]],
        budget: UserBudget,
        cache: AnswerCache,
    ) -> None:
        self._ctx = ctx
        self.user_id = user_id
        self._provider = provider
        self._account = account
        self._budget = budget
        self._cache = cache
        self._info = connector.info
        self._live = _Live(provider=provider, info=connector.info, opener=opener)
        self.history = UserHistory.of(ctx, user_id)
        self._stored = StoredProvider(
            self._live, self.history, clock=ctx.clock, sync_action=CLOUD_SYNC_ACTION
        )
        self.records_read = 0

    @property
    def info(self) -> ProviderInfo:
        """The provider's facts."""
        return self._info

    @property
    def upstream_calls(self) -> int:
        """Requests this provider sent upstream so far."""
        return self._budget.requests

    def _key(self, call: str, *args: Any) -> tuple[Any, ...]:
        return (self.user_id, self._provider, self._account, call, *args)

    async def read(self, kinds: Collection[DataKind], window: TimeWindow) -> RecordSet:
        """Records of ``kinds`` on the days of ``window``, from the history store.

        The store reads the provider only for days it lacks or that may still change.
        """
        records = await self._stored.read(kinds, window)
        self.records_read += len(records.all())
        return records

    async def record(self, kind: DataKind, source_id: str) -> Record:
        """One record by id (see `HealthProvider.record`), kept or read.

        An id that cannot be any provider's (see `_plausible_id`) is `NotFound` at once,
        without asking the provider; the provider refuses the ones that are not its own.
        """
        if not _plausible_id(kind, source_id):
            raise NotFound(
                provider=self._provider, endpoint=None, what=f"{kind.value} with id {source_id!r}"
            )
        found = await self._stored.record(kind, source_id)
        self.records_read += 1
        return found

    async def _cached(
        self, key: tuple[Any, ...], kind: type[T], fetch: Callable[[], Awaitable[T]]
    ) -> T:
        return await self._cache.get_or_fetch(key, fetch, kind)

    async def profile(self) -> Profile:
        """The account holder's profile (not kept in the history: cached a few minutes)."""
        return await self._cached(self._key("profile"), Profile, self._live.profile)

    async def body_measurement(self) -> BodyMeasurement:
        """The account holder's body measurement (cached a few minutes)."""
        return await self._cached(
            self._key("body_measurement"), BodyMeasurement, self._live.body_measurement
        )


_ID = re.compile(r"[A-Za-z0-9_.:~-]{1,64}")


def _plausible_id(kind: DataKind, source_id: str) -> bool:
    """Whether ``source_id`` could be any provider's id (its provider checks the rest).

    Letters, digits and ``_.:~-`` only (nothing that changes a URL's path), and a
    number must fit in 64 bits.
    """
    if _ID.fullmatch(source_id) is None:
        return False
    return not source_id.isdigit() or int(source_id) < 2**63


async def _as_record(pending: Awaitable[Record]) -> Record:
    return await pending


STATUS_TTL_S = 5.0
"""How long a worker trusts an *active* connection it has seen (a disconnect elsewhere shows
within this long; a dead or missing connection is always read afresh)."""


def _remembered(ctx: CloudContext, user_id: str) -> tuple[ConnectionInfo, ...] | None:
    """The user's connections as this process read them in the last `STATUS_TTL_S` seconds."""
    cached = ctx.state.connection_lists.get(user_id)
    if cached is None or cached[0] <= ctx.clock.monotonic():
        return None
    return cached[1]


async def _read_connections(ctx: CloudContext, user_id: str) -> tuple[ConnectionInfo, ...]:
    """The user's connections, read now and remembered."""
    found = tuple(await connection_status(ctx, user_id))
    known = ctx.state.connection_lists
    if len(known) >= 10_000:
        known.clear()
    known[user_id] = (ctx.clock.monotonic() + STATUS_TTL_S, found)
    return found


async def _connection(ctx: CloudContext, user_id: str, provider: str) -> ConnectionInfo | None:
    """The user's connection to ``provider``; an active one seen lately is trusted as it was."""
    seen = _remembered(ctx, user_id)
    if seen is not None:
        found = next((info for info in seen if info.provider == provider), None)
        if found is not None and found.status == "active":
            return found
    return next(
        (info for info in await _read_connections(ctx, user_id) if info.provider == provider),
        None,
    )


async def _connections(ctx: CloudContext, user_id: str) -> tuple[ConnectionInfo, ...]:
    """The user's connections; those seen lately are trusted only if every one was active.

    A list with a dead connection is read afresh each time, so a reconnect shows at once.
    """
    seen = _remembered(ctx, user_id)
    if seen and all(info.status == "active" for info in seen):
        return seen
    return await _read_connections(ctx, user_id)


def forget_connection(ctx: CloudContext, *, user_id: str, provider: str) -> None:
    """Stop trusting this process's memory of a user's connections (after a change made here).

    ``provider`` names the connection that changed; the user's whole list is forgotten.
    """
    del provider  # the memory is per user
    ctx.state.connection_lists.pop(user_id, None)


# ---------------------------------------------------------------------- the access log
@dataclass
class _Batch:
    entries: list[dict[str, Any]] = field(default_factory=list)
    done: anyio.Event = field(default_factory=anyio.Event)
    error: BaseException | None = None


class AccessLog:
    """Group commit: concurrent requests' ``data.accessed`` rows go in one transaction."""

    def __init__(self) -> None:
        self.lock = anyio.Lock()
        self.open = _Batch()
        self.batches = 0


async def record_access(
    ctx: CloudContext, *, user_id: str, detail: Mapping[str, Any], request_id: str | None
) -> None:
    """Audit ``data.accessed`` (what was read and how much, never a value), durably.

    Returns once the row is committed. Requests that finish together share one
    transaction: the first to get the lock writes everything queued so far, the others
    find their row already written.

    Raises:
        Exception: the database refused the batch this row was in.
    """
    log = ctx.state.access_log
    if log is None:
        log = ctx.state.access_log = AccessLog()
    batch = log.open
    batch.entries.append(
        event_row(
            user_id=user_id,
            event="data.accessed",
            at=ctx.clock.now(),
            detail=detail,
            request_id=request_id,
        )
    )
    async with log.lock:
        if not batch.done.is_set():
            log.open = _Batch()
            try:
                await append_events(ctx, batch.entries)
                log.batches += 1
            except BaseException as error:
                batch.error = error
                raise
            finally:
                batch.done.set()
            return
    if batch.error is not None:
        raise RuntimeError("the access log could not be written") from batch.error


@asynccontextmanager
async def open_provider(
    ctx: CloudContext,
    *,
    user_id: str,
    provider: str,
    connection: ConnectionInfo | None = None,
) -> AsyncIterator[CloudProvider]:
    """A `HealthProvider` for one Wellpipe user's connected account.

    Nothing goes upstream until a read misses the cache. The user's tokens come from the
    database (`DatabaseTokenProvider`; refreshes are written back and serialized across
    workers); every upstream request draws on the app's shared budget. An active
    connection seen in the last `STATUS_TTL_S` seconds is not read again (a disconnect
    made through another worker shows within that long). ``connection``, when the caller
    has just read it (`open_providers`), is used as it is rather than looked up again.

    Raises:
        ProviderNotConnected: the user has not connected ``provider``.
        ReauthorizationRequired: the connection's grant is known to be dead.
        ConfigError: the service has no developer app for ``provider``.
    """
    connector = connector_for(ctx, provider)
    display = connector.info.display_name
    action = reconnect_action(provider)
    if connection is None:
        connection = await _connection(ctx, user_id, provider)
    if connection is None:
        raise ProviderNotConnected(provider=provider, display_name=display)
    if connection.status != "active":
        raise ReauthorizationRequired(
            provider=provider,
            reason=connection.status_reason or "the connection was cut",
            action=action,
        )
    budget = budget_for(ctx, provider).for_user(user_id)
    async with AsyncExitStack() as stack:
        opened: list[ConnectedProvider] = []
        opening = anyio.Lock()

        async def opener() -> ConnectedProvider:
            async with opening:  # concurrent reads of one request share one client
                return opened[0] if opened else await open_account()

        async def open_account() -> ConnectedProvider:
            pair = ctx.settings.credentials_for(provider)
            if pair is None:
                raise ConfigError(
                    f"{display} is not set up on this Wellpipe service; the operator must set "
                    f"WELLPIPE_{provider.upper()}_CLIENT_ID and _CLIENT_SECRET."
                )
            credentials = ClientCredentials(
                client_id=pair[0],
                client_secret=pair[1],
                redirect_uri=f"{ctx.settings.public_url}/callback/{provider}",
            )
            account = await stack.enter_async_context(
                connector.open_account(
                    credentials=credentials,
                    tokens=DatabaseTokenProvider(ctx, user_id=user_id, provider=provider),
                    location=connector.location(ctx.provider_base_urls.get(provider)),
                    clock=ctx.clock,
                    transport=_shared_transport(ctx),
                    throttle=budget,
                    reconnect_action=action,
                    credentials_hint=(
                        f"{display} refused this service's app credentials; "
                        "tell the service's operator"
                    ),
                )
            )
            opened.append(account)
            return account

        cloud = CloudProvider(
            ctx=ctx,
            user_id=user_id,
            provider=provider,
            account=connection.provider_user_id,
            connector=connector,
            opener=opener,
            budget=budget,
            cache=answer_cache(ctx),
        )
        try:
            yield cloud
        except AuthError:  # the grant died (or vanished) meanwhile: read the row next time
            forget_connection(ctx, user_id=user_id, provider=provider)
            raise
        finally:
            try:
                await budget.flush()
            except Exception:  # the request's own outcome matters more than sharing a pause
                logger.exception("Could not share a %s pause with the other workers", display)


@asynccontextmanager
async def open_providers(
    ctx: CloudContext, *, user_id: str, provider: str | None = None
) -> AsyncIterator[tuple[list[CloudProvider], list[str]]]:
    """The user's providers: the named one, or every usable connection, sorted by name.

    Yields the opened providers and notes: a sentence for each connection left out
    because it must be reconnected first (only when another one could be opened).

    Raises:
        NoProviderConnected: ``provider`` is ``None`` and nothing is connected.
        ProviderNotConnected: the named provider is not connected.
        ReauthorizationRequired: the named provider's grant, or every grant, is dead.
    """
    async with AsyncExitStack() as stack:
        if provider is not None:
            opened = await stack.enter_async_context(
                open_provider(ctx, user_id=user_id, provider=provider)
            )
            yield [opened], []
            return
        offered = available_providers()
        connections = sorted(
            (info for info in await _connections(ctx, user_id) if info.provider in offered),
            key=lambda info: info.provider,
        )
        if not connections:
            raise NoProviderConnected(offered)
        providers: list[CloudProvider] = []
        notes: list[str] = []
        first_error: AuthError | None = None
        for info in connections:
            try:
                opened = await stack.enter_async_context(
                    open_provider(ctx, user_id=user_id, provider=info.provider, connection=info)
                )
            except (ProviderNotConnected, ReauthorizationRequired) as error:
                first_error = first_error or error
                notes.append(str(error))
                continue
            providers.append(opened)
        if not providers:
            assert first_error is not None
            raise first_error
        yield providers, notes
