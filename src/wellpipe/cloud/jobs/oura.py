"""Oura's webhook subscriptions: one per event type x data type, created and renewed.

Oura's subscriptions expire (the lifetime is not documented), so a periodic job
(`renew_subscriptions`) makes sure each wanted (event type, data type) has one pointing
at ``{public_url}/webhooks/oura``, renewing those that expire within `RENEW_BEFORE` and
making again those Oura's list no longer holds (cancelled by a 410, or deleted).
The subscription API authenticates with the app's ``x-client-id`` and
``x-client-secret``, not a user's token. Oura verifies the callback while a subscription
is created (``GET …?verification_token=…&challenge=…``, answered by the webhook route).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import httpx2

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db import webhooks as db_webhooks
from wellpipe.cloud.services.health import connector_for
from wellpipe.net import build_http_client

__all__ = ["EVENT_TYPES", "RENEW_BEFORE", "callback_url", "renew_subscriptions"]

logger = logging.getLogger(__name__)

EVENT_TYPES = ("create", "update", "delete")
RENEW_BEFORE = timedelta(days=2)
_PATH = "/v2/webhook/subscription"


def callback_url(ctx: CloudContext) -> str:
    """Where Oura sends this service's events."""
    return f"{ctx.settings.public_url}/webhooks/oura"


def _expiry(body: dict[str, Any]) -> datetime | None:
    raw = body.get("expiration_time")
    if not isinstance(raw, str):
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


async def renew_subscriptions(ctx: CloudContext) -> int:
    """Create missing subscriptions and renew expiring ones; how many were made or renewed.

    Does nothing when the service has no Oura app. A failure on one subscription is
    logged and the others go on (the next run tries again).
    """
    pair = ctx.settings.credentials_for("oura")
    token = ctx.settings.oura_webhook_verification_token
    if pair is None or token is None:
        return 0
    connector = connector_for(ctx, "oura")
    origin = connector.location(ctx.provider_base_urls.get("oura")).origin
    headers = {"x-client-id": pair[0], "x-client-secret": pair[1]}
    url = callback_url(ctx)
    now = ctx.clock.now()
    changed = 0
    async with build_http_client(base_url=origin, transport=ctx.provider_transport) as http:
        stored = {
            (r.event_type, r.data_type): r for r in await db_webhooks.oura_subscriptions(ctx.db)
        }
        try:
            listed = await http.get(_PATH, headers=headers)
            remote = listed.json() if listed.status_code == 200 else None
        except (httpx2.HTTPError, ValueError):
            remote = None
        if isinstance(remote, list):
            # Oura's list is the truth: one we hold that it no longer has was cancelled
            # (a 410 answered to a delivery, or deleted in Oura's portal) and is made again
            # now, not when its old expiry comes near.
            alive = {str(item.get("id")) for item in remote if isinstance(item, dict)}
            stored = {key: row for key, row in stored.items() if row.id in alive}
        for item in remote if isinstance(remote, list) else []:
            key = (str(item.get("event_type")), str(item.get("data_type")))
            if item.get("callback_url") == url and key not in stored:
                row = db_webhooks.SubscriptionRow(
                    str(item["id"]), key[0], key[1], url, _expiry(item)
                )
                await db_webhooks.save_oura_subscription(ctx.db, row, now=now)
                stored[key] = row
        for data_type in ctx.settings.oura_webhook_data_types:
            for event_type in EVENT_TYPES:
                held = stored.get((event_type, data_type))
                fresh = held is not None and held.callback_url == url
                expires = held.expires_at if held is not None and fresh else None
                if expires is not None and expires - now > RENEW_BEFORE:
                    continue
                try:
                    body: dict[str, Any] | None = None
                    if held is not None and fresh:
                        answer = await http.put(f"{_PATH}/renew/{held.id}", headers=headers)
                        if answer.status_code == 200:
                            body = answer.json()
                    if body is None:
                        answer = await http.post(
                            _PATH,
                            headers=headers,
                            json={
                                "callback_url": url,
                                "verification_token": token.get_secret_value(),
                                "event_type": event_type,
                                "data_type": data_type,
                            },
                        )
                        if answer.status_code not in (200, 201):
                            logger.warning(
                                "Oura refused the %s/%s webhook subscription (HTTP %d); "
                                "the next renewal run tries again",
                                event_type,
                                data_type,
                                answer.status_code,
                            )
                            continue
                        body = answer.json()
                except (httpx2.HTTPError, ValueError) as error:
                    logger.warning(
                        "Could not reach Oura's subscription API for %s/%s (%s); "
                        "the next renewal run tries again",
                        event_type,
                        data_type,
                        type(error).__name__,
                    )
                    continue
                saved = db_webhooks.SubscriptionRow(
                    str(body.get("id")), event_type, data_type, url, _expiry(body)
                )
                await db_webhooks.save_oura_subscription(ctx.db, saved, now=now)
                changed += 1
    return changed
