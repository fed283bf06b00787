"""Client ID Metadata Documents: fetched narrowly, checked strictly, kept for a while.

Real HTTP servers on 127.0.0.1 (``http.server`` in a thread) serve the documents in the
loopback test mode. Production mode is tested against the same servers (nothing may
reach them), against an injected transport that records what would have been sent, and
end to end over real TLS: a certificate for ``docs.example`` served on 127.0.0.1, reached
through a network backend that stands in for the public address the resolver returned.
Nothing needs the internet.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socket import socket
from typing import Any

import anyio
import httpcore2
import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import NOW
from wellpipe.cloud.services.client_documents import (
    ClientDocument,
    ClientDocumentError,
    ClientDocuments,
    looks_like_client_document_url,
)

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


# ---------------------------------------------------------------- a real local server


@dataclass
class Reply:
    """What the local server answers on one path."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    body: bytes = b""
    length: bool = True  # send Content-Length (else the body ends when the connection does)
    hang_before: bool = False  # wait for the test to end before answering at all
    hang_after: int | None = None  # send this many body bytes, then wait


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Reply] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.connections = 0
        self.release = threading.Event()

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that stops reading (too large, too slow) is expected here


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.requests.append((self.path, dict(self.headers.items())))
        reply = self.server.routes.get(self.path, Reply(status=404, body=b"{}"))
        if reply.hang_before:
            self.server.release.wait(10)
            return
        self.send_response_only(reply.status)
        if "Date" not in reply.headers:
            self.send_header("Date", self.date_time_string())
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.length:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.hang_after is not None:
            self.wfile.write(reply.body[: reply.hang_after])
            self.wfile.flush()
            self.server.release.wait(10)
            return
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class DocServer:
    """An HTTP server on 127.0.0.1 serving whatever the test puts in ``routes``."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self.origin = f"http://127.0.0.1:{server.server_address[1]}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def requests(self) -> list[tuple[str, dict[str, str]]]:
        return self._server.requests

    @property
    def connections(self) -> int:
        return self._server.connections

    def url(self, path: str) -> str:
        return self.origin + path

    def route(self, path: str, reply: Reply) -> str:
        self._server.routes[path] = reply
        return self.url(path)

    def document(
        self,
        path: str = "/client.json",
        *,
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> str:
        """Serve a valid document (``fields`` override or add members; ``None`` removes)."""
        url = self.url(path)
        data: dict[str, Any] = {
            "client_id": url,
            "client_name": "Example Assistant",
            "redirect_uris": ["https://assistant.example/oauth/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
        data.update(fields)
        data = {key: value for key, value in data.items() if value is not None}
        return self.route(
            path,
            Reply(
                headers={"Content-Type": "application/json", **(headers or {})},
                body=json.dumps(data).encode(),
            ),
        )


@contextmanager
def serving(httpd: _Server) -> Iterator[DocServer]:
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield DocServer(httpd)
    finally:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def _shared_server() -> Iterator[DocServer]:
    with serving(_Server()) as server:
        yield server


@pytest.fixture
def server(_shared_server: DocServer) -> Iterator[DocServer]:
    """The module's server, emptied for this test; its hanging answers end with the test."""
    httpd = _shared_server._server
    httpd.routes.clear()
    httpd.requests.clear()
    httpd.connections = 0
    try:
        yield _shared_server
    finally:
        httpd.release.set()  # wakes every waiting handler
        httpd.release.clear()


@pytest.fixture
def documents() -> ClientDocuments:
    return ClientDocuments(allow_loopback_http=True, timeout_s=1.0)


async def refused(documents: ClientDocuments, url: str, *, now: dt.datetime = NOW) -> str:
    """The reason ``url`` is refused (and a check that the message is one plain sentence)."""
    with pytest.raises(ClientDocumentError) as caught:
        await documents.get(url, now=now)
    message = str(caught.value)
    assert message.startswith("This app's client metadata document ")
    assert message.endswith(
        "the app's developer must fix the document before you can connect the app to Wellpipe."
    )
    assert "\n" not in message
    assert "Traceback" not in message
    return caught.value.reason


