"""Oura as a `SyncSource`: its document routes, page by page, oldest first.

Oura serves every route **oldest first** and takes no page size (the pages are Oura's:
`PAGE_SIZE` documents in the sandbox, the size clients measured), so a backfill cannot
go newest first without paying for it; it goes oldest first, at the fewest requests:

* ``daily_activity`` and ``workout`` map one document to one record: each is one
  stream, one query over the whole window following ``next_token``: ⌈documents / page⌉
  requests.
* Sleeps, readiness and vitals are joined across six routes day by day (a night's score
  is the day's ``daily_sleep``; a day's vitals merge ``daily_spo2``, ``daily_stress``,
  ``vO2_max``, ``daily_readiness`` and the night's ``sleep``). They are one stream,
  ``daily``, read in chunks of `CHUNK_DAYS` whole days: each chunk asks each route once
  for its days (one more on each side, as `query_days` does, then cut), a day-a-document
  route fitting one page; ``sleep`` (naps too) may take a second. The first chunk
  starts the day before the member's first ``sleep`` (one request finds it), so the
  empty years before the ring cost nothing. The cursor is the next chunk's first day.

A route refused for a missing permission that only adds to a kind (``daily_sleep``,
``daily_spo2``, ``daily_stress``, ``vO2_max``) is read as empty, as `OuraProvider.read`
leaves it out; one a kind cannot do without fails the page (reconnect, then resume).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, Final

from pydantic import BaseModel

from wellpipe.core.errors import ScopeNotGranted
from wellpipe.core.history import Page, RecordLookup, Stream
from wellpipe.core.models import DataKind, Record, TimeWindow
from wellpipe.providers.oura import mapping
from wellpipe.providers.oura.client import OuraClient
from wellpipe.providers.oura.info import INFO
from wellpipe.providers.oura.provider import query_days
from wellpipe.providers.reading import Mapper

__all__ = ["CHUNK_DAYS", "PAGE_SIZE", "STREAMS", "sync_page"]

PAGE_SIZE: Final = 50
"""Documents per page (Oura's choice: no parameter sets it)."""

CHUNK_DAYS: Final = PAGE_SIZE - 2
"""Days per chunk of the joined stream: with a day more on each side, a route holding a
document a day fits one page."""

STREAMS: Final = (
    Stream("daily_activity", frozenset({DataKind.ACTIVITY}), PAGE_SIZE),
    Stream("workout", frozenset({DataKind.WORKOUT}), PAGE_SIZE),
    Stream("daily", frozenset({DataKind.SLEEP, DataKind.READINESS, DataKind.VITALS}), PAGE_SIZE),
)
"""The streams, in the order a backfill reads them."""

_JOINED: Final = (
    "sleep",
    "daily_sleep",
    "daily_readiness",
    "daily_spo2",
    "daily_stress",
    "vO2_max",
)
_OPTIONAL: Final = frozenset({"daily_sleep", "daily_spo2", "daily_stress", "vO2_max"})
_ONE_DAY: Final = timedelta(days=1)
_MAP: Final = Mapper(INFO.name)


async def sync_page(
    client: OuraClient,
    stream: str,
    window: TimeWindow,
    cursor: str | None,
    *,
    lookup: RecordLookup,
) -> Page:
    """One page of ``stream`` within ``window``, from ``cursor`` (see the module).

    Raises:
        ValueError: ``stream`` is not one of `STREAMS`, or the cursor is not this
            module's.
        ProviderError: the page could not be read.
    """
    del lookup  # every Oura record stands on the documents of its own day
    first, end = query_days(window)
    if stream in ("daily_activity", "workout"):
        found, token = await client.documents_page(
            stream, start_date=first, end_date=end, next_token=cursor
        )
        convert = (
            mapping.activity_to_core if stream == "daily_activity" else mapping.workout_to_core
        )
        mapped = tuple(_MAP.one(doc, convert, stream) for doc in found)  # type: ignore[arg-type]
        return Page(records=mapped, cursor=token)
    if stream != "daily":
        raise ValueError(f"Oura has no stream {stream!r}")
    requests = 0
    if cursor is None:
        found, _ = await client.documents_page("sleep", start_date=first, end_date=end)
        requests += 1
        if not found:
            return Page(records=(), cursor=None, requests=requests)
        chunk_first = max(first, min(doc.day for doc in found) - _ONE_DAY)  # type: ignore[attr-defined]
    else:
        chunk_first = date.fromisoformat(cursor)
    chunk_last = min(end, chunk_first + timedelta(days=CHUNK_DAYS - 1))
    routes: dict[str, list[Any]] = {}
    for route in _JOINED:
        docs, spent = await _chunk(client, route, chunk_first, chunk_last)
        routes[route] = list(docs)
        requests += spent
    sleeps = routes["sleep"]
    records: list[Record] = [
        *_MAP.call(lambda: mapping.sleeps_to_core(sleeps, routes["daily_sleep"]), "sleep"),
        *(
            _MAP.one(doc, mapping.readiness_to_core, "readiness")
            for doc in routes["daily_readiness"]
        ),
        *_MAP.call(
            lambda: mapping.vitals_by_day(
                spo2=routes["daily_spo2"],
                stress=routes["daily_stress"],
                vo2_max=routes["vO2_max"],
                readiness=routes["daily_readiness"],
                sleeps=sleeps,
            ),
            "vitals",
        ),
    ]
    following = None if chunk_last >= end else (chunk_last + _ONE_DAY).isoformat()
    return Page(records=tuple(records), cursor=following, requests=requests)


async def _chunk(
    client: OuraClient, route: str, first: date, last: date
) -> tuple[Sequence[BaseModel], int]:
    """Every document of ``route`` whose day is ``first`` to ``last``, and the requests spent."""
    docs: list[BaseModel] = []
    token: str | None = None
    requests = 0
    while True:
        requests += 1
        try:
            page, token = await client.documents_page(
                route, start_date=first - _ONE_DAY, end_date=last + _ONE_DAY, next_token=token
            )
        except ScopeNotGranted:
            if route in _OPTIONAL:
                return [], requests
            raise
        docs += [doc for doc in page if first <= doc.day <= last]  # type: ignore[attr-defined]
        if token is None:
            return docs, requests
