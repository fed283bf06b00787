"""`WhoopSandbox`: a faithful fake of WHOOP's API v2 and OAuth server, as an ASGI app.

Paths match WHOOP's: ``/developer/v2/...`` for member data and
``/oauth/oauth2/auth`` / ``/oauth/oauth2/token`` for OAuth, so pointing
``WELLPIPE_WHOOP_BASE_URL`` at a running sandbox is all a client needs.
Sandbox-only helpers live under ``/_sandbox``.
"""

from __future__ import annotations

import base64
import binascii
import html
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from wellpipe.core.clock import SystemClock
from wellpipe.core.ports import Clock
from wellpipe.core.provider_info import RateLimit
from wellpipe.sandbox.base import LoggedRequest, SandboxApp, pinned_client
from wellpipe.sandbox.changes import WhoopChanges
from wellpipe.sandbox.limits import AppRateLimiter
from wellpipe.sandbox.outbox import WHOOP_RETRIES, Outbox
from wellpipe.sandbox.whoop.history import (
    History,
    MemberHistory,
    MemberSpec,
    StoredRecord,
    generate_history,
)
from wellpipe.sandbox.whoop.oauth import ALLOWED_SCOPES, AccessGrant, AuthorizationServer

__all__ = ["LoggedRequest", "WhoopSandbox"]

MAX_LIMIT = 25
DEFAULT_LIMIT = 10
_JSON = "application/json"


