"""`FitbitSandbox`: a faithful fake of the Google Health API v4 and Google's OAuth server.

Paths match Google's, on one origin: ``/v4/users/me/...`` for data,
``/o/oauth2/v2/auth`` (accounts.google.com), ``/token`` and ``/revoke``
(oauth2.googleapis.com). Pointing ``WELLPIPE_FITBIT_BASE_URL``,
``WELLPIPE_FITBIT_AUTH_URL`` and ``WELLPIPE_FITBIT_TOKEN_URL`` at a running sandbox
is all a client needs. Sandbox-only helpers live under ``/_sandbox``.

Errors use Google's AIP-193 envelope with an ``ErrorInfo`` detail. The per-user
rate limit (300 requests a minute) answers 429 ``RESOURCE_EXHAUSTED`` /
``RATE_LIMIT_EXCEEDED``. Google documents no ``Retry-After``; this sandbox sends
one (seconds until the minute window resets) unless ``retry_after=False``.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from wellpipe.core.clock import SystemClock
from wellpipe.core.ports import Clock
from wellpipe.core.provider_info import RateLimit
from wellpipe.sandbox.base import LoggedRequest, SandboxApp, pinned_client
from wellpipe.sandbox.changes import FitbitChanges
from wellpipe.sandbox.fitbit.history import (
    WEARABLE_SOURCES,
    History,
    MemberHistory,
    MemberSpec,
    Point,
    generate_history,
    render_interval,
    render_sample_time,
)
from wellpipe.sandbox.fitbit.oauth import (
    AccessGrant,
    AuthorizationServer,
    PublishingStatus,
)
from wellpipe.sandbox.fitbit.query import (
    ApiError,
    Filter,
    decode_page_token,
    encode_page_token,
    invalid,
    parse_filter,
    query_digest,
    trim_nanos,
)
from wellpipe.sandbox.fitbit.types import (
    ACTIVITY,
    ALL_READ_SCOPES,
    DATA_TYPES,
    HEALTH_METRICS,
    LOCATION,
    PROFILE,
    ROLLUP_FIELDS,
    SCOPE_PREFIX,
    SETTINGS,
    SLEEP,
    DataType,
    civil,
    rfc3339,
)
from wellpipe.sandbox.limits import AppRateLimiter
from wellpipe.sandbox.outbox import GOOGLE_RETRIES, Outbox

__all__ = ["FitbitSandbox", "LoggedRequest"]

Json = dict[str, Any]
API = "/v4/users/{user}"
_DATA_SCOPES = frozenset({ACTIVITY, HEALTH_METRICS, LOCATION, SLEEP})
_IDENTITY_SCOPES = frozenset(
    {
        ACTIVITY,
        HEALTH_METRICS,
        SLEEP,
        PROFILE,
        SETTINGS,
        f"{SCOPE_PREFIX}ecg.readonly",
        f"{SCOPE_PREFIX}irn.readonly",
    }
)
_FAMILIES = {
    "users/me/dataSourceFamilies/all-sources": None,
    "users/me/dataSourceFamilies/google-wearables": WEARABLE_SOURCES,
    "users/me/dataSourceFamilies/google-sources": None,
}
GOOGLE_RATE_LIMIT = RateLimit(300, 60)
"""Google Health API: 300 requests per minute per user."""
_CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
_POINT_ID = re.compile(r"^[a-z0-9-]{4,63}$")
_METHOD = "google.devicesandservices.health.v4.{}"


@dataclass(frozen=True)
class _Call:
    request: Request
    member: MemberHistory
    grant: AccessGrant


class FitbitSandbox(SandboxApp[str, MemberHistory]):
    """A Google Health API v4 you can run anywhere: seeded history, OAuth, rate limits, faults."""

    default_scopes = ALL_READ_SCOPES
    token_headers: ClassVar[dict[str, str]] = {
        "Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"
    }

    def __init__(
        self,
        *,
        seed: int = 42,
        days: int = 400,
        members: int | tuple[MemberSpec, ...] = 2,
        now: datetime | None = None,
        clock: Clock | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        token_ttl_s: int = 3600,
        rate_limit: RateLimit = GOOGLE_RATE_LIMIT,
        retry_after: bool = True,
        publishing_status: PublishingStatus = "production",
        history: History | None = None,
        grants_file: Path | None = None,
        webhook_retries: tuple[float, ...] = GOOGLE_RETRIES,
    ) -> None:
        """Create a sandbox.

        Args:
            seed: Seed of the synthetic history.
            days: Days of history (at least 120).
            members: How many members (1 or 2) or explicit specs.
            now: The present moment for the history (default: the clock's now).
            clock: Time source for tokens, rate limits and heart-rate generation.
            client_id: Pin the only accepted client id (with ``client_secret``).
            client_secret: Pin the only accepted client secret.
            token_ttl_s: Access-token lifetime (Google: 3600).
            rate_limit: Per-user limit (Google: 300 requests a minute).
            retry_after: Send ``Retry-After`` with a 429 (Google documents none).
            publishing_status: ``"testing"``: refresh tokens expire after 7 days.
            history: Serve this (read-only) history instead of generating one.
            grants_file: Keep the grants and tokens issued in this file (JSON, 0600)
                and honour them again after a restart; ``None`` keeps them in memory.
            webhook_retries: Seconds between a failed notification's attempts.

        Data points change through ``changes`` (`FitbitChanges`: copy-on-write, the
        shared ``history`` is never written); notifications go through ``outbox`` to
        the subscribers ``changes.register_subscriber`` verified, signed by the key whose
        public keyset the sandbox serves at Google's gstatic path.
        """
        client = pinned_client(client_id, client_secret)
        self.clock: Clock = clock or SystemClock()
        self.history: History = history or generate_history(
            now=now or self.clock.now(), seed=seed, days=days, members=members
        )
        self.member_ids = list(self.history.members)
        self.auth: AuthorizationServer = AuthorizationServer(
            clock=self.clock,
            members=self.member_ids,
            token_ttl_s=token_ttl_s,
            client=client,
            publishing_status=publishing_status,
            grants_file=grants_file,
        )
        self.pinned_client = client_id is not None
        self.rate_limit = rate_limit
        self.retry_after = retry_after
        self.limiter = AppRateLimiter([rate_limit], clock=self.clock)
        self.outbox = Outbox(self.clock)
        self.changes = FitbitChanges(self, self.outbox, retries=webhook_retries)
        self._mount(self._starlette())

    # ------------------------------------------------------------------ routing
    def _starlette(self) -> Starlette:
        points = f"{API}/dataTypes/{{data_type}}/dataPoints"

        def data(
            handler: Callable[[_Call], Json], scopes: frozenset[str], method: str
        ) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                return await self._serve(request, handler, scopes, method)

            return endpoint

        routes = [
            Route("/", self._landing, methods=["GET"]),
            *self._control_routes(),
            *self.changes.routes(),
            Route("/o/oauth2/v2/auth", self._authorize, methods=["GET"]),
            Route("/token", self._token, methods=["POST"]),
            Route("/revoke", self._revoke, methods=["POST"]),
            Route(
                f"{API}/identity",
                data(self._identity, _IDENTITY_SCOPES, "UsersService.GetIdentity"),
                methods=["GET"],
            ),
            Route(
                f"{API}/profile",
                data(self._profile, frozenset({PROFILE}), "UsersService.GetProfile"),
                methods=["GET"],
            ),
            Route(
                f"{API}/settings",
                data(self._settings, frozenset({SETTINGS}), "UsersService.GetSettings"),
                methods=["GET"],
            ),
            Route(
                points,
                data(self._list, _DATA_SCOPES, "DataPointsService.ListDataPoints"),
                methods=["GET"],
            ),
            Route(
                f"{points}:reconcile",
                data(self._reconcile, _DATA_SCOPES, "DataPointsService.ReconcileDataPoints"),
                methods=["GET"],
            ),
            Route(
                f"{points}:dailyRollUp",
                data(self._daily_roll_up, _DATA_SCOPES, "DataPointsService.DailyRollUpDataPoints"),
                methods=["POST"],
            ),
            Route(
                f"{points}:rollUp",
                data(self._roll_up, _DATA_SCOPES, "DataPointsService.RollUpDataPoints"),
                methods=["POST"],
            ),
            Route(
                f"{points}/{{point_id}}",
                data(self._get, _DATA_SCOPES, "DataPointsService.GetDataPoint"),
                methods=["GET"],
            ),
        ]
        return Starlette(routes=routes)

    async def _serve(
        self,
        request: Request,
        handler: Callable[[_Call], Json],
        scopes: frozenset[str],
        method: str,
    ) -> Response:
        try:
            grant = self._authenticate(request, method)
            request.scope["wellpipe.client"][0] = grant.client_id
            decision = self.limiter.hit(f"{grant.client_id}/{grant.user_id}")
            if not decision.allowed:
                reset = decision.headers.get("X-RateLimit-Reset", "60")
                raise ApiError(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "Quota exceeded for quota metric 'Requests per user' and limit "
                    "'Requests per minute per user' of service 'health.googleapis.com'.",
                    "RATE_LIMIT_EXCEEDED",
                    {
                        "quota_limit": "RequestsPerMinutePerUser",
                        "quota_limit_value": str(self.rate_limit.requests),
                    },
                    headers={"Retry-After": reset} if self.retry_after else None,
                )
            if _CLOUD_PLATFORM in grant.scopes:
                raise ApiError(
                    403,
                    "PERMISSION_DENIED",
                    "The access token carries scopes that are not allowed for user data.",
                    "DISALLOWED_OAUTH_SCOPES",
                )
            if not scopes & grant.scopes:
                raise _scope_error(method)
            user = request.path_params["user"]
            member = self.history.members[grant.user_id]
            collection = "data_type" in request.path_params and "point_id" not in (
                request.path_params
            )
            if not collection and user not in {"me", member.user_id}:
                raise ApiError(
                    403,
                    "PERMISSION_DENIED",
                    "The caller does not have permission to access this user's data.",
                    "RESOURCE_PERMISSION_DENIED",
                )
            if request.method == "POST":
                request.scope["wellpipe.body"] = await _json_body(request)
            body = handler(_Call(request, member, grant))
        except ApiError as error:
            return JSONResponse(error.body(), status_code=error.code, headers=error.headers)
        return JSONResponse(body)

    def _authenticate(self, request: Request, method: str) -> AccessGrant:
        header = request.headers.get("authorization", "")
        bearer = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if not bearer:
            reason, why = "CREDENTIALS_MISSING", "Request is missing required authentication"
        else:
            grant, problem = self.auth.resolve(bearer)
            if grant is not None:
                return grant
            reason = (
                "ACCESS_TOKEN_EXPIRED" if problem == "expired" else "ACCESS_TOKEN_TYPE_UNSUPPORTED"
            )
            why = "Request had invalid authentication"
        raise ApiError(
            401,
            "UNAUTHENTICATED",
            f"{why} credentials. Expected OAuth 2 access token, login cookie or other valid "
            "authentication credential. See "
            "https://developers.google.com/identity/sign-in/web/devconsole-project.",
            reason,
            {"method": _METHOD.format(method)},
            headers={
                "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                'error="invalid_token"'
                if bearer
                else 'Bearer realm="https://accounts.google.com/"'
            },
        )

    # ------------------------------------------------------------------ users.*
    def _identity(self, call: _Call) -> Json:
        return call.member.identity()

    def _profile(self, call: _Call) -> Json:
        return call.member.profile(call.grant.scopes)

    def _settings(self, call: _Call) -> Json:
        return call.member.settings()

    # ------------------------------------------------------------------ data points
    def _data_type(self, call: _Call, *, collection: bool) -> DataType:
        kebab = call.request.path_params["data_type"]
        if collection and call.request.path_params["user"] != "me":
            raise invalid(
                "The parent must be users/me/dataTypes/{data_type}; a user id is not accepted.",
                "INVALID_ARGUMENT",
            )
        data_type = DATA_TYPES.get(kebab)
        if data_type is None:
            raise invalid(f"Data type {kebab!r} is not a valid data type.", "INVALID_DATA_TYPE")
        if data_type.scope not in call.grant.scopes:
            raise _scope_error(f"data type {kebab}", data_type.scope)
        return data_type

    def _list(self, call: _Call) -> Json:
        return self._collection(call, reconciled=False)

    def _reconcile(self, call: _Call) -> Json:
        return self._collection(call, reconciled=True)

    def _collection(self, call: _Call, *, reconciled: bool) -> Json:
        data_type = self._data_type(call, collection=True)
        verb = "reconcile" if reconciled else "list"
        if not data_type.listable:
            raise _unsupported(data_type, verb)
        query = call.request.query_params
        size = _page_size(query.get("pageSize"), data_type)
        filter_ = parse_filter(query.get("filter"), data_type)
        sources = _family(query.get("dataSourceFamily")) if reconciled else None
        digest = query_digest(verb, data_type.kebab, filter_.text, sources)
        token = query.get("pageToken")
        position = decode_page_token(token, digest) if token else 0
        member = call.member
        if data_type.kebab == "heart-rate":
            page, more_at = self._heart_rate_page(member, filter_, position, size)
        else:
            stream = member.reconciled if reconciled else member.points
            matching = [
                p
                for p in stream.get(data_type.kebab, [])
                if (sources is None or p.source in sources) and filter_.matches(p)
            ]
            if reconciled and sources is not None:
                matching = _merge(matching)
            page = matching[position : position + size]
            more_at = position + size if position + size < len(matching) else None
        render = _reconciled_point if reconciled else _raw_point
        body: Json = {"dataPoints": [render(member, data_type, p) for p in page]}
        if more_at is not None:
            body["nextPageToken"] = encode_page_token(more_at, digest)
        return body

    def _heart_rate_page(
        self, member: MemberHistory, filter_: Filter, position: int, size: int
    ) -> tuple[list[Point], int | None]:
        """Newest first; the position is the epoch minute the next page starts before."""
        lower, upper = filter_.physical_bounds(member.first_day_start(), member.now)
        if position:
            upper = min(upper, datetime.fromtimestamp(position * 60, UTC))
        page: list[Point] = []
        for point in member.heart_rate_minutes(lower, upper):
            if not filter_.matches(point):
                continue
            if len(page) == size:
                return page, int(page[-1].start.timestamp()) // 60
            page.append(point)
        return page, None

    def _get(self, call: _Call) -> Json:
        data_type = self._data_type(call, collection=False)
        if not data_type.identifiable:
            raise _unsupported(data_type, "get")
        point_id = call.request.path_params["point_id"]
        if not _POINT_ID.match(point_id):
            raise invalid(
                f"Data point id {point_id!r} must be 4-63 lowercase letters, digits or hyphens.",
                "INVALID_ARGUMENT",
            )
        point = call.member.by_id.get(data_type.kebab, {}).get(point_id)
        if point is None:
            raise ApiError(
                404,
                "NOT_FOUND",
                f"Data point users/me/dataTypes/{data_type.kebab}/dataPoints/{point_id} "
                "was not found.",
                "RESOURCE_NOT_FOUND",
            )
        return _raw_point(call.member, data_type, point)

    # ------------------------------------------------------------------ roll-ups
    def _daily_roll_up(self, call: _Call) -> Json:
        data_type = self._data_type(call, collection=True)
        if not (data_type.rollup or data_type.kebab in ROLLUP_FIELDS):
            raise _unsupported(data_type, "dailyRollUp")
        body = call.request.scope["wellpipe.body"]
        window_days = _int_field(body, "windowSizeDays", 1)
        if window_days < 1:
            raise invalid("windowSizeDays must be at least 1.", "INVALID_ROLLUP_WINDOW")
        range_ = body.get("range")
        if not isinstance(range_, dict) or "start" not in range_ or "end" not in range_:
            raise invalid("range with start and end is required.", "INVALID_ARGUMENT")
        start, end = (
            _civil_field(range_["start"], "range.start"),
            _civil_field(range_["end"], "range.end"),
        )
        if end <= start:
            raise invalid("range.end must be after range.start.", "INVALID_TIME_RANGE")
        span = end - start
        if start.time() != datetime.min.time() or span % timedelta(days=window_days):
            raise invalid(
                f"The range must be aligned with the {window_days}-day aggregation window.",
                "INVALID_ROLLUP_WINDOW",
            )
        windows = span // timedelta(days=window_days)
        _check_duration(data_type, span, windows, body)
        sources = _family(body.get("dataSourceFamily"))
        member = call.member
        edges = [start + timedelta(days=window_days * k) for k in range(windows + 1)]
        points = self._rollup_points(member, data_type, sources, edges[0], edges[-1], civil=True)
        buckets: list[list[Point]] = [[] for _ in range(windows)]
        for point in points:
            index = (point.civil_start - start) // timedelta(days=window_days)
            if 0 <= index < windows:
                buckets[index].append(point)
        out: list[Json] = []
        for index, bucket in enumerate(buckets):
            value = _aggregate(member, data_type, bucket, edges[index + 1])
            if value is None:
                continue
            out.append(
                {
                    "civilStartTime": civil(edges[index]),
                    "civilEndTime": civil(edges[index + 1]),
                    _rollup_field(data_type): value,
                }
            )
        return {"rollupDataPoints": out}

    def _roll_up(self, call: _Call) -> Json:
        data_type = self._data_type(call, collection=True)
        if not data_type.rollup:
            raise _unsupported(data_type, "rollUp")
        body = call.request.scope["wellpipe.body"]
        range_ = body.get("range")
        if not isinstance(range_, dict):
            raise invalid("range with startTime and endTime is required.", "INVALID_ARGUMENT")
        start = _instant_field(range_.get("startTime"), "range.startTime")
        end = _instant_field(range_.get("endTime"), "range.endTime")
        if end <= start:
            raise invalid("range.endTime must be after range.startTime.", "INVALID_TIME_RANGE")
        window = _duration_field(body.get("windowSize"))
        if window < timedelta(seconds=1):
            raise invalid("windowSize must be at least 1s.", "INVALID_ROLLUP_WINDOW")
        windows = -(-(end - start) // window)
        _check_duration(data_type, end - start, 0, body)
        size = _page_size(body.get("pageSize"), data_type, rollup=True)
        sources = _family(body.get("dataSourceFamily"))
        digest = query_digest("rollUp", data_type.kebab, start, end, window, sources)
        token = body.get("pageToken")
        position = decode_page_token(str(token), digest) if token else 0
        points = self._rollup_points(call.member, data_type, sources, start, end, civil=False)
        buckets: dict[int, list[Point]] = {}
        for point in points:
            index = (point.start - start) // window
            if 0 <= index < windows:
                buckets.setdefault(index, []).append(point)
        filled = sorted(buckets)
        out: list[Json] = []
        for index in filled[position : position + size]:
            w_start = start + window * index
            w_end = min(end, w_start + window)
            value = _aggregate(call.member, data_type, buckets[index], None)
            if value is None:
                continue
            out.append(
                {
                    "startTime": rfc3339(w_start),
                    "endTime": rfc3339(w_end),
                    _rollup_field(data_type): value,
                }
            )
        result: Json = {"rollupDataPoints": out}
        if position + size < len(filled):
            result["nextPageToken"] = encode_page_token(position + size, digest)
        return result

    def _rollup_points(
        self,
        member: MemberHistory,
        data_type: DataType,
        sources: frozenset[str] | None,
        start: datetime,
        end: datetime,
        *,
        civil: bool,
    ) -> list[Point]:
        if data_type.kebab == "heart-rate":
            if civil:
                lower = start.replace(tzinfo=UTC) - timedelta(hours=14)
                upper = end.replace(tzinfo=UTC) + timedelta(hours=14)
            else:
                lower, upper = start, end
            return list(member.heart_rate_minutes(lower, upper))
        stream = member.points.get(data_type.kebab, [])
        if sources is not None:
            stream = [p for p in stream if p.source in sources]
        stream = _merge(stream)
        if civil:
            return [p for p in stream if start <= p.civil_start < end]
        return [p for p in stream if start <= p.start < end]

    # ------------------------------------------------------------------ OAuth
    async def _authorize(self, request: Request) -> Response:
        status, location, page = self.auth.authorize(dict(request.query_params))
        if location is not None:
            return RedirectResponse(location, status_code=302)
        return HTMLResponse(page, status_code=status)

    async def _revoke(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        token = form.get("token") or request.query_params.get("token", "")
        outcome = self.auth.revoke(token)
        return JSONResponse(outcome.body, status_code=outcome.status)

    # ------------------------------------------------------------------ sandbox-only
    def _describe(self, origin: str) -> Json:
        return {
            "sandbox": "wellpipe Fitbit (Google Health API) sandbox",
            "base_url": origin,
            "history": self._history_info(),
            "members": [
                {
                    "health_user_id": m.spec.health_user_id,
                    "legacy_user_id": m.spec.legacy_user_id,
                    "time_zone": m.spec.home_zone,
                    "sleeps": len(m.points.get("sleep", [])),
                    "exercises": len(m.points.get("exercise", [])),
                }
                for m in self.history.members.values()
            ],
            "rate_limit": {
                "requests": self.rate_limit.requests,
                "window_s": self.rate_limit.seconds,
            },
            "publishing_status": self.auth.publishing_status,
            "pinned_client": self.pinned_client,
        }

    def _control_user_id(self, raw: Any) -> str:
        return str(raw)

    async def _landing(self, request: Request) -> Response:
        info = self._describe(str(request.base_url).rstrip("/"))
        rows = "".join(
            f"<tr><td>{m['health_user_id']}</td><td>{html.escape(m['time_zone'])}</td>"
            f"<td>{m['sleeps']}</td><td>{m['exercises']}</td></tr>"
            for m in info["members"]
        )
        origin = html.escape(info["base_url"])
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Wellpipe Fitbit sandbox</title></head>
<body><h1>Wellpipe Fitbit (Google Health API) sandbox</h1>
<p>{info["history"]["days"]} days of synthetic history (seed {info["history"]["seed"]}).</p>
<pre>export WELLPIPE_FITBIT_BASE_URL={origin}
export WELLPIPE_FITBIT_AUTH_URL={origin}
export WELLPIPE_FITBIT_TOKEN_URL={origin}</pre>
<table><tr><th>healthUserId</th><th>time zone</th><th>sleeps</th><th>exercises</th></tr>
{rows}</table></body></html>"""
        return HTMLResponse(page)


async def _json_body(request: Request) -> Json:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.", "INVALID_ARGUMENT")
    return body


def _scope_error(what: str, scope: str | None = None) -> ApiError:
    needed = f" (needs {scope})" if scope else ""
    return ApiError(
        403,
        "PERMISSION_DENIED",
        f"Request had insufficient authentication scopes{needed}.",
        "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
        {"method": _METHOD.format(what)} if scope is None else {"data_type": what},
    )


def _unsupported(data_type: DataType, verb: str) -> ApiError:
    return invalid(
        f"The {verb} action is not supported for data type {data_type.kebab!r}.",
        "UNSUPPORTED_DATA_TYPE_ACTION",
    )


def _page_size(raw: object, data_type: DataType, *, rollup: bool = False) -> int:
    default, largest = (1440, 10_000) if rollup else (data_type.page_default, data_type.page_max)
    if raw is None or raw == "":
        return default
    try:
        size = int(str(raw))
    except ValueError:
        raise invalid(f"Invalid value for pageSize: {raw!r}.", "INVALID_PAGE_SIZE") from None
    if size < 0:
        raise invalid("pageSize must not be negative.", "INVALID_PAGE_SIZE")
    return default if size == 0 else min(size, largest)


def _family(raw: object) -> frozenset[str] | None:
    if raw is None or raw == "":
        return None
    if raw not in _FAMILIES:
        raise invalid(
            f"Unknown dataSourceFamily {raw!r}; use users/me/dataSourceFamilies/"
            "all-sources, google-wearables or google-sources.",
            "INVALID_ARGUMENT",
        )
    return _FAMILIES[str(raw)]


def _merge(points: list[Point]) -> list[Point]:
    """Reconcile a (possibly source-filtered) stream: one point per interval start."""
    if not any(p.source == "phone" for p in points):
        return points
    chosen: dict[datetime, Point] = {}
    for point in points:
        current = chosen.get(point.start)
        if current is None or (current.source == "phone" and point.source != "phone"):
            chosen[point.start] = point
    return sorted(chosen.values(), key=lambda p: (p.start, p.source), reverse=True)


def _payload(data_type: DataType, point: Point) -> Json:
    if data_type.shape in {"interval", "session"}:
        return {"interval": render_interval(point), **point.value}
    if data_type.shape == "sample":
        return {"sampleTime": render_sample_time(point), **point.value}
    return dict(point.value)


def _name(member: MemberHistory, data_type: DataType, point: Point) -> str | None:
    if not data_type.identifiable or point.point_id is None:
        return None
    return f"users/{member.user_id}/dataTypes/{data_type.kebab}/dataPoints/{point.point_id}"


def _raw_point(member: MemberHistory, data_type: DataType, point: Point) -> Json:
    body: Json = {}
    name = _name(member, data_type, point)
    if name is not None:
        body["name"] = name
    body["dataSource"] = member.sources[point.source]
    body[data_type.field] = _payload(data_type, point)
    return body


def _reconciled_point(member: MemberHistory, data_type: DataType, point: Point) -> Json:
    body: Json = {}
    name = _name(member, data_type, point)
    if name is not None:
        body["dataPointName"] = name
    body[data_type.field] = _payload(data_type, point)
    return body


def _rollup_field(data_type: DataType) -> str:
    return ROLLUP_FIELDS.get(data_type.kebab, data_type.field)


def _aggregate(
    member: MemberHistory, data_type: DataType, points: list[Point], window_end: datetime | None
) -> Json | None:
    if not points:
        return None
    kind = data_type.kebab
    values = [p.value for p in points]
    if kind == "steps":
        return {"countSum": str(sum(int(v["count"]) for v in values))}
    if kind == "distance":
        return {"millimetersSum": str(sum(int(v["millimeters"]) for v in values))}
    if kind in {"total-calories", "active-energy-burned"}:
        return {"kcalSum": round(sum(float(v["kcal"]) for v in values), 1)}
    if kind == "active-zone-minutes":
        sums = {"FAT_BURN": 0, "CARDIO": 0, "PEAK": 0}
        for v in values:
            sums[v["heartRateZone"]] += int(v["activeZoneMinutes"])
        fields = {
            "sumInFatBurnHeartZone": sums["FAT_BURN"],
            "sumInCardioHeartZone": sums["CARDIO"],
            "sumInPeakHeartZone": sums["PEAK"],
        }
        return {key: str(value) for key, value in fields.items() if value}
    if kind == "heart-rate":
        bpm = [int(v["beatsPerMinute"]) for v in values]
        return {
            "beatsPerMinuteAvg": round(sum(bpm) / len(bpm), 2),
            "beatsPerMinuteMin": float(min(bpm)),
            "beatsPerMinuteMax": float(max(bpm)),
        }
    if kind == "weight":
        grams = [float(v["weightGrams"]) for v in values]
        return {"weightGramsAvg": round(sum(grams) / len(grams), 1)}
    if kind in ROLLUP_FIELDS and window_end is not None:
        return _personal_range(member, kind, window_end)
    return None


def _personal_range(member: MemberHistory, kind: str, window_end: datetime) -> Json | None:
    """The member's usual range over the 30 days before the window ends (mean ± 1.5 sd)."""
    since = window_end - timedelta(days=30)
    key = (
        "beatsPerMinute"
        if kind == "daily-resting-heart-rate"
        else "averageHeartRateVariabilityMilliseconds"
    )
    values = [
        float(p.value[key])
        for p in member.points.get(kind, [])
        if since <= p.civil_start < window_end
    ]
    if len(values) < 3:
        return None
    mean = sum(values) / len(values)
    sd = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    low, high = round(mean - 1.5 * sd, 1), round(mean + 1.5 * sd, 1)
    if kind == "daily-resting-heart-rate":
        return {"beatsPerMinuteMin": low, "beatsPerMinuteMax": high}
    return {
        "averageHeartRateVariabilityMillisecondsMin": low,
        "averageHeartRateVariabilityMillisecondsMax": high,
    }


def _check_duration(data_type: DataType, span: timedelta, windows: int, body: Json) -> None:
    if span > timedelta(days=data_type.rollup_days):
        raise invalid(
            f"The maximum range for {data_type.kebab!r} roll-ups is {data_type.rollup_days} days.",
            "INVALID_ROLLUP_QUERY_DURATION",
        )
    page_size = body.get("pageSize")
    if windows and isinstance(page_size, int) and 0 < page_size < windows:
        raise invalid(
            f"The range holds {windows} windows, more than pageSize {page_size}.",
            "INVALID_ROLLUP_QUERY_DURATION",
        )


def _int_field(body: Json, name: str, default: int) -> int:
    raw = body.get(name, default)
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise invalid(f"{name} must be an integer.", "INVALID_ARGUMENT")
    try:
        return int(raw)
    except ValueError:
        raise invalid(f"{name} must be an integer.", "INVALID_ARGUMENT") from None


def _civil_field(raw: object, name: str) -> datetime:
    if not isinstance(raw, dict) or not isinstance(raw.get("date"), dict):
        raise invalid(f"{name} must be a CivilDateTime with a date.", "INVALID_CIVIL_DATE_TIME")
    day, time_ = raw["date"], raw.get("time") or {}
    try:
        return datetime(
            int(day["year"]),
            int(day["month"]),
            int(day["day"]),
            int(time_.get("hours", 0)),
            int(time_.get("minutes", 0)),
            int(time_.get("seconds", 0)),
        )
    except (KeyError, TypeError, ValueError):
        raise invalid(
            f"{name} is not a valid civil date-time.", "INVALID_CIVIL_DATE_TIME"
        ) from None


def _instant_field(raw: object, name: str) -> datetime:
    if not isinstance(raw, str) or not re.match(
        r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", raw
    ):
        raise invalid(f"{name} must be an RFC-3339 timestamp.", "INVALID_ARGUMENT")
    return datetime.fromisoformat(trim_nanos(raw))


def _duration_field(raw: object) -> timedelta:
    if not isinstance(raw, str) or not re.match(r"^\d+(\.\d{1,9})?s$", raw):
        raise invalid('windowSize must be a duration such as "3600s".', "INVALID_ROLLUP_WINDOW")
    return timedelta(seconds=float(raw[:-1]))
