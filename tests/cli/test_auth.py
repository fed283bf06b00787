"""``wellpipe auth whoop`` end to end: the real OAuth flow against the sandbox over loopback HTTP.

The sandbox runs on a real socket in a background event loop (a blocking
portal), with the system clock. The "browser" is a function that GETs the
authorize URL without following redirects, then GETs the ``Location``, which
lands in the command's callback server.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import anyio
import httpx2
import pytest
from anyio.from_thread import start_blocking_portal
from click.testing import CliRunner, Result

from wellpipe.cli import main
from wellpipe.cli.auth_command import AuthHooks, code_from_callback
from wellpipe.cli.connection import open_local_whoop
from wellpipe.cli.env_file import EnvFile
from wellpipe.cli.home import LocalPaths
from wellpipe.core import SystemClock
from wellpipe.core.models import Profile
from wellpipe.providers.whoop import SCOPES
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.server import serve_in_background
from wellpipe.sandbox.whoop import History

CLIENT_ID = "test-client"
CLIENT_SECRET = "test-secret-0123456789"


class Terminal:
    """A command in a real pseudo-terminal: what a person types and sees."""

    def __init__(self, args: list[str], *, env: dict[str, str]) -> None:
        import pty

        self._master, slave = pty.openpty()
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env)
        os.close(slave)
        self.screen = ""

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *_: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self._master)

    def read_until(self, text: str, timeout_s: float = 30.0) -> str:
        """Everything shown so far, once ``text`` is on the screen."""
        import time

        deadline = time.monotonic() + timeout_s
        while text not in self.screen:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never appeared on: {self.screen!r}"
            ready, _, _ = select.select([self._master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self._master, 65536)
                except OSError:  # the command exited and the terminal closed
                    chunk = b""
                assert chunk, f"{text!r} never appeared on: {self.screen!r}"
                self.screen += chunk.decode(errors="replace")
        return self.screen

    def write(self, text: str) -> None:
        os.write(self._master, text.encode())

    def wait(self) -> int:
        return self.proc.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Setup:
    sandbox: WhoopSandbox
    origin: str
    home: Path
    redirect_uri: str
    runner: CliRunner = field(default_factory=CliRunner)

    @property
    def port(self) -> int:
        port = urlsplit(self.redirect_uri).port
        assert port is not None
        return port

    def invoke(
        self, *args: str, hooks: AuthHooks | None = None, stdin: str | None = None
    ) -> Result:
        return self.runner.invoke(
            main, list(args), obj=hooks, input=stdin, env={"WELLPIPE_HOME": str(self.home)}
        )

    def init(self, secret: str = CLIENT_SECRET) -> None:
        result = self.invoke(
            "init",
            "--yes",
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            secret,
            "--redirect-uri",
            self.redirect_uri,
            "--base-url",
            self.origin,
        )
        assert result.exit_code == 0, result.output

    def env(self) -> dict[str, str]:
        return EnvFile(self.home / ".env").read()


@dataclass
class Browser:
    """Follows the consent redirect into the callback server, like a browser would."""

    tamper: Callable[[str], str] = lambda location: location
    pages: list[httpx2.Response] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)

    def __call__(self, url: str) -> bool:
        self.opened.append(url)
        with httpx2.Client(trust_env=False) as http:
            consent = http.get(url)
            assert consent.status_code == 302, consent.text
            self.pages.append(http.get(self.tamper(consent.headers["location"])))
        return True


def _with_state(location: str, state: str) -> str:
    parts = urlsplit(location)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query["state"] = state
    return urlunsplit(parts._replace(query=urlencode(query)))


def _make_setup(
    history: History, tmp_path: Path, *, client_id: str | None = None, secret: str | None = None
) -> Iterator[Setup]:
    sandbox = WhoopSandbox(
        clock=SystemClock(), history=history, client_id=client_id, client_secret=secret
    )
    with (
        start_blocking_portal(backend="asyncio") as portal,
        portal.wrap_async_context_manager(serve_in_background(sandbox)) as origin,
    ):
        yield Setup(
            sandbox=sandbox,
            origin=origin,
            home=tmp_path / "home",
            redirect_uri=f"http://127.0.0.1:{free_port()}/callback/whoop",
        )


@pytest.fixture
def setup(history: History, tmp_path: Path) -> Iterator[Setup]:
    yield from _make_setup(history, tmp_path)


@pytest.fixture
def ready(setup: Setup) -> Setup:
    setup.init()
    return setup


def _profile(home: Path) -> Profile:
    async def read() -> Profile:
        async with open_local_whoop(LocalPaths(home=home)) as whoop:
            return await whoop.profile()

    return anyio.run(read)


def said(result: Result) -> str:
    """Stderr with rich's line wrapping undone."""
    return " ".join(result.stderr.split())


