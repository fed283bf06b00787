"""Async client for Oura's API v2 member-data routes. Returns wire models.

Collections take ``start_date``/``end_date`` (the member's local days; Oura
documents no inclusivity, see `OuraProvider.read` for how Wellpipe pads them)
or, for the heart-rate series, ``start_datetime``/``end_datetime``. They follow
``next_token`` to the end, keeping the same bounds on every page, and stop on a
token that comes back twice or after ``max_pages`` pages. Every request is
throttled to the app's budget, retried on 429 (after ``Retry-After``) and 5xx,
and authenticated with a bearer token that refreshes itself.

Errors: 401 (after one refresh) is `ReauthorizationRequired`; 403 is
`ScopeNotGranted` naming the scope the route needs (Oura answers 403 for a
lapsed membership too, and the message says so); 404 is `NotFound`; anything
else unexpected is `ProviderResponseError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Final, TypeVar
from urllib.parse import quote

import httpx2
from pydantic import BaseModel

from wellpipe.core.errors import (
    NotFound,
    ProviderResponseError,
    ScopeNotGranted,
    default_reconnect_action,
)
from wellpipe.core.ports import Clock
from wellpipe.net import Reply, RequestBudget, RetryPolicy, parse_reply
from wellpipe.providers.api import ApiRequests, PageTokens, raise_for_status
from wellpipe.providers.oura import schemas as wire

__all__ = ["ROUTE_SCOPES", "OuraClient", "format_instant", "scope_error"]

_API: Final = "/v2/usercollection"
_PROVIDER: Final = "oura"

ROUTE_SCOPES: Final[dict[str, tuple[str, str]]] = {
    "personal_info": ("personal", "your Oura profile"),
    "daily_sleep": ("daily", "Oura's daily sleep score"),
    "sleep": ("daily", "sleep data"),
    "daily_readiness": ("daily", "readiness data"),
    "daily_activity": ("daily", "activity data"),
    "daily_stress": ("daily", "stress data"),
    "vO2_max": ("daily", "VO2 max data"),
    "daily_spo2": ("spo2Daily", "blood oxygen (SpO2) data"),
    "workout": ("workout", "workout data"),
    "session": ("session", "session data"),
    "heartrate": ("heartrate", "heart rate data"),
}
"""Per route: the scope Oura wants for it, and what it is, for the 403 message."""


class _Day(BaseModel):
    """Only the ``day`` of a daily document (the rest is ignored)."""

    day: date


ModelT = TypeVar("ModelT", bound=BaseModel)
RecordT = TypeVar("RecordT", bound=BaseModel)

_DOCUMENT_MODELS: Final[dict[str, type[BaseModel]]] = {
    "daily_sleep": wire.PublicDailySleep,
    "sleep": wire.PublicModifiedSleepModel,
    "daily_readiness": wire.PublicDailyReadiness,
    "daily_activity": wire.PublicDailyActivity,
    "daily_spo2": wire.PublicDailySpO2,
    "daily_stress": wire.PublicDailyStress,
    "vO2_max": wire.PublicVO2Max,
    "workout": wire.PublicWorkout,
    "session": wire.PublicSession,
}
"""Each document route's model, by route."""


def format_instant(instant: datetime) -> str:
    """An aware instant as a heart-rate bound: UTC, whole seconds, ``Z``."""
    if instant.tzinfo is None:
        raise ValueError("Oura query times must be timezone-aware")
    return instant.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def scope_error(route: str, reconnect_action: str | None = None) -> ScopeNotGranted:
    """The error for a 403 on ``route``: the scope is missing, or the membership lapsed."""
    scope, what = ROUTE_SCOPES.get(route, ("daily", f"Oura's {route} data"))
    reconnect = reconnect_action or default_reconnect_action(_PROVIDER)
    return ScopeNotGranted(
        provider=_PROVIDER,
        scope=scope,
        needed_for=what,
        action=(
            f"{reconnect} and leave the `{scope}` permission ticked; if it was ticked, "
            "the Oura membership may have lapsed (Oura refuses API access without one), "
            "so renew it in the Oura app"
        ),
    )


