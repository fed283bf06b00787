"""Account export (T-6.8): every row of the user, none of another user's, and no secret."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

from tests.cloud.conftest import Cloud
from tests.cloud.test_deletion import PASSWORD, seed_account
from wellpipe.cloud.db.tables import ApiKey, Session, User
from wellpipe.cloud.services.accounts import UnknownUser
from wellpipe.cloud.services.export import HEALTH_DATA_NOTE, export_account
from wellpipe.cloud.services.tokens import DatabaseTokenProvider


async def test_the_export_holds_the_users_rows_and_no_secret(cloud: Cloud) -> None:
    mine = await seed_account(cloud, "mine@example.com", key=True)
    other = await seed_account(cloud, "other@example.com", member=1)
    assert mine.api_key is not None
    refresh = await DatabaseTokenProvider(
        cloud.ctx, user_id=mine.user_id, provider="whoop"
    ).get_refresh_token()
    assert refresh is not None

    document = await export_account(cloud.ctx, mine.user_id, request_id="req-x")
    dump = json.dumps(document)  # JSON-ready as is

    assert document["format"] == "wellpipe-account-export/1"
    assert document["account"] == {
        "id": mine.user_id,
        "email": "mine@example.com",
        "plan": "FREE",
        "created_at": cloud.clock.now().isoformat(),
        "sign_in_methods": ["password"],
    }
    [connection] = document["connections"]
    assert connection["provider"] == "whoop"
    assert connection["status"] == "active"
    assert connection["provider_user_id"] == str(cloud.sandbox.member_ids[0])
    assert "offline" in connection["scopes"]
    [key] = document["api_keys"]
    assert key["name"] == "laptop"
    assert key["last4"] == mine.api_key[-4:]
    assert key["revoked_at"] is None
    assert document["usage"] == {
        "monthly": [{"period": "2026-11", "count": 7}],
        "daily": [{"day": "2026-11-21", "endpoint": "get_sleep", "count": 7}],
    }
    events = [e["event"] for e in document["audit_events"]]
    for expected in ("account.created", "signin.failed", "provider.connected"):
        assert expected in events
    assert events[-1] == "account.exported"
    assert document["audit_events"][-1]["request_id"] == "req-x"
    assert document["sessions"] == {"active": 2}
    assert document["health_data"] == HEALTH_DATA_NOTE

    async with cloud.ctx.db.sessions() as db:
        user = await db.get(User, mine.user_id)
        key_row = await db.scalar(select(ApiKey).where(ApiKey.user_id == mine.user_id))
        session_rows = list(await db.scalars(select(Session)))
    assert user is not None
    assert user.password_hash is not None
    assert key_row is not None
    secrets = [
        PASSWORD,
        user.password_hash,
        mine.api_key,
        key_row.secret_hash,
        mine.access_token,
        refresh,
        mine.cookie,
        hashlib.sha256(mine.cookie.encode()).hexdigest(),
        *(row.csrf_token for row in session_rows),
        cloud.ctx.settings.encryption_keys.get_secret_value().split(":", 1)[1],  # type: ignore[union-attr]
        cloud.ctx.settings.api_key_pepper.get_secret_value(),  # type: ignore[union-attr]
    ]
    leaked = [n for n, secret in enumerate(secrets) if secret in dump]
    assert leaked == []
    for theirs in (
        other.user_id,
        other.email,
        other.access_token,
        str(cloud.sandbox.member_ids[1]),
    ):
        assert theirs not in dump


async def test_exporting_a_missing_account_says_so(cloud: Cloud) -> None:
    with pytest.raises(UnknownUser, match="nothing to export"):
        await export_account(cloud.ctx, "0" * 32)
