"""The dashboard over HTTP, on SQLite and PostgreSQL: pages, forms, CSRF, keys, connect, account.

A browser is played by the test client: it keeps cookies, reads the CSRF token from the
page it was served, and sends ``Origin``/``Sec-Fetch-Site`` the way Chromium does for a
same-origin form. WHOOP is the in-process sandbox (the connect flow follows its
redirect back to ``/callback/whoop``).
"""

from __future__ import annotations

import html as html_text
import json
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from pydantic import SecretStr

from tests.cloud.conftest import PUBLIC_URL, Cloud, running
from tests.cloud.fake_idp import CLIENT_ID, CLIENT_SECRET, DISCOVERY_URL, FakeIdP
from tests.cloud.oauth_support import CLAUDE, RESOURCE, pkce, query_of
from tests.fakes import FakeClock
from wellpipe.cloud.security import api_keys
from wellpipe.cloud.services import accounts, keys, limits
from wellpipe.cloud.services import authorization as oauth
from wellpipe.cloud.services.tokens import DatabaseTokenProvider
from wellpipe.cloud.settings import CloudSettings
from wellpipe.cloud.web.flash import FLASH_TTL_S, Flash, FlashBox, Message, NewKey
from wellpipe.cloud.web.snippets import connector_for
from wellpipe.sandbox import WhoopSandbox

PASSWORD = "correct horse battery staple"
SAME_ORIGIN = {"Origin": PUBLIC_URL, "Sec-Fetch-Site": "same-origin"}
KEY_PATTERN = re.compile(r"wp_live_[A-Za-z0-9]+_[A-Za-z0-9]{20,}")


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """bcrypt cost 4 for keys: these tests are about pages, not about hashing cost."""
    monkeypatch.setattr(api_keys, "BCRYPT_ROUNDS", 4)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def page(cloud: Cloud, path: str) -> httpx2.Response:
    response = await cloud.client.get(path)
    assert response.status_code == 200, response.text
    return response


async def submit(
    cloud: Cloud,
    path: str,
    data: Mapping[str, str] | None = None,
    *,
    token: str | None = None,
    headers: Mapping[str, str] = SAME_ORIGIN,
) -> httpx2.Response:
    """POST a form the way the browser would, with the token from the dashboard by default."""
    if token is None:
        token = csrf_of((await page(cloud, "/dashboard")).text)
    return await cloud.client.post(
        path, data={"csrf_token": token, **(data or {})}, headers=dict(headers)
    )


async def sign_up(cloud: Cloud, email: str = "ada@example.com") -> str:
    """Create an account through the form; returns the user id."""
    token = csrf_of((await page(cloud, "/signup")).text)
    response = await submit(cloud, "/signup", {"email": email, "password": PASSWORD}, token=token)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/dashboard"
    user = await accounts.find_user(cloud.ctx, email)
    assert user is not None
    return user.id


async def create_key(cloud: Cloud, name: str = "Claude Desktop") -> str:
    """Create a key through the form; returns the full key the dashboard shows once."""
    response = await submit(cloud, "/keys", {"name": name})
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard#new-key"
    shown = await page(cloud, "/dashboard")
    found = KEY_PATTERN.search(shown.text)
    assert found, "the new key is not on the page"
    return found.group(0)


async def connect_whoop(cloud: Cloud) -> httpx2.Response:
    """Connect through the sandbox (it approves at once); returns the page after the callback."""
    start = await submit(cloud, "/connect/whoop")
    assert start.status_code == 303
    authorize = start.headers["location"]
    assert authorize.startswith("http://whoop.test/oauth/oauth2/auth?")
    async with httpx2.AsyncClient(transport=cloud.sandbox.transport()) as browser_at_whoop:
        approved = await browser_at_whoop.get(authorize)
    assert approved.status_code == 302
    callback = approved.headers["location"]
    assert callback.startswith(f"{PUBLIC_URL}/callback/whoop?")
    back = await cloud.client.get(callback, headers={"Sec-Fetch-Site": "cross-site"})
    assert back.status_code == 303
    assert back.headers["location"] == "/dashboard"
    return await page(cloud, "/dashboard")


def whoop_card(html: str) -> str:
    found = re.search(
        r'<article class="card provider[^"]*"[^>]*data-provider="whoop">(.*?)</article>', html, re.S
    )
    assert found, "no WHOOP card"
    return found.group(1)


