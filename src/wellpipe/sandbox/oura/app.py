"""`OuraSandbox`: a faithful fake of Oura's API v2 and OAuth server, as an ASGI app.

Paths match Oura's: ``/v2/usercollection/<route>`` (and ``/<route>/{document_id}``)
for member data, ``/oauth/authorize``, ``/oauth/token`` and ``/oauth/revoke`` for
OAuth, so pointing both ``WELLPIPE_OURA_BASE_URL`` and ``WELLPIPE_OURA_AUTH_URL`` at
a running sandbox is all a client needs. Sandbox-only helpers live under ``/_sandbox``.

Choices where Oura publishes nothing (documented so clients do not rely on more):

* **Date ranges** (every route but heartrate): a document belongs to its ``day``;
  it is returned when local midnight of that day is ``>= start_date`` and
  ``< end_date``. A bare date is that day's midnight, so ``start_date`` is
  inclusive and a bare-date ``end_date`` is **exclusive**: ``end_date=2026-06-11``
  does not return 11 June, ``end_date=2026-06-11T23:59:59`` (or ``2026-06-12``)
  does. This is what clients measured against the real API (a date-only
  ``end_date`` drops that day). A date-time without offset is the member's local
  time; with one it is that instant. Without ``start_date`` the range starts a
  week before today; without ``end_date`` it has no end.
  ``start_date > end_date`` is a 400.
* **Heart rate**: ``start_datetime <= timestamp < end_datetime`` (UTC rows every
  5 minutes), default the last 24 hours, at most 30 days per request (a 400
  beyond that, as clients report); ``latest=true`` gives the newest row only.
* **Pages**: ``page_size`` (default 50) documents, ``heartrate_page_size``
  (default 1000, the size clients measured) rows; ``next_token`` is opaque and
  ``null`` on the last page. Documents come oldest first.
* **Errors**: invalid query parameters are ``400`` with the spec's
  ``HTTPValidationError`` body (``{"detail": [{"loc", "msg", "type"}]}``); bearer
  missing, invalid or expired ``401``; scope not granted ``403``; unknown document
  ``404``; ``429`` carries ``Retry-After``, ``X-RateLimit-Limit``,
  ``X-RateLimit-Window``, ``X-RateLimit-Reset`` (epoch s) and ``X-RateLimit-Tier``.
* **personal_info** needs ``personal`` or ``email`` (403 with neither); the
  fields of the scope not granted are null.
"""

from __future__ import annotations

import base64
import binascii
import html
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from wellpipe.core.clock import SystemClock
from wellpipe.core.ports import Clock
from wellpipe.core.provider_info import RateLimit
from wellpipe.sandbox.base import LoggedRequest, SandboxApp, pinned_client
from wellpipe.sandbox.changes import OuraChanges
from wellpipe.sandbox.oura.history import (
    COLLECTIONS,
    Document,
    History,
    MemberHistory,
    MemberSpec,
    generate_history,
)
from wellpipe.sandbox.oura.oauth import ALL_SCOPES, AccessGrant, AuthorizationServer
from wellpipe.sandbox.oura.subscriptions import DEFAULT_LIFETIME, SubscriptionStore
from wellpipe.sandbox.outbox import OURA_RETRIES, Outbox

__all__ = ["API", "ROUTE_SCOPES", "LoggedRequest", "OuraSandbox", "TokenRateLimiter"]

API = "/v2/usercollection"
ROUTE_SCOPES: dict[str, frozenset[str]] = {
    "daily_activity": frozenset({"daily"}),
    "daily_readiness": frozenset({"daily"}),
    "daily_sleep": frozenset({"daily"}),
    "daily_stress": frozenset({"daily"}),
    "sleep": frozenset({"daily"}),
    "vO2_max": frozenset({"daily"}),
    "workout": frozenset({"workout"}),
    "session": frozenset({"session"}),
    "daily_spo2": frozenset({"spo2Daily", "spo2"}),
    "heartrate": frozenset({"heartrate"}),
    "personal_info": frozenset({"personal", "email"}),
}
"""Scopes that open each route (any one of them)."""

