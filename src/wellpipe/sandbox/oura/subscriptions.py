"""Oura's webhook subscription API (spec tag "Webhook Subscription Routes"), in the sandbox.

* ``POST /v2/webhook/subscription`` (``{callback_url, verification_token, event_type,
  data_type}``): first verifies the callback as Oura does (``GET
  callback?verification_token=…&challenge=…``, which must answer 2xx with ``{"challenge":
  …}``), then answers 201 with the ``WebhookSubscriptionModel``.
* ``GET /v2/webhook/subscription``: the app's subscriptions; ``GET``, ``PUT`` and
  ``DELETE /v2/webhook/subscription/{id}``; ``PUT /v2/webhook/subscription/renew/{id}``
  moves ``expiration_time`` a lifetime ahead.

Every route authenticates with the app's ``x-client-id`` and ``x-client-secret`` headers
(a pinned sandbox accepts only its pair; an unpinned one any pair, and signs that app's
events with the secret given). An app sees only its own subscriptions; another app's id
is answered as unknown (403, as the spec's "Webhook with specified id does not exist").

Choices where Oura publishes nothing, documented so clients rely on no more: the
lifetime of a subscription (``lifetime``, default 30 days); a subscription past its
``expiration_time`` receives no events but is still listed and can be renewed; a failed
verification is a 400 ``{"detail": …}``; missing or wrong app credentials are a 401.
A callback answering **410** to an event cancels its subscription (`SubscriptionStore.cancel`).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wellpipe.core.ports import Clock
from wellpipe.sandbox.outbox import Outbox

__all__ = [
    "DATA_TYPES",
    "DEFAULT_LIFETIME",
    "EVENT_TYPES",
    "PATH",
    "Subscription",
    "SubscriptionStore",
]

PATH = "/v2/webhook/subscription"
DEFAULT_LIFETIME = timedelta(days=30)
"""How long a subscription lives until renewed (Oura documents no number)."""
EVENT_TYPES = ("create", "update", "delete")
"""The spec's ``WebhookOperation``."""
DATA_TYPES = (
    "tag",
    "enhanced_tag",
    "workout",
    "session",
    "sleep",
    "daily_sleep",
    "daily_readiness",
    "daily_activity",
    "daily_spo2",
    "sleep_time",
    "rest_mode_period",
    "ring_configuration",
    "daily_stress",
    "daily_cardiovascular_age",
    "daily_resilience",
    "vo2_max",
    "meal",
)
"""The spec's ``ExtApiV2DataType``."""
_UNKNOWN = "Webhook with specified id does not exist."


@dataclass
class Subscription:
    """One (event type x data type) subscription of one app."""

    id: str
    client_id: str
    client_secret: str
    callback_url: str
    verification_token: str
    event_type: str
    data_type: str
    expiration_time: datetime

    def body(self) -> dict[str, Any]:
        """The spec's ``WebhookSubscriptionModel``."""
        return {
            "id": self.id,
            "callback_url": self.callback_url,
            "event_type": self.event_type,
            "data_type": self.data_type,
            "expiration_time": self.expiration_time.isoformat(),
        }


class _Refused(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body))
        self.status = status
        self.body = body


def _invalid(field: str, message: str, kind: str = "value_error") -> _Refused:
    return _Refused(422, {"detail": [{"loc": ["body", field], "msg": message, "type": kind}]})