# ---------------------------------------------------------------------- pages and sessions
async def test_sign_up_lands_on_the_dashboard_with_a_strict_session_cookie(cloud: Cloud) -> None:
    landing = await page(cloud, "/")
    assert 'href="/signup"' in landing.text
    form = await page(cloud, "/signup")
    response = await submit(
        cloud,
        "/signup",
        {"email": "ada@example.com", "password": PASSWORD},
        token=csrf_of(form.text),
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard"
    [session_cookie] = [
        c for c in response.headers.get_list("set-cookie") if c.startswith("wellpipe_session=")
    ]
    attributes = {part.strip().lower() for part in session_cookie.split(";")[1:]}
    assert {"httponly", "path=/", "samesite=lax"} <= attributes
    assert not any(a.startswith("domain=") for a in attributes)

    dashboard = await page(cloud, "/dashboard")
    assert "ada@example.com" in dashboard.text
    assert "Welcome to Wellpipe" in dashboard.text
    assert "Connect WHOOP" in whoop_card(dashboard.text)
    assert dashboard.headers["cache-control"] == "no-store"
    csp = dashboard.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "<script>" not in dashboard.text
    assert " style=" not in dashboard.text
    assert "Account created" in dashboard.text  # the user's own audit log

    again = await page(cloud, "/dashboard")
    assert "Welcome to Wellpipe" not in again.text  # a flash shows once
    for path in ("/signin", "/signup"):  # signed in: straight to the dashboard
        skipped = await cloud.client.get(path)
        assert skipped.status_code == 303
        assert skipped.headers["location"] == "/dashboard"


async def test_sign_in_sign_out_and_sign_in_errors(cloud: Cloud) -> None:
    await sign_up(cloud)
    token = csrf_of((await page(cloud, "/dashboard")).text)
    out = await submit(cloud, "/signout", token=token)
    assert out.status_code == 303
    assert out.headers["location"] == "/signin"
    signed_out = await cloud.client.get("/dashboard")
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/signin"

    form = await page(cloud, "/signin")
    assert "You are signed out." in form.text
    assert "Sign in with Google" not in form.text  # no Google client configured
    wrong = await submit(
        cloud,
        "/signin",
        {"email": "ada@example.com", "password": "not the password"},
        token=csrf_of(form.text),
    )
    assert wrong.status_code == 400
    assert accounts.SIGNIN_FAILED in wrong.text.replace("&#39;", "'")
    right = await submit(
        cloud,
        "/signin",
        {"email": "ADA@example.com ", "password": PASSWORD},
        token=csrf_of(wrong.text),
    )
    assert right.status_code == 303
    assert right.headers["location"] == "/dashboard"
    assert "ada@example.com" in (await page(cloud, "/dashboard")).text


async def test_sign_up_refusals_keep_the_email_and_say_why(cloud: Cloud) -> None:
    token = csrf_of((await page(cloud, "/signup")).text)
    short = await submit(
        cloud, "/signup", {"email": "bo@example.com", "password": "short"}, token=token
    )
    assert short.status_code == 400
    assert 'value="bo@example.com"' in short.text
    assert 'role="alert"' in short.text
    assert await accounts.find_user(cloud.ctx, "bo@example.com") is None


SIGNED_IN_ONLY = [
    ("GET", "/dashboard"),
    ("POST", "/keys"),
    ("POST", "/keys/abcdefgh/revoke"),
    ("POST", "/connect/whoop"),
    ("POST", "/disconnect/whoop"),
    ("POST", "/account/password"),
    ("POST", "/account/export"),
    ("POST", "/account/delete"),
]


async def test_signed_out_pages_send_you_to_sign_in(cloud: Cloud) -> None:
    for method, path in SIGNED_IN_ONLY:
        response = await cloud.client.request(method, path, headers=SAME_ORIGIN)
        assert response.status_code == 303, (method, path)
        assert response.headers["location"] == "/signin"
        assert "Sign in to continue." in (await page(cloud, "/signin")).text
    # Back from a provider without a session: nothing is connected, sign in first.
    callback = await cloud.client.get("/callback/whoop?code=x&state=" + "s" * 43)
    assert callback.status_code == 303
    assert callback.headers["location"] == "/signin"


# ---------------------------------------------------------------------- CSRF
async def test_a_form_without_the_right_token_is_refused_and_changes_nothing(
    cloud: Cloud,
) -> None:
    user_id = await sign_up(cloud)
    for token in [None, "", "not-the-token", "x" * 43]:
        data = {"name": "sneaky"} if token is None else {"name": "sneaky", "csrf_token": token}
        refused = await cloud.client.post("/keys", data=data, headers=SAME_ORIGIN)
        assert refused.status_code == 403, token
        assert refused.headers["content-type"].startswith("text/html")
        assert "reload the page and try again" in refused.text
        assert refused.headers["x-request-id"] in refused.text
    assert await keys.list_keys(cloud.ctx, user_id) == []

    deleted = await cloud.client.post(
        "/account/delete", data={"confirm": "ada@example.com", "csrf_token": "x" * 43}
    )
    assert deleted.status_code == 403
    assert await accounts.find_user(cloud.ctx, "ada@example.com") is not None


CROSS_SITE = [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://wellpipe.test.evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Sec-Fetch-Site": "cross-site", "Origin": PUBLIC_URL},
]


async def test_a_form_from_another_site_is_refused_even_with_the_token(cloud: Cloud) -> None:
    user_id = await sign_up(cloud)
    token = csrf_of((await page(cloud, "/dashboard")).text)
    for headers in CROSS_SITE:
        refused = await submit(cloud, "/keys", {"name": "cross"}, token=token, headers=headers)
        assert refused.status_code == 403, headers
        assert "sent from another website" in refused.text
    assert await keys.list_keys(cloud.ctx, user_id) == []
    # The same form from our own page goes through (with or without the headers).
    for headers in [SAME_ORIGIN, {}, {"Sec-Fetch-Site": "same-origin"}]:
        accepted = await submit(cloud, "/keys", {"name": "ours"}, token=token, headers=headers)
        assert accepted.status_code == 303
    assert [key.name for key in await keys.list_keys(cloud.ctx, user_id)] == ["ours"] * 3


async def test_signed_out_forms_carry_a_token_bound_to_this_browser(cloud: Cloud) -> None:
    form = await page(cloud, "/signup")
    token = csrf_of(form.text)
    stranger = httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=cloud.app), base_url=PUBLIC_URL
    )
    async with stranger:  # another browser replaying our token, without our cookie
        replayed = await stranger.post(
            "/signup", data={"csrf_token": token, "email": "eve@example.com", "password": PASSWORD}
        )
    assert replayed.status_code == 403
    assert await accounts.find_user(cloud.ctx, "eve@example.com") is None
    no_token = await cloud.client.post(
        "/signin", data={"email": "ada@example.com", "password": PASSWORD}
    )
    assert no_token.status_code == 403