DEFAULT_PAGE_SIZE = 50
DEFAULT_HEARTRATE_PAGE_SIZE = 1000
HEARTRATE_MAX_SPAN = timedelta(days=30)
OURA_RATE_LIMIT = RateLimit(5000, 300)
"""Per access token: 5000 requests per 5 minutes."""
_ALWAYS_RETURNED = frozenset({"id", "day", "timestamp"})


class _Problem(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def _invalid(name: str, message: str, kind: str = "value_error") -> _Problem:
    return _Problem(400, {"detail": [{"loc": ["query", name], "msg": message, "type": kind}]})


@dataclass(frozen=True)
class _Decision:
    allowed: bool
    headers: dict[str, str]


class TokenRateLimiter:
    """Oura's two layers: per access token, and (optionally) per application, fixed windows."""

    def __init__(
        self, *, per_token: RateLimit | None, per_app: RateLimit | None, clock: Clock
    ) -> None:
        self._layers = [
            (tier, lim) for tier, lim in (("token", per_token), ("application", per_app)) if lim
        ]
        self._clock = clock
        self._counts: dict[tuple[str, str, int], int] = {}

    def hit(self, token: str, client_id: str) -> _Decision:
        """Count one request unless a layer is full; the 429 headers when one is."""
        now = self._clock.now().timestamp()
        keys = []
        for tier, limit in self._layers:
            number = math.floor(now / limit.seconds)
            key = (tier, token if tier == "token" else client_id, number)
            if self._counts.get(key, 0) >= limit.requests:
                reset = (number + 1) * limit.seconds
                return _Decision(
                    False,
                    {
                        "Retry-After": str(max(1, math.ceil(reset - now))),
                        "X-RateLimit-Limit": str(limit.requests),
                        "X-RateLimit-Window": str(int(limit.seconds)),
                        "X-RateLimit-Reset": str(math.ceil(reset)),
                        "X-RateLimit-Tier": tier,
                    },
                )
            keys.append(key)
        for key in keys:
            self._counts[key] = self._counts.get(key, 0) + 1
        if len(self._counts) > 4096:
            self._counts = {k: v for k, v in self._counts.items() if k in set(keys)}
        return _Decision(True, {})


class OuraSandbox(SandboxApp[str, MemberHistory]):
    """An Oura API v2 you can run anywhere: seeded history, OAuth, rate limits, faults."""

    default_scopes = ALL_SCOPES
    error_key = "detail"

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
        token_ttl_s: int = 86_400,
        rate_limit: RateLimit | None = OURA_RATE_LIMIT,
        app_rate_limit: RateLimit | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        heartrate_page_size: int = DEFAULT_HEARTRATE_PAGE_SIZE,
        history: History | None = None,
        grants_file: Path | None = None,
        subscription_lifetime: timedelta = DEFAULT_LIFETIME,
        webhook_retries: tuple[float, ...] = OURA_RETRIES,
    ) -> None:
        """Create a sandbox.

        Args:
            seed: Seed of the synthetic history.
            days: Days of history (at least 30).
            members: How many members (or explicit specs).
            now: The present moment for the history (default: the clock's now).
            clock: Time source for tokens, rate limits and "today".
            client_id: Pin the only accepted client id (with ``client_secret``).
            client_secret: Pin the only accepted client secret.
            token_ttl_s: Access-token lifetime (``expires_in``).
            rate_limit: Per-access-token limit (Oura: 5000 requests per 5 minutes).
            app_rate_limit: Per-application limit (Oura publishes no number; off).
            page_size: Documents per page.
            heartrate_page_size: Heart-rate rows per page.
            history: Serve this (read-only) history instead of generating one;
                ``seed``, ``days``, ``members`` and ``now`` are then ignored.
            grants_file: Keep the grants and tokens issued in this file (JSON, 0600)
                and honour them again after a restart; ``None`` keeps them in memory.
            subscription_lifetime: How long a webhook subscription lives until renewed
                (Oura documents no number).
            webhook_retries: Seconds between a failed webhook delivery's attempts.

        Apps subscribe to webhooks through Oura's subscription API (``subscriptions``);
        documents change through ``changes`` (`OuraChanges`: copy-on-write, the shared
        ``history`` is never written), and events go out through ``outbox``.
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
            grants_file=grants_file,
        )
        self.pinned_client = client_id is not None
        self.rate_limit = rate_limit
        self.limiter = TokenRateLimiter(
            per_token=rate_limit, per_app=app_rate_limit, clock=self.clock
        )
        self.page_size = page_size
        self.heartrate_page_size = heartrate_page_size
        self.outbox = Outbox(self.clock)
        self.subscriptions = SubscriptionStore(
            clock=self.clock, outbox=self.outbox, pinned=client, lifetime=subscription_lifetime
        )
        self.changes = OuraChanges(self, self.outbox, self.subscriptions, retries=webhook_retries)
        self._mount(self._starlette())

    # ------------------------------------------------------------------ routing
    def _starlette(self) -> Starlette:
        def data(
            handler: Callable[[Request, MemberHistory, AccessGrant], Any], route: str
        ) -> Callable[[Request], Any]:
            async def endpoint(request: Request) -> Response:
                return await self._serve_data(request, handler, route)

            return endpoint

        routes = [
            Route("/", self._landing, methods=["GET"]),
            *self._control_routes(),
            Route("/_sandbox/consent", self._consent_controls, methods=["POST"]),
            *self.changes.routes(),
            *self.subscriptions.routes(),
            Route("/oauth/authorize", self._authorize, methods=["GET", "POST"]),
            Route("/oauth/token", self._token, methods=["POST"]),
            Route("/oauth/revoke", self._revoke, methods=["GET", "POST"]),
            Route(f"{API}/personal_info", data(self._personal_info, "personal_info")),
            Route(f"{API}/heartrate", data(self._heartrate, "heartrate")),
        ]
        for name in COLLECTIONS:
            routes += [
                Route(f"{API}/{name}", data(self._lister(name), name)),
                Route(f"{API}/{name}/{{document_id}}", data(self._getter(name), name)),
            ]
        return Starlette(routes=routes)

    async def _serve_data(
        self,
        request: Request,
        handler: Callable[[Request, MemberHistory, AccessGrant], Any],
        route: str,
    ) -> Response:
        header = request.headers.get("authorization", "")
        bearer = header[7:].strip() if header[:7].lower() == "bearer " else ""
        grant = self.auth.resolve(bearer) if bearer else None
        if grant is None:
            return JSONResponse(
                {"detail": "Unauthorized: the access token is missing, invalid or expired."},
                status_code=401,
            )
        request.scope["wellpipe.client"][0] = grant.client_id
        decision = self.limiter.hit(bearer, grant.client_id)
        if not decision.allowed:
            return JSONResponse(
                {"detail": "Too many requests."}, status_code=429, headers=decision.headers
            )
        if not grant.scopes & ROUTE_SCOPES[route]:
            needed = " or ".join(sorted(ROUTE_SCOPES[route]))
            return JSONResponse(
                {"detail": f"Forbidden: this route needs the {needed} scope."}, status_code=403
            )
        try:
            result = handler(request, self.history.members[grant.user_id], grant)
        except _Problem as problem:
            return JSONResponse(problem.body, status_code=problem.status)
        return JSONResponse(result)

    # ------------------------------------------------------------------ documents
    def _lister(self, name: str) -> Callable[[Request, MemberHistory, AccessGrant], Any]:
        def handler(request: Request, member: MemberHistory, _: AccessGrant) -> Any:
            query = request.query_params
            today = member.today
            start = _date_param(query.get("start_date"), "start_date")
            end = _date_param(query.get("end_date"), "end_date")
            if start is not None and end is not None and _after(start, end):
                raise _invalid(
                    "start_date",
                    f"Start date is greater than end date: [start_date: {query['start_date']}; "
                    f"end_date: {query['end_date']}]",
                )
            if start is None:
                start = today - timedelta(days=7)
            docs = member.collection(name)
            first = _decode_token(query.get("next_token"), name) if "next_token" in query else 0
            page: list[dict[str, Any]] = []
            more = None
            for index in range(first, len(docs)):
                doc = docs[index]
                if not _on_or_after(doc, start):
                    continue
                if end is not None and _on_or_after(doc, end):
                    break  # sorted by day: nothing later qualifies
                if len(page) == self.page_size:
                    more = _encode_token(name, index)
                    break
                page.append(_select(doc.body, query.get("fields")))
            return {"data": page, "next_token": more}

        return handler

    def _getter(self, name: str) -> Callable[[Request, MemberHistory, AccessGrant], Any]:
        def handler(request: Request, member: MemberHistory, _: AccessGrant) -> Any:
            body = member.document(name, request.path_params["document_id"])
            if body is None:
                raise _Problem(404, {"detail": "Not Found"})
            return body

        return handler

    def _personal_info(self, _request: Request, member: MemberHistory, grant: AccessGrant) -> Any:
        info = dict(member.personal_info)
        if "personal" not in grant.scopes:
            for key in ("age", "weight", "height", "biological_sex"):
                info[key] = None
        if "email" not in grant.scopes:
            info["email"] = None
        return info

    def _heartrate(self, request: Request, member: MemberHistory, _: AccessGrant) -> Any:
        query = request.query_params
        now = self.history.now
        end = _datetime_param(query.get("end_datetime"), "end_datetime") or now
        start = _datetime_param(query.get("start_datetime"), "start_datetime") or (
            end - timedelta(days=1)
        )
        if start > end:
            raise _invalid("start_datetime", "start_datetime is after end_datetime")
        if end - start > HEARTRATE_MAX_SPAN:
            raise _invalid("end_datetime", "The maximum range is 30 days.")
        latest = query.get("latest")
        if latest is not None and latest.lower() not in {"true", "false", "1", "0"}:
            raise _invalid("latest", "Input should be a valid boolean", "bool_parsing")
        if latest is not None and latest.lower() in {"true", "1"}:
            rows = list(member.heartrate(start, end))
            return {
                "data": [_select(r, query.get("fields")) for r in rows[-1:]],
                "next_token": None,
            }
        if "next_token" in query:
            start = max(
                start, datetime.fromtimestamp(_decode_token(query["next_token"], "heartrate"), UTC)
            )
        rows_iter: Iterator[dict[str, Any]] = member.heartrate(start, end)
        page: list[dict[str, Any]] = []
        more = None
        for row in rows_iter:
            if len(page) == self.heartrate_page_size:
                more = _encode_token("heartrate", row["timestamp_unix"] // 1000)
                break
            page.append(_select(row, query.get("fields")))
        return {"data": page, "next_token": more}

    # ------------------------------------------------------------------ OAuth
    async def _authorize(self, request: Request) -> Response:
        if request.method == "POST":
            form = parse_qs((await request.body()).decode(), keep_blank_values=True)
            status, headers, page = self.auth.consent(form)
        else:
            status, headers, page = self.auth.authorize(dict(request.query_params))
        if status == 302:
            return RedirectResponse(headers["location"], status_code=302)
        return HTMLResponse(page, status_code=status)

    async def _revoke(self, request: Request) -> Response:
        token = request.query_params.get("access_token")
        if token is None and request.method == "POST":
            form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
            token = form.get("access_token") or form.get("token")
        if not token:
            return JSONResponse(
                {"error": "invalid_request", "error_description": "access_token is required."},
                status_code=400,
            )
        self.auth.revoke(token)
        return JSONResponse({})

    # ------------------------------------------------------------------ sandbox-only
    def _describe(self, origin: str) -> dict[str, Any]:
        return {
            "sandbox": "wellpipe Oura sandbox",
            "base_url": origin,
            "history": self._history_info(),
            "members": [
                {
                    "user_id": m.spec.user_id,
                    "email": m.spec.email,
                    "home_offset": m.spec.home_offset,
                    "ring_generation": m.spec.ring_generation,
                }
                for m in self.history.members.values()
            ],
            "rate_limit": None
            if self.rate_limit is None
            else {"requests": self.rate_limit.requests, "window_s": self.rate_limit.seconds},
            "page_size": self.page_size,
            "heartrate_page_size": self.heartrate_page_size,
            "pinned_client": self.pinned_client,
        }

    def _control_tokens(self, user_id: str, spec: dict[str, Any]) -> Response:
        scopes = frozenset(spec.get("scopes", ALL_SCOPES))
        try:
            return JSONResponse(self.issue_tokens(user_id, scopes=scopes))
        except ValueError as exc:
            return self._control_error(400, str(exc))

    async def _consent_controls(self, request: Request) -> Response:
        spec = await request.json() if await request.body() else {}
        controls = self.auth.controls
        if "auto_approve" in spec:
            controls.auto_approve = bool(spec["auto_approve"])
        if "drop_scopes" in spec:
            controls.drop_scopes = frozenset(str(s) for s in spec["drop_scopes"])
        if "deny_next" in spec:
            controls.deny_next = int(spec["deny_next"])
        if "approve_as" in spec:
            controls.approve_as = spec["approve_as"]
        return JSONResponse(
            {
                "auto_approve": controls.auto_approve,
                "drop_scopes": sorted(controls.drop_scopes),
                "deny_next": controls.deny_next,
                "approve_as": controls.approve_as,
            }
        )

    async def _landing(self, request: Request) -> Response:
        info = self._describe(str(request.base_url).rstrip("/"))
        rows = "".join(
            f"<tr><td>{html.escape(m['user_id'])}</td><td>{html.escape(m['email'])}</td>"
            f"<td>{m['home_offset']}</td><td>Gen{m['ring_generation']}</td></tr>"
            for m in info["members"]
        )
        origin = html.escape(info["base_url"])
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Wellpipe Oura sandbox</title></head>
<body><h1>Wellpipe Oura sandbox</h1>
<p>A faithful fake of the Oura API v2 with {info["history"]["days"]} days of synthetic
history (seed {info["history"]["seed"]}). Point Wellpipe at it:</p>
<pre>export WELLPIPE_OURA_BASE_URL={origin}
export WELLPIPE_OURA_AUTH_URL={origin}</pre>
<table><tr><th>user id</th><th>email</th><th>offset</th><th>ring</th></tr>{rows}</table>
<p>Data: <code>{API}/...</code> &middot; OAuth: <code>/oauth/authorize</code>,
<code>/oauth/token</code>, <code>/oauth/revoke</code> &middot; Sandbox info:
<code>/_sandbox</code></p></body></html>"""
        return HTMLResponse(page)


