"""Providers' webhooks: verify, deduplicate, enqueue, answer (well within a second).

* ``POST /webhooks/whoop``: WHOOP's HMAC (``X-WHOOP-Signature``) over the timestamp and
  the raw body; deliveries deduplicated on ``trace_id``.
* ``GET /webhooks/oura``: Oura's verification challenge, answered when the token matches.
  ``POST /webhooks/oura``: Oura's HMAC (``x-oura-signature``); deduplicated on the event
  (event type, data type, object id, event time, user).
* ``POST /webhooks/google``: Google Health's verification POSTs (201 with the subscriber's
  ``Authorization`` secret, 401 without), then notifications: the secret, and an ECDSA
  signature over the raw body by a key of Google's Tink keyset; deduplicated on a digest
  of the body.

The work (fetching the record, storing or deleting it) is a job (`wellpipe.cloud.jobs`);
the answer never waits for it. A delivery for an account no connection holds is
acknowledged and dropped (a provider retrying it could never succeed), and logged
without secrets or values. A delivery whose job could not be queued is forgotten again
and answered 503, so the provider's retry brings it back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db import webhooks as db_webhooks
from wellpipe.cloud.jobs.queue import queue_for
from wellpipe.cloud.jobs.tasks import enqueue_webhook
from wellpipe.cloud.jobs.work import GOOGLE_KINDS, OURA_DAY_KINDS, OURA_KINDS
from wellpipe.cloud.security.webhook_signatures import (
    SignatureRejected,
    TinkKeyset,
    verify_google,
    verify_oura,
    verify_whoop,
)
from wellpipe.net import build_http_client

__all__ = ["KEYSET_TTL_S", "router"]

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

KEYSET_TTL_S = 3600.0
"""How long Google's public keyset is trusted before it is fetched again (keys rotate)."""
_WHOOP_TYPES = {
    f"{kind}.{action}"
    for kind in ("workout", "sleep", "recovery")
    for action in ("updated", "deleted")
}
GOOGLE_PROVIDER = "fitbit"
"""Wellpipe's name for the Google Health API provider (Fitbit's successor)."""


def _answer(status: int, detail: str | None = None) -> Response:
    if detail is None:
        return Response(status_code=status)
    return JSONResponse({"detail": detail}, status_code=status)


def _ctx(request: Request) -> CloudContext:
    ctx = request.app.state.ctx
    assert isinstance(ctx, CloudContext)
    return ctx


def _secret(ctx: CloudContext, provider: str) -> str | None:
    pair = ctx.settings.credentials_for(provider)
    return None if pair is None else pair[1]


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


async def _accept(
    ctx: CloudContext,
    *,
    provider: str,
    identity: str,
    account: str,
    event: dict[str, Any] | None,
    ok: int,
) -> Response:
    """Deduplicate, map the account to a user, enqueue; the answer to give the provider."""
    display = {"whoop": "WHOOP", "oura": "Oura", GOOGLE_PROVIDER: "Google Health"}[provider]
    if not await db_webhooks.remember_delivery(
        ctx.db, provider=provider, identity=identity, now=ctx.clock.now()
    ):
        logger.info("A %s webhook delivery was received again; acknowledged once", display)
        return _answer(ok)
    if event is None:  # an event type Wellpipe does not use: acknowledged, nothing to do
        return _answer(ok)
    found = await db_webhooks.account_for(ctx.db, provider=provider, provider_user_id=account)
    if found is None or found.status != "active":
        logger.info(
            "A %s webhook named an account no active connection holds; dropped "
            "(it reconnects through the dashboard, which backfills)",
            display,
        )
        return _answer(ok)
    try:
        await enqueue_webhook(ctx, provider=provider, user_id=found.user_id, event=event)
    except Exception:
        logger.exception("A %s webhook's job could not be queued; asking for a retry", display)
        await db_webhooks.forget_delivery(ctx.db, provider=provider, identity=identity)
        return _answer(503, "The job queue is unavailable; deliver this event again later.")
    return _answer(ok)


# ------------------------------------------------------------------ WHOOP
@router.post("/webhooks/whoop")
async def whoop_webhook(request: Request) -> Response:
    """A WHOOP event (``{user_id, id, type, trace_id}``)."""
    ctx = _ctx(request)
    secret = _secret(ctx, "whoop")
    if secret is None:
        return _answer(404, "WHOOP is not set up on this Wellpipe service.")
    body = await request.body()
    try:
        verify_whoop(
            secret=secret,
            headers=request.headers,
            body=body,
            now_s=ctx.clock.now().timestamp(),
            max_age_s=ctx.settings.webhook_max_age_s,
        )
    except SignatureRejected as why:
        logger.warning("Refused a WHOOP webhook: %s", why)
        return _answer(401, f"Signature refused: {why}.")
    event = _json(body)
    if not isinstance(event, dict) or not all(
        k in event for k in ("user_id", "id", "type", "trace_id")
    ):
        return _answer(400, "Expected a JSON object with user_id, id, type and trace_id.")
    kind = str(event["type"])
    work = {"type": kind, "id": str(event["id"])} if kind in _WHOOP_TYPES else None
    return await _accept(
        ctx,
        provider="whoop",
        identity=str(event["trace_id"]),
        account=str(event["user_id"]),
        event=work,
        ok=204,
    )


# ------------------------------------------------------------------ Oura
@router.get("/webhooks/oura")
async def oura_verification(request: Request) -> Response:
    """Oura's verification: echo ``challenge`` when ``verification_token`` is ours."""
    ctx = _ctx(request)
    expected = ctx.settings.oura_webhook_verification_token
    given = request.query_params.get("verification_token", "")
    challenge = request.query_params.get("challenge", "")
    if (
        expected is None
        or not challenge
        or not hmac.compare_digest(given.encode(), expected.get_secret_value().encode())
    ):
        logger.warning("Refused an Oura verification request: the token does not match")
        return _answer(403, "The verification token does not match this service's.")
    return JSONResponse({"challenge": challenge})


