"""The history store's two homes share what they write besides records: sync cursors.

`wellpipe.history.local` is the self-hosted store (stdlib ``sqlite3``); the cloud's,
sealed per user, is `wellpipe.cloud.db.history`. Both keep a stream's `SyncCursor` as
the compact JSON `cursor_to_json` writes.

Importing this package costs nothing beyond `wellpipe.core.history`: the stdio server
opens its store before its first answer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from wellpipe.core.history import SyncCursor
from wellpipe.core.models import Record, TimeWindow

__all__ = ["cursor_from_json", "cursor_to_json", "record_updated_at"]


def cursor_to_json(cursor: SyncCursor) -> bytes:
    """A cursor as compact JSON (instants in ISO 8601 with their offset)."""
    document: dict[str, Any] = {
        "stream": cursor.stream,
        "window": [cursor.window.start.isoformat(), cursor.window.end.isoformat()],
        "cursor": cursor.cursor,
        "pages": cursor.pages,
        "records": cursor.records,
        "requests": cursor.requests,
        "started_at": None if cursor.started_at is None else cursor.started_at.isoformat(),
        "done": cursor.done,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def cursor_from_json(data: bytes | str) -> SyncCursor:
    """The cursor `cursor_to_json` wrote.

    Raises:
        ValueError: ``data`` is not such a cursor.
    """
    try:
        document = json.loads(data)
        start, end = document["window"]
        started = document["started_at"]
        return SyncCursor(
            stream=str(document["stream"]),
            window=TimeWindow(start=datetime.fromisoformat(start), end=datetime.fromisoformat(end)),
            cursor=document["cursor"],
            pages=int(document["pages"]),
            records=int(document["records"]),
            requests=int(document["requests"]),
            started_at=None if started is None else datetime.fromisoformat(started),
            done=bool(document["done"]),
        )
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"not a stored sync cursor ({type(error).__name__})") from None


def record_updated_at(record: Record) -> str | None:
    """The provider's ``updated_at`` of a record (ISO 8601, UTC), if it carries one.

    Core records carry it as a field (or, from older mappings, among their ``extras``).
    """
    value = getattr(record, "updated_at", None)
    if value is None:
        value = record.extras.get("updated_at")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    return value if isinstance(value, str) else None