# ---------------------------------------------------------------- valid documents


async def test_a_valid_document_is_parsed_and_kept(
    server: DocServer, documents: ClientDocuments
) -> None:
    url = server.document(scope="wellpipe:read", logo_uri="https://assistant.example/logo.png")

    document = await documents.get(url, now=NOW)

    assert document == ClientDocument(
        client_id=url,
        client_name="Example Assistant",
        redirect_uris=("https://assistant.example/oauth/callback",),
        token_endpoint_auth_method="none",
        grant_types=("authorization_code", "refresh_token"),
        scope="wellpipe:read",
        logo_uri="https://assistant.example/logo.png",
        client_uri=None,
        fetched_at=NOW,
        fresh_until=NOW + HOUR,  # nothing said about caching: an hour
    )
    assert await documents.get(url, now=NOW + 59 * MINUTE) is document
    assert len(server.requests) == 1
    path, headers = server.requests[0]
    assert path == "/client.json"
    assert headers["Accept-Encoding"] == "identity"
    assert headers["User-Agent"].startswith("wellpipe/")


async def test_cache_control_max_age_is_respected_as_time_moves(
    server: DocServer, documents: ClientDocuments
) -> None:
    url = server.document(headers={"Cache-Control": "public, max-age=600"})

    first = await documents.get(url, now=NOW)
    assert first.fresh_until == NOW + 10 * MINUTE
    assert await documents.get(url, now=NOW + 9 * MINUTE) is first
    assert len(server.requests) == 1

    second = await documents.get(url, now=NOW + 11 * MINUTE)
    assert second is not first
    assert second.fetched_at == NOW + 11 * MINUTE
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("headers", "kept_for"),
    [
        ({"Cache-Control": "max-age=10"}, dt.timedelta(minutes=5)),  # clamped up
        ({"Cache-Control": "max-age=999999"}, dt.timedelta(hours=24)),  # clamped down
        ({"Cache-Control": 'max-age="7200"'}, dt.timedelta(hours=2)),
        (
            {"Expires": "Sat, 21 Nov 2026 19:30:00 GMT", "Date": "Sat, 21 Nov 2026 15:30:00 GMT"},
            dt.timedelta(hours=4),
        ),
        ({"Expires": "0"}, dt.timedelta(minutes=5)),  # an unreadable date is the past
        ({"Cache-Control": "no-store"}, dt.timedelta(0)),
        ({"Cache-Control": "private, no-cache"}, dt.timedelta(0)),
    ],
)
async def test_freshness_comes_from_the_answer_within_bounds(
    server: DocServer, documents: ClientDocuments, headers: dict[str, str], kept_for: dt.timedelta
) -> None:
    url = server.document(headers=headers)

    document = await documents.get(url, now=NOW)

    assert document.fresh_until - document.fetched_at == kept_for
    await documents.get(url, now=NOW + dt.timedelta(seconds=1))
    assert len(server.requests) == (2 if kept_for == dt.timedelta(0) else 1)


async def test_forget_drops_a_kept_document(server: DocServer, documents: ClientDocuments) -> None:
    url = server.document()
    await documents.get(url, now=NOW)
    documents.forget(url)
    await documents.get(url, now=NOW)
    assert len(server.requests) == 2


async def test_the_cache_is_bounded_least_recently_used_first(server: DocServer) -> None:
    documents = ClientDocuments(allow_loopback_http=True, max_entries=2)
    a, b, c = (server.document(f"/{name}.json") for name in "abc")
    await documents.get(a, now=NOW)
    await documents.get(b, now=NOW)
    await documents.get(a, now=NOW)  # a is now the most recently used
    await documents.get(c, now=NOW)  # b goes
    assert len(server.requests) == 3
    await documents.get(a, now=NOW)
    assert len(server.requests) == 3
    await documents.get(b, now=NOW)
    assert len(server.requests) == 4