def _no_tokens(setup: Setup) -> None:
    stored = setup.env()
    assert not any(key.startswith("WHOOP_") and "TOKEN" in key for key in stored), stored
    assert stored["WHOOP_CLIENT_ID"] == CLIENT_ID


# ---------------------------------------------------------------------- the happy path
def test_the_full_flow_stores_working_tokens_and_says_who_connected(ready: Setup) -> None:
    browser = Browser()
    result = ready.invoke("auth", "whoop", hooks=AuthHooks(open_browser=browser))

    assert result.exit_code == 0, result.output
    assert "Connected WHOOP as Alex Rivera (member 10129)." in result.stdout
    assert "wellpipe claude install" in result.stdout
    assert "wellpipe serve" in result.stdout

    # The authorize URL: configuration only, every read scope plus offline, a 256-bit state.
    (url,) = browser.opened
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(f"{ready.origin}/oauth/oauth2/auth?")
    assert query["redirect_uri"] == [ready.redirect_uri]
    assert query["scope"][0].split() == list(SCOPES)
    assert "offline" in query["scope"][0].split()
    assert len(query["state"][0]) >= 43

    # The browser saw a clean page.
    (page,) = browser.pages
    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "no-referrer"

    stored = ready.env()
    assert stored["WHOOP_ACCESS_TOKEN"]
    assert stored["WHOOP_REFRESH_TOKEN"]
    assert stored["WHOOP_TOKEN_EXPIRES_AT"]
    assert "offline" in stored["WHOOP_TOKEN_SCOPES"].split()
    assert stored["WHOOP_CLIENT_SECRET"] == CLIENT_SECRET  # setup kept
    assert (ready.home / ".env").stat().st_mode & 0o777 == 0o600

    # Nothing secret was printed.
    for secret in (stored["WHOOP_ACCESS_TOKEN"], stored["WHOOP_REFRESH_TOKEN"], CLIENT_SECRET):
        assert secret not in result.output
    assert "code=" not in result.output

    # The tokens work.
    assert _profile(ready.home).first_name == "Alex"
    assert ready.sandbox.auth.token_requests == 1


def test_the_callback_port_is_closed_after_the_flow(ready: Setup) -> None:
    assert ready.invoke("auth", "whoop", hooks=AuthHooks(open_browser=Browser())).exit_code == 0
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", ready.port), timeout=1):
        pass  # pragma: no cover


# ---------------------------------------------------------------------- failures
def test_a_wrong_state_is_refused_before_any_token_request(ready: Setup) -> None:
    browser = Browser(tamper=lambda location: _with_state(location, "attacker-state-123456789"))
    result = ready.invoke("auth", "whoop", hooks=AuthHooks(open_browser=browser))

    assert result.exit_code == 65, result.output
    assert "cross-site request forgery" in said(result)
    assert "wellpipe auth whoop" in said(result)
    assert ready.sandbox.auth.token_requests == 0
    _no_tokens(ready)
    assert "does not belong" in browser.pages[0].text


def test_a_missing_state_is_refused(ready: Setup) -> None:
    def drop_state(location: str) -> str:
        parts = urlsplit(location)
        query = {k: v[0] for k, v in parse_qs(parts.query).items() if k != "state"}
        return urlunsplit(parts._replace(query=urlencode(query)))

    result = ready.invoke("auth", "whoop", hooks=AuthHooks(open_browser=Browser(tamper=drop_state)))
    assert result.exit_code == 65, result.output
    assert "carries no state" in said(result)
    assert ready.sandbox.auth.token_requests == 0
    _no_tokens(ready)


def test_declined_consent_is_a_clean_failure(ready: Setup) -> None:
    ready.sandbox.auth.controls.deny_next = 1
    browser = Browser()
    result = ready.invoke("auth", "whoop", hooks=AuthHooks(open_browser=browser))

    assert result.exit_code == 77, result.output
    assert "declined" in said(result)
    assert "wellpipe auth whoop" in said(result)
    assert ready.sandbox.auth.token_requests == 0
    _no_tokens(ready)
    assert "did not grant access" in browser.pages[0].text


def test_without_offline_nothing_is_stored(ready: Setup) -> None:
    ready.sandbox.auth.controls.drop_scopes = frozenset({"offline"})
    result = ready.invoke("auth", "whoop", hooks=AuthHooks(open_browser=Browser()))

    assert result.exit_code == 76, result.output
    assert "offline" in said(result)
    assert "nothing was saved" in said(result)
    assert ready.sandbox.auth.token_requests == 1
    _no_tokens(ready)


