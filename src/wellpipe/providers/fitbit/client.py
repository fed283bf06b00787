"""Async client for the Google Health API v4 reads Wellpipe needs. Returns wire models.

* ``list`` and ``reconcile`` follow ``nextPageToken`` to the end, keeping the
  same ``filter`` and ``pageSize`` on every page, and stop on a repeated token
  or after ``max_pages``.
* ``dailyRollUp`` answers without ``nextPageToken``; ranges longer than Google's
  limit for the type (14 days for heart-rate, total-calories, active-minutes
  and calories-in-heart-rate-zone, 90 days for the rest) are split into
  consecutive requests. ``rollUp`` is split the same way and pages in its body.
* The parent is always ``users/me``: Google refuses its own numeric user id
  there.
* Every request goes through `wellpipe.net.send`: throttled, retried on 429
  (after ``Retry-After`` when Google sends one) and 5xx, and authenticated
  with a bearer token that refreshes itself.
* Google's AIP-193 error envelope becomes Wellpipe's errors (`raise_for_reply`).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, TypeVar

import httpx2
from pydantic import BaseModel, ValidationError

from wellpipe.core.errors import (
    NotFound,
    ProviderError,
    ProviderResponseError,
    ReauthorizationRequired,
    ScopeNotGranted,
)
from wellpipe.core.ports import Clock
from wellpipe.net import Reply, RequestBudget, RetryPolicy, parse_reply
from wellpipe.providers.api import ApiRequests, PageTokens
from wellpipe.providers.fitbit import schemas as wire
from wellpipe.providers.fitbit.info import (
    ACTIVITY_SCOPE,
    HEALTH_METRICS_SCOPE,
    PROFILE_SCOPE,
    SETTINGS_SCOPE,
    SLEEP_SCOPE,
)

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "SESSION_PAGE_SIZE",
    "AccountNotLinked",
    "GoogleHealthClient",
    "format_instant",
    "raise_for_reply",
    "rollup_range_limit",
]

_API: Final = "/v4/users/me"
_PROVIDER: Final = "fitbit"

SESSION_PAGE_SIZE: Final = 25
"""Google's default and largest page for ``sleep`` and ``exercise``."""
DEFAULT_PAGE_SIZE: Final = 1440
"""Google's default page for every other type (the largest is 10,000)."""
_MAX_PAGE_SIZE: Final = 10_000
MAX_PAGE_SIZE: Final = _MAX_PAGE_SIZE
"""Google's largest page for every type but ``sleep`` and ``exercise``."""
_SESSION_TYPES: Final = frozenset({"sleep", "exercise"})
_SHORT_RANGE_TYPES: Final = frozenset(
    {"calories-in-heart-rate-zone", "heart-rate", "active-minutes", "total-calories"}
)
_DATA_TYPE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_POINT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")