# ---------------------------------------------------------------------- API keys
async def test_a_new_key_is_shown_once_then_only_masked(cloud: Cloud) -> None:
    user_id = await sign_up(cloud)
    created = await submit(cloud, "/keys", {"name": "Claude Desktop"})
    [flash_cookie] = [
        c for c in created.headers.get_list("set-cookie") if c.startswith("wellpipe_flash=")
    ]
    assert "max-age=60" in flash_cookie.lower()
    shown = await page(cloud, "/dashboard")
    found = KEY_PATTERN.search(shown.text)
    assert found is not None
    full_key = found.group(0)
    assert full_key not in flash_cookie  # sealed, not merely signed
    [info] = await keys.list_keys(cloud.ctx, user_id)
    assert full_key.startswith(f"wp_live_{info.key_id}_")
    assert full_key.endswith(info.last4)
    assert (await keys.authenticate(cloud.ctx, full_key)) is not None

    reloaded = await page(cloud, "/dashboard")
    assert full_key not in reloaded.text
    assert KEY_PATTERN.search(reloaded.text) is None
    assert f"wp_live_{info.key_id}_…{info.last4}" in reloaded.text
    assert "Claude Desktop" in reloaded.text
    assert "API key created" in reloaded.text


async def test_the_new_key_page_has_ready_to_paste_setup(cloud: Cloud) -> None:
    await sign_up(cloud)
    await submit(cloud, "/keys", {"name": "Laptop"})
    html = (await page(cloud, "/dashboard")).text
    full_key = KEY_PATTERN.search(html)
    assert full_key is not None
    key = full_key.group(0)
    unescaped = html.replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&")
    assert f'curl -H "Authorization: Bearer {key}"' in unescaped
    assert f"{PUBLIC_URL}/api/v1/health?type=summary&days=7" in unescaped
    desktop = re.search(r'<pre class="code" id="snip-desktop-key">(.*?)</pre>', unescaped, re.S)
    assert desktop is not None
    config = json.loads(desktop.group(1))
    server = config["mcpServers"]["wellpipe"]
    assert server["command"] == "npx"
    assert f"{PUBLIC_URL}/api/mcp" in server["args"]
    assert "mcp-remote" in server["args"]
    assert server["env"]["WELLPIPE_AUTH"] == f"Bearer {key}"
    assert f"{PUBLIC_URL}/openapi.json" in unescaped  # ChatGPT Action import
    assert "Settings → Connectors" in unescaped


