"""What every provider sandbox shares: request log, ASGI entry, token helpers, ``/_sandbox``.

`SandboxApp` is the base of `WhoopSandbox`, `OuraSandbox` and `FitbitSandbox`.
Each subclass sets ``clock``, ``history``, ``auth``, ``member_ids`` and
``pinned_client`` in its ``__init__``, then calls `SandboxApp._mount` with its
Starlette routes. What differs on purpose stays in the subclass or is a class
attribute here: the scopes a minted token carries by default
(``default_scopes``), the key of the sandbox-only error bodies (``error_key``:
WHOOP and Google ``message``, Oura ``detail``) and the token endpoint's cache
headers (``token_headers``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, Protocol, TypeVar
from urllib.parse import parse_qsl

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from wellpipe.core.ports import Clock
from wellpipe.core.tokens import TokenSet
from wellpipe.sandbox.faults import Fault, FaultInjector, FaultMiddleware

__all__ = ["LoggedRequest", "SandboxApp", "pinned_client"]

UserId = TypeVar("UserId")
Member = TypeVar("Member")
_Member_co = TypeVar("_Member_co", covariant=True)
_UserId_contra = TypeVar("_UserId_contra", contravariant=True)
_BODY_FAULTS = (None, "truncated", "not_json", "empty", "drop_required_field", "wrong_type")


@dataclass(frozen=True)
class LoggedRequest:
    """One request the sandbox served."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    status: int
    client_id: str | None


class _History(Protocol[UserId, _Member_co]):
    @property
    def now(self) -> datetime: ...

    @property
    def seed(self) -> int: ...

    @property
    def days(self) -> int: ...

    @property
    def members(self) -> Mapping[UserId, _Member_co]: ...


class _TokenOutcome(Protocol):
    @property
    def status(self) -> int: ...

    @property
    def body(self) -> dict[str, Any]: ...


class _AuthorizationServer(Protocol[_UserId_contra]):
    def issue_tokens(
        self, user_id: _UserId_contra, *, client_id: str, scopes: frozenset[str]
    ) -> dict[str, Any]: ...

    def token(self, form: dict[str, str], authorization: str | None) -> _TokenOutcome: ...


def pinned_client(client_id: str | None, client_secret: str | None) -> tuple[str, str] | None:
    """The ``(client_id, client_secret)`` a sandbox pins, if any; both or neither."""
    if (client_id is None) != (client_secret is None):
        raise ValueError("pin both client_id and client_secret, or neither")
    return (client_id, client_secret) if client_id and client_secret else None


