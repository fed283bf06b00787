"""Account export (R-6.6, GDPR Art. 20): every row linked to the user, and their health data.

* `export_account`: the account's rows as JSON-ready data. Secrets stay out: no password
  hash, no API-key hash, no provider token, no session cookie digest or CSRF token.
* `download_history`: the health records Wellpipe keeps of the user (their history,
  sealed under their own data key), as a zip of tidy tables, one file per kind, in CSV,
  JSON Lines or Parquet (`wellpipe.history.export`), streamed as it is read and
  decrypted: never built in memory.

Both are audited (``account.exported``; the health download's detail names its format).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db.export import account_rows
from wellpipe.cloud.db.history import UserHistory
from wellpipe.cloud.db.users import user_by_id
from wellpipe.cloud.services.accounts import UnknownUser
from wellpipe.cloud.services.audit import record_event
from wellpipe.core.errors import WellpipeError
from wellpipe.core.models import DataKind
from wellpipe.history.export import ExportFormat, holds_records, zip_stream

__all__ = [
    "EXPORT_FORMAT",
    "HEALTH_DATA_NOTE",
    "HealthDownload",
    "NoHealthData",
    "download_history",
    "export_account",
]

EXPORT_FORMAT = "wellpipe-account-export/1"
HEALTH_DATA_NOTE = (
    "Your health data is not in this file. Wellpipe keeps the records it reads from your "
    "providers (your history), encrypted under a key of your own, so that questions are "
    "answered without asking the provider again; deleting your account destroys that key "
    "first. Download the records from the dashboard (Download my health data) as CSV, "
    "JSON Lines or Parquet files, one table per kind."
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


# ---------------------------------------------------------------------- health data
class NoHealthData(WellpipeError):
    """The history holds no record to download yet."""


@dataclass(frozen=True)
class HealthDownload:
    """A health-data download on its way: its name, and its bytes as they are made.

    Attributes:
        filename: The zip's file name (``wellpipe-health-2026-11-21-csv.zip``).
        chunks: The zip's bytes, a chunk at a time (iterate once).
        media_type: The content type.
    """

    filename: str
    chunks: AsyncIterator[bytes]
    media_type: str = "application/zip"


async def download_history(
    ctx: CloudContext,
    user_id: str,
    fmt: ExportFormat,
    *,
    kinds: Collection[DataKind] | None = None,
    since: date | None = None,
    request_id: str | None = None,
) -> HealthDownload:
    """The user's kept health records as a streamed zip of tidy tables (audited).

    The zip holds a folder ``wellpipe-health-<day>`` with one file per kind that has
    records (`wellpipe.history.export`). Records are read, decrypted and written a batch
    at a time while the download runs.

    Raises:
        UnknownUser: no such account.
        NoHealthData: the history holds no matching record (nothing synced yet).
    """
    now = ctx.clock.now()
    store = UserHistory.of(ctx, user_id)
    async with ctx.db.sessions() as db:
        if await user_by_id(db, user_id) is None:
            raise UnknownUser("This account no longer exists, so there is nothing to export.")
    if not await holds_records(store, kinds=kinds, since=since):
        raise NoHealthData(
            "Wellpipe keeps no health records of yours yet: connect a provider and let its "
            "history load (the dashboard shows its progress), then download again."
        )
    async with ctx.db.transaction() as db:
        await record_event(
            db,
            user_id=user_id,
            event="account.exported",
            at=now,
            detail={"data": "health", "format": fmt.value},
            request_id=request_id,
        )
    folder = f"wellpipe-health-{now:%Y-%m-%d}"
    return HealthDownload(
        filename=f"{folder}-{fmt.value}.zip",
        chunks=zip_stream(store, fmt, folder=folder, now=now, kinds=kinds, since=since),
    )
