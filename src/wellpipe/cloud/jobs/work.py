"""What the jobs do: open a user's provider in the background lane, fetch, store.

Every handler is idempotent: a fetch upserts by (provider, kind, source id), a delete
deletes (deleting what is gone is a no-op), a day re-read replaces exactly those days,
and a backfill resumes from the cursor the store saved with its last page. Running a
job twice (at-least-once delivery) leaves the store as running it once.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from uuid import UUID

import httpx2

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.services.health import ProviderNotConnected, connector_for
from wellpipe.cloud.services.tokens import (
    DatabaseTokenProvider,
    connection_status,
    reconnect_action,
)
from wellpipe.cloud.services.upstream import budget_for
from wellpipe.core.errors import ConfigError, NotFound, ReauthorizationRequired
from wellpipe.core.history import HistoryStore
from wellpipe.core.models import DataKind, DayRange, Record, TimeWindow
from wellpipe.core.sync import SyncableProvider, SyncReport, backfill, refresh
from wellpipe.oauth import ClientCredentials
from wellpipe.providers.connector import ConnectedProvider

__all__ = [
    "GOOGLE_KINDS",
    "OURA_DAY_KINDS",
    "OURA_KINDS",
    "HistoryOpener",
    "handle_google",
    "handle_oura",
    "handle_whoop",
    "open_background",
    "open_history",
    "reconcile",
    "reread_days",
    "run_backfill",
]

logger = logging.getLogger(__name__)

HistoryOpener = Callable[[CloudContext, str], Any]
"""``(ctx, user_id)`` to the user's `HistoryStore` (or an async context manager of one)."""

OURA_KINDS: dict[str, DataKind] = {
    "sleep": DataKind.SLEEP,
    "daily_readiness": DataKind.READINESS,
    "daily_activity": DataKind.ACTIVITY,
    "workout": DataKind.WORKOUT,
}
"""Oura data types whose document is one Wellpipe record (fetched by ``object_id``)."""
OURA_DAY_KINDS: dict[str, frozenset[DataKind]] = {
    "daily_sleep": frozenset({DataKind.SLEEP}),  # the night's score lives on the sleep
    "daily_spo2": frozenset({DataKind.VITALS}),
    "daily_stress": frozenset({DataKind.VITALS}),
    "vo2_max": frozenset({DataKind.VITALS}),
    "daily_cardiovascular_age": frozenset({DataKind.VITALS}),
    "daily_resilience": frozenset({DataKind.VITALS}),
}
"""Oura data types that feed a day's composite record: the day is read again."""

GOOGLE_KINDS: dict[str, frozenset[DataKind]] = {
    "sleep": frozenset({DataKind.SLEEP}),
    "exercise": frozenset({DataKind.WORKOUT}),
    "steps": frozenset({DataKind.ACTIVITY}),
    "distance": frozenset({DataKind.ACTIVITY}),
    "floors": frozenset({DataKind.ACTIVITY}),
    "total-calories": frozenset({DataKind.ACTIVITY}),
    "active-zone-minutes": frozenset({DataKind.ACTIVITY}),
    "active-minutes": frozenset({DataKind.ACTIVITY}),
    "heart-rate": frozenset({DataKind.VITALS}),
    "daily-resting-heart-rate": frozenset({DataKind.VITALS}),
    "daily-heart-rate-variability": frozenset({DataKind.VITALS}),
    "daily-oxygen-saturation": frozenset({DataKind.VITALS}),
    "daily-respiratory-rate": frozenset({DataKind.VITALS}),
    "daily-sleep-temperature-derivations": frozenset({DataKind.VITALS}),
    "daily-vo2-max": frozenset({DataKind.VITALS}),
}
"""Google Health data types (kebab-case, as notifications name them) to Wellpipe kinds."""

_MAX_EVENT_DAYS = 14
"""The most days one notification makes a job read again (a wider one is clipped)."""


# ------------------------------------------------------------------ the user's store
def _default_history(ctx: CloudContext, user_id: str) -> Any:
    from wellpipe.cloud.db.history import UserHistory  # lands with the encrypted store

    return UserHistory.of(ctx, user_id)