class SandboxApp(Generic[UserId, Member]):
    """The ASGI app, request log and sandbox-only helpers every provider sandbox shares."""

    default_scopes: ClassVar[frozenset[str]]
    """Scopes `issue_tokens` grants when none are named."""
    error_key: ClassVar[str] = "message"
    """Key of the message in the ``/_sandbox`` error bodies."""
    token_headers: ClassVar[dict[str, str]] = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    """Headers of every token-endpoint answer."""

    clock: Clock
    history: _History[UserId, Member]
    auth: _AuthorizationServer[UserId]
    member_ids: list[UserId]
    pinned_client: bool
    faults: FaultInjector
    requests: deque[LoggedRequest]
    _app: ASGIApp

    def _mount(self, routes: Starlette) -> None:
        """Serve ``routes`` behind the fault injector, logging every request."""
        self.faults = FaultInjector()
        self.requests = deque(maxlen=100_000)
        self._app = FaultMiddleware(routes, injector=self.faults, clock=self.clock)

    # ------------------------------------------------------------------ public helpers
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve ASGI."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        status = 0
        client: list[str | None] = [None]
        scope["wellpipe.client"] = client

        async def logging_send(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, logging_send)
        finally:
            query = tuple(
                parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True)
            )
            self.requests.append(
                LoggedRequest(scope["method"], scope["path"], query, status, client[0])
            )

    def transport(self) -> httpx2.ASGITransport:
        """An `httpx2` transport that talks to this sandbox in process."""
        return httpx2.ASGITransport(app=self)

    def issue_tokens(
        self,
        user_id: UserId | None = None,
        *,
        client_id: str = "sandbox-client",
        scopes: frozenset[str] | None = None,
    ) -> dict[str, Any]:
        """A token response for a member, as if they had just authorized ``client_id``.

        ``scopes`` defaults to every scope the sandbox serves (``default_scopes``).
        """
        return self.auth.issue_tokens(
            user_id if user_id is not None else self.member_ids[0],
            client_id=client_id,
            scopes=self.default_scopes if scopes is None else scopes,
        )

    def issue_token_set(
        self,
        user_id: UserId | None = None,
        *,
        client_id: str = "sandbox-client",
        scopes: frozenset[str] | None = None,
    ) -> TokenSet:
        """`issue_tokens` as the `TokenSet` a client would store (expiry by the sandbox clock)."""
        issued = self.issue_tokens(user_id, client_id=client_id, scopes=scopes)
        return TokenSet(
            access_token=issued["access_token"],
            refresh_token=issued["refresh_token"],
            expires_at=self.clock.now() + timedelta(seconds=issued["expires_in"]),
            scopes=frozenset(issued["scope"].split()),
        )

    def member(self, user_id: UserId | None = None) -> Member:
        """A member's history (the first member by default)."""
        return self.history.members[user_id if user_id is not None else self.member_ids[0]]

    def inject(self, fault: Fault) -> Fault:
        """Queue a fault (see `Fault`)."""
        return self.faults.add(fault)

    # ------------------------------------------------------------------ OAuth token endpoint
    async def _token(self, request: Request) -> Response:
        """The token endpoint: a form body, answered by ``auth.token``."""
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return JSONResponse(
                {"error": "invalid_request", "error_description": "Expected a form body."},
                status_code=400,
            )
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        request.scope["wellpipe.client"][0] = form.get("client_id") or None
        outcome = self.auth.token(form, request.headers.get("authorization"))
        return JSONResponse(outcome.body, status_code=outcome.status, headers=self.token_headers)

    # ------------------------------------------------------------------ sandbox-only
    def _control_routes(self) -> list[Route]:
        """``/_sandbox`` (info), ``/_sandbox/faults`` and ``/_sandbox/tokens``."""
        return [
            Route("/_sandbox", self._info, methods=["GET"]),
            Route("/_sandbox/faults", self._faults, methods=["POST", "DELETE"]),
            Route("/_sandbox/tokens", self._tokens, methods=["POST"]),
        ]

    def _describe(self, origin: str) -> dict[str, Any]:
        raise NotImplementedError

    def _history_info(self) -> dict[str, Any]:
        return {
            "now": self.history.now.isoformat(),
            "days": self.history.days,
            "seed": self.history.seed,
        }

    def _control_error(self, status: int, message: str) -> JSONResponse:
        return JSONResponse({self.error_key: message}, status_code=status)

    async def _info(self, request: Request) -> Response:
        return JSONResponse(self._describe(str(request.base_url).rstrip("/")))

    async def _faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear()
            return Response(status_code=204)
        try:
            spec = await request.json()
            fault = Fault(
                path_prefix=str(spec.get("path_prefix", "/")),
                times=int(spec.get("times", 1)),
                status=int(spec["status"]) if spec.get("status") is not None else None,
                latency_s=float(spec.get("latency_s", 0)),
                body=spec.get("body"),
                headers={str(k): str(v) for k, v in dict(spec.get("headers", {})).items()},
                methods=frozenset(str(m).upper() for m in spec.get("methods", [])),
            )
            if fault.body not in _BODY_FAULTS:
                raise ValueError(f"unknown body fault {fault.body!r}")
            self.faults.add(fault)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return self._control_error(400, f"bad fault: {exc}")
        return JSONResponse({"pending": len(self.faults.pending)}, status_code=201)

    async def _tokens(self, request: Request) -> Response:
        spec = await request.json() if await request.body() else {}
        user_id = self._control_user_id(spec.get("user_id", self.member_ids[0]))
        if user_id not in self.history.members:
            return self._control_error(404, f"no member {user_id}")
        return self._control_tokens(user_id, spec)

    def _control_user_id(self, raw: Any) -> Any:
        """The member a ``/_sandbox/tokens`` body names (as given, by default)."""
        return raw

    def _control_tokens(self, user_id: UserId, spec: dict[str, Any]) -> Response:
        """``/_sandbox/tokens`` for a known member (every default scope, by default)."""
        return JSONResponse(self.issue_tokens(user_id))
