"""The loopback callback server (security.md R-1.5, T-1.3, T-1.4)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import anyio
import httpx2
import pytest

from wellpipe.cli.callback import (
    CallbackPage,
    CallbackPortInUse,
    CallbackServer,
    CallbackTimeout,
    check_redirect_uri,
    loopback_redirect,
    serve_callback,
)

CODE = "s3cr3t-c0de.value"
STATE = "state-value-with-enough-entropy-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def redirect_uri() -> str:
    return f"http://127.0.0.1:{free_port()}/callback/whoop"


@pytest.fixture
async def server(redirect_uri: str) -> AsyncIterator[CallbackServer]:
    async with serve_callback(redirect_uri) as running:
        yield running


@pytest.fixture
async def http(server: CallbackServer) -> AsyncIterator[httpx2.AsyncClient]:
    origin = f"http://127.0.0.1:{server.redirect.port}"
    async with httpx2.AsyncClient(base_url=origin, trust_env=False) as client:
        yield client


async def test_the_first_callback_ends_the_wait_with_its_parameters(
    server: CallbackServer, http: httpx2.AsyncClient
) -> None:
    reply = await http.get("/callback/whoop", params={"code": CODE, "state": STATE})
    assert reply.status_code == 200
    assert await server.wait(1) == {"code": CODE, "state": STATE}


async def test_localhost_is_an_accepted_host_too(
    server: CallbackServer, http: httpx2.AsyncClient
) -> None:
    reply = await http.get(
        "/callback/whoop",
        params={"error": "access_denied", "state": STATE},
        headers={"Host": f"localhost:{server.redirect.port}"},
    )
    assert reply.status_code == 200
    assert (await server.wait(1))["error"] == "access_denied"


async def test_the_page_is_hygienic_and_never_echoes_the_code(
    server: CallbackServer, http: httpx2.AsyncClient
) -> None:
    reply = await http.get("/callback/whoop", params={"code": CODE, "state": STATE})
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert reply.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in reply.headers["content-security-policy"]
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    body = reply.text
    assert CODE not in body
    assert STATE not in body
    assert "src=" not in body
    assert "href=" not in body
    assert "http://" not in body
    assert "https://" not in body


@pytest.mark.parametrize(
    "host", ["evil.com", "evil.com:80", "127.0.0.1", "127.0.0.1:1", "localhost.evil.com:80"]
)
async def test_a_foreign_host_header_is_refused_and_keeps_waiting(
    server: CallbackServer, http: httpx2.AsyncClient, host: str
) -> None:
    reply = await http.get(
        "/callback/whoop", params={"code": CODE, "state": STATE}, headers={"Host": host}
    )
    assert reply.status_code == 421
    assert CODE not in reply.text
    assert server.received is None


async def test_post_is_refused(server: CallbackServer, http: httpx2.AsyncClient) -> None:
    reply = await http.post("/callback/whoop", params={"code": CODE, "state": STATE})
    assert reply.status_code == 405
    assert reply.headers["allow"] == "GET"
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert server.received is None


@pytest.mark.parametrize("path", ["/", "/callback/oura", "/callback/whoop/", "/callback"])
async def test_other_paths_are_refused(
    server: CallbackServer, http: httpx2.AsyncClient, path: str
) -> None:
    reply = await http.get(path, params={"code": CODE, "state": STATE})
    assert reply.status_code == 404
    assert reply.headers["cache-control"] == "no-store"
    assert server.received is None


async def test_a_request_without_callback_parameters_does_not_end_the_wait(
    server: CallbackServer, http: httpx2.AsyncClient
) -> None:
    assert (await http.get("/callback/whoop")).status_code == 400
    assert (await http.get("/callback/whoop?code=a&code=b&state=x")).status_code == 400
    assert server.received is None
    with pytest.raises(CallbackTimeout):
        await server.wait(0.05)


async def test_the_wait_times_out_with_a_next_step(server: CallbackServer) -> None:
    with pytest.raises(CallbackTimeout) as caught:
        await server.wait(0.1, next_step="run `wellpipe auth whoop` again")
    assert "within 0.1 seconds" in str(caught.value)
    assert str(caught.value).endswith("run `wellpipe auth whoop` again.")


async def test_garbage_and_silent_connections_do_not_end_the_wait(
    server: CallbackServer, http: httpx2.AsyncClient
) -> None:
    stream = await anyio.connect_tcp("127.0.0.1", server.redirect.port)
    async with stream:
        await stream.send(b"NONSENSE\r\n\r\n")
        reply = await stream.receive()
    assert reply.startswith(b"HTTP/1.1 400 ")
    silent = await anyio.connect_tcp("127.0.0.1", server.redirect.port)  # sends nothing
    async with silent:
        ok = await http.get("/callback/whoop", params={"code": CODE, "state": STATE})
        assert ok.status_code == 200
    assert (await server.wait(1))["code"] == CODE


async def test_the_judge_decides_the_page(redirect_uri: str) -> None:
    def judge(params: object) -> CallbackPage:
        return CallbackPage(False, "Rejected <here>", "Nothing was saved.")

    async with serve_callback(redirect_uri, judge=judge) as server:
        origin = f"http://127.0.0.1:{server.redirect.port}"
        async with httpx2.AsyncClient(base_url=origin, trust_env=False) as http:
            reply = await http.get("/callback/whoop", params={"code": CODE, "state": "x" * 9})
    assert "Rejected &lt;here&gt;" in reply.text
    assert "Nothing was saved." in reply.text


async def test_it_listens_on_loopback_only_and_closes_afterwards(redirect_uri: str) -> None:
    async with serve_callback(redirect_uri) as server:
        assert server.bound_address == ("127.0.0.1", server.redirect.port)
        other = _non_loopback_address()
        if other is not None:
            with pytest.raises(OSError):
                await anyio.connect_tcp(other, server.redirect.port)
    with pytest.raises(OSError):
        await anyio.connect_tcp("127.0.0.1", server.redirect.port)


def _non_loopback_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent for UDP connect
            address: str = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


async def test_a_port_in_use_is_a_clear_error_naming_it(redirect_uri: str) -> None:
    port = loopback_redirect(redirect_uri)
    assert port is not None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port.port))
        taken.listen()
        with pytest.raises(CallbackPortInUse) as caught:
            async with serve_callback(redirect_uri):
                pass  # pragma: no cover
    assert f"Port {port.port}" in str(caught.value)
    assert "wellpipe init --redirect-uri" in str(caught.value)


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:8976/callback/whoop",
        "http://localhost:3000/callback",
        "https://example.com/wellpipe/callback",
        "https://example.com:8443/cb",
    ],
)
def test_accepted_redirect_uris(uri: str) -> None:
    assert check_redirect_uri(uri) == uri


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://example.com:8976/callback", "only safe to this computer"),
        ("http://0.0.0.0:8976/callback", "only safe to this computer"),
        ("http://127.0.0.1/callback/whoop", "explicit port"),
        ("http://127.0.0.1:0/callback/whoop", "explicit port"),
        ("http://127.0.0.1:8976", "needs a path"),
        ("http://127.0.0.1:8976/", "needs a path"),
        ("http://127.0.0.1:99999/cb", "port is not a number"),
        ("http://127.0.0.1:8976/cb?x=1", "?query"),
        ("http://127.0.0.1:8976/cb#frag", "#fragment"),
        ("http://user@127.0.0.1:8976/cb", "user name"),
        ("whoop://example/redirect", "absolute http"),
        ("127.0.0.1:8976/callback", "absolute http"),
    ],
)
def test_refused_redirect_uris_say_why(uri: str, reason: str) -> None:
    with pytest.raises(ValueError, match=None) as caught:
        check_redirect_uri(uri)
    assert reason in str(caught.value)


def test_only_loopback_http_redirects_get_a_server() -> None:
    assert loopback_redirect("https://example.com/cb") is None
    assert loopback_redirect("http://LOCALHOST:3000/cb") == ("localhost", 3000, "/cb")


async def test_an_error_inside_the_block_comes_out_as_itself(redirect_uri: str) -> None:
    with pytest.raises(CallbackTimeout):
        async with serve_callback(redirect_uri) as server:
            await server.wait(0.01)