@asynccontextmanager
async def open_history(
    ctx: CloudContext, user_id: str, opener: HistoryOpener | None = None
) -> AsyncIterator[HistoryStore]:
    """The user's history store (`wellpipe.cloud.db.history.UserHistory` by default)."""
    made = (opener or _default_history)(ctx, user_id)
    if hasattr(made, "__aenter__"):
        async with made as store:
            yield store
    else:
        yield made


# ------------------------------------------------------------------ the provider
def _transport(ctx: CloudContext, extras: dict[str, Any]) -> httpx2.AsyncBaseTransport:
    if ctx.provider_transport is not None:
        return ctx.provider_transport
    pool = extras.get("http")
    if pool is None:
        pool = extras["http"] = httpx2.AsyncHTTPTransport(
            limits=httpx2.Limits(max_connections=50, max_keepalive_connections=10)
        )
    assert isinstance(pool, httpx2.AsyncBaseTransport)
    return pool


@asynccontextmanager
async def open_background(
    ctx: CloudContext, *, user_id: str, provider: str, extras: dict[str, Any]
) -> AsyncIterator[ConnectedProvider]:
    """The user's provider, its requests in the budget's background lane (no answer cache).

    Raises:
        ProviderNotConnected: the user has no connection to ``provider`` (any more).
        ReauthorizationRequired: the connection's grant is dead.
        ConfigError: the service has no developer app for ``provider``.
    """
    connector = connector_for(ctx, provider)
    display = connector.info.display_name
    found = next((c for c in await connection_status(ctx, user_id) if c.provider == provider), None)
    if found is None:
        raise ProviderNotConnected(provider=provider, display_name=display)
    if found.status != "active":
        raise ReauthorizationRequired(
            provider=provider,
            reason=found.status_reason or "the connection was cut",
            action=reconnect_action(provider),
        )
    pair = ctx.settings.credentials_for(provider)
    if pair is None:
        raise ConfigError(
            f"{display} is not set up on this Wellpipe service; the operator must set "
            f"WELLPIPE_{provider.upper()}_CLIENT_ID and _CLIENT_SECRET."
        )
    budget = budget_for(ctx, provider).for_background(user_id)
    async with AsyncExitStack() as stack:
        opened = await stack.enter_async_context(
            connector.open_account(
                credentials=ClientCredentials(
                    client_id=pair[0],
                    client_secret=pair[1],
                    redirect_uri=f"{ctx.settings.public_url}/callback/{provider}",
                ),
                tokens=DatabaseTokenProvider(ctx, user_id=user_id, provider=provider),
                location=connector.location(ctx.provider_base_urls.get(provider)),
                clock=ctx.clock,
                transport=_transport(ctx, extras),
                throttle=budget,
                reconnect_action=reconnect_action(provider),
                credentials_hint=f"{display} refused this service's app credentials",
            )
        )
        try:
            yield opened
        finally:
            await budget.flush()


# ------------------------------------------------------------------ shared steps
def _window(first: date, last: date) -> TimeWindow:
    """A UTC window holding every local day ``first``..``last``, in any timezone."""
    start = datetime.combine(first - timedelta(days=1), time(0), tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=2), time(0), tzinfo=UTC)
    return TimeWindow(start=start, end=end)


async def reread_days(
    opened: ConnectedProvider,
    store: HistoryStore,
    *,
    provider: str,
    kinds: Collection[DataKind],
    first: date,
    last: date,
    now: datetime,
) -> int:
    """Read ``kinds`` of days ``first``..``last`` again and make the store hold exactly that.

    Returns how many rows changed. Kinds the provider does not serve are left out.
    """
    served = set(kinds) & set(opened.info.kinds)
    if not served:
        return 0
    records = await opened.read(served, _window(first, last))
    kept = [r for r in records.all() if first <= r.day <= last]
    return await store.replace(provider, served, DayRange(first=first, last=last), kept, now=now)