_SCOPE_REASONS: Final = frozenset({"MISSING_OAUTH_SCOPE", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
_DEAD_GRANT_REASONS: Final = frozenset({"RESOURCE_PERMISSION_DENIED", "DATA_ACCESS_DENIED"})

_SLEEP_TYPES: Final = frozenset({"sleep"})
_HEALTH_METRIC_TYPES: Final = frozenset(
    {
        "heart-rate",
        "heart-rate-variability",
        "oxygen-saturation",
        "respiratory-rate-sleep-summary",
        "core-body-temperature",
        "daily-resting-heart-rate",
        "daily-heart-rate-variability",
        "daily-oxygen-saturation",
        "daily-respiratory-rate",
        "daily-sleep-temperature-derivations",
        "daily-heart-rate-zones",
        "weight",
        "height",
        "body-fat",
        "blood-glucose",
    }
)
_WHAT: Final = {
    "sleep": "sleep data",
    "exercise": "workouts",
    "steps": "step counts",
    "distance": "distance",
    "total-calories": "calories",
    "active-energy-burned": "calories",
    "active-zone-minutes": "active zone minutes",
    "active-minutes": "active minutes",
    "sedentary-period": "sedentary time",
    "daily-resting-heart-rate": "resting heart rate",
    "daily-heart-rate-variability": "heart rate variability",
    "daily-oxygen-saturation": "blood oxygen (SpO2)",
    "daily-respiratory-rate": "breathing rate",
    "daily-sleep-temperature-derivations": "skin temperature",
    "daily-vo2-max": "cardio fitness (VO2 max)",
    "weight": "weight",
    "height": "height",
    "heart-rate": "heart rate",
}
_SCOPE_LABELS: Final = {
    SLEEP_SCOPE: "your sleep",
    HEALTH_METRICS_SCOPE: "your health metrics and measurements",
    ACTIVITY_SCOPE: "your activity and fitness",
    PROFILE_SCOPE: "your profile",
    SETTINGS_SCOPE: "your settings",
}

ModelT = TypeVar("ModelT", bound=BaseModel)


class AccountNotLinked(ProviderError):
    """Google has no Google Health data for this account (``ACCOUNT_NOT_LINKED``)."""

    def __init__(self, *, endpoint: str | None) -> None:
        super().__init__(
            "Fitbit (Google Health) has no health data for this Google account "
            "(ACCOUNT_NOT_LINKED): sign in to the Fitbit app with this Google account, "
            "sync your device, then try again.",
            provider=_PROVIDER,
            endpoint=endpoint,
        )


def format_instant(instant: datetime) -> str:
    """An aware instant as RFC 3339 in UTC with a ``Z`` (``2026-11-21T15:30:00Z``)."""
    if instant.tzinfo is None:
        raise ValueError("Google Health query times must be timezone-aware")
    text = instant.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def _civil(day: date) -> dict[str, Any]:
    return {"date": {"year": day.year, "month": day.month, "day": day.day}}


def _filter_field(data_type: str) -> str:
    return data_type.replace("-", "_")


def rollup_range_limit(data_type: str) -> timedelta:
    """The longest range one roll-up request of ``data_type`` may cover."""
    return timedelta(days=14 if data_type in _SHORT_RANGE_TYPES else 90)


def scope_for(data_type: str) -> str:
    """The read scope Google wants for ``data_type``."""
    if data_type in _SLEEP_TYPES:
        return SLEEP_SCOPE
    if data_type in _HEALTH_METRIC_TYPES:
        return HEALTH_METRICS_SCOPE
    return ACTIVITY_SCOPE


def _error_status(content: bytes) -> wire.ErrorStatus | None:
    try:
        return wire.ErrorEnvelope.model_validate(json.loads(content)).error
    except (ValueError, ValidationError):
        return None


def raise_for_reply(
    reply: Reply,
    *,
    what: str,
    scope: str | None,
    reconnect_action: str | None = None,
) -> None:
    """Raise the Wellpipe error for a non-200 reply from Google Health.

    Args:
        reply: The reply (never 429 or 5xx: `send` retried those).
        what: What was asked for, in a few words (``"sleep data"``).
        scope: The scope the call needs, named when Google says one is missing.
        reconnect_action: What to tell a user whose grant is dead.

    Raises:
        ReauthorizationRequired: 401, or Google refuses access to the data
            (``RESOURCE_PERMISSION_DENIED``, ``DATA_ACCESS_DENIED``).
        ScopeNotGranted: the grant lacks the scope (``MISSING_OAUTH_SCOPE``,
            ``ACCESS_TOKEN_SCOPE_INSUFFICIENT``).
        AccountNotLinked: the Google account has no Google Health data.
        NotFound: 404.
        ProviderResponseError: anything else, with Google's reason.
    """
    status = _error_status(reply.content)
    reasons = set(status.reasons) if status is not None else set()
    label = (status.reasons[0] if status and status.reasons else None) or (
        status.status if status is not None else None
    )
    if reply.status_code == 401:
        raise ReauthorizationRequired(
            provider=_PROVIDER,
            reason="Google refused the access token even after refreshing it",
            action=reconnect_action,
        )
    if reasons & _SCOPE_REASONS:
        needed = scope or ACTIVITY_SCOPE
        first = reconnect_action or f"run `wellpipe auth {_PROVIDER}`"
        raise ScopeNotGranted(
            provider=_PROVIDER,
            scope=needed,
            needed_for=what,
            action=f"{first} and allow access to {_SCOPE_LABELS.get(needed, 'that data')} "
            "on Google's consent screen",
        )
    if reasons & _DEAD_GRANT_REASONS:
        reason = sorted(reasons & _DEAD_GRANT_REASONS)[0]
        raise ReauthorizationRequired(
            provider=_PROVIDER,
            reason=f"Google refused access to the data ({reason})",
            action=reconnect_action,
        )
    if "ACCOUNT_NOT_LINKED" in reasons:
        raise AccountNotLinked(endpoint=reply.endpoint)
    if reply.status_code == 404:
        raise NotFound(provider=_PROVIDER, endpoint=reply.endpoint, what=what)
    raise ProviderResponseError(
        provider=_PROVIDER,
        endpoint=reply.endpoint,
        problem=f"Google answered HTTP {reply.status_code}" + (f" ({label})" if label else ""),
        status=reply.status_code,
    )


class GoogleHealthClient:
    """Reads one Google Health user's data (always as ``users/me``).

    Construct it with an `httpx2.AsyncClient` whose ``base_url`` is the Google
    Health origin (see `FitbitSettings`), and an auth that adds the user's
    bearer token (normally `RefreshingAuth`).
    """

    def __init__(
        self,
        http: httpx2.AsyncClient,
        *,
        auth: httpx2.Auth,
        clock: Clock,
        throttle: RequestBudget | None = None,
        retry: RetryPolicy = RetryPolicy(),
        max_pages: int = 1_000,
        reconnect_action: str | None = None,
        revoke_url: str | None = None,
    ) -> None:
        """Create a client.

        Args:
            http: Client pointed at the Google Health origin.
            auth: Adds (and refreshes) the bearer token.
            clock: Time source.
            throttle: The request budget (the app's, and the user's; see `open_fitbit`).
            retry: Retry policy for 429, 5xx and network failures.
            max_pages: Safety stop for one paginated read.
            reconnect_action: What to tell a user whose grant Google refuses.
            revoke_url: Google's token revocation endpoint (for `revoke_token`).
        """
        self._api = ApiRequests(http, _PROVIDER, clock, retry, throttle, auth)
        self._max_pages = max_pages
        self._reconnect_action = reconnect_action
        self._revoke_url = revoke_url

    # ------------------------------------------------------------ data points
    def list_points(
        self, data_type: str, *, filter: str | None = None, page_size: int | None = None
    ) -> AsyncIterator[wire.DataPoint]:
        """Raw points of ``data_type``, one per source, newest first (``dataPoints.list``).

        Never sum these: a phone and a tracker both report steps. Use
        `daily_roll_up` (or `reconcile`) for totals.
        """
        path = f"{self._type_path(data_type)}/dataPoints"
        return self._paged(
            path, data_type, wire.ListDataPointsResponse, filter, page_size, extra={}
        )

    def reconcile(
        self,
        data_type: str,
        *,
        filter: str | None = None,
        page_size: int | None = None,
        data_source_family: str | None = None,
    ) -> AsyncIterator[wire.ReconciledDataPoint]:
        """The merged stream of ``data_type`` across sources (``dataPoints.reconcile``)."""
        path = f"{self._type_path(data_type)}/dataPoints:reconcile"
        extra = {"dataSourceFamily": data_source_family} if data_source_family else {}
        return self._paged(
            path, data_type, wire.ReconcileDataPointsResponse, filter, page_size, extra=extra
        )

    async def reconcile_page(
        self,
        data_type: str,
        *,
        filter: str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
    ) -> tuple[list[wire.ReconciledDataPoint], str | None]:
        """One page of `reconcile`: the points and the next page's token (``None``: the last).

        For a sync that stores each page before it reads the next. ``page_size``
        defaults to the largest Google allows for the type (25 for sessions, else 10,000).
        """
        path = f"{self._type_path(data_type)}/dataPoints:reconcile"
        ceiling = SESSION_PAGE_SIZE if data_type in _SESSION_TYPES else _MAX_PAGE_SIZE
        size = page_size or ceiling
        if not 1 <= size <= ceiling:
            raise ValueError(f"page_size for {data_type} must be between 1 and {ceiling}")
        params: dict[str, str | int] = {"pageSize": size}
        if filter:
            params["filter"] = filter
        if page_token:
            params["pageToken"] = page_token
        reply = await self._request("GET", path, path, params=params)
        page = self._parse(
            reply,
            wire.ReconcileDataPointsResponse,
            what=_WHAT.get(data_type, data_type),
            data_type=data_type,
        )
        return list(page.dataPoints), page.nextPageToken or None

    async def get(self, data_type: str, point_id: str) -> wire.DataPoint:
        """One point of an identifiable type (sleep, exercise, weight...) by id."""
        if not _POINT_ID.fullmatch(point_id):
            raise NotFound(
                provider=_PROVIDER, endpoint=None, what=f"{data_type} with id {point_id!r}"
            )
        path = f"{self._type_path(data_type)}/dataPoints/{point_id}"
        reply = await self._request(
            "GET", path, f"{self._type_path(data_type)}/dataPoints/{{dataPoint}}"
        )
        return self._parse(
            reply, wire.DataPoint, what=f"{data_type} with id {point_id!r}", data_type=data_type
        )

    async def daily_roll_up(
        self, data_type: str, *, first: date, end: date, window_days: int = 1
    ) -> list[wire.DailyRollupDataPoint]:
        """``data_type`` rolled up per civil day (``dailyRollUp``), ``first`` to ``end`` exclusive.

        Values are merged across sources (never double-counted). Ranges longer
        than Google's limit for the type are asked for in consecutive pieces.
        """
        if end <= first:
            return []
        path = f"{self._type_path(data_type)}/dataPoints:dailyRollUp"
        if window_days < 1:
            raise ValueError("a daily roll-up window must be at least one day")
        limit = rollup_range_limit(data_type).days
        step = max(window_days, limit - limit % window_days)
        points: list[wire.DailyRollupDataPoint] = []
        start = first
        while start < end:
            stop = min(start + timedelta(days=step), end)
            body = {
                "range": {"start": _civil(start), "end": _civil(stop)},
                "windowSizeDays": window_days,
            }
            reply = await self._request("POST", path, path, json_body=body)
            page = self._parse(
                reply,
                wire.DailyRollUpDataPointsResponse,
                what=_WHAT.get(data_type, data_type),
                data_type=data_type,
            )
            points.extend(page.rollupDataPoints)
            start = stop
        return points

    async def roll_up(
        self, data_type: str, *, start: datetime, end: datetime, window: timedelta
    ) -> list[wire.RollupDataPoint]:
        """``data_type`` rolled up per physical ``window`` (``rollUp``), ``[start, end)``."""
        if end <= start:
            return []
        if window < timedelta(seconds=1):
            raise ValueError("a roll-up window must be at least one second")
        path = f"{self._type_path(data_type)}/dataPoints:rollUp"
        limit = rollup_range_limit(data_type)
        step = max(window, limit - limit % window)
        points: list[wire.RollupDataPoint] = []
        piece = start
        while piece < end:
            stop = min(piece + step, end)
            body: dict[str, Any] = {
                "range": {"startTime": format_instant(piece), "endTime": format_instant(stop)},
                "windowSize": wire.format_duration(window),
            }
            guard = self._page_tokens()
            for _ in guard.pages():
                reply = await self._request("POST", path, path, json_body=dict(body))
                page = self._parse(
                    reply,
                    wire.RollUpDataPointsResponse,
                    what=_WHAT.get(data_type, data_type),
                    data_type=data_type,
                )
                points.extend(page.rollupDataPoints)
                token = page.nextPageToken
                if not token:
                    break
                guard.check(token, reply.endpoint)
                body["pageToken"] = token
            else:
                raise guard.endless(f"POST {path}")
            piece = stop
        return points

    # ------------------------------------------------------------ the user
    async def get_identity(self) -> wire.Identity:
        """The user's Google Health id and legacy Fitbit id (``users.getIdentity``)."""
        reply = await self._request("GET", f"{_API}/identity", f"{_API}/identity")
        return self._parse(reply, wire.Identity, what="identity", scope=None)

    async def get_profile(self) -> wire.Profile:
        """Age and stride lengths (``users.getProfile``)."""
        reply = await self._request("GET", f"{_API}/profile", f"{_API}/profile")
        return self._parse(reply, wire.Profile, what="your profile", scope=PROFILE_SCOPE)

    async def get_settings(self) -> wire.Settings:
        """Time zone and units (``users.getSettings``)."""
        reply = await self._request("GET", f"{_API}/settings", f"{_API}/settings")
        return self._parse(reply, wire.Settings, what="your settings", scope=SETTINGS_SCOPE)

    async def revoke_token(self, token: str) -> None:
        """Revoke a grant at Google (``POST /revoke``, form field ``token``).

        A token Google no longer knows (``invalid_token``) counts as revoked.
        """
        if self._revoke_url is None:
            raise ValueError("this client was built without Google's revoke URL")
        url = self._revoke_url
        endpoint = f"POST {httpx2.URL(url).path}"
        reply = await self._api.send(
            "POST",
            url,
            endpoint=endpoint,
            data={"token": token},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            authenticated=False,
        )
        if reply.status_code == 200 or (
            reply.status_code == 400 and b"invalid_token" in reply.content
        ):
            return
        raise ProviderResponseError(
            provider=_PROVIDER,
            endpoint=endpoint,
            problem=f"Google answered HTTP {reply.status_code} to the revocation",
            status=reply.status_code,
        )

    # ------------------------------------------------------------ plumbing
    @staticmethod
    def _type_path(data_type: str) -> str:
        if not _DATA_TYPE.fullmatch(data_type):
            raise ValueError(f"{data_type!r} is not a Google Health data type (kebab-case)")
        return f"{_API}/dataTypes/{data_type}"

    async def _paged(
        self,
        path: str,
        data_type: str,
        page_model: type[wire.ListDataPointsResponse] | type[wire.ReconcileDataPointsResponse],
        filter: str | None,
        page_size: int | None,
        *,
        extra: Mapping[str, str],
    ) -> AsyncIterator[Any]:
        size = page_size or (
            SESSION_PAGE_SIZE if data_type in _SESSION_TYPES else DEFAULT_PAGE_SIZE
        )
        ceiling = SESSION_PAGE_SIZE if data_type in _SESSION_TYPES else _MAX_PAGE_SIZE
        if not 1 <= size <= ceiling:
            raise ValueError(f"page_size for {data_type} must be between 1 and {ceiling}")
        params: dict[str, str | int] = {"pageSize": size, **extra}
        if filter:
            params["filter"] = filter
        guard = self._page_tokens()
        what = _WHAT.get(data_type, data_type)
        for _ in guard.pages():
            reply = await self._request("GET", path, path, params=params)
            page = self._parse(reply, page_model, what=what, data_type=data_type)
            for point in page.dataPoints:
                yield point
            token = page.nextPageToken
            if not token:
                return
            guard.check(token, reply.endpoint)
            params = {**params, "pageToken": token}
        raise guard.endless(f"GET {path}")

    def _page_tokens(self) -> PageTokens:
        return PageTokens(
            provider=_PROVIDER, field="nextPageToken", max_pages=self._max_pages, noun="results"
        )

    async def _request(
        self,
        method: str,
        path: str,
        template: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Mapping[str, Any] | None = None,
    ) -> Reply:
        content = json.dumps(json_body).encode() if json_body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else None
        # Every call here reads; Google documents rollUp and dailyRollUp as safe to retry.
        return await self._api.send(
            method,
            path,
            endpoint=f"{method} {template}",
            params=params,
            content=content,
            headers=headers,
            idempotent=True,
        )

    def _parse(
        self,
        reply: Reply,
        model: type[ModelT],
        *,
        what: str,
        data_type: str | None = None,
        scope: str | None = None,
    ) -> ModelT:
        if reply.status_code != 200:
            raise_for_reply(
                reply,
                what=what,
                scope=scope if data_type is None else scope_for(data_type),
                reconnect_action=self._reconnect_action,
            )
        return parse_reply(model, reply, provider=_PROVIDER)
