"""A sandbox with a grants file honours, after a restart, exactly what it issued before.

WHOOP, Oura and Google each restart on the same file (a fresh instance, as `wellpipe
cloud serve` does): live access tokens still work until their expiry, the current
refresh token still refreshes, a spent one is still spent (and at WHOOP still revokes
the family), revocations stay. The file is private and holds no token; a corrupt one
is logged and ignored.
"""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.conftest import NOW
from tests.fakes import FakeClock
from wellpipe.sandbox.base import SandboxApp
from wellpipe.sandbox.fitbit import FitbitSandbox
from wellpipe.sandbox.fitbit import generate_history as fitbit_history
from wellpipe.sandbox.oura import OuraSandbox
from wellpipe.sandbox.oura import generate_history as oura_history
from wellpipe.sandbox.whoop import History, WhoopSandbox

FORM = {"content-type": "application/x-www-form-urlencoded"}
Sandbox = SandboxApp[Any, Any]


@dataclass(frozen=True)
class Provider:
    """How to restart, refresh at, read from and revoke at one provider's sandbox."""

    name: str
    build: Callable[[FakeClock, Path | None], Sandbox]
    token_path: str
    probe: str
    """A data path any default token may read."""
    rotates: bool
    """Whether a refresh spends the refresh token (WHOOP, Oura) or not (Google)."""
    revoke: Callable[[httpx2.AsyncClient, dict[str, Any]], Awaitable[httpx2.Response]]


@pytest.fixture(scope="module")
def histories(history: History) -> dict[str, Any]:
    return {
        "whoop": history,
        "oura": oura_history(now=NOW),
        "fitbit": fitbit_history(now=NOW),
    }


def providers(histories: dict[str, Any]) -> dict[str, Provider]:
    return {
        "whoop": Provider(
            "whoop",
            lambda clock, path: WhoopSandbox(
                clock=clock, history=histories["whoop"], grants_file=path
            ),
            "/oauth/oauth2/token",
            "/developer/v2/user/profile/basic",
            True,
            lambda http, tokens: http.delete(
                "/developer/v2/user/access", headers=bearer(tokens["access_token"])
            ),
        ),
        "oura": Provider(
            "oura",
            lambda clock, path: OuraSandbox(
                clock=clock, history=histories["oura"], grants_file=path
            ),
            "/oauth/token",
            "/v2/usercollection/personal_info",
            True,
            lambda http, tokens: http.post(
                "/oauth/revoke", params={"access_token": tokens["access_token"]}
            ),
        ),
        "fitbit": Provider(
            "fitbit",
            lambda clock, path: FitbitSandbox(
                clock=clock, history=histories["fitbit"], grants_file=path
            ),
            "/token",
            "/v4/users/me/identity",
            False,
            lambda http, tokens: http.post(
                "/revoke", content=f"token={tokens['refresh_token']}", headers=FORM
            ),
        ),
    }


@pytest.fixture(params=["whoop", "oura", "fitbit"])
def provider(request: pytest.FixtureRequest, histories: dict[str, Any]) -> Provider:
    return providers(histories)[request.param]


@pytest.fixture
def grants_file(tmp_path: Path, provider: Provider) -> Path:
    return tmp_path / "home" / "sandbox" / f"{provider.name}-grants.json"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def talking_to(sandbox: Sandbox) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(
        base_url="http://sandbox.test", transport=sandbox.transport()
    ) as client:
        yield client


async def refresh(http: httpx2.AsyncClient, provider: Provider, token: str) -> httpx2.Response:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": "sandbox-client",
        "client_secret": "sandbox-secret",
    }
    return await http.post(provider.token_path, data=form)


async def reads(http: httpx2.AsyncClient, provider: Provider, access_token: str) -> int:
    return (await http.get(provider.probe, headers=bearer(access_token))).status_code


# ---------------------------------------------------------------- what survives a restart
async def test_a_restart_keeps_live_tokens_and_the_rotation_state(
    provider: Provider, clock: FakeClock, grants_file: Path
) -> None:
    first = provider.build(clock, grants_file)
    issued = first.issue_tokens()
    async with talking_to(first) as http:
        refreshed = (await refresh(http, provider, issued["refresh_token"])).json()
    current = refreshed.get("refresh_token", issued["refresh_token"])  # Google: no rotation

    restarted = provider.build(clock, grants_file)
    async with talking_to(restarted) as http:
        assert await reads(http, provider, refreshed["access_token"]) == 200
        again = await refresh(http, provider, current)
        assert again.status_code == 200, again.text
        assert await reads(http, provider, again.json()["access_token"]) == 200
        if provider.rotates:  # the first refresh token was spent before the restart
            spent = await refresh(http, provider, issued["refresh_token"])
            assert spent.status_code == 400
            assert spent.json()["error"] == "invalid_grant"
        else:
            assert await reads(http, provider, issued["access_token"]) == 200


