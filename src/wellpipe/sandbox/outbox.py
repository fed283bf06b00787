"""The webhook deliveries a sandbox owes: sent at once, retried on the sandbox clock.

A provider delivers a notification, and when the receiver answers anything but 2xx (or
cannot be reached) it tries again later. The sandboxes do the same without sleeping: a
failed `Delivery` is given its next due time on the sandbox's clock, and `Outbox.flush`
sends every delivery that is due (a test advances its fake clock, then flushes). Each
attempt is signed again at the moment it is sent, as the providers do, so a retry an
hour later still carries a fresh timestamp; what identifies the event (WHOOP's
``trace_id``, Oura's event, Google's body) stays the same.

Retry schedules (seconds after each failed attempt):

* WHOOP: 5 retries over about an hour (`WHOOP_RETRIES`); WHOOP documents the count and
  the hour, not the spacing.
* Oura: up to 10 retries over about an hour (`OURA_RETRIES`); a **410** answer cancels
  the subscription the delivery came from (``on_gone``) and is not retried.
* Google Health: exponential, kept up to 7 days (`GOOGLE_RETRIES`).

The spacing is the sandbox's choice; every sandbox takes its schedule as an argument.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx2

from wellpipe.core.ports import Clock

__all__ = [
    "GOOGLE_RETRIES",
    "OURA_RETRIES",
    "WHOOP_RETRIES",
    "Delivery",
    "Outbox",
]

logger = logging.getLogger(__name__)

WHOOP_RETRIES: tuple[float, ...] = (60.0, 300.0, 600.0, 1200.0, 1500.0)
"""WHOOP: 5 retries, about an hour in all."""
OURA_RETRIES: tuple[float, ...] = (
    30.0,
    60.0,
    120.0,
    180.0,
    300.0,
    420.0,
    540.0,
    600.0,
    600.0,
    750.0,
)
"""Oura: 10 retries, about an hour in all."""
GOOGLE_RETRIES: tuple[float, ...] = tuple(60.0 * 2**n for n in range(13))
"""Google Health: exponential from a minute; the last one about 5.7 days after the first."""

Signer = Callable[[datetime], tuple[bytes, dict[str, str]]]
"""Builds one attempt's body and headers, signed at the given moment."""


@dataclass
class Delivery:
    """One notification on its way to a receiver.

    Attributes:
        provider: ``"whoop"``, ``"oura"`` or ``"google"``.
        url: Where it goes.
        event: What it says (the body's fields, for tests and ``/_sandbox/webhooks``).
        sign: Builds an attempt's body and headers.
        retries: Seconds to wait after each failed attempt.
        due: When the next attempt is due (sandbox clock).
        statuses: Every attempt's answer status (``0``: no answer).
        state: ``pending`` (an attempt is due), ``delivered``, ``failed`` (retries spent)
            or ``gone`` (Oura's 410: the subscription was cancelled).
        on_gone: Called when the receiver answers 410 (Oura cancels the subscription).
    """

    provider: str
    url: str
    event: dict[str, Any]
    sign: Signer = field(repr=False)
    retries: tuple[float, ...]
    due: datetime
    statuses: list[int] = field(default_factory=list)
    state: Literal["pending", "delivered", "failed", "gone"] = "pending"
    on_gone: Callable[[], None] | None = field(default=None, repr=False)

    def describe(self) -> dict[str, Any]:
        """A JSON summary (``GET /_sandbox/webhooks``)."""
        return {
            "provider": self.provider,
            "url": self.url,
            "event": self.event,
            "statuses": list(self.statuses),
            "state": self.state,
            "due": self.due.isoformat() if self.state == "pending" else None,
        }


class Outbox:
    """Every delivery a sandbox made, and the retries still owed.

    Attributes:
        clock: The sandbox's clock (due times, signature timestamps).
        transport: The network deliveries go through (``None``: the real one; a test
            sets the cloud in process, e.g. ``httpx2.ASGITransport(app=cloud_app)``).
        timeout_s: How long an attempt may take before it counts as failed.
        deliveries: Every delivery, oldest first.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        """Create an empty outbox on ``clock``."""
        self.clock = clock
        self.transport = transport
        self.timeout_s = timeout_s
        self.deliveries: list[Delivery] = []

    @property
    def pending(self) -> list[Delivery]:
        """Deliveries with an attempt still to make."""
        return [d for d in self.deliveries if d.state == "pending"]

    def client(self) -> httpx2.AsyncClient:
        """An HTTP client on the outbox's network (the Oura verification GET uses it too)."""
        return httpx2.AsyncClient(transport=self.transport, timeout=self.timeout_s)

    async def send(
        self,
        *,
        provider: str,
        url: str,
        event: dict[str, Any],
        sign: Signer,
        retries: tuple[float, ...],
        on_gone: Callable[[], None] | None = None,
    ) -> Delivery:
        """Queue a delivery and make its first attempt now."""
        delivery = Delivery(
            provider=provider,
            url=url,
            event=event,
            sign=sign,
            retries=retries,
            due=self.clock.now(),
            on_gone=on_gone,
        )
        self.deliveries.append(delivery)
        await self._attempt(delivery)
        return delivery

    async def flush(self) -> list[Delivery]:
        """Attempt every pending delivery that is due by the clock; the ones attempted."""
        now = self.clock.now()
        due = [d for d in self.pending if d.due <= now]
        for delivery in due:
            await self._attempt(delivery)
        return due

    async def _attempt(self, delivery: Delivery) -> None:
        now = self.clock.now()
        body, headers = delivery.sign(now)
        try:
            async with self.client() as http:
                answer = await http.post(
                    delivery.url,
                    content=body,
                    headers={"Content-Type": "application/json", **headers},
                )
            status = answer.status_code
        except Exception as error:  # a receiver that fails is a failed delivery, not ours
            logger.warning("A sandbox webhook delivery failed (%s)", type(error).__name__)
            status = 0
        delivery.statuses.append(status)
        if 200 <= status < 300:
            delivery.state = "delivered"
        elif status == 410 and delivery.on_gone is not None:
            delivery.on_gone()
            delivery.state = "gone"
        elif len(delivery.statuses) <= len(delivery.retries):
            delivery.due = now + timedelta(seconds=delivery.retries[len(delivery.statuses) - 1])
        else:
            delivery.state = "failed"