def test_a_missing_read_scope_is_stored_and_surfaced(ready: Setup) -> None:
    ready.sandbox.auth.controls.drop_scopes = frozenset({"read:workout"})
    result = ready.invoke("auth", "whoop", hooks=AuthHooks(open_browser=Browser()))

    assert result.exit_code == 0, result.output
    assert "without read:workout, Wellpipe cannot read workouts" in said(result)
    assert "read:workout" not in ready.env()["WHOOP_TOKEN_SCOPES"].split()


def test_a_browser_that_never_comes_back_times_out(ready: Setup) -> None:
    result = ready.invoke(
        "auth", "whoop", "--timeout", "0.2", hooks=AuthHooks(open_browser=lambda url: True)
    )
    assert result.exit_code == 75, result.output
    assert "did not come back" in said(result)
    assert "--no-browser" in said(result)
    _no_tokens(ready)


def test_a_taken_port_names_the_port(ready: Setup) -> None:
    opened: list[str] = []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ready.port))
        taken.listen()
        result = ready.invoke("auth", "whoop", hooks=AuthHooks(open_browser=opened.append))
    assert result.exit_code == 71, result.output
    assert f"Port {ready.port}" in said(result)
    assert opened == []  # the browser is not opened for a sign-in that cannot finish


def test_auth_before_init_says_to_run_init(setup: Setup) -> None:
    result = setup.invoke("auth", "whoop", hooks=AuthHooks(open_browser=Browser()))
    assert result.exit_code == 78, result.output
    assert "wellpipe init" in said(result)


@pytest.fixture
def pinned(history: History, tmp_path: Path) -> Iterator[Setup]:
    yield from _make_setup(history, tmp_path, client_id=CLIENT_ID, secret="the-real-secret-123456")


def test_a_wrong_client_secret_says_to_run_init(pinned: Setup) -> None:
    pinned.init(secret="a-wrong-secret-1234567")
    result = pinned.invoke("auth", "whoop", hooks=AuthHooks(open_browser=Browser()))
    assert result.exit_code == 78, result.output
    assert "invalid_client" in said(result)
    assert "wellpipe init" in said(result)
    assert "a-wrong-secret-1234567" not in result.output
    _no_tokens(pinned)


# ---------------------------------------------------------------------- --no-browser
STATE = "fixed-state-for-the-paste-test-0123456789ab"