@router.post("/webhooks/oura")
async def oura_webhook(request: Request) -> Response:
    """An Oura event (``{event_type, data_type, object_id, event_time, user_id}``)."""
    ctx = _ctx(request)
    secret = _secret(ctx, "oura")
    if secret is None:
        return _answer(404, "Oura is not set up on this Wellpipe service.")
    body = await request.body()
    try:
        verify_oura(
            secret=secret,
            headers=request.headers,
            body=body,
            now_s=ctx.clock.now().timestamp(),
            max_age_s=ctx.settings.webhook_max_age_s,
            signed=ctx.settings.oura_signature_body,
        )
    except SignatureRejected as why:
        logger.warning("Refused an Oura webhook: %s", why)
        return _answer(401, f"Signature refused: {why}.")
    event = _json(body)
    fields = ("event_type", "data_type", "object_id", "user_id")
    if not isinstance(event, dict) or not all(k in event for k in fields):
        return _answer(
            400, "Expected a JSON object with event_type, data_type, object_id, user_id."
        )
    identity = "|".join(
        str(event.get(k, ""))
        for k in ("event_type", "data_type", "object_id", "event_time", "user_id")
    )
    data_type = str(event["data_type"])
    used = data_type in OURA_KINDS or data_type in OURA_DAY_KINDS
    work = (
        {k: str(event.get(k, "")) for k in ("event_type", "data_type", "object_id", "event_time")}
        if used
        else None
    )
    return await _accept(
        ctx, provider="oura", identity=identity, account=str(event["user_id"]), event=work, ok=200
    )


# ------------------------------------------------------------------ Google Health
async def _google_keyset(ctx: CloudContext, *, refresh: bool = False) -> TinkKeyset:
    """Google's public keyset, cached for `KEYSET_TTL_S` (``refresh``: fetch it now)."""
    extras = queue_for(ctx).extras
    cached = extras.get("google_keyset")
    if cached is not None and not refresh and time.monotonic() - cached[0] < KEYSET_TTL_S:
        keyset: TinkKeyset = cached[1]
        return keyset
    url = ctx.settings.google_webhook_keyset_url
    async with build_http_client(base_url=url, transport=ctx.provider_transport) as http:
        answer = await http.get(url)
        answer.raise_for_status()
        keyset = TinkKeyset.parse(answer.json())
    extras["google_keyset"] = (time.monotonic(), keyset)
    return keyset


def _notifications(body: Any) -> list[dict[str, Any]]:
    """The notifications of a delivery: ``{"data": {...}}``, or a batch of them."""
    items = body if isinstance(body, list) else [body]
    found = []
    for item in items:
        data = item.get("data") if isinstance(item, dict) else None
        if isinstance(data, dict):
            found.append(data)
    return found


@router.post("/webhooks/google")
async def google_webhook(request: Request) -> Response:
    """Google Health's verification POSTs and notifications."""
    ctx = _ctx(request)
    authorization = ctx.settings.google_webhook_authorization
    if authorization is None or _secret(ctx, GOOGLE_PROVIDER) is None:
        return _answer(404, "Google Health webhooks are not set up on this Wellpipe service.")
    body = await request.body()
    parsed = _json(body)
    secret = authorization.get_secret_value()
    if isinstance(parsed, dict) and parsed.get("type") == "verification":
        given = request.headers.get("authorization") or ""
        if hmac.compare_digest(given.encode(), secret.encode()):
            return _answer(201)
        return _answer(401, "The Authorization header is not the subscriber's secret.")
    try:
        keyset = await _google_keyset(ctx)
    except Exception as error:
        logger.warning("Google's webhook keyset could not be read (%s)", type(error).__name__)
        return _answer(503, "The signing keys could not be read; deliver this again later.")
    headers = request.headers
    arguments: dict[str, Any] = {
        "authorization": secret,
        "headers": headers,
        "body": body,
        "signature_headers": ctx.settings.google_signature_headers,
    }
    try:
        try:
            verify_google(keyset=keyset, **arguments)
        except SignatureRejected:
            cached = queue_for(ctx).extras.get("google_keyset")
            if cached is None or time.monotonic() - cached[0] < 60:
                raise
            verify_google(keyset=await _google_keyset(ctx, refresh=True), **arguments)  # rotated
    except SignatureRejected as why:
        logger.warning("Refused a Google Health webhook: %s", why)
        return _answer(401, f"Signature refused: {why}.")
    except Exception as error:
        logger.warning("Google's webhook keyset could not be read (%s)", type(error).__name__)
        return _answer(503, "The signing keys could not be read; deliver this again later.")
    digest = hashlib.sha256(body).hexdigest()
    notifications = _notifications(parsed)
    if not notifications:
        return _answer(400, "Expected a notification with a data object.")
    for index, data in enumerate(notifications):
        account = str(data.get("healthUserId", ""))
        data_type = str(data.get("dataType", ""))
        work = {
            "dataType": data_type,
            "operation": str(data.get("operation", "")),
            "intervals": data.get("intervals", []),
        }
        answer = await _accept(
            ctx,
            provider=GOOGLE_PROVIDER,
            identity=f"{digest}:{index}",
            account=account,
            event=work if data_type in GOOGLE_KINDS or data_type else None,
            ok=204,
        )
        if answer.status_code >= 300:
            return answer
    return _answer(204)