class _Problem(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class WhoopSandbox(SandboxApp[int, MemberHistory]):
    """A WHOOP API v2 you can run anywhere: seeded history, OAuth, rate limits, faults."""

    default_scopes = ALLOWED_SCOPES

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
        rate_limits: Sequence[RateLimit] = (RateLimit(100, 60), RateLimit(10_000, 86_400)),
        revoke_family_on_reuse: bool = True,
        history: History | None = None,
        grants_file: Path | None = None,
        webhook_retries: tuple[float, ...] = WHOOP_RETRIES,
    ) -> None:
        """Create a sandbox.

        Args:
            seed: Seed of the synthetic history.
            days: Days of history (at least 180).
            members: How many members (or explicit specs).
            now: The present moment for the history (default: the clock's now).
            clock: Time source for tokens, rate limits and the default ``end``.
            client_id: Pin the only accepted client id (with ``client_secret``).
            client_secret: Pin the only accepted client secret.
            token_ttl_s: Access-token lifetime.
            rate_limits: Per-app limits (WHOOP: 100/min and 10,000/day).
            revoke_family_on_reuse: Reusing a spent refresh token also revokes the grant.
            history: Serve this (read-only) history instead of generating one;
                ``seed``, ``days``, ``members`` and ``now`` are then ignored.
            grants_file: Keep the grants and tokens issued in this file (JSON, 0600)
                and honour them again after a restart; ``None`` keeps them in memory.
            webhook_retries: Seconds between a failed webhook delivery's attempts.

        Records change through ``changes`` (`WhoopChanges`: copy-on-write, the shared
        ``history`` is never written); webhooks go out through ``outbox`` once
        ``changes.set_webhook`` names the app's URL.
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
            revoke_family_on_reuse=revoke_family_on_reuse,
            grants_file=grants_file,
        )
        self.pinned_client = client_id is not None
        self.limiter = AppRateLimiter(rate_limits, clock=self.clock)
        self.rate_limits = tuple(rate_limits)
        self.outbox = Outbox(self.clock)
        self.changes = WhoopChanges(self, self.outbox, retries=webhook_retries)
        if client is not None:
            self.changes.client_secret = client[1]
        self._mount(self._starlette())

    # ------------------------------------------------------------------ routing
    def _starlette(self) -> Starlette:
        api = "/developer/v2"

        def data(
            handler: Callable[[Request, MemberHistory, AccessGrant], Any], scope: str | None
        ) -> Callable[[Request], Any]:
            async def endpoint(request: Request) -> Response:
                return await self._serve_data(request, handler, scope)

            return endpoint

        routes = [
            Route("/", self._landing, methods=["GET"]),
            *self._control_routes(),
            *self.changes.routes(),
            Route("/oauth/oauth2/auth", self._authorize, methods=["GET"]),
            Route("/oauth/oauth2/token", self._token, methods=["POST"]),
            Route(f"{api}/cycle", data(self._cycles, "read:cycles"), methods=["GET"]),
            Route(f"{api}/cycle/{{cycleId}}", data(self._cycle, "read:cycles"), methods=["GET"]),
            Route(
                f"{api}/cycle/{{cycleId}}/sleep",
                data(self._cycle_sleep, "read:sleep"),
                methods=["GET"],
            ),
            Route(
                f"{api}/cycle/{{cycleId}}/recovery",
                data(self._cycle_recovery, "read:recovery"),
                methods=["GET"],
            ),
            Route(f"{api}/recovery", data(self._recoveries, "read:recovery"), methods=["GET"]),
            Route(f"{api}/activity/sleep", data(self._sleeps, "read:sleep"), methods=["GET"]),
            Route(
                f"{api}/activity/sleep/{{sleepId}}",
                data(self._sleep, "read:sleep"),
                methods=["GET"],
            ),
            Route(f"{api}/activity/workout", data(self._workouts, "read:workout"), methods=["GET"]),
            Route(
                f"{api}/activity/workout/{{workoutId}}",
                data(self._workout, "read:workout"),
                methods=["GET"],
            ),
            Route(
                f"{api}/user/profile/basic", data(self._profile, "read:profile"), methods=["GET"]
            ),
            Route(
                f"{api}/user/measurement/body",
                data(self._body, "read:body_measurement"),
                methods=["GET"],
            ),
            Route(f"{api}/user/access", data(self._revoke, None), methods=["DELETE"]),
        ]
        return Starlette(routes=routes)

    async def _serve_data(
        self,
        request: Request,
        handler: Callable[[Request, MemberHistory, AccessGrant], Any],
        scope: str | None,
    ) -> Response:
        header = request.headers.get("authorization", "")
        bearer = header[7:].strip() if header[:7].lower() == "bearer " else ""
        grant = self.auth.resolve(bearer) if bearer else None
        if grant is None or (scope is not None and scope not in grant.scopes):
            return JSONResponse({"message": "Authorization was not valid"}, status_code=401)
        request.scope["wellpipe.client"][0] = grant.client_id
        decision = self.limiter.hit(grant.client_id)
        if not decision.allowed:
            return JSONResponse(
                {"message": "Too Many Requests"}, status_code=429, headers=decision.headers
            )
        try:
            result = handler(request, self.history.members[grant.user_id], grant)
        except _Problem as problem:
            return JSONResponse(
                {"message": problem.message}, status_code=problem.status, headers=decision.headers
            )
        if result is None:
            return Response(status_code=204, headers=decision.headers)
        return JSONResponse(result, headers=decision.headers)

    # ------------------------------------------------------------------ collections
    def _page(self, request: Request, records: list[StoredRecord]) -> dict[str, Any]:
        query = request.query_params
        limit = _int_param(query.get("limit"), "limit", DEFAULT_LIMIT)
        if not 1 <= limit <= MAX_LIMIT:
            raise _Problem(400, f"limit must be between 1 and {MAX_LIMIT}")
        start = _time_param(query.get("start"), "start")
        end = _time_param(query.get("end"), "end") or self.clock.now()
        if start is not None and start >= end:
            raise _Problem(400, "start must be before end")
        after = _decode_token(query["nextToken"]) if "nextToken" in query else None
        page: list[StoredRecord] = []
        more = False
        for record in records:  # newest first
            if not _in_window(record, start, end):
                continue
            if after is not None and (_ms(record.start), record.key) >= after:
                continue
            if len(page) == limit:
                more = True
                break
            page.append(record)
        body: dict[str, Any] = {"records": [record.body for record in page]}
        if more:
            body["next_token"] = _encode_token(page[-1])
        return body

    def _cycles(self, request: Request, member: MemberHistory, _: AccessGrant) -> Any:
        return self._page(request, member.cycles)

    def _recoveries(self, request: Request, member: MemberHistory, _: AccessGrant) -> Any:
        return self._page(request, member.recoveries)

    def _sleeps(self, request: Request, member: MemberHistory, _: AccessGrant) -> Any:
        return self._page(request, member.sleeps)

    def _workouts(self, request: Request, member: MemberHistory, _: AccessGrant) -> Any:
        return self._page(request, member.workouts)

    # ------------------------------------------------------------------ single records
    def _cycle(self, request: Request, member: MemberHistory, _: AccessGrant) -> Any:
        return _found(member.cycle_by_id.get(_int64_path(request, "cycleId")), "cycle")

    def _cycle_sleep(self, request: Request, member: MemberHistory, _: AccessGrant) -> Any:
        cycle_id = _int64_path(request, "cycleId")
        _found(member.cycle_by_id.get(cycle_id), "cycle")
        return _found(member.main_sleep_by_cycle.get(cycle_id), "sleep")

    def _cycle_recovery(self, request: Request, member: MemberHistory, _: AccessGrant) -> Any:
        cycle_id = _int64_path(request, "cycleId")
        _found(member.cycle_by_id.get(cycle_id), "cycle")
        return _found(member.recovery_by_cycle.get(cycle_id), "recovery")

    def _sleep(self, request: Request, member: MemberHistory, _: AccessGrant) -> Any:
        return _found(member.sleep_by_id.get(_uuid_path(request, "sleepId")), "sleep")

    def _workout(self, request: Request, member: MemberHistory, _: AccessGrant) -> Any:
        return _found(member.workout_by_id.get(_uuid_path(request, "workoutId")), "workout")

    def _profile(self, _request: Request, member: MemberHistory, _: AccessGrant) -> Any:
        return member.profile

    def _body(self, _request: Request, member: MemberHistory, _: AccessGrant) -> Any:
        return member.body_measurement

    def _revoke(self, _request: Request, _member: MemberHistory, grant: AccessGrant) -> Any:
        self.auth.revoke_grant(grant)
        return None

    # ------------------------------------------------------------------ OAuth
    async def _authorize(self, request: Request) -> Response:
        status, headers, page = self.auth.authorize(dict(request.query_params))
        if status == 302:
            return RedirectResponse(headers["location"], status_code=302)
        return HTMLResponse(page, status_code=status)

    # ------------------------------------------------------------------ sandbox-only
    def _describe(self, origin: str) -> dict[str, Any]:
        return {
            "sandbox": "wellpipe WHOOP sandbox",
            "base_url": origin,
            "history": self._history_info(),
            "members": [
                {
                    "user_id": m.spec.user_id,
                    "name": f"{m.spec.first_name} {m.spec.last_name}",
                    "home_timezone_offset": m.spec.home_offset,
                    "cycles": len(m.cycles),
                    "sleeps": len(m.sleeps),
                    "recoveries": len(m.recoveries),
                    "workouts": len(m.workouts),
                }
                for m in self.history.members.values()
            ],
            "rate_limits": [
                {"requests": lim.requests, "window_s": lim.seconds} for lim in self.rate_limits
            ],
            "pinned_client": self.pinned_client,
        }

    async def _landing(self, request: Request) -> Response:
        info = self._describe(str(request.base_url).rstrip("/"))
        rows = "".join(
            f"<tr><td>{m['user_id']}</td><td>{html.escape(m['name'])}</td>"
            f"<td>{m['home_timezone_offset']}</td><td>{m['cycles']}</td><td>{m['sleeps']}</td>"
            f"<td>{m['workouts']}</td></tr>"
            for m in info["members"]
        )
        origin = html.escape(info["base_url"])
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Wellpipe WHOOP sandbox</title>
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;line-height:1.5}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.25rem .6rem}}
code,pre{{background:#f4f4f4;padding:.1rem .3rem}}</style></head>
<body><h1>Wellpipe WHOOP sandbox</h1>
<p>A faithful fake of the WHOOP API v2 with {info["history"]["days"]} days of synthetic
history (seed {info["history"]["seed"]}). Point Wellpipe at it:</p>
<pre>export WELLPIPE_WHOOP_BASE_URL={origin}</pre>
<table><tr><th>user id</th><th>member</th><th>offset</th><th>cycles</th><th>sleeps</th>
<th>workouts</th></tr>{rows}</table>
<p>Data: <code>/developer/v2/...</code> &middot; OAuth: <code>/oauth/oauth2/auth</code>,
<code>/oauth/oauth2/token</code> &middot; Sandbox info: <code>/_sandbox</code></p>
</body></html>"""
        return HTMLResponse(page)