async def test_concurrent_gets_of_one_address_share_one_fetch(
    server: DocServer, documents: ClientDocuments
) -> None:
    url = server.document()
    found: list[ClientDocument] = []

    async def get() -> None:
        found.append(await documents.get(url, now=NOW))

    async with anyio.create_task_group() as tasks:
        for _ in range(5):
            tasks.start_soon(get)

    assert len(server.requests) == 1
    assert all(document is found[0] for document in found)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("  Claude\n\t  for\u00a0Work ", "Claude for Work"),
        ("Evil\u202eexe.txt\u200b\x00\x07", "Evilexe.txt"),  # bidi override, zero width, controls
        ("x" * 150, "x" * 100),
        ("\u202e\u200b", "127.0.0.1"),  # nothing left: the host
        (None, "127.0.0.1"),
        (42, "127.0.0.1"),
    ],
)
async def test_the_client_name_is_cleaned(
    server: DocServer, documents: ClientDocuments, name: object, shown: str
) -> None:
    url = server.document(client_name=name)
    assert (await documents.get(url, now=NOW)).client_name == shown


async def test_logo_and_home_page_are_kept_only_as_https_text(
    server: DocServer, documents: ClientDocuments
) -> None:
    url = server.document(logo_uri="javascript:alert(1)", client_uri="http://assistant.example/")
    document = await documents.get(url, now=NOW)
    assert document.logo_uri is None
    assert document.client_uri is None


async def test_loopback_redirect_uris_are_allowed_for_native_apps(
    server: DocServer, documents: ClientDocuments
) -> None:
    uris = ["http://127.0.0.1/callback", "http://localhost:8976/cb", "http://[::1]:3000/cb"]
    url = server.document(redirect_uris=uris)
    assert (await documents.get(url, now=NOW)).redirect_uris == tuple(uris)


# ---------------------------------------------------------------- refused documents


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"client_id": "https://assistant.example/client.json"}, "client-id-mismatch"),
        ({"client_id": None}, "client-id-mismatch"),
        ({"client_secret": "s3cret"}, "client-secret"),
        ({"redirect_uris": None}, "redirect-uris"),
        ({"redirect_uris": []}, "redirect-uris"),
        ({"redirect_uris": "https://assistant.example/cb"}, "redirect-uris"),
        ({"redirect_uris": ["/relative/callback"]}, "redirect-uris"),
        ({"redirect_uris": ["http://assistant.example/cb"]}, "redirect-uris"),
        ({"redirect_uris": ["https://assistant.example/cb#frag"]}, "redirect-uris"),
        ({"redirect_uris": ["javascript:alert(1)"]}, "redirect-uris"),
        ({"token_endpoint_auth_method": "client_secret_basic"}, "auth-method"),
        ({"token_endpoint_auth_method": "client_secret_post"}, "auth-method"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "auth-method"),
        ({"token_endpoint_auth_method": "tls_client_auth"}, "auth-method"),
        ({"grant_types": ["client_credentials"]}, "grant-types"),
        ({"grant_types": "authorization_code"}, "grant-types"),
        ({"response_types": ["token"]}, "response-types"),
        ({"scope": ["read"]}, "scope"),
    ],
)
async def test_invalid_documents_are_refused(
    server: DocServer, documents: ClientDocuments, fields: dict[str, Any], reason: str
) -> None:
    url = server.document(**fields)
    assert await refused(documents, url) == reason


async def test_the_client_id_must_match_exactly(
    server: DocServer, documents: ClientDocuments
) -> None:
    url = server.document()
    server.document("/client.json", client_id=url + "/")
    assert await refused(documents, url) == "client-id-mismatch"
    server.document("/client.json", client_id=url.upper())
    assert await refused(documents, url) == "client-id-mismatch"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirects_are_refused_not_followed(
    server: DocServer, documents: ClientDocuments, status: int
) -> None:
    target = server.document("/elsewhere.json")
    url = server.route("/client.json", Reply(status=status, headers={"Location": target}))

    assert await refused(documents, url) == "redirect"
    assert [path for path, _ in server.requests] == ["/client.json"]