class OuraClient:
    """Reads one Oura member's data.

    Construct it with an `httpx2.AsyncClient` whose ``base_url`` is Oura's API
    origin (see `OuraSettings`), and an auth that adds the member's bearer
    token (normally `RefreshingAuth`).
    """

    def __init__(
        self,
        http: httpx2.AsyncClient,
        *,
        auth: httpx2.Auth,
        clock: Clock,
        throttle: RequestBudget | None = None,
        retry: RetryPolicy = RetryPolicy(),
        max_pages: int = 2_000,
        reconnect_action: str | None = None,
    ) -> None:
        """Create a client.

        Args:
            http: Client pointed at Oura's API origin.
            auth: Adds (and refreshes) the bearer token.
            clock: Time source.
            throttle: The Oura app's request budget, shared by every client of the app.
            retry: Retry policy for 429, 5xx and network failures.
            max_pages: Safety stop for one collection read.
            reconnect_action: What to tell a user whose token Oura refuses.
        """
        if max_pages < 1:
            raise ValueError("max_pages must be at least 1")
        self._api = ApiRequests(http, _PROVIDER, clock, retry, throttle, auth)
        self._max_pages = max_pages
        self._reconnect_action = reconnect_action

    # ------------------------------------------------------------ daily documents
    def daily_sleeps(
        self, *, start_date: date | None = None, end_date: date | None = None
    ) -> AsyncIterator[wire.PublicDailySleep]:
        """Daily sleep scores (``/daily_sleep``)."""
        return self._documents("daily_sleep", wire.PublicDailySleep, start_date, end_date)

    async def get_daily_sleep(self, document_id: str) -> wire.PublicDailySleep:
        """One daily sleep score by id."""
        return await self._document("daily_sleep", document_id, wire.PublicDailySleep)

    def sleeps(
        self, *, start_date: date | None = None, end_date: date | None = None
    ) -> AsyncIterator[wire.PublicModifiedSleepModel]:
        """Sleep periods (``/sleep``): several a day (nights, naps, rejected rests)."""
        return self._documents("sleep", wire.PublicModifiedSleepModel, start_date, end_date)

    async def get_sleep(self, document_id: str) -> wire.PublicModifiedSleepModel:
        """One sleep period by id."""
        return await self._document("sleep", document_id, wire.PublicModifiedSleepModel)

    def daily_readiness(
        self, *, start_date: date | None = None, end_date: date | None = None
    ) -> AsyncIterator[wire.PublicDailyReadiness]:
        """Daily readiness (``/daily_readiness``)."""
        return self._documents("daily_readiness", wire.PublicDailyReadiness, start_date, end_date)

    async def get_daily_readiness(self, document_id: str) -> wire.PublicDailyReadiness:
        """One daily readiness by id."""
        return await self._document("daily_readiness", document_id, wire.PublicDailyReadiness)

    def daily_activity(
        self, *, start_date: date | None = None, end_date: date | None = None
    ) -> AsyncIterator[wire.PublicDailyActivity]:
        """Daily activity (``/daily_activity``)."""
        return self._documents("daily_activity", wire.PublicDailyActivity, start_date, end_date)

    async def get_daily_activity(self, document_id: str) -> wire.PublicDailyActivity:
        """One daily activity by id."""
        return await self._document("daily_activity", document_id, wire.PublicDailyActivity)

    def daily_spo2(
        self, *, start_date: date | None = None, end_date: date | None = None
    ) -> AsyncIterator[wire.PublicDailySpO2]:
        """Daily SpO2 (``/daily_spo2``, Gen 3 rings and later)."""
        return self._documents("daily_spo2", wire.PublicDailySpO2, start_date, end_date)

    async def get_daily_spo2(self, document_id: str) -> wire.PublicDailySpO2:
        """One daily SpO2 by id."""
        return await self._document("daily_spo2", document_id, wire.PublicDailySpO2)

    def daily_stress(
        self, *, start_date: date | None = None, end_date: date | None = None
    ) -> AsyncIterator[wire.PublicDailyStress]:
        """Daily stress (``/daily_stress``)."""
        return self._documents("daily_stress", wire.PublicDailyStress, start_date, end_date)

    async def get_daily_stress(self, document_id: str) -> wire.PublicDailyStress:
        """One daily stress by id."""
        return await self._document("daily_stress", document_id, wire.PublicDailyStress)

    def vo2_max(
        self, *, start_date: date | None = None, end_date: date | None = None
    ) -> AsyncIterator[wire.PublicVO2Max]:
        """VO2 max estimates (``/vO2_max``, Oura's casing)."""
        return self._documents("vO2_max", wire.PublicVO2Max, start_date, end_date)

    async def get_vo2_max(self, document_id: str) -> wire.PublicVO2Max:
        """One VO2 max estimate by id."""
        return await self._document("vO2_max", document_id, wire.PublicVO2Max)

    # ------------------------------------------------------------ timed documents
    def workouts(
        self, *, start_date: date | None = None, end_date: date | None = None
    ) -> AsyncIterator[wire.PublicWorkout]:
        """Workouts (``/workout``)."""
        return self._documents("workout", wire.PublicWorkout, start_date, end_date)

    async def get_workout(self, document_id: str) -> wire.PublicWorkout:
        """One workout by id."""
        return await self._document("workout", document_id, wire.PublicWorkout)

    def sessions(
        self, *, start_date: date | None = None, end_date: date | None = None
    ) -> AsyncIterator[wire.PublicSession]:
        """Sessions (``/session``): breathing, meditation and other Moments."""
        return self._documents("session", wire.PublicSession, start_date, end_date)

    async def get_session(self, document_id: str) -> wire.PublicSession:
        """One session by id."""
        return await self._document("session", document_id, wire.PublicSession)

    def heartrate(
        self, *, start_datetime: datetime | None = None, end_datetime: datetime | None = None
    ) -> AsyncIterator[wire.PublicHeartRateRow]:
        """Heart-rate samples (``/heartrate``, 5-minute steps) between two instants."""
        params: dict[str, str] = {}
        if start_datetime is not None:
            params["start_datetime"] = format_instant(start_datetime)
        if end_datetime is not None:
            params["end_datetime"] = format_instant(end_datetime)
        return self._collect("heartrate", wire.TimeSeriesPage[wire.PublicHeartRateRow], params)

    # ------------------------------------------------------------ user
    async def get_personal_info(self) -> wire.PersonalInfo:
        """The member's id, age, sex, height, weight and email (``/personal_info``)."""
        path = "/personal_info"
        reply = await self._request(f"{_API}{path}", f"{_API}{path}", None, auth=True)
        return self._parse(reply, wire.PersonalInfo, route="personal_info", what="personal info")

    async def revoke_token(self, access_token: str) -> bool:
        """Revoke a token, and with it this app's grant (``GET /oauth/revoke?access_token=``).

        The route is not in Oura's OpenAPI document; it is the one third-party
        clients use. Returns whether Oura revoked it (``False``: Oura says the
        token was invalid already, which leaves the same result).

        Raises:
            ProviderResponseError: Oura answered something else.
        """
        reply = await self._request(
            "/oauth/revoke", "/oauth/revoke", {"access_token": access_token}, auth=False
        )
        if reply.status_code in (200, 204):
            return True
        if reply.status_code in (400, 401):
            return False
        raise ProviderResponseError(
            provider=_PROVIDER,
            endpoint=reply.endpoint,
            problem=f"Oura answered HTTP {reply.status_code}",
            status=reply.status_code,
        )

    # ------------------------------------------------------------ one page
    async def documents_page(
        self,
        route: str,
        *,
        start_date: date | None,
        end_date: date | None,
        next_token: str | None = None,
    ) -> tuple[list[BaseModel], str | None]:
        """One page of a document route (``sleep``, ``daily_readiness``...), oldest first.

        For a sync that stores each page before it reads the next: the documents (wire
        models) and the token of the next page (``None``: the last). Pass the same dates
        with every token.
        """
        model = _DOCUMENT_MODELS[route]
        params: dict[str, str] = {}
        if start_date is not None:
            params["start_date"] = start_date.isoformat()
        if end_date is not None:
            params["end_date"] = end_date.isoformat()
        if next_token is not None:
            params["next_token"] = next_token
        path = f"{_API}/{route}"
        reply = await self._request(path, path, params, auth=True)
        page = self._parse(
            reply,
            wire.DocumentPage[model],  # type: ignore[valid-type]
            route=route,
            what=f"{route} collection",
        )
        return list(page.data), page.next_token or None

    # ------------------------------------------------------------ plumbing
    def _documents(
        self,
        route: str,
        model: type[RecordT],
        start_date: date | None,
        end_date: date | None,
    ) -> AsyncIterator[RecordT]:
        params: dict[str, str] = {}
        if start_date is not None:
            params["start_date"] = start_date.isoformat()
        if end_date is not None:
            params["end_date"] = end_date.isoformat()
        return self._collect(route, wire.DocumentPage[model], params)  # type: ignore[valid-type]

    async def _collect(
        self,
        route: str,
        page_model: type[wire.DocumentPage[RecordT]] | type[wire.TimeSeriesPage[RecordT]],
        params: dict[str, str],
    ) -> AsyncIterator[RecordT]:
        path = f"{_API}/{route}"
        guard = PageTokens(provider=_PROVIDER, field="next_token", max_pages=self._max_pages)
        for _ in guard.pages():
            reply = await self._request(path, path, params, auth=True)
            page = self._parse(reply, page_model, route=route, what=f"{route} collection")
            for record in page.data:
                yield record
            token = page.next_token
            if not token:
                return
            guard.check(token, reply.endpoint)
            params = {**params, "next_token": token}
        raise guard.endless(f"GET {path}")

    async def document_day(self, route: str, document_id: str) -> date:
        """The ``day`` of one daily document of ``route`` (``daily_sleep``, ``daily_spo2``, …).

        What a webhook about a day-level document needs: which day it is about (its
        ``event_time`` says when it changed, which can be days later).
        """
        return (await self._document(route, document_id, _Day)).day

    async def _document(self, route: str, document_id: str, model: type[ModelT]) -> ModelT:
        what = f"{route} document {document_id!r}"
        if not document_id or document_id in (".", ".."):
            raise NotFound(provider=_PROVIDER, endpoint=None, what=what)
        path = f"{_API}/{route}/{quote(document_id, safe='')}"
        reply = await self._request(path, f"{_API}/{route}/{{document_id}}", None, auth=True)
        return self._parse(reply, model, route=route, what=what)

    async def _request(
        self, url: str, template: str, params: dict[str, str] | None, *, auth: bool
    ) -> Reply:
        return await self._api.send(
            "GET", url, endpoint=f"GET {template}", params=params, authenticated=auth
        )

    def _parse(self, reply: Reply, model: type[ModelT], *, route: str, what: str) -> ModelT:
        if reply.status_code != 200:
            self._raise_for_status(reply, route, what)
        return parse_reply(model, reply, provider=_PROVIDER)

    def _raise_for_status(self, reply: Reply, route: str, what: str) -> None:
        if reply.status_code == 403:
            raise scope_error(route, self._reconnect_action)
        raise_for_status(
            reply,
            provider=_PROVIDER,
            display_name="Oura",
            what=what,
            reconnect_action=self._reconnect_action,
        )