async def test_revoking_a_key_stops_it_at_once(cloud: Cloud) -> None:
    user_id = await sign_up(cloud)
    unnamed = await submit(cloud, "/keys", {"name": "   "})
    assert unnamed.status_code == 303
    assert "Give the key a name" in (await page(cloud, "/dashboard")).text
    assert await keys.list_keys(cloud.ctx, user_id) == []

    full_key = await create_key(cloud)
    [info] = await keys.list_keys(cloud.ctx, user_id)
    response = await submit(cloud, f"/keys/{info.key_id}/revoke")
    assert response.status_code == 303
    html = (await page(cloud, "/dashboard")).text
    assert "The key is revoked" in html
    assert "Revoked" in html
    assert await keys.authenticate(cloud.ctx, full_key) is None
    twice = await submit(cloud, f"/keys/{info.key_id}/revoke")
    assert twice.status_code == 303
    assert "already revoked" in (await page(cloud, "/dashboard")).text


async def test_you_cannot_revoke_someone_elses_key(cloud: Cloud) -> None:
    await sign_up(cloud, "ada@example.com")
    their_key = await create_key(cloud)
    ada = await accounts.find_user(cloud.ctx, "ada@example.com")
    assert ada is not None
    [theirs] = await keys.list_keys(cloud.ctx, ada.id)
    await submit(cloud, "/signout")
    await sign_up(cloud, "bob@example.com")
    response = await submit(cloud, f"/keys/{theirs.key_id}/revoke")
    assert response.status_code == 303
    assert "not yours" in (await page(cloud, "/dashboard")).text
    assert await keys.authenticate(cloud.ctx, their_key) is not None


async def test_the_flash_cookie_cannot_be_forged_or_shown_to_another_user(cloud: Cloud) -> None:
    await sign_up(cloud)  # leaves a "Welcome" flash for the next page
    cloud.client.cookies.set("wellpipe_flash", "bm90LXNlYWxlZA", domain="wellpipe.test")
    html = (await page(cloud, "/dashboard")).text
    assert 'class="alert' not in html

    pepper = cloud.ctx.settings.api_key_pepper
    assert pepper is not None
    box = FlashBox(pepper.get_secret_value().encode())
    planted = Flash(new_key=NewKey("someone-else", "abcdefgh", "x", "wp_live_abcdefgh_" + "A" * 40))
    cloud.client.cookies.set(
        "wellpipe_flash", box.seal(planted, now=cloud.clock.now()), domain="wellpipe.test"
    )
    assert "wp_live_abcdefgh_" not in (await page(cloud, "/dashboard")).text

    stale = box.seal(Flash(messages=[Message("info", "old news")]), now=cloud.clock.now())
    cloud.clock.advance(FLASH_TTL_S + 1)
    cloud.client.cookies.set("wellpipe_flash", stale, domain="wellpipe.test")
    assert "old news" not in (await page(cloud, "/dashboard")).text


# ---------------------------------------------------------------------- connections
async def test_connect_whoop_through_the_provider_and_back(cloud: Cloud) -> None:
    await sign_up(cloud)
    dashboard = await connect_whoop(cloud)
    card = whoop_card(dashboard.text)
    assert "Connected" in card
    assert "Disconnect WHOOP" in card
    assert 'class="alert alert-success"' in dashboard.text
    assert "Provider connected" in dashboard.text  # audit log

    removed = await submit(cloud, "/disconnect/whoop")
    assert removed.status_code == 303
    after = await page(cloud, "/dashboard")
    assert "Connect WHOOP" in whoop_card(after.text)
    revokes = [r for r in cloud.sandbox.requests if r.method == "DELETE"]
    assert len(revokes) == 1
    assert revokes[0].path == "/developer/v2/user/access"


async def test_the_card_names_the_granted_access_in_words(cloud: Cloud) -> None:
    await sign_up(cloud)
    card = whoop_card((await connect_whoop(cloud)).text)
    access = re.search(r'data-testid="access-whoop">([^<]*)</dd>', card)
    assert access is not None
    assert access.group(1) == (
        "Recovery, Day strain, Workouts, Sleep, Profile, Body measurements, Stay connected"
    )
    assert "read:" not in card
    assert "offline" not in card
    assert "Not granted" not in card


async def test_a_callback_with_an_unknown_state_connects_nothing(cloud: Cloud) -> None:
    await sign_up(cloud)
    response = await cloud.client.get("/callback/whoop?code=stolen&state=" + "s" * 43)
    assert response.status_code == 303
    html = (await page(cloud, "/dashboard")).text
    assert 'class="alert alert-error"' in html
    assert "Connect WHOOP" in whoop_card(html)
    assert not [r for r in cloud.sandbox.requests if r.path.endswith("/token")]