async def _put_or_remove(
    opened: ConnectedProvider,
    store: HistoryStore,
    *,
    provider: str,
    kind: DataKind,
    source_id: str,
    now: datetime,
) -> str:
    """Fetch one record and upsert it; a record the provider no longer has is removed."""
    try:
        record = await opened.record(kind, source_id)
    except NotFound:
        await store.remove(provider, kind, source_id)
        return "removed"
    await store.put([record], now=now)
    return "stored"


# ------------------------------------------------------------------ WHOOP
async def _recoveries_of_sleep(store: HistoryStore, provider: str, sleep_id: str) -> list[Record]:
    """The kept recoveries placed by sleep ``sleep_id`` (by its day, else a scan)."""
    sleep = await store.get(provider, DataKind.SLEEP, sleep_id)
    found: list[Any] = []
    if sleep is not None:
        days = DayRange(first=sleep.day - timedelta(days=1), last=sleep.day + timedelta(days=1))
        kept = await store.read(provider, [DataKind.RECOVERY], days)
        found = [r for r in kept.recoveries if r.sleep_source_id == sleep_id]
    else:
        async for record in store.scan(provider, [DataKind.RECOVERY]):
            if getattr(record, "sleep_source_id", None) == sleep_id:
                found.append(record)
    return found


async def handle_whoop(
    opened: ConnectedProvider, store: HistoryStore, event: Mapping[str, Any], *, now: datetime
) -> str:
    """One WHOOP event: ``{type, id}``. Recovery events carry the *sleep's* id.

    ``recovery.updated``: GET the sleep → its ``cycle_id`` → GET the cycle's recovery;
    both are stored. ``*.deleted`` removes (a sleep's deletion also removes its recovery).
    """
    from wellpipe.providers.whoop import mapping
    from wellpipe.providers.whoop.provider import WhoopProvider

    provider = "whoop"
    kind_name, _, action = str(event.get("type", "")).partition(".")
    source_id = str(event.get("id", ""))
    if kind_name == "workout":
        if action == "deleted":
            await store.remove(provider, DataKind.WORKOUT, source_id)
            return "removed"
        return await _put_or_remove(
            opened, store, provider=provider, kind=DataKind.WORKOUT, source_id=source_id, now=now
        )
    if kind_name == "sleep":
        if action == "deleted":
            for recovery in await _recoveries_of_sleep(store, provider, source_id):
                await store.remove(provider, DataKind.RECOVERY, recovery.source_id)
            await store.remove(provider, DataKind.SLEEP, source_id)
            return "removed"
        return await _put_or_remove(
            opened, store, provider=provider, kind=DataKind.SLEEP, source_id=source_id, now=now
        )
    if kind_name == "recovery":
        if action == "deleted":
            for recovery in await _recoveries_of_sleep(store, provider, source_id):
                await store.remove(provider, DataKind.RECOVERY, recovery.source_id)
            return "removed"
        if not isinstance(opened, WhoopProvider):  # pragma: no cover - a wiring mistake
            raise TypeError("a WHOOP event needs the WHOOP provider")
        try:
            wire_sleep = await opened.client.get_sleep(UUID(source_id))
            wire_recovery = await opened.client.get_recovery_for_cycle(wire_sleep.cycle_id)
        except (NotFound, ValueError):
            for gone in await _recoveries_of_sleep(store, provider, source_id):
                await store.remove(provider, DataKind.RECOVERY, gone.source_id)
            return "removed"
        records: list[Record] = [
            mapping.sleep_to_core(wire_sleep),
            mapping.recovery_to_core(wire_recovery, sleep=wire_sleep, cycle=None),
        ]
        await store.put(records, now=now)
        return "stored"
    return "ignored"


# ------------------------------------------------------------------ Oura
def _day_of(value: Any, fallback: date) -> date:
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return fallback
    return fallback


async def _oura_document_day(
    opened: ConnectedProvider,
    data_type: str,
    object_id: str,
    event: Mapping[str, Any],
    *,
    now: datetime,
) -> date:
    """The day an Oura day-level event is about: the document's own ``day``.

    ``event_time`` is when the document changed, which is days after its ``day`` when a
    ring syncs late; it stands in only when the document cannot be read (deleted, or an
    id Oura does not know).
    """
    from wellpipe.providers.oura.provider import OuraProvider

    fallback = _day_of(event.get("event_time"), now.date())
    if event.get("event_type") == "delete" or not object_id:
        return fallback
    if not isinstance(opened, OuraProvider):  # pragma: no cover - a wiring mistake
        raise TypeError("an Oura event needs the Oura provider")
    try:
        return await opened.client.document_day(data_type, object_id)
    except NotFound:
        return fallback


