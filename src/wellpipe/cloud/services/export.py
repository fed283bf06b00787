"""Account export (R-6.6, GDPR Art. 20): every row linked to the user, as JSON-ready data.

Secrets stay out: no password hash, no API-key hash, no provider token, no session
cookie digest or CSRF token. Health data is not stored by Wellpipe, so it is not in the
export; the export says so and where to get it.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db.export import account_rows
from wellpipe.cloud.db.users import user_by_id
from wellpipe.cloud.services.accounts import UnknownUser
from wellpipe.cloud.services.audit import record_event

__all__ = ["EXPORT_FORMAT", "HEALTH_DATA_NOTE", "export_account"]

EXPORT_FORMAT = "wellpipe-account-export/1"
HEALTH_DATA_NOTE = (
    "Wellpipe does not store your health data: it reads it from your provider when you or "
    "your assistant ask, and keeps at most a few minutes of cache. There is none to export "
    "here; your provider's own export has it."
)


def _when(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


async def export_account(
    ctx: CloudContext, user_id: str, *, request_id: str | None = None
) -> dict[str, Any]:
    """Everything Wellpipe stores about one account, without secrets (audited).

    Raises:
        UnknownUser: no such account.
    """
    now = ctx.clock.now()
    async with ctx.db.transaction() as db:
        user = await user_by_id(db, user_id)
        if user is None:
            raise UnknownUser("This account no longer exists, so there is nothing to export.")
        await record_event(
            db, user_id=user_id, event="account.exported", at=now, request_id=request_id
        )
    rows = await account_rows(ctx.db, user_id, now=now)
    methods = [
        m for m, on in (("password", user.password_hash), ("google", user.google_subject)) if on
    ]
    return {
        "format": EXPORT_FORMAT,
        "exported_at": now.isoformat(),
        "account": {
            "id": user.id,
            "email": user.email,
            "plan": user.plan,
            "created_at": _when(user.created_at),
            "sign_in_methods": methods,
        },
        "connections": [
            {
                "provider": c.provider,
                "status": c.status,
                "status_reason": c.status_reason,
                "scopes": sorted(c.scopes.split()),
                "provider_user_id": c.provider_user_id,
                "access_expires_at": _when(c.expires_at),
                "connected_at": _when(c.created_at),
                "updated_at": _when(c.updated_at),
            }
            for c in rows.connections
        ],
        "api_keys": [
            {
                "key_id": k.id,
                "name": k.name,
                "last4": k.last4,
                "created_at": _when(k.created_at),
                "last_used_at": _when(k.last_used_at),
                "revoked_at": _when(k.revoked_at),
            }
            for k in rows.api_keys
        ],
        "usage": {
            "monthly": [{"period": m.period, "count": m.count} for m in rows.months],
            "daily": [
                {"day": _when(d.day), "endpoint": d.endpoint, "count": d.count} for d in rows.days
            ],
        },
        "audit_events": [
            {
                "at": _when(e.at),
                "event": e.event,
                "detail": json.loads(e.detail),
                "request_id": e.request_id,
            }
            for e in rows.events
        ],
        "sessions": {"active": rows.active_sessions},
        "health_data": HEALTH_DATA_NOTE,
    }
