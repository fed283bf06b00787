"""Hostile bodies from outside, over real HTTP: every one is a 4xx, none an ERROR traceback.

The service runs under uvicorn on a loopback port. Malformed or oversized forms to the
dashboard answer an HTML page in its words; anything too large for the API answers
problem details. A body without a declared length (chunked) is held to the same 1 MB
cap as one with it, on every route: the dashboard, MCP and REST.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse
from starlette.types import Message, Receive, Scope, Send

from tests.cloud.served_support import (
    BROWSER,
    HOST,
    SAME_ORIGIN,
    Served,
    chunked,
    csrf_of,
    errors,
    raw_exchange,
    served,
)
from tests.fakes import FakeClock
from wellpipe.cloud.security import api_keys
from wellpipe.cloud.services import accounts, keys
from wellpipe.cloud.settings import CloudSettings
from wellpipe.cloud.web.middleware import (
    MAX_BODY_BYTES,
    MAX_FORM_FIELDS,
    MAX_FORM_PART_BYTES,
    RequestContext,
)
from wellpipe.sandbox import WhoopSandbox

PASSWORD = "correct horse battery staple"
THREE_MB = 3_000_000
MCP_HEADERS = {
    "Host": HOST,
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
}


@pytest.fixture(autouse=True)
def _cheap_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """bcrypt cost 4 for keys: these tests are about bodies, not about hashing cost."""
    monkeypatch.setattr(api_keys, "BCRYPT_ROUNDS", 4)


@pytest.fixture
async def service(
    cloud_settings: CloudSettings,
    clock: FakeClock,
    sandbox: WhoopSandbox,
    whoop_app_credentials: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[Served]:
    async with served(cloud_settings, clock, sandbox, caplog) as started:
        yield started


async def api_key(service: Served) -> tuple[str, str]:
    """A user and their API key: ``(user id, key)``."""
    user = await accounts.create_user(service.cloud.ctx, email="ada@example.com", password=PASSWORD)
    created = await keys.create_key(service.cloud.ctx, user_id=user.id, name="test")
    return user.id, created.full_key


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {HOST}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def assert_refusal_page(content_type: str, text: str, request_id: str) -> None:
    """The dashboard's error page: HTML, with the request id, without any traceback."""
    assert content_type.startswith("text/html"), text
    assert request_id in text
    assert "Traceback" not in text


MALFORMED_FORMS = {
    "multipart without a boundary": (
        "multipart/form-data",
        b'--x\r\nContent-Disposition: form-data; name="email"\r\n\r\na@example.com\r\n--x--\r\n',
    ),
    "1,500 fields": (
        "application/x-www-form-urlencoded",
        "&".join(f"field{n}=value" for n in range(1_500)).encode(),
    ),
    "one field more than a form may have": (
        "application/x-www-form-urlencoded",
        "&".join(f"field{n}=value" for n in range(MAX_FORM_FIELDS + 1)).encode(),
    ),
    "one field over its size": (
        "application/x-www-form-urlencoded",
        b"csrf_token=x&password=" + b"p" * (MAX_FORM_PART_BYTES + 1),
    ),
    "a file": (
        "multipart/form-data; boundary=b0undary",
        b"--b0undary\r\n"
        b'Content-Disposition: form-data; name="upload"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nhello\r\n--b0undary--\r\n",
    ),
    "multipart that is not": (
        "multipart/form-data; boundary=b0undary",
        b"--b0undary\r\nthis is no part header at all\r\n\r\n\r\n--nope",
    ),
    "a part without a name": (
        "multipart/form-data; boundary=b0undary",
        b"--b0undary\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b0undary--\r\n",
    ),
}