@pytest.mark.parametrize("length", [True, False])
async def test_a_body_over_max_bytes_is_refused(server: DocServer, length: bool) -> None:
    documents = ClientDocuments(allow_loopback_http=True, max_bytes=1024)
    url = server.url("/client.json")
    padding = "x" * 2000
    body = json.dumps({"client_id": url, "redirect_uris": ["https://a.example/cb"], "p": padding})
    server.route("/client.json", Reply(body=body.encode(), length=length))

    assert await refused(documents, url) == "too-large"


async def test_a_body_just_under_max_bytes_is_fine(server: DocServer) -> None:
    url = server.document(client_uri="https://assistant.example/" + "x" * 100)
    size = len(server._server.routes["/client.json"].body)
    documents = ClientDocuments(allow_loopback_http=True, max_bytes=size)
    assert (await documents.get(url, now=NOW)).client_id == url


@pytest.mark.parametrize("hang_after", [None, 10])
async def test_a_slow_server_is_refused_within_the_timeout(
    server: DocServer, hang_after: int | None
) -> None:
    documents = ClientDocuments(allow_loopback_http=True, timeout_s=0.3)
    body = json.dumps({"client_id": "x", "padding": "y" * 100}).encode()
    url = server.route(
        "/client.json", Reply(body=body, hang_before=hang_after is None, hang_after=hang_after)
    )

    started = time.monotonic()
    assert await refused(documents, url) == "timeout"
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(
    "content_type",
    ["text/html", "text/plain", "application/javascript", "application/jsonx", ""],
)
async def test_only_json_content_types_are_read(
    server: DocServer, documents: ClientDocuments, content_type: str
) -> None:
    url = server.document(headers={"Content-Type": content_type})
    assert await refused(documents, url) == "content-type"


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/cimd+json"]
)
async def test_json_content_types_are_read(
    server: DocServer, documents: ClientDocuments, content_type: str
) -> None:
    url = server.document(headers={"Content-Type": content_type})
    assert (await documents.get(url, now=NOW)).client_id == url


@pytest.mark.parametrize(
    "body",
    [
        b"<html>hello</html>",
        b"",
        b'{"client_id": ',
        b"[1, 2]",
        b'"text"',
        b"[" * 3000,
        b'{"client_id": "a", "client_id": "b"}',
    ],
)
async def test_bodies_that_are_not_a_json_object_are_refused(
    server: DocServer, body: bytes
) -> None:
    documents = ClientDocuments(allow_loopback_http=True, max_bytes=5000)
    url = server.route("/client.json", Reply(body=body))
    assert await refused(documents, url) == "not-json"


async def test_a_compressed_body_is_refused(server: DocServer, documents: ClientDocuments) -> None:
    url = server.document(headers={"Content-Encoding": "gzip"})
    assert await refused(documents, url) == "encoding"


@pytest.mark.parametrize("status", [404, 410, 401, 500, 503])
async def test_error_statuses_are_refused(
    server: DocServer, documents: ClientDocuments, status: int
) -> None:
    url = server.route("/client.json", Reply(status=status, body=b"{}"))
    assert await refused(documents, url) == "status"


