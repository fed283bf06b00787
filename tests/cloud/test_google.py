"""Sign in with Google against a fake OpenID provider: PKCE, nonce, state binding, ID tokens."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx2
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from tests.cloud.conftest import Cloud
from tests.cloud.fake_idp import CLIENT_ID, CLIENT_SECRET, DISCOVERY_URL, FakeIdP, Knobs
from tests.fakes import FakeClock
from wellpipe.cloud.db.tables import AuditEvent, OAuthState, User
from wellpipe.cloud.services.accounts import create_user, sign_in
from wellpipe.cloud.services.google import (
    GoogleSignInError,
    begin_google,
    complete_google,
)
from wellpipe.cloud.services.sessions import new_browser_binding, open_session, resolve_session
from wellpipe.cloud.settings import CloudSettings

PASSWORD = "correct horse battery staple"


@pytest.fixture
def cloud_settings(cloud_settings: CloudSettings) -> CloudSettings:
    return cloud_settings.model_copy(
        update={
            "google_client_id": CLIENT_ID,
            "google_client_secret": SecretStr(CLIENT_SECRET),
            "google_discovery_url": DISCOVERY_URL,
        }
    )


@pytest.fixture
def idp(cloud: Cloud, clock: FakeClock) -> FakeIdP:
    provider = FakeIdP(clock=clock)
    cloud.ctx.state.google_transport = provider.transport()
    return provider


async def start(cloud: Cloud, idp: FakeIdP) -> tuple[str, dict[str, str]]:
    """Begin, and let the provider approve: the browser binding and the callback's query."""
    binding = new_browser_binding()
    url = await begin_google(cloud.ctx, binding)
    async with httpx2.AsyncClient(transport=idp.transport()) as http:
        reply = await http.get(url)
    assert reply.status_code == 302, reply.text
    location = urlsplit(reply.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        "http://wellpipe.test/auth/google/callback"
    )
    return binding, dict(parse_qsl(location.query))


async def users(cloud: Cloud) -> list[User]:
    async with cloud.ctx.db.sessions() as session:
        return list(await session.scalars(select(User).order_by(User.created_at)))


async def test_signing_in_creates_the_account_once(cloud: Cloud, idp: FakeIdP) -> None:
    binding, params = await start(cloud, idp)
    user = await complete_google(cloud.ctx, browser_binding=binding, params=params)
    assert (user.email, user.google_subject, user.password_hash) == (
        "person@example.com",
        "google-subject-1",
        None,
    )

    sent = idp.authorize_params[0]
    assert sent["code_challenge_method"] == "S256"
    assert sent["scope"] == "openid email"
    assert sent["redirect_uri"] == "http://wellpipe.test/auth/google/callback"
    verifier = idp.token_forms[0]["code_verifier"]
    assert 43 <= len(verifier) <= 128
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert sent["code_challenge"] == challenge.rstrip(b"=").decode()
    assert len(sent["nonce"]) >= 43
    assert len(sent["state"]) >= 43

    binding, params = await start(cloud, idp)
    again = await complete_google(cloud.ctx, browser_binding=binding, params=params)
    assert again.id == user.id
    assert [u.id for u in await users(cloud)] == [user.id]
    async with cloud.ctx.db.sessions() as session:
        rows = await session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        events = [(r.user_id, r.event, json.loads(r.detail)) for r in rows]
    assert events == [
        (user.id, "account.created", {"method": "google"}),
        (user.id, "signin.succeeded", {"method": "google"}),
        (user.id, "signin.succeeded", {"method": "google"}),
    ]


async def test_a_verified_email_links_the_existing_account(cloud: Cloud, idp: FakeIdP) -> None:
    # Someone signed up with this address and a password (sign-up verifies no email).
    existing = await create_user(cloud.ctx, email="Person@Example.com", password=PASSWORD)
    squatter, _ = await open_session(cloud.ctx, existing.id)

    binding, params = await start(cloud, idp)
    user = await complete_google(cloud.ctx, browser_binding=binding, params=params)
    assert user.id == existing.id
    assert user.google_subject == "google-subject-1"
    # The owner proved the address through Google: the password and its sessions are gone.
    assert user.password_hash is None
    assert await resolve_session(cloud.ctx, squatter) is None
    assert await sign_in(cloud.ctx, email="person@example.com", password=PASSWORD) is None
    async with cloud.ctx.db.sessions() as session:
        rows = await session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        events = [(r.event, json.loads(r.detail)) for r in rows]
    assert ("password.changed", {"reason": "removed_when_linked_to_google"}) in events
    assert ("signin.succeeded", {"method": "google_linked"}) in events

    # Another Google account with the same email cannot take it over.
    idp.account.subject = "google-subject-2"
    binding, params = await start(cloud, idp)
    with pytest.raises(GoogleSignInError, match="linked to another Google account"):
        await complete_google(cloud.ctx, browser_binding=binding, params=params)