# ---------------------------------------------------------------------- helpers
_Bound = date | datetime


def _date_param(value: str | None, name: str) -> _Bound | None:
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value.replace(" ", "+"))
    except ValueError:
        raise _invalid(
            name, "Input should be a valid date or datetime", "datetime_from_date_parsing"
        ) from None


def _datetime_param(value: str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "+"))
    except ValueError:
        raise _invalid(name, "Input should be a valid datetime", "datetime_parsing") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _on_or_after(doc: Document, bound: _Bound) -> bool:
    """Whether the document's day starts at or after ``bound``."""
    if not isinstance(bound, datetime):
        return doc.day >= bound
    if bound.tzinfo is None:
        return datetime.combine(doc.day, time(0)) >= bound
    return doc.day_start() >= bound


def _after(start: _Bound, end: _Bound) -> bool:
    def key(bound: _Bound) -> datetime:
        if isinstance(bound, datetime):
            return (
                bound.replace(tzinfo=None)
                if bound.tzinfo is None
                else bound.astimezone(UTC).replace(tzinfo=None)
            )
        return datetime.combine(bound, time(0))

    return key(start) > key(end)


def _select(body: dict[str, Any], fields: str | None) -> dict[str, Any]:
    if not fields:
        return body
    wanted = {f.strip() for f in fields.split(",") if f.strip()} | _ALWAYS_RETURNED
    return {k: v for k, v in body.items() if k in wanted}


def _encode_token(route: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{route}:{position}".encode()).rstrip(b"=").decode()


def _decode_token(token: str | None, route: str) -> int:
    try:
        raw = base64.urlsafe_b64decode((token or "") + "=" * (-len(token or "") % 4)).decode()
        name, _, position = raw.partition(":")
        if name != route:
            raise ValueError(name)
        value = int(position)
        if value < 0:
            raise ValueError(position)
        return value
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _invalid("next_token", "Invalid next_token") from None