async def test_a_stale_document_stands_in_only_while_its_server_is_unreachable(
    server: DocServer, caplog: pytest.LogCaptureFixture
) -> None:
    documents = ClientDocuments(allow_loopback_http=True, timeout_s=0.3)
    url = server.document(client_name="Secret Body Marker")
    kept = await documents.get(url, now=NOW)

    server.route("/client.json", Reply(status=503, body=b"{}"))
    with caplog.at_level(logging.INFO, logger="wellpipe.cloud.services.client_documents"):
        assert await documents.get(url, now=NOW + 2 * HOUR) is kept
    server.route("/client.json", Reply(hang_before=True))
    assert await documents.get(url, now=NOW + 23 * HOUR) is kept
    assert await refused(documents, url, now=NOW + 25 * HOUR) == "timeout"  # too old now

    server.document(client_name="Secret Body Marker")
    await documents.get(url, now=NOW + 26 * HOUR)
    server.route("/client.json", Reply(status=404, body=b"{}"))  # gone: final
    assert await refused(documents, url, now=NOW + 28 * HOUR) == "status"
    server.route("/client.json", Reply(status=503, body=b"{}"))
    assert await refused(documents, url, now=NOW + 28 * HOUR) == "status"  # dropped

    assert "127.0.0.1" in caplog.text
    assert "Secret Body Marker" not in caplog.text