SPOILED = {  # knob -> the check that must catch it (as logged, never with the token)
    "wrong_nonce": "nonce mismatch",
    "wrong_audience": "wrong audience",
    "wrong_issuer": "wrong issuer",
    "expired": "expired",
    "foreign_key": "bad signature",
    "algorithm_none": "algorithm 'none'",
}


async def test_every_bad_id_token_is_refused(
    cloud: Cloud, idp: FakeIdP, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="wellpipe.cloud.services.google")
    for knob, reason in SPOILED.items():
        caplog.clear()
        idp.knobs = Knobs(**{knob: True})
        binding, params = await start(cloud, idp)
        with pytest.raises(GoogleSignInError, match="could not be verified"):
            await complete_google(cloud.ctx, browser_binding=binding, params=params)
        assert [r.getMessage() for r in caplog.records] == [f"Rejected an ID token: {reason}"]
        assert await users(cloud) == [], knob

    idp.knobs = Knobs(email_verified=False)
    binding, params = await start(cloud, idp)
    with pytest.raises(GoogleSignInError, match="email address is not verified"):
        await complete_google(cloud.ctx, browser_binding=binding, params=params)
    assert await users(cloud) == []
    assert idp.token_requests == len(SPOILED) + 1

    idp.knobs = Knobs(email_verified="true")  # some providers send a string
    binding, params = await start(cloud, idp)
    user = await complete_google(cloud.ctx, browser_binding=binding, params=params)
    assert user.email == "person@example.com"


async def test_id_token_times_are_checked_against_the_service_clock(
    cloud: Cloud, idp: FakeIdP
) -> None:
    now = cloud.clock.now()
    for skew, accepted in [
        (timedelta(hours=-2), False),  # expired an hour ago by our clock
        (timedelta(hours=2), False),  # issued in the future
        (timedelta(seconds=-30), True),  # small skews are fine
        (timedelta(seconds=30), True),
    ]:
        idp.clock = FakeClock(now + skew)
        binding, params = await start(cloud, idp)
        if accepted:
            user = await complete_google(cloud.ctx, browser_binding=binding, params=params)
            assert user.google_subject == "google-subject-1"
        else:
            with pytest.raises(GoogleSignInError, match="could not be verified"):
                await complete_google(cloud.ctx, browser_binding=binding, params=params)


async def test_bad_states_are_refused_without_a_token_request(cloud: Cloud, idp: FakeIdP) -> None:
    binding, params = await start(cloud, idp)
    for presented, query in [
        (new_browser_binding(), params),  # another browser
        (None, params),  # no pre-session cookie
        (binding, {k: v for k, v in params.items() if k != "state"}),
        (binding, {**params, "state": "x" * 43}),
    ]:
        with pytest.raises(GoogleSignInError, match="start signing in with Google again"):
            await complete_google(cloud.ctx, browser_binding=presented, params=query)
    # The first refusal consumed the state: it is gone for the right browser too.
    with pytest.raises(GoogleSignInError, match="already used"):
        await complete_google(cloud.ctx, browser_binding=binding, params=params)

    binding, params = await start(cloud, idp)
    cloud.clock.advance(11 * 60)
    with pytest.raises(GoogleSignInError, match="expired"):
        await complete_google(cloud.ctx, browser_binding=binding, params=params)
    assert idp.token_requests == 0
    assert await users(cloud) == []


async def test_pkce_is_enforced_end_to_end(cloud: Cloud, idp: FakeIdP) -> None:
    binding, params = await start(cloud, idp)
    async with cloud.ctx.db.transaction() as session:
        await session.execute(update(OAuthState).values(code_verifier="v" * 64))
    with pytest.raises(GoogleSignInError, match="did not accept"):
        await complete_google(cloud.ctx, browser_binding=binding, params=params)
    assert idp.token_requests == 1
    assert await users(cloud) == []


async def test_cancelling_at_google_is_a_clean_outcome(cloud: Cloud, idp: FakeIdP) -> None:
    binding, params = await start(cloud, idp)
    refused = {"state": params["state"], "error": "access_denied"}
    with pytest.raises(GoogleSignInError, match="cancelled"):
        await complete_google(cloud.ctx, browser_binding=binding, params=refused)
    assert idp.token_requests == 0


async def test_without_a_client_id_google_is_off(cloud: Cloud) -> None:
    settings = cloud.ctx.settings.model_copy(update={"google_client_id": None})
    ctx = dataclasses.replace(cloud.ctx, settings=settings)
    with pytest.raises(GoogleSignInError, match="not set up"):
        await begin_google(ctx, new_browser_binding())