@pytest.mark.parametrize("kind", MALFORMED_FORMS)
async def test_a_malformed_form_is_a_400_page_not_a_crash(
    service: Served, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    content_type, body = MALFORMED_FORMS[kind]
    assert len(body) < MAX_BODY_BYTES  # within the body cap: the form parser refuses it
    async with service.client("127.0.0.2") as browser:
        for path in ("/signin", "/signup"):
            response = await browser.post(
                path,
                content=body,
                headers={"Content-Type": content_type, **SAME_ORIGIN, **BROWSER},
            )
            assert response.status_code == 400, (path, response.text)
            assert_refusal_page(
                response.headers["content-type"],
                response.text,
                response.headers["x-request-id"],
            )
            assert "Wellpipe could not read this form" in response.text
            assert response.headers["content-security-policy"].startswith("default-src 'self'")
        # The same browser then signs up as usual.
        page = await browser.get("/signup")
        token = csrf_of(page.text)
        signed_up = await browser.post(
            "/signup",
            data={"csrf_token": token, "email": "ada@example.com", "password": PASSWORD},
            headers=SAME_ORIGIN,
        )
        assert signed_up.status_code == 303
    assert errors(caplog) == []


async def test_the_origin_is_checked_before_the_body_is_parsed(
    service: Served, caplog: pytest.LogCaptureFixture
) -> None:
    content_type, body = MALFORMED_FORMS["multipart without a boundary"]
    async with service.client() as browser:
        response = await browser.post(
            "/signin",
            content=body,
            headers={"Content-Type": content_type, "Origin": "https://evil.example", **BROWSER},
        )
    assert response.status_code == 403
    assert "sent from another website" in response.text
    assert errors(caplog) == []


async def test_form_limits_leave_room_for_every_real_form(
    service: Served, caplog: pytest.LogCaptureFixture
) -> None:
    async with service.client() as browser:
        token = csrf_of((await browser.get("/signin")).text)
        fields = {"csrf_token": token, "email": "ada@example.com", "password": "ü" * 1024}
        padding = {f"extra{n}": "x" for n in range(MAX_FORM_FIELDS - len(fields))}
        response = await browser.post("/signin", data={**fields, **padding}, headers=SAME_ORIGIN)
    # Read in full: a 1,024-character password (12 KB encoded) is the password rule's to judge.
    assert response.status_code == 400
    assert accounts.SIGNIN_FAILED in response.text.replace("&#39;", "'")
    assert errors(caplog) == []


def three_mb_chunks() -> list[bytes]:
    """3 MB of form-ish bytes, chunked: no Content-Length anywhere."""
    return chunked(b"a=" + b"b" * (THREE_MB - 2))


async def test_a_chunked_body_over_the_cap_is_refused_on_every_route(
    service: Served, caplog: pytest.LogCaptureFixture
) -> None:
    _, key = await api_key(service)
    chunked_form = {"Transfer-Encoding": "chunked", **SAME_ORIGIN}
    form = "application/x-www-form-urlencoded"

    # The dashboard: a page for a browser, problem details for a program.
    page = await raw_exchange(
        service.port,
        request_head("POST", "/signin", {**chunked_form, **BROWSER, "Content-Type": form}),
        three_mb_chunks(),
        address="127.0.0.2",
    )
    assert page.status == 413
    assert_refusal_page(page.headers["content-type"], page.text, page.headers["x-request-id"])
    assert "too large" in page.text
    program = await raw_exchange(
        service.port,
        request_head("POST", "/signin", {**chunked_form, "Content-Type": form}),
        three_mb_chunks(),
    )
    assert program.status == 413
    assert program.headers["content-type"] == "application/problem+json"

    # MCP and REST, with a valid key: refused before the route reads anything.
    mcp_call = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "get-recent-sleep", "arguments": {"padding": "x" * THREE_MB}},
        }
    ).encode()
    bearer = {"Authorization": f"Bearer {key}", "Transfer-Encoding": "chunked"}
    for path, method, body, extra in [
        ("/api/mcp", "POST", mcp_call, MCP_HEADERS),
        ("/mcp", "POST", mcp_call, MCP_HEADERS),
        ("/api/v1/usage", "GET", b"x" * THREE_MB, {}),
        ("/api/v1/health?type=summary&days=1", "GET", b"x" * THREE_MB, {}),
    ]:
        response = await raw_exchange(
            service.port, request_head(method, path, {**extra, **bearer}), chunked(body)
        )
        assert response.status == 413, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = json.loads(response.body)
        assert problem["status"] == 413
        assert problem["type"].endswith("/invalid-request")
        assert "1 MB" in problem["detail"]
        assert problem["request_id"] == response.headers["x-request-id"]
        assert response.headers["x-content-type-options"] == "nosniff"
    assert errors(caplog) == []


async def test_a_chunked_body_under_the_cap_reaches_the_route_whole(
    service: Served, caplog: pytest.LogCaptureFixture
) -> None:
    _, key = await api_key(service)
    async with service.client("127.0.0.2") as browser:
        token = csrf_of((await browser.get("/signin")).text)
        cookies = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    form = f"csrf_token={token}&email=ada%40example.com&password={PASSWORD.replace(' ', '+')}"
    signed_in = await raw_exchange(
        service.port,
        request_head(
            "POST",
            "/signin",
            {
                "Transfer-Encoding": "chunked",
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": cookies,
                **SAME_ORIGIN,
            },
        ),
        chunked(form.encode(), chunk_size=7),
        address="127.0.0.2",
    )
    assert signed_in.status == 303, signed_in.text
    assert signed_in.headers["location"] == "/dashboard"

    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    message = json.dumps(initialize).encode()
    padded = message[:-1] + b" " * (MAX_BODY_BYTES - len(message)) + b"}"  # exactly the cap
    answered = await raw_exchange(
        service.port,
        request_head(
            "POST",
            "/api/mcp",
            {**MCP_HEADERS, "Authorization": f"Bearer {key}", "Transfer-Encoding": "chunked"},
        ),
        chunked(padded),
    )
    assert answered.status == 200, answered.text
    assert "serverInfo" in answered.text
    assert errors(caplog) == []


