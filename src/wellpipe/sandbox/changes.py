"""Records that change after the fact, and the webhooks the providers send when they do.

Each sandbox has a ``changes`` object (`WhoopChanges`, `OuraChanges`, `FitbitChanges`)
that updates, adds and deletes records, and an ``outbox`` (`wellpipe.sandbox.outbox`)
that delivers the provider's signed notification about it (through `WebhookSender`)
and retries it on the sandbox clock when the receiver fails:

* WHOOP: to the app's webhook URL (`WhoopChanges.set_webhook`), signed with the app's
  client secret. Creates and updates arrive as ``*.updated``; a sleep edit sends
  ``sleep.updated`` and ``recovery.updated`` (the recovery event carries the *sleep's*
  id); deleting a sleep deletes its recovery (``sleep.deleted``, ``recovery.deleted``).
  ``updated_at`` moves to the sandbox clock's now. Cycles change silently (WHOOP has no
  cycle events).
* Oura: to every unexpired subscription of that (event type x data type) made through
  the subscription API (`wellpipe.sandbox.oura.subscriptions`), signed with the
  subscribing app's secret (``x-oura-signature``, ``x-oura-timestamp``); a 410 answer
  cancels the subscription.
* Google Health: to every registered subscriber (`FitbitChanges.register_subscriber`,
  which first sends Google's two verification POSTs), notify-only (``operation`` UPSERT
  or DELETE, the data type and the civil days touched), with the subscriber's
  ``Authorization`` secret and an ECDSA P-256 signature by the sandbox's key, whose Tink
  public keyset the sandbox serves at `KEYSET_PATH` (Google's gstatic path).

Changes are copy-on-write per sandbox and member: a history shared by many sandboxes
(the test suite generates one per session) is never written; the first change to a
member gives this sandbox its own copy of that member's collections.

Sandbox-only routes (every sandbox): ``POST /_sandbox/changes`` (``{"action": "update" |
"add" | "delete", "kind", "id", "changes", "body", "user_id"}``), ``GET
/_sandbox/webhooks`` (the deliveries), ``POST /_sandbox/webhooks`` (WHOOP: ``{"url",
"client_secret"}``; Google: ``{"endpoint", "authorization", "data_types"}``) and ``POST
/_sandbox/webhooks/flush`` (attempt the retries that are due).
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wellpipe.sandbox.outbox import (
    GOOGLE_RETRIES,
    OURA_RETRIES,
    WHOOP_RETRIES,
    Delivery,
    Outbox,
)
from wellpipe.sandbox.webhooks import GoogleSigner, WebhookSender, tink_keyset

if TYPE_CHECKING:
    from wellpipe.sandbox.fitbit.app import FitbitSandbox
    from wellpipe.sandbox.fitbit.history import MemberHistory as FitbitMember
    from wellpipe.sandbox.fitbit.history import Point
    from wellpipe.sandbox.oura.app import OuraSandbox
    from wellpipe.sandbox.oura.history import MemberHistory as OuraMember
    from wellpipe.sandbox.oura.subscriptions import SubscriptionStore
    from wellpipe.sandbox.whoop.app import WhoopSandbox
    from wellpipe.sandbox.whoop.history import MemberHistory as WhoopMember

__all__ = [
    "KEYSET_PATH",
    "Change",
    "FitbitChanges",
    "OuraChanges",
    "Subscriber",
    "SubscriberRejected",
    "WhoopChanges",
]

Json = dict[str, Any]
KEYSET_PATH = "/googlehealthapi/webhooks/webhooks_public_keyset.json"
"""Where the Google Health sandbox serves its public keyset (Google: www.gstatic.com)."""


class RecordNotFound(LookupError):
    """The record to change does not exist."""


class SubscriberRejected(ValueError):
    """A Google subscriber endpoint failed the verification POSTs."""


@dataclasses.dataclass
class Change:
    """What a change did: the record as now served (``None``: deleted) and its deliveries."""

    record: Json | None
    deliveries: list[Delivery]

    def describe(self) -> Json:
        """A JSON summary (``POST /_sandbox/changes``)."""
        return {"record": self.record, "deliveries": [d.describe() for d in self.deliveries]}


def merged(body: Mapping[str, Any], changes: Mapping[str, Any]) -> Json:
    """``body`` with ``changes`` applied (nested objects merged key by key), as a new dict."""
    out = dict(body)
    for key, value in changes.items():
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            out[key] = merged(current, value)
        else:
            out[key] = value
    return out


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed


class _Changes:
    """What every provider's changes share: the outbox and the ``/_sandbox`` routes."""

    error_key = "message"

    sandbox: Any
    """The provider's sandbox (each subclass sets its own)."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self._owned: set[Any] = set()

    def _own(self, user_id: Any) -> Any:
        """The member (``None``: the first) as this sandbox's own copy.

        The copy is made on the member's first change (`_clone`), so the history the
        sandbox was built from stays as it was.
        """
        sandbox = self.sandbox
        uid = sandbox.member_ids[0] if user_id is None else user_id
        if uid not in sandbox.history.members:
            raise RecordNotFound(f"no member {uid}")
        if uid not in self._owned:
            if not self._owned:
                sandbox.history = dataclasses.replace(
                    sandbox.history, members=dict(sandbox.history.members)
                )
            sandbox.history.members[uid] = self._clone(sandbox.history.members[uid])
            self._owned.add(uid)
        return sandbox.history.members[uid]

    def _clone(self, original: Any) -> Any:
        """A copy of a member whose record lists can change without touching ``original``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ to override
    async def update(
        self, kind: str, record_id: str, changes: Mapping[str, Any], *, user_id: Any = None
    ) -> Change:
        """Change fields of a record (nested objects merged) and notify."""
        raise NotImplementedError

    async def add(self, kind: str, body: Mapping[str, Any], *, user_id: Any = None) -> Change:
        """Add a record and notify."""
        raise NotImplementedError

    async def delete(self, kind: str, record_id: str, *, user_id: Any = None) -> Change:
        """Delete a record and notify."""
        raise NotImplementedError

    async def configure(self, spec: Mapping[str, Any]) -> Json:
        """``POST /_sandbox/webhooks``: where notifications go."""
        raise ValueError("this sandbox's webhooks are set up through its own API")

    def _user(self, raw: Any) -> Any:
        return raw

    # ------------------------------------------------------------------ routes
    def routes(self) -> list[Route]:
        """``/_sandbox/changes``, ``/_sandbox/webhooks`` and ``/_sandbox/webhooks/flush``."""
        return [
            Route("/_sandbox/changes", self._change_route, methods=["POST"]),
            Route("/_sandbox/webhooks", self._webhooks_route, methods=["GET", "POST"]),
            Route("/_sandbox/webhooks/flush", self._flush_route, methods=["POST"]),
        ]

    def _error(self, status: int, message: str) -> JSONResponse:
        return JSONResponse({self.error_key: message}, status_code=status)

    async def _change_route(self, request: Request) -> Response:
        try:
            spec = await request.json()
            action = spec["action"]
            kind = str(spec["kind"])
            user = self._user(spec["user_id"]) if spec.get("user_id") is not None else None
            if action == "update":
                change = await self.update(
                    kind, str(spec["id"]), dict(spec.get("changes", {})), user_id=user
                )
            elif action == "add":
                change = await self._add_from(kind, spec, user)
            elif action == "delete":
                change = await self.delete(kind, str(spec["id"]), user_id=user)
            else:
                raise ValueError(f"unknown action {action!r}")
        except RecordNotFound as missing:
            return self._error(404, str(missing))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return self._error(400, f"bad change: {exc}")
        return JSONResponse(change.describe(), status_code=201 if action == "add" else 200)

    async def _add_from(self, kind: str, spec: Mapping[str, Any], user: Any) -> Change:
        return await self.add(kind, dict(spec["body"]), user_id=user)

    async def _webhooks_route(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse([d.describe() for d in self.outbox.deliveries])
        try:
            return JSONResponse(await self.configure(await request.json()), status_code=201)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return self._error(400, f"bad webhook setup: {exc}")

    async def _flush_route(self, _request: Request) -> Response:
        attempted = await self.outbox.flush()
        return JSONResponse(
            {
                "attempted": [d.describe() for d in attempted],
                "pending": len(self.outbox.pending),
            }
        )


# ---------------------------------------------------------------------- WHOOP
_WHOOP_COLLECTIONS = {
    "cycle": "cycles",
    "sleep": "sleeps",
    "recovery": "recoveries",
    "workout": "workouts",
}


class WhoopChanges(_Changes):
    """Changes to a `WhoopSandbox`'s records, and WHOOP's v2 webhooks about them.

    Records are named by WHOOP's ids: a sleep or workout by its UUID, a cycle by its id,
    a recovery by its cycle's id. ``changes`` and ``body`` are WHOOP's wire format.
    """

    def __init__(
        self, sandbox: WhoopSandbox, outbox: Outbox, *, retries: tuple[float, ...] = WHOOP_RETRIES
    ) -> None:
        """Changes for ``sandbox``, delivered through ``outbox``."""
        super().__init__(outbox)
        self.sandbox = sandbox
        self.retries = retries
        self.webhook_url: str | None = None
        self.client_secret = ""

    def set_webhook(self, url: str | None, *, client_secret: str) -> None:
        """The app's webhook URL (``None``: none) and the secret WHOOP signs with."""
        self.webhook_url = url
        self.client_secret = client_secret

    async def configure(self, spec: Mapping[str, Any]) -> Json:
        """``{"url", "client_secret"}``: `set_webhook`."""
        self.set_webhook(spec.get("url"), client_secret=str(spec["client_secret"]))
        return {"url": self.webhook_url}

    def _user(self, raw: Any) -> int:
        return int(raw)

    def _member(self, user_id: int | None) -> WhoopMember:
        member: WhoopMember = self._own(user_id)
        return member

    def _clone(self, original: Any) -> Any:
        from wellpipe.sandbox.whoop.history import MemberHistory

        clone = MemberHistory(
            spec=original.spec,
            profile=original.profile,
            body_measurement=original.body_measurement,
            cycles=list(original.cycles),
            sleeps=list(original.sleeps),
            recoveries=list(original.recoveries),
            workouts=list(original.workouts),
        )
        clone.index()
        return clone

    @staticmethod
    def _records(member: WhoopMember, kind: str) -> list[Any]:
        name = _WHOOP_COLLECTIONS.get(kind)
        if name is None:
            raise ValueError(f"unknown kind {kind!r} (one of {', '.join(_WHOOP_COLLECTIONS)})")
        records: list[Any] = getattr(member, name)
        return records

    @staticmethod
    def _key(kind: str, body: Mapping[str, Any]) -> str:
        return str(body["cycle_id"] if kind == "recovery" else body["id"])

    def _find(self, member: WhoopMember, kind: str, record_id: str) -> int:
        for index, record in enumerate(self._records(member, kind)):
            if self._key(kind, record.body) == str(record_id):
                return index
        raise RecordNotFound(f"no {kind} {record_id}")

    def _now(self) -> str:
        from wellpipe.sandbox.whoop.history import whoop_time

        return whoop_time(self.sandbox.clock.now())

    def _recovery_of_sleep(self, member: WhoopMember, sleep_id: str) -> int | None:
        for index, record in enumerate(member.recoveries):
            if record.body.get("sleep_id") == sleep_id:
                return index
        return None

    def _stored(self, kind: str, body: Json, like: Any = None) -> Any:
        from wellpipe.sandbox.whoop.history import StoredRecord

        start = _instant(body.get("start")) if kind != "recovery" else None
        end = _instant(body.get("end")) if kind != "recovery" else None
        if like is not None:
            return StoredRecord(start or like.start, end or like.end, like.key, body)
        if kind == "recovery":
            raise ValueError("WHOOP scores a recovery from its sleep: add or update the sleep")
        if start is None:
            raise ValueError("a record needs a start")
        return StoredRecord(start, end, self._key(kind, body), body)

    async def update(
        self, kind: str, record_id: str, changes: Mapping[str, Any], *, user_id: Any = None
    ) -> Change:
        """Change a record; ``updated_at`` moves. A sleep's recovery is rescored with it."""
        member = self._member(user_id)
        records = self._records(member, kind)
        index = self._find(member, kind, record_id)
        old = records[index]
        body = merged(old.body, changes)
        body["updated_at"] = self._now()
        records[index] = self._stored(kind, body, like=old)
        events: list[tuple[str, str]] = []
        if kind == "sleep":
            events.append((str(body["id"]), "sleep.updated"))
            found = self._recovery_of_sleep(member, str(body["id"]))
            if found is not None:
                recovery = member.recoveries[found]
                member.recoveries[found] = dataclasses.replace(
                    recovery, body={**recovery.body, "updated_at": body["updated_at"]}
                )
                events.append((str(body["id"]), "recovery.updated"))
        elif kind == "workout":
            events.append((str(body["id"]), "workout.updated"))
        elif kind == "recovery":
            events.append((str(body["sleep_id"]), "recovery.updated"))
        member.index()
        return Change(body, await self._notify(member, events))

    async def add(self, kind: str, body: Mapping[str, Any], *, user_id: Any = None) -> Change:
        """Add a sleep, workout or cycle (its ``id`` made up when missing)."""
        member = self._member(user_id)
        records = self._records(member, kind)
        now = self._now()
        made: Json = {"created_at": now, **body, "updated_at": now}
        if kind in ("sleep", "workout"):
            made.setdefault("id", str(uuid.uuid4()))
        made.setdefault("user_id", member.spec.user_id)
        if any(self._key(kind, r.body) == self._key(kind, made) for r in records):
            raise ValueError(f"a {kind} {self._key(kind, made)} exists already")
        records.append(self._stored(kind, made))
        member.index()
        events = [(str(made["id"]), f"{kind}.updated")] if kind != "cycle" else []
        return Change(made, await self._notify(member, events))

    async def delete(self, kind: str, record_id: str, *, user_id: Any = None) -> Change:
        """Delete a record; deleting a sleep deletes its recovery too."""
        member = self._member(user_id)
        records = self._records(member, kind)
        gone = records.pop(self._find(member, kind, record_id))
        events: list[tuple[str, str]] = []
        if kind == "sleep":
            events.append((str(gone.body["id"]), "sleep.deleted"))
            found = self._recovery_of_sleep(member, str(gone.body["id"]))
            if found is not None:
                member.recoveries.pop(found)
                events.append((str(gone.body["id"]), "recovery.deleted"))
        elif kind == "workout":
            events.append((str(gone.body["id"]), "workout.deleted"))
        elif kind == "recovery":
            events.append((str(gone.body["sleep_id"]), "recovery.deleted"))
        member.index()
        return Change(None, await self._notify(member, events))

    async def _notify(self, member: WhoopMember, events: list[tuple[str, str]]) -> list[Delivery]:
        url = self.webhook_url
        if url is None:
            return []
        sender = WebhookSender(url=url, client_secret=self.client_secret)
        sent = []
        for record_id, event_type in events:
            event: Json = {
                "user_id": member.spec.user_id,
                "id": record_id,
                "type": event_type,
                "trace_id": str(uuid.uuid4()),
            }

            def sign(at: datetime, event: Json = event) -> tuple[bytes, dict[str, str]]:
                return sender.whoop_delivery(
                    user_id=event["user_id"],
                    record_id=event["id"],
                    event=event["type"],
                    trace_id=event["trace_id"],
                    timestamp_ms=int(at.timestamp() * 1000),
                )

            sent.append(
                await self.outbox.send(
                    provider="whoop", url=url, event=event, sign=sign, retries=self.retries
                )
            )
        return sent


# ---------------------------------------------------------------------- Oura
_OURA_START_FIELDS = ("bedtime_start", "start_datetime", "timestamp")


class OuraChanges(_Changes):
    """Changes to an `OuraSandbox`'s documents, and Oura's webhooks to its subscribers.

    ``kind`` is the collection (``sleep``, ``workout``, ``daily_activity``, ...), records
    are named by document id, ``changes`` and ``body`` are Oura's documents. The event's
    ``data_type`` is the collection's name as the subscription API spells it.
    """

    error_key = "detail"

    def __init__(
        self,
        sandbox: OuraSandbox,
        outbox: Outbox,
        subscriptions: SubscriptionStore,
        *,
        retries: tuple[float, ...] = OURA_RETRIES,
    ) -> None:
        """Changes for ``sandbox``, delivered to ``subscriptions`` through ``outbox``."""
        super().__init__(outbox)
        self.sandbox = sandbox
        self.subscriptions = subscriptions
        self.retries = retries

    def _member(self, user_id: str | None) -> OuraMember:
        member: OuraMember = self._own(user_id)
        return member

    def _clone(self, original: Any) -> Any:
        built = original._built()
        return dataclasses.replace(
            original,
            _collections={name: list(docs) for name, docs in built.items()},
            _by_id={name: dict(docs) for name, docs in original._by_id.items()},
        )

    @staticmethod
    def _docs(member: OuraMember, kind: str) -> list[Any]:
        collections = member._built()
        if kind not in collections:
            raise ValueError(f"unknown collection {kind!r}")
        return collections[kind]

    @staticmethod
    def _reindex(member: OuraMember, kind: str) -> None:
        docs = member._built()[kind]
        docs.sort(key=lambda d: (d.day, d.start, d.id))
        member._by_id[kind] = {d.id: d.body for d in docs}

    def _find(self, member: OuraMember, kind: str, record_id: str) -> int:
        for index, doc in enumerate(self._docs(member, kind)):
            if doc.id == record_id:
                return index
        raise RecordNotFound(f"no {kind} document {record_id}")

    async def update(
        self, kind: str, record_id: str, changes: Mapping[str, Any], *, user_id: Any = None
    ) -> Change:
        """Change a document's fields (``update`` event)."""
        member = self._member(user_id)
        docs = self._docs(member, kind)
        index = self._find(member, kind, record_id)
        old = docs[index]
        body = merged(old.body, changes)
        day = date.fromisoformat(str(body.get("day", old.day.isoformat())))
        docs[index] = dataclasses.replace(old, day=day, body=body)
        self._reindex(member, kind)
        return Change(body, await self._notify(member, kind, record_id, "update"))

    async def add(self, kind: str, body: Mapping[str, Any], *, user_id: Any = None) -> Change:
        """Add a document (``day`` required; ``id`` made up when missing): ``create``."""
        from wellpipe.sandbox.oura.history import Document

        member = self._member(user_id)
        docs = self._docs(member, kind)
        made: Json = {"id": str(uuid.uuid4()), **body}
        if any(d.id == made["id"] for d in docs):
            raise ValueError(f"a {kind} document {made['id']} exists already")
        day = date.fromisoformat(str(made["day"]))
        tz = member._offset_for(day)
        start = next(
            (s for f in _OURA_START_FIELDS if (s := _instant(made.get(f))) is not None),
            datetime.combine(day, datetime.min.time(), tzinfo=tz),
        )
        docs.append(Document(day=day, tz=tz, start=start, body=made))
        self._reindex(member, kind)
        return Change(made, await self._notify(member, kind, str(made["id"]), "create"))

    async def delete(self, kind: str, record_id: str, *, user_id: Any = None) -> Change:
        """Delete a document (``delete`` event)."""
        member = self._member(user_id)
        docs = self._docs(member, kind)
        docs.pop(self._find(member, kind, record_id))
        self._reindex(member, kind)
        return Change(None, await self._notify(member, kind, record_id, "delete"))

    async def _notify(
        self, member: OuraMember, kind: str, object_id: str, event_type: str
    ) -> list[Delivery]:
        data_type = kind.lower()  # the route vO2_max is the data type vo2_max
        event_time = self.sandbox.clock.now().isoformat()
        sent = []
        for subscription in self.subscriptions.matching(event_type, data_type):
            sender = WebhookSender(
                url=subscription.callback_url, client_secret=subscription.client_secret
            )
            event: Json = {
                "event_type": event_type,
                "data_type": data_type,
                "object_id": object_id,
                "event_time": event_time,
                "user_id": member.user_id,
            }

            def sign(
                at: datetime, sender: WebhookSender = sender, event: Json = event
            ) -> tuple[bytes, dict[str, str]]:
                return sender.oura_delivery(**event, timestamp_s=int(at.timestamp()))

            def gone(subscription_id: str = subscription.id) -> None:
                self.subscriptions.cancel(subscription_id)

            sent.append(
                await self.outbox.send(
                    provider="oura",
                    url=subscription.callback_url,
                    event=event,
                    sign=sign,
                    retries=self.retries,
                    on_gone=gone,
                )
            )
        return sent


# ---------------------------------------------------------------------- Google Health
@dataclasses.dataclass(frozen=True)
class Subscriber:
    """A Google Health subscriber: its endpoint, ``Authorization`` secret and data types."""

    endpoint: str
    authorization: str
    data_types: frozenset[str] | None = None
    """The kebab-case data types it gets (``None``: all)."""

    def wants(self, data_type: str) -> bool:
        """Whether notifications about ``data_type`` go to this subscriber."""
        return self.data_types is None or data_type in self.data_types


class FitbitChanges(_Changes):
    """Changes to a `FitbitSandbox`'s data points, and Google Health's notifications.

    ``kind`` is the kebab-case data type (``exercise``, ``sleep``, ``steps``, ...),
    points are named by their id (identifiable types); `add` takes a stored `Point`
    (the route copies one: ``{"like": id, "id": new id, "shift_s": seconds}``).
    """

    def __init__(
        self,
        sandbox: FitbitSandbox,
        outbox: Outbox,
        *,
        retries: tuple[float, ...] = GOOGLE_RETRIES,
    ) -> None:
        """Changes for ``sandbox``, delivered through ``outbox``."""
        super().__init__(outbox)
        self.sandbox = sandbox
        self.retries = retries
        self.subscribers: list[Subscriber] = []
        self._signer: GoogleSigner | None = None

    @property
    def signer(self) -> GoogleSigner:
        """The sandbox's signing key (made on first use)."""
        if self._signer is None:
            self._signer = GoogleSigner()
        return self._signer

    def keyset(self) -> Json:
        """The public Tink keyset, as Google serves its own."""
        return tink_keyset(self.signer)

    def routes(self) -> list[Route]:
        """The ``/_sandbox`` routes and the public keyset at `KEYSET_PATH`."""
        return [*super().routes(), Route(KEYSET_PATH, self._keyset_route, methods=["GET"])]

    async def _keyset_route(self, _request: Request) -> Response:
        return JSONResponse(self.keyset(), headers={"Cache-Control": "public, max-age=3600"})

    def _user(self, raw: Any) -> str:
        return str(raw)

    async def register_subscriber(
        self,
        endpoint: str,
        *,
        authorization: str,
        data_types: frozenset[str] | None = None,
    ) -> Subscriber:
        """Verify ``endpoint`` as Google does, then send it notifications.

        Google POSTs ``{"type": "verification"}`` twice: with the ``Authorization``
        secret (201 or 200 expected) and without it (401 or 403 expected).

        Raises:
            SubscriberRejected: the endpoint did not answer both as expected.
        """
        sender = WebhookSender(url=endpoint, authorization=authorization)
        body = b'{"type":"verification"}'
        base = {"Content-Type": "application/json", "User-Agent": "Google-Health-API-Webhooks"}
        statuses = []
        async with self.outbox.client() as http:
            for with_secret in (True, False):
                headers = {**base, "Authorization": sender.authorization} if with_secret else base
                try:
                    answer = await http.post(endpoint, content=body, headers=headers)
                    statuses.append(answer.status_code)
                except Exception:  # unreachable: not verified
                    statuses.append(0)
        if statuses[0] not in (200, 201) or statuses[1] not in (401, 403):
            raise SubscriberRejected(
                f"the endpoint answered {statuses[0]} with the secret (201 or 200 expected) "
                f"and {statuses[1]} without it (401 or 403 expected)"
            )
        made = Subscriber(endpoint, authorization, data_types)
        self.subscribers = [s for s in self.subscribers if s.endpoint != endpoint] + [made]
        return made

    async def configure(self, spec: Mapping[str, Any]) -> Json:
        """``{"endpoint", "authorization", "data_types"}``: `register_subscriber`."""
        types = spec.get("data_types")
        try:
            made = await self.register_subscriber(
                str(spec["endpoint"]),
                authorization=str(spec["authorization"]),
                data_types=frozenset(str(t) for t in types) if types is not None else None,
            )
        except SubscriberRejected as rejected:
            raise ValueError(str(rejected)) from None
        return {"endpoint": made.endpoint, "data_types": sorted(made.data_types or [])}

    def _member(self, user_id: str | None) -> FitbitMember:
        member: FitbitMember = self._own(user_id)
        return member

    def _clone(self, original: Any) -> Any:
        data = original._generated()
        clone = _shallow(original)
        clone._data = dataclasses.replace(
            data,
            points={kind: list(points) for kind, points in data.points.items()},
            reconciled={kind: list(points) for kind, points in data.reconciled.items()},
            by_id={kind: dict(points) for kind, points in data.by_id.items()},
        )
        clone._lock = threading.Lock()
        return clone

    @staticmethod
    def _points(member: FitbitMember, kind: str) -> list[Point]:
        from wellpipe.sandbox.fitbit.types import DATA_TYPES

        if kind not in DATA_TYPES:
            raise ValueError(f"unknown data type {kind!r}")
        return member.points.setdefault(kind, [])

    @staticmethod
    def _reindex(member: FitbitMember, kind: str) -> None:
        from wellpipe.sandbox.fitbit.history import _NEWEST_FIRST, _reconcile

        points = member.points[kind]
        points.sort(key=_NEWEST_FIRST, reverse=True)
        member.reconciled[kind] = _reconcile(points)
        member.by_id[kind] = {p.point_id: p for p in points if p.point_id is not None}

    def _find(self, member: FitbitMember, kind: str, point_id: str) -> int:
        for index, point in enumerate(self._points(member, kind)):
            if point.point_id == point_id:
                return index
        raise RecordNotFound(f"no {kind} data point {point_id}")

    async def update(
        self, kind: str, record_id: str, changes: Mapping[str, Any], *, user_id: Any = None
    ) -> Change:
        """Change a point's payload (nested objects merged): an ``UPSERT`` notification."""
        member = self._member(user_id)
        points = self._points(member, kind)
        index = self._find(member, kind, record_id)
        point = dataclasses.replace(points[index], value=merged(points[index].value, changes))
        points[index] = point
        self._reindex(member, kind)
        return Change(_described(point), await self._notify(member, kind, point, "UPSERT"))

    async def add(self, kind: str, body: Mapping[str, Any], *, user_id: Any = None) -> Change:
        """Add a point: ``body`` is ``{"point": Point}`` (see `add_point`)."""
        point = body["point"]
        return await self.add_point(kind, point, user_id=user_id)

    async def add_point(self, kind: str, point: Point, *, user_id: Any = None) -> Change:
        """Add a stored point (e.g. ``dataclasses.replace`` of another): ``UPSERT``."""
        member = self._member(user_id)
        points = self._points(member, kind)
        if point.point_id is not None and any(p.point_id == point.point_id for p in points):
            raise ValueError(f"a {kind} point {point.point_id} exists already")
        points.append(point)
        self._reindex(member, kind)
        return Change(_described(point), await self._notify(member, kind, point, "UPSERT"))

    async def _add_from(self, kind: str, spec: Mapping[str, Any], user: Any) -> Change:
        member = self._member(user)
        like = self._points(member, kind)[self._find(member, kind, str(spec["like"]))]
        shift = timedelta(seconds=float(spec.get("shift_s", 0)))
        point = dataclasses.replace(
            like,
            point_id=str(spec["id"]),
            start=like.start + shift,
            end=like.end + shift if like.end else None,
            civil_start=like.civil_start + shift,
            civil_end=like.civil_end + shift if like.civil_end else None,
            value=merged(like.value, dict(spec.get("changes", {}))),
        )
        return await self.add_point(kind, point, user_id=user)

    async def delete(self, kind: str, record_id: str, *, user_id: Any = None) -> Change:
        """Delete a point: a ``DELETE`` notification."""
        member = self._member(user_id)
        points = self._points(member, kind)
        gone = points.pop(self._find(member, kind, record_id))
        self._reindex(member, kind)
        return Change(None, await self._notify(member, kind, gone, "DELETE"))

    async def _notify(
        self, member: FitbitMember, kind: str, point: Point, operation: str
    ) -> list[Delivery]:
        last = point.civil_end or point.civil_start
        days = (point.civil_start.date().isoformat(), last.date().isoformat())
        sent = []
        for subscriber in self.subscribers:
            if not subscriber.wants(kind):
                continue
            sender = WebhookSender(
                url=subscriber.endpoint, authorization=subscriber.authorization, google=self.signer
            )
            event: Json = {
                "health_user_id": member.user_id,
                "data_type": kind,
                "days": days,
                "operation": operation,
            }
            body, headers = sender.google_delivery(**event)  # one body: retries are the same

            def sign(
                _at: datetime, body: bytes = body, headers: dict[str, str] = headers
            ) -> tuple[bytes, dict[str, str]]:
                return body, headers

            sent.append(
                await self.outbox.send(
                    provider="google",
                    url=subscriber.endpoint,
                    event={**event, "days": list(days)},
                    sign=sign,
                    retries=self.retries,
                )
            )
        return sent


def _shallow(member: FitbitMember) -> FitbitMember:
    import copy

    return copy.copy(member)


def _described(point: Point) -> Json:
    return {
        "point_id": point.point_id,
        "start": point.start.isoformat(),
        "end": point.end.isoformat() if point.end else None,
        "source": point.source,
        "value": point.value,
    }