async def test_logs_name_the_host_and_reason_never_the_body(
    server: DocServer, documents: ClientDocuments, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.document(client_secret="hunter2-do-not-log")
    with caplog.at_level(logging.INFO, logger="wellpipe.cloud.services.client_documents"):
        await refused(documents, url)
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert "127.0.0.1" in caplog.text
    assert "client-secret" in caplog.text
    assert "hunter2" not in caplog.text


# ---------------------------------------------------------------- production mode


class Recorder:
    """An injected transport (and resolver) that write down what reached them."""

    def __init__(self, addresses: dict[str, list[str]] | None = None) -> None:
        self.addresses = addresses or {}
        self.resolved: list[tuple[str, int]] = []
        self.requests: list[httpx2.Request] = []
        self.transport = httpx2.MockTransport(self._handle)
        self.documents: dict[str, dict[str, Any]] = {}

    async def resolve(self, host: str, port: int) -> list[str]:
        self.resolved.append((host, port))
        return self.addresses[host]

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        path = request.url.raw_path.decode()
        url = f"https://{request.headers['Host']}{path}"
        if url not in self.documents:
            return httpx2.Response(404, json={})
        return httpx2.Response(200, json=self.documents[url])

    def serve(self, url: str) -> None:
        self.documents[url] = {"client_id": url, "redirect_uris": ["https://a.example/cb"]}

    def client_documents(self) -> ClientDocuments:
        return ClientDocuments(transport=self.transport, resolve=self.resolve)


@pytest.mark.parametrize(
    "template",
    [
        "http://127.0.0.1:{port}/client.json",
        "https://127.0.0.1:{port}/client.json",
        "https://10.0.0.8/client.json",
        "https://[::1]:{port}/client.json",
        "https://[::ffff:127.0.0.1]:{port}/client.json",
        "https://169.254.169.254/latest",
        "https://100.64.0.1/client.json",
        "https://0.0.0.0:{port}/client.json",
        "https://224.0.0.1/client.json",
        "https://[fe80::1]/client.json",
        "https://[fd00::1]/client.json",
    ],
)
async def test_production_mode_refuses_local_addresses_before_connecting(
    server: DocServer, template: str
) -> None:
    url = template.format(port=server.port)
    server.route("/client.json", Reply(body=json.dumps({"client_id": url}).encode()))
    recorder = Recorder()
    for documents in (ClientDocuments(resolve=recorder.resolve), recorder.client_documents()):
        assert await refused(documents, url) in {"bad-url", "not-public"}
    assert server.connections == 0
    assert recorder.requests == []
    assert recorder.resolved == []  # an IP literal is checked as it is


@pytest.mark.parametrize(
    "addresses",
    [
        ["192.168.1.5"],
        ["127.0.0.1"],
        ["93.184.216.34", "10.1.2.3"],  # any private address spoils the name
        ["2606:4700::1111", "fe80::1"],
        ["64:ff9b::a00:8"],  # NAT64 of 10.0.0.8
        ["2002:a00:8::1"],  # 6to4 of 10.0.0.8
        ["::ffff:192.168.1.5"],
        ["not an address"],
    ],
)
async def test_a_name_resolving_to_a_private_address_is_refused_before_connecting(
    server: DocServer, addresses: list[str]
) -> None:
    url = f"https://docs.example:{server.port}/client.json"
    recorder = Recorder({"docs.example": addresses})
    recorder.serve(url)

    assert await refused(recorder.client_documents(), url) == "not-public"
    assert recorder.resolved == [("docs.example", server.port)]
    assert recorder.requests == []
    assert server.connections == 0


async def test_a_name_that_does_not_resolve_is_unreachable() -> None:
    async def fail(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    documents = ClientDocuments(resolve=fail)
    assert await refused(documents, "https://nowhere.example/client.json") == "unresolvable"


@pytest.mark.parametrize(
    ("url", "address", "sent_to", "host"),
    [
        (
            "https://app.example.com/oauth/client.json",
            "93.184.216.34",
            "https://93.184.216.34/oauth/client.json",
            "app.example.com",
        ),
        (
            "https://App.Example.com:8443/oauth/client.json?v=2",
            "2606:4700::1111",
            "https://[2606:4700::1111]:8443/oauth/client.json?v=2",
            "app.example.com:8443",
        ),
    ],
)
async def test_the_checked_address_is_the_one_connected_to(
    url: str, address: str, sent_to: str, host: str
) -> None:
    name = host.split(":")[0]
    recorder = Recorder({name: [address]})
    recorder.documents[f"https://{host}{httpx2.URL(url).raw_path.decode()}"] = {
        "client_id": url,
        "redirect_uris": ["https://a.example/cb"],
    }

    document = await recorder.client_documents().get(url, now=NOW)

    assert document.client_id == url
    assert document.client_name == name
    [request] = recorder.requests
    assert str(request.url) == sent_to
    assert request.headers["Host"] == host
    assert request.extensions["sni_hostname"] == name
    assert "timeout" in request.extensions


async def test_a_public_ip_literal_is_fetched_without_sni_or_resolving() -> None:
    recorder = Recorder()
    url = "https://93.184.216.34/client.json"
    recorder.serve(url)
    await recorder.client_documents().get(url, now=NOW)
    [request] = recorder.requests
    assert str(request.url) == url
    assert "sni_hostname" not in request.extensions
    assert recorder.resolved == []


async def test_production_mode_refuses_http_even_on_public_names() -> None:
    recorder = Recorder({"app.example.com": ["93.184.216.34"]})
    assert await refused(recorder.client_documents(), "http://app.example.com/c.json") == "bad-url"
    assert recorder.resolved == []
    assert recorder.requests == []


# ---------------------------------------------------------------- real TLS, pinned


@dataclass
class Pki:
    ca_pem: bytes
    cert_file: Path
    key_file: Path


def _pki(tmp_path: Path, name: str) -> Pki:
    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    start = dt.datetime.now(dt.UTC) - HOUR
    ca_key, leaf_key = key(), key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + 2 * HOUR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + 2 * HOUR)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "leaf.pem", tmp_path / "leaf.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Pki(ca.public_bytes(serialization.Encoding.PEM), cert_file, key_file)


class _StandIn(httpcore2.AnyIOBackend):
    """The network, where the public address the resolver gave is this test's TLS server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.dialled: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        self.dialled.append((host, port))
        return await super().connect_tcp("127.0.0.1", self.port, *args, **kwargs)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[DocServer, Pki, list[str]]]:
    pki = _pki(tmp_path, "docs.example")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    names: list[str] = []

    def remember(_socket: Any, name: str | None, _context: ssl.SSLContext) -> None:
        names.append(name or "")

    context.sni_callback = remember
    httpd = _Server()
    plain: socket = httpd.socket
    httpd.socket = context.wrap_socket(plain, server_side=True)
    with serving(httpd) as server:
        yield server, pki, names


@pytest.fixture
async def pinned(
    tls_server: tuple[DocServer, Pki, list[str]],
) -> AsyncIterator[tuple[httpx2.AsyncHTTPTransport, _StandIn]]:
    server, pki, _ = tls_server
    transport = httpx2.AsyncHTTPTransport(
        verify=ssl.create_default_context(cadata=pki.ca_pem.decode())
    )
    network = _StandIn(server.port)
    # httpx2 takes no network backend, so the test puts one under its pool.
    transport._pool = httpcore2.AsyncConnectionPool(
        ssl_context=ssl.create_default_context(cadata=pki.ca_pem.decode()),
        network_backend=network,
    )
    async with transport:
        yield transport, network


async def test_over_real_tls_the_pinned_address_is_verified_against_the_name(
    tls_server: tuple[DocServer, Pki, list[str]],
    pinned: tuple[httpx2.AsyncHTTPTransport, _StandIn],
) -> None:
    server, _, sni = tls_server
    transport, network = pinned
    url = "https://docs.example/client.json"
    server.route(
        "/client.json",
        Reply(
            body=json.dumps({"client_id": url, "redirect_uris": ["https://a.example/cb"]}).encode()
        ),
    )

    async def resolve(host: str, port: int) -> list[str]:
        assert (host, port) == ("docs.example", 443)
        return ["93.184.216.34"]

    documents = ClientDocuments(transport=transport, resolve=resolve)
    document = await documents.get(url, now=NOW)

    assert document.client_id == url
    assert network.dialled == [("93.184.216.34", 443)]  # the checked address, not the name
    assert sni == ["docs.example"]  # TLS asked for (and verified) the real name
    [(_, headers)] = server.requests
    assert headers["Host"] == "docs.example"


async def test_over_real_tls_a_certificate_for_another_name_is_refused(
    tls_server: tuple[DocServer, Pki, list[str]],
    pinned: tuple[httpx2.AsyncHTTPTransport, _StandIn],
) -> None:
    server, _, _ = tls_server
    transport, _ = pinned
    url = "https://other.example/client.json"
    server.route("/client.json", Reply(body=json.dumps({"client_id": url}).encode()))

    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    documents = ClientDocuments(transport=transport, resolve=resolve)
    assert await refused(documents, url) == "unreachable"
    assert server.requests == []


# ---------------------------------------------------------------- the address's shape


@pytest.mark.parametrize(
    "value",
    [
        "https://claude.ai/oauth/mcp-oauth-client-metadata",
        "https://chatgpt.com/.well-known/oauth-client.json",
        "https://app.example.com:8443/client.json?version=2",
        "https://93.184.216.34/client",
    ],
)
def test_client_document_urls(value: str) -> None:
    assert looks_like_client_document_url(value, allow_loopback_http=False)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "my-client-id",
        "https://app.example.com",
        "https://app.example.com/",
        "http://app.example.com/client.json",
        "http://10.0.0.1:8000/client.json",  # not even in the loopback test mode
        "ftp://app.example.com/client.json",
        "https://user:pass@app.example.com/client.json",
        "https://user@app.example.com/client.json",
        "https://app.example.com/client.json#frag",
        "https://app.example.com/client.json#",
        "https://app.example.com/a/../client.json",
        "https://app.example.com/./client.json",
        "https:///client.json",
        "https://app.example.com:0/client.json",
        "https://app.example.com:99999/client.json",
        "https://app.example.com/client json",
        "https://app.example.com/client.json\n",
        "https://app.example.com\\@127.0.0.1/client.json",
        "https://bücher.example/client.json",
        "https://app.example.com/" + "x" * 3000,
    ],
)
def test_not_client_document_urls(value: str) -> None:
    assert not looks_like_client_document_url(value, allow_loopback_http=False)
    assert not looks_like_client_document_url(value, allow_loopback_http=True)


@pytest.mark.parametrize(
    "value",
    ["http://127.0.0.1:8000/client.json", "http://localhost/c.json", "http://[::1]:9/c.json"],
)
def test_loopback_http_urls_only_in_the_test_mode(value: str) -> None:
    assert looks_like_client_document_url(value, allow_loopback_http=True)
    assert not looks_like_client_document_url(value, allow_loopback_http=False)