async def test_a_connection_that_needs_reauthorization_asks_to_reconnect(cloud: Cloud) -> None:
    user_id = await sign_up(cloud)
    await connect_whoop(cloud)
    tokens = DatabaseTokenProvider(cloud.ctx, user_id=user_id, provider="whoop")
    await tokens.mark_reauthorization_required("the provider refused the refresh token")
    html = (await page(cloud, "/dashboard")).text
    card = whoop_card(html)
    assert "Reconnect needed" in card
    assert "Reconnect WHOOP" in card
    assert "the provider refused the refresh token" in card
    assert 'action="/connect/whoop"' in card
    assert "WHOOP needs reconnecting" in html  # the banner above everything else

    reconnected = await connect_whoop(cloud)
    assert "Disconnect WHOOP" in whoop_card(reconnected.text)
    assert "WHOOP needs reconnecting" not in reconnected.text


async def test_an_unknown_provider_is_a_friendly_404_page(cloud: Cloud) -> None:
    await sign_up(cloud)
    response = await submit(cloud, "/connect/nosuch")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "does not offer" in response.text
    assert response.headers["x-request-id"] in response.text


# ---------------------------------------------------------------------- usage
async def test_usage_this_month_and_the_chart_follow_counted_requests(cloud: Cloud) -> None:
    user_id = await sign_up(cloud)
    before = (await page(cloud, "/dashboard")).text
    assert re.search(r'data-testid="usage-count">0 <small>of 1000 requests', before)
    assert 'data-total="0"' in before

    principal = keys.Principal(user_id=user_id, key_id="abcdefgh", plan="FREE")
    for endpoint in ["rest:health", "rest:health", "mcp:get-daily-summary", "mcp:get-range"]:
        assert (await limits.charge(cloud.ctx, principal, endpoint)).allowed
    after = (await page(cloud, "/dashboard")).text
    assert re.search(r'data-testid="usage-count">4 <small>of 1000 requests', after)
    assert 'data-total="4"' in after
    table = re.search(r'data-testid="usage-endpoints">(.*?)</table>', after, re.S)
    assert table is not None
    rows = [
        (re.sub(r"<[^>]+>", "", what).strip(), int(count))
        for what, count in re.findall(
            r"<tr><td>(.*?)</td><td class=\"num\">(\d+)</td></tr>", table.group(1)
        )
    ]
    assert rows == [
        ("Recent data by type via the REST API", 2),
        ("Any data for a date range via an assistant (MCP)", 1),
        ("Daily summary via an assistant (MCP)", 1),
    ]
    assert "rest:" not in table.group(1)
    assert "mcp:" not in table.group(1)
    chart = re.search(r'<svg class="chart".*?</svg>', after, re.S)
    assert chart is not None
    assert '<title id="chart-title">Requests per day, last 30 days</title>' in chart.group(0)
    assert "4 in total" in chart.group(0)
    assert len(re.findall(r"<rect class=\"bar", chart.group(0))) == 30


# ---------------------------------------------------------------------- account
async def test_change_password(cloud: Cloud) -> None:
    await sign_up(cloud)
    wrong = await submit(
        cloud, "/account/password", {"current": "nope nope nope", "new": "a brand new passphrase"}
    )
    assert wrong.status_code == 303
    assert "current password is not right" in (await page(cloud, "/dashboard")).text
    right = await submit(
        cloud, "/account/password", {"current": PASSWORD, "new": "a brand new passphrase"}
    )
    assert right.status_code == 303
    assert "password is changed" in (await page(cloud, "/dashboard")).text
    user = await accounts.sign_in(
        cloud.ctx, email="ada@example.com", password="a brand new passphrase"
    )
    assert user is not None