async def test_a_restart_keeps_a_rotation_that_happened_after_the_last_restart(
    provider: Provider, clock: FakeClock, grants_file: Path
) -> None:
    issued = provider.build(clock, grants_file).issue_tokens()
    middle = provider.build(clock, grants_file)
    async with talking_to(middle) as http:
        rotated = (await refresh(http, provider, issued["refresh_token"])).json()
    last = provider.build(clock, grants_file)
    async with talking_to(last) as http:
        assert await reads(http, provider, rotated["access_token"]) == 200
        current = rotated.get("refresh_token", issued["refresh_token"])
        assert (await refresh(http, provider, current)).status_code == 200


async def test_reusing_a_spent_whoop_refresh_token_after_a_restart_revokes_the_family(
    histories: dict[str, Any], clock: FakeClock, tmp_path: Path
) -> None:
    whoop = providers(histories)["whoop"]
    path = tmp_path / "whoop-grants.json"
    first = whoop.build(clock, path)
    issued = first.issue_tokens()
    async with talking_to(first) as http:
        rotated = (await refresh(http, whoop, issued["refresh_token"])).json()
    async with talking_to(whoop.build(clock, path)) as http:
        assert (await refresh(http, whoop, issued["refresh_token"])).status_code == 400
        assert await reads(http, whoop, rotated["access_token"]) == 401
    async with talking_to(whoop.build(clock, path)) as http:  # and it stays revoked
        assert await reads(http, whoop, rotated["access_token"]) == 401
        dead = await refresh(http, whoop, rotated["refresh_token"])
        assert dead.json()["error"] == "invalid_grant"


async def test_a_revocation_survives_a_restart(
    provider: Provider, clock: FakeClock, grants_file: Path
) -> None:
    first = provider.build(clock, grants_file)
    issued = first.issue_tokens()
    async with talking_to(first) as http:
        assert (await provider.revoke(http, issued)).status_code in {200, 204}
    async with talking_to(provider.build(clock, grants_file)) as http:
        assert await reads(http, provider, issued["access_token"]) == 401
        refused = await refresh(http, provider, issued["refresh_token"])
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_grant"


async def test_an_access_token_keeps_its_expiry_across_a_restart(
    provider: Provider, clock: FakeClock, grants_file: Path
) -> None:
    issued = provider.build(clock, grants_file).issue_tokens()
    clock.advance(issued["expires_in"] + 1)
    async with talking_to(provider.build(clock, grants_file)) as http:
        assert await reads(http, provider, issued["access_token"]) == 401
        renewed = await refresh(http, provider, issued["refresh_token"])
        assert renewed.status_code == 200
        assert await reads(http, provider, renewed.json()["access_token"]) == 200


async def test_without_a_grants_file_a_restart_forgets_everything(
    provider: Provider, clock: FakeClock, tmp_path: Path
) -> None:
    issued = provider.build(clock, None).issue_tokens()
    async with talking_to(provider.build(clock, None)) as http:
        assert await reads(http, provider, issued["access_token"]) == 401
    assert not [path async for path in anyio.Path(tmp_path).iterdir()]


