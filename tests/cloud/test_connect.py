"""Connecting a provider: state/CSRF matrix (T-1.1), mix-up (T-1.3), declines, scopes, revoke."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx2
import pytest
from sqlalchemy import func, select

from tests.cloud.conftest import Cloud
from wellpipe.cloud.db.tables import AuditEvent, OAuthState
from wellpipe.cloud.services.accounts import create_user
from wellpipe.cloud.services.connect import (
    ConnectError,
    begin_connect,
    complete_connect,
    disconnect,
)
from wellpipe.cloud.services.sessions import SessionInfo, open_session, resolve_session
from wellpipe.cloud.services.tokens import connection_status, read_access_token
from wellpipe.sandbox.faults import Fault

TOKEN_PATH = "/oauth/oauth2/token"
REVOKE_PATH = "/developer/v2/user/access"


async def signed_in(cloud: Cloud, email: str) -> SessionInfo:
    user = await create_user(cloud.ctx, email=email, password="correct horse battery staple")
    cookie, _ = await open_session(cloud.ctx, user.id)
    info = await resolve_session(cloud.ctx, cookie)
    assert info is not None
    return info


async def consent(cloud: Cloud, url: str) -> dict[str, str]:
    """The member approves at the sandbox; the query WHOOP sends back to our callback."""
    async with httpx2.AsyncClient(transport=cloud.sandbox.transport()) as http:
        reply = await http.get(url)
    assert reply.status_code == 302
    location = urlsplit(reply.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        "http://wellpipe.test/callback/whoop"
    )
    return dict(parse_qsl(location.query))


def requests_to(cloud: Cloud, path: str) -> int:
    return sum(1 for r in cloud.sandbox.requests if r.path == path)


async def pending_states(cloud: Cloud) -> int:
    async with cloud.ctx.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(OAuthState)) or 0)


async def audit_events(cloud: Cloud, user_id: str) -> list[tuple[str, dict[str, object]]]:
    async with cloud.ctx.db.sessions() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.user_id == user_id).order_by(AuditEvent.id)
        )
        return [(row.event, json.loads(row.detail)) for row in rows]


async def test_a_valid_callback_connects_with_one_token_request(cloud: Cloud) -> None:
    me = await signed_in(cloud, "me@example.com")
    url = await begin_connect(cloud.ctx, session=me, provider="whoop")

    query = dict(parse_qsl(urlsplit(url).query))
    assert url.startswith("http://whoop.test/oauth/oauth2/auth?")
    assert query["redirect_uri"] == "http://wellpipe.test/callback/whoop"
    assert query["client_id"] == "cloud-client"
    assert "offline" in query["scope"].split()
    assert len(query["state"]) >= 43
    async with cloud.ctx.db.sessions() as session:
        row = await session.scalar(select(OAuthState))
    assert row is not None
    assert row.state_digest == hashlib.sha256(query["state"].encode()).hexdigest()
    assert (row.purpose, row.user_id, row.browser_binding) == (
        "connect:whoop",
        me.user_id,
        me.id_digest,
    )
    assert row.expires_at - row.created_at == timedelta(minutes=10)

    params = await consent(cloud, url)
    outcome = await complete_connect(cloud.ctx, session=me, provider="whoop", params=params)
    assert outcome.ok, outcome.sentence
    assert outcome.sentence == "WHOOP is connected."
    assert requests_to(cloud, TOKEN_PATH) == 1
    assert await pending_states(cloud) == 0

    [connection] = await connection_status(cloud.ctx, me.user_id)
    assert connection.provider == "whoop"
    assert connection.status == "active"
    assert "offline" in connection.scopes
    assert connection.provider_user_id == str(cloud.sandbox.member_ids[0])
    token = await read_access_token(cloud.ctx, user_id=me.user_id, provider="whoop")
    assert token is not None
    assert cloud.sandbox.auth.resolve(token) is not None
    events = await audit_events(cloud, me.user_id)
    assert ("provider.connected", {"provider": "whoop", "scopes": sorted(connection.scopes)}) in (
        events
    )
    assert token not in json.dumps(events)


Case = Callable[
    [Cloud, SessionInfo, str], Awaitable[tuple[SessionInfo | None, str, dict[str, str]]]
]


async def missing_state(
    cloud: Cloud, me: SessionInfo, url: str
) -> tuple[SessionInfo | None, str, dict[str, str]]:
    params = await consent(cloud, url)
    del params["state"]
    return me, "whoop", params


async def wrong_state(
    cloud: Cloud, me: SessionInfo, url: str
) -> tuple[SessionInfo | None, str, dict[str, str]]:
    params = await consent(cloud, url)
    state = params["state"]
    tail = "yy" if state.endswith("xx") else "xx"  # really a different state
    return me, "whoop", {**params, "state": state[:-2] + tail}


async def expired_state(
    cloud: Cloud, me: SessionInfo, url: str
) -> tuple[SessionInfo | None, str, dict[str, str]]:
    params = await consent(cloud, url)
    cloud.clock.advance(11 * 60)
    return me, "whoop", params


async def other_sessions_state(
    cloud: Cloud, me: SessionInfo, url: str
) -> tuple[SessionInfo | None, str, dict[str, str]]:
    # The attacker's callback URL, opened in the victim's browser (login CSRF).
    victim = await signed_in(cloud, "victim@example.com")
    return victim, "whoop", await consent(cloud, url)


async def same_user_other_session(
    cloud: Cloud, me: SessionInfo, url: str
) -> tuple[SessionInfo | None, str, dict[str, str]]:
    cookie, _ = await open_session(cloud.ctx, me.user_id)
    other = await resolve_session(cloud.ctx, cookie)
    return other, "whoop", await consent(cloud, url)


async def no_session(
    cloud: Cloud, me: SessionInfo, url: str
) -> tuple[SessionInfo | None, str, dict[str, str]]:
    return None, "whoop", await consent(cloud, url)


async def other_providers_path(
    cloud: Cloud, me: SessionInfo, url: str
) -> tuple[SessionInfo | None, str, dict[str, str]]:
    # A WHOOP state delivered to another provider's callback (mix-up).
    return me, "oura", await consent(cloud, url)


async def other_providers_state(
    cloud: Cloud, me: SessionInfo, url: str
) -> tuple[SessionInfo | None, str, dict[str, str]]:
    # Another flow's state (a different provider, and Google sign-in) at /callback/whoop.
    params = await consent(cloud, url)
    now = cloud.ctx.clock.now()
    async with cloud.ctx.db.transaction() as session:
        session.add(
            OAuthState(
                state_digest=hashlib.sha256(b"s" * 43).hexdigest(),
                purpose="connect:fitbit",
                browser_binding=me.id_digest,
                user_id=me.user_id,
                created_at=now,
                expires_at=now + timedelta(minutes=10),
            )
        )
    return me, "whoop", {**params, "state": "s" * 43}


CASES: list[Case] = [
    missing_state,
    wrong_state,
    expired_state,
    other_sessions_state,
    same_user_other_session,
    no_session,
    other_providers_path,
    other_providers_state,
]


async def test_bad_callbacks_are_refused_without_a_token_request(cloud: Cloud) -> None:
    # One app per database for the whole matrix (starting one costs more than a case).
    for n, case in enumerate(CASES):
        me = await signed_in(cloud, f"me{n}@example.com")
        url = await begin_connect(cloud.ctx, session=me, provider="whoop")
        session, provider, params = await case(cloud, me, url)

        outcome = await complete_connect(
            cloud.ctx, session=session, provider=provider, params=params
        )
        assert not outcome.ok, case.__name__
        assert "again" in outcome.sentence, case.__name__
        assert requests_to(cloud, TOKEN_PATH) == 0, case.__name__
        for someone in {me.user_id, session.user_id if session else me.user_id}:
            assert await connection_status(cloud.ctx, someone) == [], case.__name__


async def test_a_state_works_once(cloud: Cloud) -> None:
    me = await signed_in(cloud, "me@example.com")
    params = await consent(cloud, await begin_connect(cloud.ctx, session=me, provider="whoop"))
    first = await complete_connect(cloud.ctx, session=me, provider="whoop", params=params)
    assert first.ok
    again = await complete_connect(cloud.ctx, session=me, provider="whoop", params=params)
    assert not again.ok
    assert "already used" in again.sentence
    assert requests_to(cloud, TOKEN_PATH) == 1


async def test_a_refused_state_is_consumed_too(cloud: Cloud) -> None:
    me = await signed_in(cloud, "me@example.com")
    victim = await signed_in(cloud, "victim@example.com")
    params = await consent(cloud, await begin_connect(cloud.ctx, session=me, provider="whoop"))
    refused = await complete_connect(cloud.ctx, session=victim, provider="whoop", params=params)
    assert not refused.ok
    assert await pending_states(cloud) == 0
    late = await complete_connect(cloud.ctx, session=me, provider="whoop", params=params)
    assert not late.ok  # deleted at first use, whatever the outcome
    assert requests_to(cloud, TOKEN_PATH) == 0


async def test_declining_at_the_provider_is_a_clean_outcome(cloud: Cloud) -> None:
    me = await signed_in(cloud, "me@example.com")
    cloud.sandbox.auth.controls.deny_next = 1
    params = await consent(cloud, await begin_connect(cloud.ctx, session=me, provider="whoop"))
    assert params["error"] == "access_denied"
    outcome = await complete_connect(cloud.ctx, session=me, provider="whoop", params=params)
    assert not outcome.ok
    assert outcome.sentence.startswith("You declined access at WHOOP")
    assert requests_to(cloud, TOKEN_PATH) == 0
    assert await pending_states(cloud) == 0
    assert await connection_status(cloud.ctx, me.user_id) == []


async def test_without_offline_access_nothing_is_stored(cloud: Cloud) -> None:
    me = await signed_in(cloud, "me@example.com")
    cloud.sandbox.auth.controls.drop_scopes = frozenset({"offline"})
    params = await consent(cloud, await begin_connect(cloud.ctx, session=me, provider="whoop"))
    outcome = await complete_connect(cloud.ctx, session=me, provider="whoop", params=params)
    assert not outcome.ok
    assert "did not grant offline access (the `offline` scope)" in outcome.sentence
    assert "saved nothing" in outcome.sentence
    assert requests_to(cloud, TOKEN_PATH) == 1
    assert await connection_status(cloud.ctx, me.user_id) == []
    assert "provider.connected" not in [e for e, _ in await audit_events(cloud, me.user_id)]


async def test_a_missing_read_scope_connects_and_says_so(cloud: Cloud) -> None:
    me = await signed_in(cloud, "me@example.com")
    cloud.sandbox.auth.controls.drop_scopes = frozenset({"read:sleep"})
    params = await consent(cloud, await begin_connect(cloud.ctx, session=me, provider="whoop"))
    outcome = await complete_connect(cloud.ctx, session=me, provider="whoop", params=params)
    assert outcome.ok
    assert "did not grant read:sleep" in outcome.sentence


async def test_a_spent_code_is_refused_with_a_sentence(cloud: Cloud) -> None:
    me = await signed_in(cloud, "me@example.com")
    params = await consent(cloud, await begin_connect(cloud.ctx, session=me, provider="whoop"))
    assert (await complete_connect(cloud.ctx, session=me, provider="whoop", params=params)).ok
    # A second flow presenting the first flow's (spent) code.
    second = await consent(cloud, await begin_connect(cloud.ctx, session=me, provider="whoop"))
    outcome = await complete_connect(
        cloud.ctx, session=me, provider="whoop", params={**second, "code": params["code"]}
    )
    assert not outcome.ok
    assert "refused the authorization code" in outcome.sentence


async def test_connecting_needs_a_known_and_configured_provider(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = await signed_in(cloud, "me@example.com")
    with pytest.raises(ConnectError, match="this server offers fitbit, oura, whoop"):
        await begin_connect(cloud.ctx, session=me, provider="garmin")
    with pytest.raises(ConnectError, match="WELLPIPE_OURA_CLIENT_ID"):
        await begin_connect(cloud.ctx, session=me, provider="oura")  # no Oura app configured
    monkeypatch.delenv("WELLPIPE_WHOOP_CLIENT_ID")
    with pytest.raises(ConnectError, match="WELLPIPE_WHOOP_CLIENT_ID"):
        await begin_connect(cloud.ctx, session=me, provider="whoop")
    assert await pending_states(cloud) == 0


async def connected(cloud: Cloud, email: str) -> tuple[SessionInfo, str]:
    me = await signed_in(cloud, email)
    params = await consent(cloud, await begin_connect(cloud.ctx, session=me, provider="whoop"))
    assert (await complete_connect(cloud.ctx, session=me, provider="whoop", params=params)).ok
    token = await read_access_token(cloud.ctx, user_id=me.user_id, provider="whoop")
    assert token is not None
    return me, token


async def test_disconnecting_revokes_at_the_provider_and_deletes_the_tokens(cloud: Cloud) -> None:
    me, token = await connected(cloud, "me@example.com")
    outcome = await disconnect(cloud.ctx, user_id=me.user_id, provider="whoop")
    assert outcome.ok
    assert outcome.sentence == "WHOOP is disconnected and its access revoked."
    assert requests_to(cloud, REVOKE_PATH) == 1
    assert cloud.sandbox.auth.resolve(token) is None
    assert await connection_status(cloud.ctx, me.user_id) == []
    events = await audit_events(cloud, me.user_id)
    assert events[-1] == ("provider.disconnected", {"provider": "whoop", "revoke": "revoked"})

    again = await disconnect(cloud.ctx, user_id=me.user_id, provider="whoop")
    assert not again.ok
    assert again.sentence == "WHOOP is not connected."
    assert requests_to(cloud, REVOKE_PATH) == 1


async def test_disconnecting_when_the_revoke_fails_still_deletes_the_tokens(cloud: Cloud) -> None:
    me, token = await connected(cloud, "me@example.com")
    cloud.sandbox.inject(Fault(path_prefix=REVOKE_PATH, status=500, times=100))
    outcome = await disconnect(cloud.ctx, user_id=me.user_id, provider="whoop")
    assert outcome.ok
    assert "did not confirm the revoke" in outcome.sentence
    assert "WHOOP account settings" in outcome.sentence
    assert await connection_status(cloud.ctx, me.user_id) == []
    assert cloud.sandbox.auth.resolve(token) is not None  # WHOOP still knows the grant