async def test_export_downloads_the_accounts_json(cloud: Cloud) -> None:
    await sign_up(cloud)
    full_key = await create_key(cloud)
    response = await submit(cloud, "/account/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert response.headers["cache-control"] == "no-store"
    document = response.json()
    assert "ada@example.com" in response.text
    assert isinstance(document, dict)
    assert full_key not in response.text
    assert full_key.rsplit("_", 1)[1][:12] not in response.text


async def test_delete_account_needs_the_typed_confirmation(cloud: Cloud) -> None:
    user_id = await sign_up(cloud)
    full_key = await create_key(cloud)
    await connect_whoop(cloud)

    mistyped = await submit(cloud, "/account/delete", {"confirm": "ada@example.co"})
    assert mistyped.status_code == 303
    assert "did not match" in (await page(cloud, "/dashboard")).text
    assert await accounts.find_user(cloud.ctx, "ada@example.com") is not None

    deleted = await submit(cloud, "/account/delete", {"confirm": "ada@example.com"})
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/"
    landing = await page(cloud, "/")
    assert 'class="alert alert-success"' in landing.text
    assert await accounts.find_user(cloud.ctx, "ada@example.com") is None
    assert await keys.authenticate(cloud.ctx, full_key) is None
    assert await keys.list_keys(cloud.ctx, user_id) == []
    gone = await cloud.client.get("/dashboard")
    assert gone.status_code == 303
    assert gone.headers["location"] == "/signin"
    assert [r.path for r in cloud.sandbox.requests if r.method == "DELETE"] == [
        "/developer/v2/user/access"
    ]


# ---------------------------------------------------------------------- assistants (OAuth)
async def connect_assistant(cloud: Cloud, user_id: str, name: str = "Claude") -> tuple[str, str]:
    """Register a client, allow it for ``user_id`` and trade the code; ``(grant id, token)``."""
    body = {
        "client_name": name,
        "redirect_uris": [CLAUDE],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    }
    registered = await oauth.register(cloud.ctx, json.dumps(body).encode(), source="203.0.113.9")
    verifier, challenge = pkce()
    binding = secrets.token_urlsafe(32)
    handle = await oauth.begin(
        cloud.ctx,
        {
            "response_type": "code",
            "client_id": registered["client_id"],
            "redirect_uri": CLAUDE,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "s",
            "scope": oauth.SCOPE,
            "resource": RESOURCE,
        },
        binding,
    )
    target = await oauth.decide(cloud.ctx, handle, binding, user_id=user_id, allow=True)
    assert target is not None
    client = await oauth.client_for(cloud.ctx, registered["client_id"])
    assert client is not None
    tokens = await oauth.exchange_code(
        cloud.ctx,
        client,
        {"code": query_of(target)["code"], "code_verifier": verifier, "redirect_uri": CLAUDE},
    )
    principal = await oauth.resolve_access(cloud.ctx, tokens.access_token, RESOURCE)
    assert principal is not None
    assert principal.grant_id is not None
    return principal.grant_id, tokens.access_token


def grant_row(html: str, grant_id: str) -> str:
    found = re.search(rf'<tr data-grant-id="{grant_id}">(.*?)</tr>', html, re.S)
    assert found, f"no row for grant {grant_id}"
    return found.group(1)


async def test_the_dashboard_leads_with_the_connector_url_and_claudes_prefilled_dialog(
    cloud: Cloud,
) -> None:
    await sign_up(cloud)
    html = (await page(cloud, "/dashboard")).text
    url = f"{PUBLIC_URL}/api/mcp"
    field = re.search(r'<input id="connector-url"[^>]*>', html)
    assert field is not None
    assert f'value="{url}"' in field.group(0)
    assert " readonly" in field.group(0)
    assert 'data-copy="connector-url"' in html  # the copy button, handled by app.js

    link = re.search(r'<a [^>]*href="([^"]+)"[^>]*data-testid="claude-add"[^>]*>', html)
    assert link is not None
    assert 'target="_blank"' in link.group(0)
    assert 'rel="noopener noreferrer"' in link.group(0)
    href = html_text.unescape(link.group(1))
    assert href.startswith("https://claude.ai/customize/connectors?")
    assert "connectorUrl=http%3A%2F%2Fwellpipe.test%2Fapi%2Fmcp" in href
    assert parse_qs(urlsplit(href).query) == {
        "modal": ["add-custom-connector"],
        "connectorName": ["Wellpipe"],
        "connectorUrl": [url],
    }
    steps = html_text.unescape(html)
    assert "Settings → Connectors → Add custom connector" in steps
    assert "Settings → Apps → Advanced settings" in steps
    assert "Developer mode" in steps

    # Connectors first; the API-key route is the second, and labelled so.
    order = [html.index(anchor) for anchor in ('id="add-title"', 'id="assistants"')]
    order += [html.index('id="keys-title"'), html.index('id="setup-title"')]
    assert order == sorted(order)
    assert "Other clients: with an API key" in html
    # http://wellpipe.test is no address Claude's servers could reach: the page says so.
    assert 'data-testid="connector-unreachable"' in html

    # Nobody connected yet: one sentence pointing up, no table.
    assert 'data-testid="no-assistants"' in html
    assert "data-grant-id" not in html


async def test_a_connected_assistant_is_listed_and_its_name_is_only_text(cloud: Cloud) -> None:
    user_id = await sign_up(cloud)
    grant_id, _ = await connect_assistant(cloud, user_id)
    hostile_id, _ = await connect_assistant(
        cloud, user_id, '<script>alert("x")</script><img src=x>'
    )
    html = (await page(cloud, "/dashboard")).text
    assert 'data-testid="no-assistants"' not in html

    row = grant_row(html, grant_id)
    cells = [
        html_text.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    ]
    assert cells[0].startswith("Claude")
    assert cells[1] == "claude.ai"
    assert cells[3] == "never"
    assert cells[4] == "0"
    assert f'action="/assistants/{grant_id}/revoke"' in row
    assert 'name="csrf_token"' in row

    hostile = grant_row(html, hostile_id)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x&gt;" in hostile
    main = html[html.index("<main") :]
    assert "<script" not in main
    assert "<img" not in main  # and no logo: a client's logo_uri is never shown

    await oauth.note_use(cloud.ctx, grant_id)  # one answered request
    used = grant_row((await page(cloud, "/dashboard")).text, grant_id)
    assert "never" not in used
    assert re.search(r'data-label="This month" class="num">1<', used)


async def test_revoking_an_assistant_removes_it_and_stops_its_token(cloud: Cloud) -> None:
    user_id = await sign_up(cloud)
    grant_id, token = await connect_assistant(cloud, user_id)
    response = await submit(cloud, f"/assistants/{grant_id}/revoke")
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard#assistants"
    html = (await page(cloud, "/dashboard")).text
    assert "Access revoked" in html
    assert "data-grant-id" not in html
    assert 'data-testid="no-assistants"' in html
    assert await oauth.resolve_access(cloud.ctx, token, RESOURCE) is None
    assert await oauth.list_grants(cloud.ctx, user_id) == []
    again = await submit(cloud, f"/assistants/{grant_id}/revoke")
    assert again.status_code == 303
    assert "already disconnected" in (await page(cloud, "/dashboard")).text


async def test_you_cannot_revoke_someone_elses_assistant(cloud: Cloud) -> None:
    ada = await sign_up(cloud, "ada@example.com")
    grant_id, token = await connect_assistant(cloud, ada)
    await submit(cloud, "/signout")
    await sign_up(cloud, "bob@example.com")
    assert f'data-grant-id="{grant_id}"' not in (await page(cloud, "/dashboard")).text
    response = await submit(cloud, f"/assistants/{grant_id}/revoke")
    assert response.status_code == 303
    assert "already disconnected" in (await page(cloud, "/dashboard")).text
    principal = await oauth.resolve_access(cloud.ctx, token, RESOURCE)
    assert principal is not None
    assert principal.user_id == ada
    assert [grant.id for grant in await oauth.list_grants(cloud.ctx, ada)] == [grant_id]


# ---------------------------------------------------------------------- assets
async def test_static_assets_are_ours_and_nothing_else_is_served(cloud: Cloud) -> None:
    html = (await page(cloud, "/")).text
    for asset in re.findall(r'(?:href|src)="(/static/[^"]+)"', html):
        response = await cloud.client.get(asset)
        assert response.status_code == 200
        assert response.headers["content-type"].split(";")[0] in {
            "text/css",
            "text/javascript",
            "image/svg+xml",
        }
    assert not re.search(r'(?:href|src)="(?:https?:)?//', html)  # no third-party resources
    missing = await cloud.client.get("/static/../settings.py")
    assert missing.status_code == 404
    other = await cloud.client.get("/static/routes.py")
    assert other.status_code == 404


# ---------------------------------------------------------------------- Sign in with Google
@pytest.fixture
async def google_cloud(
    cloud_settings: CloudSettings,
    clock: FakeClock,
    sandbox: WhoopSandbox,
    whoop_app_credentials: tuple[str, str],
) -> AsyncIterator[tuple[Cloud, FakeIdP]]:
    """The service with Sign in with Google configured, against a fake OpenID provider."""
    settings = cloud_settings.model_copy(
        update={
            "google_client_id": CLIENT_ID,
            "google_client_secret": SecretStr(CLIENT_SECRET),
            "google_discovery_url": DISCOVERY_URL,
        }
    )
    idp = FakeIdP(clock=clock)
    async with running(settings, clock, sandbox) as cloud:
        cloud.ctx.state.google_transport = idp.transport()
        yield cloud, idp


async def test_sign_in_with_google_when_the_operator_configured_it(
    google_cloud: tuple[Cloud, FakeIdP],
) -> None:
    cloud, idp = google_cloud
    form = await page(cloud, "/signin")
    assert 'action="/auth/google"' in form.text
    assert "Sign in with Google" in form.text
    started = await submit(cloud, "/auth/google", token=csrf_of(form.text))
    assert started.status_code == 303
    assert started.headers["location"].startswith("http://idp.test/authorize?")
    assert any(c.startswith("wellpipe_pre=") for c in started.headers.get_list("set-cookie"))
    async with httpx2.AsyncClient(transport=idp.transport()) as at_google:
        approved = await at_google.get(started.headers["location"])
    callback = approved.headers["location"]
    assert callback.startswith(f"{PUBLIC_URL}/auth/google/callback?")

    # Replayed in another browser (no pre-session cookie): refused, nobody signed in.
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=cloud.app), base_url=PUBLIC_URL
    ) as other_browser:
        replayed = await other_browser.get(callback)
        assert replayed.status_code == 303
        assert replayed.headers["location"] == "/signin"
        assert (await other_browser.get("/dashboard")).headers["location"] == "/signin"

    # The state was used up by the replay; a fresh round trip signs this browser in.
    again = await submit(cloud, "/auth/google", token=csrf_of((await page(cloud, "/signin")).text))
    async with httpx2.AsyncClient(transport=idp.transport()) as at_google:
        approved = await at_google.get(again.headers["location"])
    back = await cloud.client.get(approved.headers["location"])
    assert back.status_code == 303
    assert back.headers["location"] == "/dashboard"
    assert "person@example.com" in (await page(cloud, "/dashboard")).text