@pytest.mark.parametrize("declared", [str(MAX_BODY_BYTES + 1), "3000000", "9" * 40])
async def test_a_declared_length_over_the_cap_is_refused_before_the_body_is_sent(
    service: Served, caplog: pytest.LogCaptureFixture, declared: str
) -> None:
    _, key = await api_key(service)
    for path, headers in [
        ("/signin", {"Content-Type": "application/x-www-form-urlencoded", **SAME_ORIGIN}),
        ("/api/mcp", {**MCP_HEADERS, "Authorization": f"Bearer {key}"}),
    ]:
        # Only the head is sent: the answer comes without waiting for a byte of body.
        response = await raw_exchange(
            service.port, request_head("POST", path, {**headers, "Content-Length": declared})
        )
        assert 400 <= response.status < 500, response.text
        if declared != "9" * 40:  # the HTTP server itself may refuse an absurd length
            assert response.status == 413
            assert response.headers["content-type"] == "application/problem+json"
    assert errors(caplog) == []


async def test_malformed_json_to_mcp_is_a_400_not_a_crash(
    service: Served, caplog: pytest.LogCaptureFixture
) -> None:
    _, key = await api_key(service)
    async with service.client() as program:
        for body in [b"{not json", b"[]" * 1000, b'{"jsonrpc": "2.0", "id": 1}', b"\xff\xfe"]:
            response = await program.post(
                "/api/mcp", content=body, headers={**MCP_HEADERS, "Authorization": f"Bearer {key}"}
            )
            assert response.status_code == 400, (body[:20], response.text)
    assert errors(caplog) == []


# ---------------------------------------------------------------------- the guard, in ASGI
# uvicorn holds a body to its declared length, so over HTTP the guard never has to act;
# these drive the middleware directly with a server that hands over more than declared.
def over_declared(declared: int, chunks: list[bytes]) -> tuple[Scope, Receive]:
    scope: Scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": "/api/mcp",
        "raw_path": b"/api/mcp",
        "query_string": b"",
        "headers": [(b"content-length", str(declared).encode())],
    }
    messages = [
        {"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1}
        for n, chunk in enumerate(chunks)
    ]

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    return scope, receive


async def test_the_guard_answers_413_when_a_server_hands_over_more_than_the_cap() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await Request(scope, receive).body()
        except ClientDisconnect:
            seen.append("client gone")
        await PlainTextResponse("the route's own answer")(scope, receive, send)

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    half = b"x" * (MAX_BODY_BYTES // 2 + 1)
    scope, receive = over_declared(10, [half, half, half])
    await RequestContext(app)(scope, receive, send)
    assert seen == ["client gone"]
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["status"] == 413


async def test_the_guard_leaves_a_response_already_started_alone() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        chunks = []
        while (message := await receive())["type"] == "http.request":
            chunks.append(message["body"])
        await send({"type": "http.response.body", "body": b"read %d" % len(b"".join(chunks))})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    half = b"x" * (MAX_BODY_BYTES // 2 + 1)
    scope, receive = over_declared(10, [half, half, half])
    await RequestContext(app)(scope, receive, send)
    assert [m.get("status") for m in sent] == [200, None]
    assert sent[1]["body"] == b"read %d" % len(half)  # reading stopped at the cap


async def test_an_http2_body_without_a_length_is_read_ahead() -> None:
    called: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(await Request(scope, receive).body())
        await PlainTextResponse("ok")(scope, receive, send)

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    for size, status in [(MAX_BODY_BYTES, 200), (MAX_BODY_BYTES + 1, 413)]:
        scope, receive = over_declared(0, [b"x" * (size - 1), b"x"])
        scope["http_version"] = "2"
        scope["headers"] = []
        sent.clear()
        await RequestContext(app)(scope, receive, send)
        assert sent[0]["status"] == status
    assert [len(body) for body in called] == [MAX_BODY_BYTES]  # the app never saw the other