# ---------------------------------------------------------------------- helpers
def _in_window(record: StoredRecord, start: datetime | None, end: datetime) -> bool:
    """WHOOP's filter: ``start`` inclusive (so is a record in progress then), ``end`` exclusive."""
    if record.start >= end:
        return False
    if start is None:
        return True
    return record.start >= start or record.end is None or record.end > start


def _ms(instant: datetime) -> int:
    return round(instant.timestamp() * 1000)


def _encode_token(record: StoredRecord) -> str:
    raw = f"{_ms(record.start)}:{record.key}".encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode_token(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        millis, key = raw.split(":", 1)
        return int(millis), key
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _Problem(400, "nextToken is not valid") from None


def _int_param(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise _Problem(400, f"{name} must be an integer") from None


def _time_param(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Problem(400, f"{name} must be an ISO-8601 date-time") from None
    if parsed.tzinfo is None:
        raise _Problem(400, f"{name} must include a time zone (e.g. Z)")
    return parsed


def _int64_path(request: Request, name: str) -> int:
    raw = request.path_params[name]
    try:
        value = int(raw)
    except ValueError:
        raise _Problem(400, f"{name} must be an integer") from None
    if not -(2**63) <= value < 2**63:
        raise _Problem(400, f"{name} is out of range")
    return value


def _uuid_path(request: Request, name: str) -> str:
    raw = request.path_params[name]
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise _Problem(400, f"{name} must be a UUID") from None


def _found(record: dict[str, Any] | None, what: str) -> dict[str, Any]:
    if record is None:
        raise _Problem(404, f"No {what} found")
    return record