async def test_over_https_every_cookie_is_host_prefixed_and_secure(
    cloud_settings: CloudSettings,
    clock: FakeClock,
    sandbox: WhoopSandbox,
    whoop_app_credentials: tuple[str, str],
) -> None:
    origin = "https://wellpipe.test"
    settings = cloud_settings.model_copy(update={"public_url": origin})
    async with running(settings, clock, sandbox, base_url=origin) as cloud:
        form = await page(cloud, "/signup")
        headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
        response = await submit(
            cloud,
            "/signup",
            {"email": "ada@example.com", "password": PASSWORD},
            token=csrf_of(form.text),
            headers=headers,
        )
        assert response.status_code == 303
        cookies = [*form.headers.get_list("set-cookie"), *response.headers.get_list("set-cookie")]
        names = {cookie.split("=", 1)[0] for cookie in cookies}
        assert names == {"__Host-wellpipe_form", "__Host-wellpipe", "__Host-wellpipe_flash"}
        for cookie in cookies:
            attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
            assert {"secure", "httponly", "path=/", "samesite=lax"} <= attributes, cookie
            assert not any(a.startswith("domain=") for a in attributes)
        assert "ada@example.com" in (await page(cloud, "/dashboard")).text
        # An http:// page of the same host is another origin: its forms are refused.
        token = csrf_of((await page(cloud, "/dashboard")).text)
        cross = await submit(
            cloud, "/keys", {"name": "x"}, token=token, headers={"Origin": PUBLIC_URL}
        )
        assert cross.status_code == 403