@pytest.fixture
def fixed_state(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr("wellpipe.oauth.client.OAuthClient.new_state", staticmethod(lambda: STATE))
    return STATE


def _landing(setup: Setup, state: str) -> str:
    """Where the browser lands after approving (what the person pastes)."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": setup.redirect_uri,
            "scope": " ".join(SCOPES),
            "state": state,
        }
    )
    with httpx2.Client(trust_env=False) as http:
        consent = http.get(f"{setup.origin}/oauth/oauth2/auth?{query}")
    location: str = consent.headers["location"]
    return location


def test_no_browser_prints_the_url_and_accepts_the_pasted_address(
    ready: Setup, fixed_state: str
) -> None:
    landing = _landing(ready, fixed_state)
    code = parse_qs(urlsplit(landing).query)["code"][0]
    with socket.socket() as taken:  # no callback server is started: the port may be busy
        taken.bind(("127.0.0.1", ready.port))
        taken.listen()
        result = ready.invoke("auth", "whoop", "--no-browser", stdin=landing + "\n")

    assert result.exit_code == 0, result.output
    printed_url = result.stdout.splitlines()[0]
    assert printed_url.startswith(f"{ready.origin}/oauth/oauth2/auth?")
    assert parse_qs(urlsplit(printed_url).query)["state"] == [fixed_state]
    assert "Connected WHOOP as Alex Rivera (member 10129)." in result.stdout
    assert "input hidden" not in result.output
    assert ready.env()["WHOOP_REFRESH_TOKEN"]
    assert code not in ready.env().values()  # the code is spent, never stored
    assert _profile(ready.home).source_id == "10129"


@pytest.mark.parametrize(
    "wrong",
    ["just-the-code-0123", "http://127.0.0.1:1/elsewhere?code=x&state=y", "the other state"],
    ids=["not-an-address", "another-address", "another-state"],
)
def test_no_browser_asks_again_after_a_wrong_paste(
    ready: Setup, fixed_state: str, wrong: str
) -> None:
    landing = _landing(ready, fixed_state)
    if wrong == "the other state":
        wrong = _landing(ready, "an-older-sign-in-state-0123456789")
    result = ready.invoke("auth", "whoop", "--no-browser", stdin=f"{wrong}\n{landing}\n")

    assert result.exit_code == 0, result.output
    assert "That address does not work" in said(result)
    assert "2 more tries" in said(result)
    assert "Connected WHOOP as Alex Rivera (member 10129)." in result.stdout
    assert ready.sandbox.auth.token_requests == 1


def test_no_browser_gives_up_after_three_wrong_pastes(ready: Setup, fixed_state: str) -> None:
    result = ready.invoke("auth", "whoop", "--no-browser", stdin="a\nb\nc\nd\n")
    assert result.exit_code == 65, result.output
    assert said(result).count("That address does not work") == 2
    assert "1 more try" in said(result)
    assert ready.sandbox.auth.token_requests == 0
    _no_tokens(ready)


def test_no_browser_in_a_terminal_shows_the_pasted_address(ready: Setup) -> None:
    """As a person does it: a real terminal, the URL read off the screen, the answer pasted."""
    with Terminal(
        [sys.executable, "-m", "wellpipe", "auth", "whoop", "--no-browser"],
        env={**os.environ, "WELLPIPE_HOME": str(ready.home)},
    ) as terminal:
        screen = terminal.read_until("Paste the address here")
        [url] = [line.strip() for line in screen.splitlines() if "/oauth/oauth2/auth?" in line]
        with httpx2.Client(trust_env=False) as http:
            landing = http.get(url).headers["location"]
        terminal.write(landing + "\r")
        screen = terminal.read_until("Connected WHOOP as")
        assert landing in screen  # echoed as typed: the address is visible, not a hidden prompt
        assert terminal.wait() == 0
    assert ready.env()["WHOOP_REFRESH_TOKEN"]


def test_auth_keeps_a_base_url_from_the_environment_beside_the_tokens(setup: Setup) -> None:
    """Tokens from a sandbox must never go to the real provider, in any process."""
    LocalPaths(home=setup.home).ensure_home()
    EnvFile(setup.home / ".env").update(
        {
            "WHOOP_CLIENT_ID": CLIENT_ID,
            "WHOOP_CLIENT_SECRET": CLIENT_SECRET,
            "WHOOP_REDIRECT_URI": setup.redirect_uri,
        }
    )
    result = setup.runner.invoke(
        main,
        ["auth", "whoop"],
        obj=AuthHooks(open_browser=Browser()),
        env={"WELLPIPE_HOME": str(setup.home), "WELLPIPE_WHOOP_BASE_URL": setup.origin},
    )
    assert result.exit_code == 0, result.output
    assert setup.env()["WELLPIPE_WHOOP_BASE_URL"] == setup.origin
    assert f"Saved WELLPIPE_WHOOP_BASE_URL={setup.origin}" in said(result)


def test_no_browser_refuses_a_pasted_address_with_another_state(
    ready: Setup, fixed_state: str
) -> None:
    landing = _landing(ready, "someone-elses-state-0123456789")
    result = ready.invoke("auth", "whoop", "--no-browser", stdin=f"{landing}\n" * 3)
    assert result.exit_code == 65, result.output
    assert ready.sandbox.auth.token_requests == 0
    _no_tokens(ready)


def test_no_browser_refuses_an_address_on_another_path(ready: Setup, fixed_state: str) -> None:
    landing = _landing(ready, fixed_state).replace("/callback/whoop", "/callback/oura")
    result = ready.invoke("auth", "whoop", "--no-browser", stdin=f"{landing}\n" * 3)
    assert result.exit_code == 65, result.output
    assert "does not start with your redirect URI" in said(result)
    assert ready.sandbox.auth.token_requests == 0


# ---------------------------------------------------------------------- unit: the state check
@pytest.mark.parametrize(
    "params",
    [
        {"code": "c"},
        {"code": "c", "state": ""},
        {"code": "c", "state": "x" * 43},
        {"code": "c", "state": STATE[:-1]},
        {"code": "c", "state": STATE + "x"},
        {"error": "access_denied"},
    ],
)
def test_a_callback_without_our_state_is_rejected(params: dict[str, str]) -> None:
    from wellpipe.cli.auth_command import CallbackRejected

    with pytest.raises(CallbackRejected):
        code_from_callback(params, state=STATE, provider="whoop", display_name="WHOOP")


def test_a_provider_error_does_not_leak_markup_into_the_message() -> None:
    from wellpipe.cli.auth_command import AccessDenied

    with pytest.raises(AccessDenied) as caught:
        code_from_callback(
            {"error": "server_error", "error_description": "[red]<b>boom</b>", "state": STATE},
            state=STATE,
            provider="whoop",
            display_name="WHOOP",
        )
    assert "[" not in str(caught.value).split("(", 1)[1].split(")")[0]
    assert "<" not in str(caught.value)