async def handle_oura(
    opened: ConnectedProvider, store: HistoryStore, event: Mapping[str, Any], *, now: datetime
) -> str:
    """One Oura event: ``{event_type, data_type, object_id, event_time}``.

    A document that is one record is fetched by id (or removed on ``delete``); a data
    type that feeds a day's composite record makes that document's day (± 1) be read
    again (the document is read first for its ``day``).
    """
    provider = "oura"
    data_type = str(event.get("data_type", ""))
    object_id = str(event.get("object_id", ""))
    kind = OURA_KINDS.get(data_type)
    if kind is not None:
        if event.get("event_type") == "delete":
            await store.remove(provider, kind, object_id)
            return "removed"
        return await _put_or_remove(
            opened, store, provider=provider, kind=kind, source_id=object_id, now=now
        )
    kinds = OURA_DAY_KINDS.get(data_type)
    if kinds is None:
        return "ignored"
    day = await _oura_document_day(opened, data_type, object_id, event, now=now)
    await reread_days(
        opened,
        store,
        provider=provider,
        kinds=kinds,
        first=day - timedelta(days=1),
        last=min(day + timedelta(days=1), now.date()),
        now=now,
    )
    return "reread"


# ------------------------------------------------------------------ Google Health
def _dates_in(value: Any) -> Iterable[date]:
    """Every date a Google interval names: ISO strings, or ``{year, month, day}`` objects."""
    if isinstance(value, Mapping):
        if {"year", "month", "day"} <= set(value):
            try:
                found = date(int(value["year"]), int(value["month"]), int(value["day"]))
            except (TypeError, ValueError):
                return
            yield found
            return
        for inner in value.values():
            yield from _dates_in(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _dates_in(inner)
    elif isinstance(value, str) and len(value) >= 10:
        try:
            yield date.fromisoformat(value[:10])
        except ValueError:
            return


async def handle_google(
    opened: ConnectedProvider, store: HistoryStore, event: Mapping[str, Any], *, now: datetime
) -> str:
    """One Google Health notification: ``{dataType, operation, intervals}`` (no values).

    Notifications carry no measurements, only which days changed: those days of the
    data type's kinds are read again (an ``UPSERT`` or a ``DELETE`` alike).
    """
    provider = opened.info.name
    kinds = GOOGLE_KINDS.get(str(event.get("dataType", "")))
    if kinds is None:
        kinds = frozenset({DataKind.ACTIVITY, DataKind.VITALS})
    days = sorted(set(_dates_in(event.get("intervals", []))))
    today = now.date()
    first = days[0] if days else today - timedelta(days=1)
    last = min(days[-1] if days else today, today)
    first = max(first, last - timedelta(days=_MAX_EVENT_DAYS - 1))
    await reread_days(
        opened, store, provider=provider, kinds=kinds, first=first, last=last, now=now
    )
    return "reread"


# ------------------------------------------------------------------ sync
async def run_backfill(
    ctx: CloudContext, opened: ConnectedProvider, store: HistoryStore
) -> SyncReport:
    """Backfill the user's history (`wellpipe.core.sync.backfill`), resuming from its cursors.

    Raises:
        ConfigError: the provider cannot be read page by page (no built-in one).
    """
    if not (callable(getattr(opened, "streams", None)) and callable(getattr(opened, "page", None))):
        raise ConfigError(f"{opened.info.display_name} cannot be backfilled page by page.")
    return await backfill(cast(SyncableProvider, opened), store, clock=ctx.clock)


async def reconcile(
    ctx: CloudContext, opened: ConnectedProvider, store: HistoryStore
) -> SyncReport:
    """Catch up on what webhooks missed (`wellpipe.core.sync.refresh`)."""
    return await refresh(opened, store, clock=ctx.clock)
