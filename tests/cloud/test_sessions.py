"""Server-side sessions: digest at rest, CSRF, expiry, sign-out, cookie attributes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from tests.cloud.conftest import Cloud
from wellpipe.cloud.db.tables import AuditEvent, Session
from wellpipe.cloud.services.accounts import create_user
from wellpipe.cloud.services.sessions import (
    COOKIE_NAME,
    PRE_SESSION_COOKIE_NAME,
    check_csrf,
    close_session,
    cookie_attributes,
    new_browser_binding,
    open_session,
    pre_session_cookie_attributes,
    resolve_session,
)
from wellpipe.cloud.settings import CloudSettings

PASSWORD = "correct horse battery staple"


@contextmanager
def counting_queries(cloud: Cloud) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = cloud.ctx.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_the_cookie_is_random_and_only_its_digest_is_stored(cloud: Cloud) -> None:
    user = await create_user(cloud.ctx, email="s@example.com", password=PASSWORD)
    cookie, csrf = await open_session(cloud.ctx, user.id)
    other_cookie, other_csrf = await open_session(cloud.ctx, user.id)
    assert len(cookie) == 43  # 256 bits, URL-safe base64
    assert len({cookie, csrf, other_cookie, other_csrf}) == 4
    async with cloud.ctx.db.sessions() as session:
        rows = list(await session.scalars(select(Session)))
    digests = {row.id_digest for row in rows}
    assert hashlib.sha256(cookie.encode()).hexdigest() in digests
    assert all(cookie not in (row.id_digest, row.csrf_token) for row in rows)

    info = await resolve_session(cloud.ctx, cookie)
    assert info is not None
    assert (info.user_id, info.email, info.plan, info.csrf_token) == (
        user.id,
        "s@example.com",
        "FREE",
        csrf,
    )
    assert info.id_digest == hashlib.sha256(cookie.encode()).hexdigest()


async def test_csrf_tokens_belong_to_one_session(cloud: Cloud) -> None:
    user = await create_user(cloud.ctx, email="c@example.com", password=PASSWORD)
    cookie, csrf = await open_session(cloud.ctx, user.id)
    _, other_csrf = await open_session(cloud.ctx, user.id)
    info = await resolve_session(cloud.ctx, cookie)
    assert check_csrf(info, csrf)
    for wrong in (other_csrf, "", None, csrf[:-1], csrf + "x"):
        assert not check_csrf(info, wrong)
    assert not check_csrf(None, csrf)


async def test_sessions_expire(cloud: Cloud) -> None:
    user = await create_user(cloud.ctx, email="e@example.com", password=PASSWORD)
    cookie, _ = await open_session(cloud.ctx, user.id)
    cloud.clock.advance(cloud.ctx.settings.session_ttl_s - 1)
    assert await resolve_session(cloud.ctx, cookie) is not None
    cloud.clock.advance(1)
    assert await resolve_session(cloud.ctx, cookie) is None
    async with cloud.ctx.db.sessions() as session:
        assert list(await session.scalars(select(Session))) == []  # the row is gone too


async def test_signing_out_ends_the_session(cloud: Cloud) -> None:
    user = await create_user(cloud.ctx, email="o@example.com", password=PASSWORD)
    cookie, _ = await open_session(cloud.ctx, user.id)
    kept, _ = await open_session(cloud.ctx, user.id)
    assert await close_session(cloud.ctx, cookie, request_id="r1")
    assert await resolve_session(cloud.ctx, cookie) is None
    assert await resolve_session(cloud.ctx, kept) is not None
    assert not await close_session(cloud.ctx, cookie)  # already closed
    async with cloud.ctx.db.sessions() as session:
        signouts = list(
            await session.scalars(select(AuditEvent).where(AuditEvent.event == "signout"))
        )
    assert [(e.user_id, e.request_id) for e in signouts] == [(user.id, "r1")]


async def test_unknown_and_malformed_cookies_resolve_to_nobody(cloud: Cloud) -> None:
    assert await resolve_session(cloud.ctx, new_browser_binding()) is None
    with counting_queries(cloud) as statements:
        for bad in (None, "", "short", "x" * 500, "a b" * 20, "é" * 43):
            assert await resolve_session(cloud.ctx, bad) is None
    assert statements == []


def test_cookie_names_and_attributes(tmp_path: Path) -> None:
    plain = CloudSettings(home=tmp_path, public_url="http://127.0.0.1:8000")
    secure = CloudSettings(home=tmp_path, public_url="https://wellpipe.example")
    assert COOKIE_NAME(plain) == "wellpipe_session"
    assert COOKIE_NAME(secure) == "__Host-wellpipe"
    assert PRE_SESSION_COOKIE_NAME(secure).startswith("__Host-")
    attributes = cookie_attributes(secure)
    assert attributes == {
        "max_age": secure.session_ttl_s,
        "path": "/",
        "secure": True,
        "httponly": True,
        "samesite": "lax",
    }
    assert "domain" not in attributes  # __Host- forbids it
    assert cookie_attributes(plain)["secure"] is False
    assert pre_session_cookie_attributes(secure)["max_age"] == 600
    bindings = {new_browser_binding() for _ in range(1000)}
    assert len(bindings) == 1000
    assert all(len(b) == 43 for b in bindings)