def test_only_a_public_https_address_is_called_reachable_by_assistants() -> None:
    assert connector_for("https://wellpipe.example.com").reachable
    for private in ("http://wellpipe.example.com", "https://127.0.0.1:8000", "https://box.local"):
        assert not connector_for(private).reachable, private


async def test_signing_in_with_google_comes_back_to_an_assistants_consent_page(
    google_cloud: tuple[Cloud, FakeIdP],
) -> None:
    cloud, idp = google_cloud
    registered = await cloud.client.post(
        "/register",
        json={
            "client_name": "Claude",
            "redirect_uris": [CLAUDE],
            "token_endpoint_auth_method": "none",
        },
    )
    _, challenge = pkce()
    started = await cloud.client.get(
        "/authorize",
        params={
            "response_type": "code",
            "client_id": registered.json()["client_id"],
            "redirect_uri": CLAUDE,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    consent = started.headers["location"]
    assert (await cloud.client.get(consent)).headers["location"] == "/signin"

    google = await submit(cloud, "/auth/google", token=csrf_of((await page(cloud, "/signin")).text))
    async with httpx2.AsyncClient(transport=idp.transport()) as at_google:
        approved = await at_google.get(google.headers["location"])
    back = await cloud.client.get(approved.headers["location"])
    assert back.status_code == 303
    assert back.headers["location"] == consent
    shown = await page(cloud, consent)
    assert "Allow" in shown.text
    assert "person@example.com" in shown.text