class SubscriptionStore:
    """The subscriptions of every app, the routes that manage them, and who gets an event.

    Attributes:
        lifetime: How far ``expiration_time`` lies ahead of a creation or renewal.
        subscriptions: Every live subscription by id.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        outbox: Outbox,
        pinned: tuple[str, str] | None = None,
        lifetime: timedelta = DEFAULT_LIFETIME,
    ) -> None:
        """Create an empty store; verification requests go through ``outbox``'s network."""
        self.clock = clock
        self.outbox = outbox
        self.pinned = pinned
        self.lifetime = lifetime
        self.subscriptions: dict[str, Subscription] = {}

    # ------------------------------------------------------------------ who gets an event
    def matching(self, event_type: str, data_type: str) -> list[Subscription]:
        """The unexpired subscriptions for ``event_type`` x ``data_type``."""
        now = self.clock.now()
        return [
            s
            for s in self.subscriptions.values()
            if s.event_type == event_type and s.data_type == data_type and s.expiration_time > now
        ]

    def cancel(self, subscription_id: str) -> None:
        """Drop a subscription (its callback answered 410)."""
        self.subscriptions.pop(subscription_id, None)

    # ------------------------------------------------------------------ routes
    def routes(self) -> list[Route]:
        """The five routes of the spec's "Webhook Subscription Routes"."""
        return [
            Route(PATH, self._collection, methods=["GET", "POST"]),
            Route(f"{PATH}/renew/{{id}}", self._renew, methods=["PUT"]),
            Route(f"{PATH}/{{id}}", self._one, methods=["GET", "PUT", "DELETE"]),
        ]

    def _client(self, request: Request) -> tuple[str, str]:
        client_id = request.headers.get("x-client-id", "")
        client_secret = request.headers.get("x-client-secret", "")
        request.scope["wellpipe.client"][0] = client_id or None
        if not client_id or not client_secret:
            raise _Refused(401, {"detail": "x-client-id and x-client-secret are required."})
        if self.pinned is not None and (client_id, client_secret) != self.pinned:
            raise _Refused(401, {"detail": "The client id or secret is not valid."})
        return client_id, client_secret

    def _owned(self, request: Request, client_id: str) -> Subscription:
        found = self.subscriptions.get(request.path_params["id"])
        if found is None or found.client_id != client_id:
            raise _Refused(403, {"detail": _UNKNOWN})
        return found

    async def _verify(self, callback_url: str, token: str) -> None:
        """Oura's verification GET; refuses unless the callback echoes the challenge."""
        challenge = secrets.token_urlsafe(16)
        try:
            async with self.outbox.client() as http:
                answer = await http.get(
                    callback_url, params={"verification_token": token, "challenge": challenge}
                )
            echoed = answer.json().get("challenge") if answer.is_success else None
        except Exception:  # unreachable, not JSON, not an object: not verified
            echoed = None
        if echoed != challenge:
            raise _Refused(
                400,
                {"detail": "Webhook verification failed: the callback did not echo the challenge."},
            )

    async def _json(self, request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise _invalid("body", "JSON decode error", "json_invalid") from None
        if not isinstance(body, dict):
            raise _invalid("body", "Input should be a valid dictionary", "dict_type")
        return body

    @staticmethod
    def _checked(body: dict[str, Any], field: str, *, required: bool) -> str | None:
        value = body.get(field)
        if value is None:
            if required:
                raise _invalid(field, "Field required", "missing")
            return None
        if not isinstance(value, str):
            raise _invalid(field, "Input should be a valid string", "string_type")
        allowed = {"event_type": EVENT_TYPES, "data_type": DATA_TYPES}.get(field)
        if allowed is not None and value not in allowed:
            raise _invalid(field, f"Input should be one of {', '.join(allowed)}", "enum")
        return value

    async def _collection(self, request: Request) -> Response:
        try:
            client_id, client_secret = self._client(request)
            if request.method == "GET":
                mine = [s.body() for s in self.subscriptions.values() if s.client_id == client_id]
                return JSONResponse(mine)
            body = await self._json(request)
            fields = ("callback_url", "verification_token", "event_type", "data_type")
            given = {f: self._checked(body, f, required=True) or "" for f in fields}
            await self._verify(given["callback_url"], given["verification_token"])
        except _Refused as refused:
            return JSONResponse(refused.body, status_code=refused.status)
        made = Subscription(
            id=str(uuid.uuid4()),
            client_id=client_id,
            client_secret=client_secret,
            expiration_time=self.clock.now() + self.lifetime,
            **given,
        )
        self.subscriptions[made.id] = made
        return JSONResponse(made.body(), status_code=201)

    async def _one(self, request: Request) -> Response:
        try:
            client_id, _ = self._client(request)
            found = self._owned(request, client_id)
            if request.method == "DELETE":
                del self.subscriptions[found.id]
                return Response(status_code=204)
            if request.method == "PUT":
                body = await self._json(request)
                token = self._checked(body, "verification_token", required=True) or ""
                changes = {
                    f: value
                    for f in ("callback_url", "event_type", "data_type")
                    if (value := self._checked(body, f, required=False)) is not None
                }
                if changes.get("callback_url", found.callback_url) != found.callback_url:
                    await self._verify(changes["callback_url"], token)
                found.verification_token = token
                for name, value in changes.items():
                    setattr(found, name, value)
        except _Refused as refused:
            return JSONResponse(refused.body, status_code=refused.status)
        return JSONResponse(found.body())

    async def _renew(self, request: Request) -> Response:
        try:
            client_id, _ = self._client(request)
            found = self._owned(request, client_id)
        except _Refused as refused:
            return JSONResponse(refused.body, status_code=refused.status)
        found.expiration_time = self.clock.now() + self.lifetime
        return JSONResponse(found.body())