# ---------------------------------------------------------------- the file itself
def test_the_file_is_private_and_holds_no_token(
    provider: Provider, clock: FakeClock, grants_file: Path
) -> None:
    issued = provider.build(clock, grants_file).issue_tokens()
    assert stat.S_IMODE(grants_file.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(grants_file.stat().st_mode) == 0o600
    text = grants_file.read_text()
    assert issued["access_token"] not in text
    assert issued["refresh_token"] not in text
    kept = json.loads(text)
    assert kept["version"] == 1
    assert len(kept["grants"]) == len(kept["access_tokens"]) == len(kept["refresh_tokens"]) == 1
    assert [p.name for p in grants_file.parent.iterdir()] == [grants_file.name]  # no temp left


def test_pending_codes_and_stale_access_tokens_are_not_kept(
    histories: dict[str, Any], clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "whoop-grants.json"
    sandbox = providers(histories)["whoop"].build(clock, path)
    sandbox.issue_tokens()
    clock.advance(3 * 86_400)  # the first access token is long dead
    sandbox.issue_tokens()
    kept = json.loads(path.read_text())
    assert len(kept["access_tokens"]) == 1
    assert len(kept["refresh_tokens"]) == 2  # refresh tokens never go stale at WHOOP
    assert "codes" not in kept


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe\x00garbage",
        b"[]",
        b'{"version": 99}',
        b'{"version": 1, "grants": {"g": {"client_id": 7}}}',
        b'{"version": 1, "grants": {}, "access_tokens": {}, "refresh_tokens": {}, '
        b'"consents": [["c", null]]}',
    ],
    ids=["truncated", "not-utf8", "a-list", "another-version", "wrong-type", "null-member"],
)
async def test_a_corrupt_file_is_logged_and_ignored(
    provider: Provider,
    clock: FakeClock,
    grants_file: Path,
    content: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await anyio.Path(grants_file.parent).mkdir(parents=True)
    await anyio.Path(grants_file).write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="wellpipe.sandbox.grants_store"):
        sandbox = provider.build(clock, grants_file)
    assert "Ignoring the corrupt sandbox grants file" in caplog.text
    issued = sandbox.issue_tokens()  # starts empty and replaces the file
    async with talking_to(provider.build(clock, grants_file)) as http:
        assert await reads(http, provider, issued["access_token"]) == 200
    assert json.loads(await anyio.Path(grants_file).read_text())["version"] == 1


async def test_an_unreadable_file_is_logged_and_ignored(
    provider: Provider, clock: FakeClock, grants_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await anyio.Path(grants_file).mkdir(parents=True)  # a folder where the file should be
    with caplog.at_level(logging.WARNING, logger="wellpipe.sandbox.grants_store"):
        sandbox = provider.build(clock, grants_file)
        issued = sandbox.issue_tokens()  # and so does writing: the sandbox carries on
    assert "Ignoring the unreadable sandbox grants file" in caplog.text
    assert "Could not save the sandbox grants" in caplog.text
    assert issued["access_token"] not in caplog.text
    async with talking_to(sandbox) as http:
        assert (await refresh(http, provider, issued["refresh_token"])).status_code == 200
    folder = anyio.Path(grants_file.parent)
    assert [p.name async for p in folder.iterdir()] == [grants_file.name]  # no temp file left


async def test_grants_of_a_member_the_sandbox_does_not_have_are_not_loaded(
    clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "whoop-grants.json"
    two = WhoopSandbox(clock=clock, members=2, now=NOW, grants_file=path)
    issued = two.issue_tokens(two.member_ids[1])
    one = WhoopSandbox(clock=clock, members=1, now=NOW, grants_file=path)
    async with talking_to(one) as http:
        assert (
            await http.get(
                "/developer/v2/user/profile/basic", headers=bearer(issued["access_token"])
            )
        ).status_code == 401


# ---------------------------------------------------------------- the same world after a restart
@pytest.mark.parametrize(
    ("sandbox", "paths"),
    [
        (
            WhoopSandbox,
            [
                "/developer/v2/user/profile/basic",
                "/developer/v2/activity/sleep?start=2026-11-01T00:00:00Z"
                "&end=2026-11-20T00:00:00Z&limit=25",
            ],
        ),
        (
            OuraSandbox,
            [
                "/v2/usercollection/personal_info",
                "/v2/usercollection/daily_sleep?start_date=2026-11-01&end_date=2026-11-20",
            ],
        ),
        (
            FitbitSandbox,
            ["/v4/users/me/identity", "/v4/users/me/dataTypes/sleep/dataPoints"],
        ),
    ],
    ids=["whoop", "oura", "fitbit"],
)
async def test_a_restart_later_the_same_day_serves_the_same_members_and_data(
    sandbox: Callable[..., Sandbox], paths: list[str]
) -> None:
    """The history is seeded: the ids a connection stored (``provider_user_id``) still match."""
    answers = []
    for hours_later in (0, 3):
        fresh = sandbox(clock=FakeClock(NOW + timedelta(hours=hours_later)))
        token = fresh.issue_tokens()["access_token"]
        async with talking_to(fresh) as http:
            bodies = [(await http.get(path, headers=bearer(token))).json() for path in paths]
        answers.append((fresh.member_ids, bodies))
    assert answers[0] == answers[1]
