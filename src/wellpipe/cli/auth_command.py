"""``wellpipe auth <provider>``: connect your account with the OAuth authorization-code flow.

What ``wellpipe auth whoop`` does (security.md R-1.1 to R-1.8):

1. Builds the authorize URL from configuration only (``wellpipe init``): the
   six WHOOP read scopes plus ``offline``, and a fresh ``state`` of 256 bits
   from `secrets`. The state lives only in this process, is used once and
   expires with it (at most 10 minutes).
2. Listens on ``127.0.0.1`` at the redirect URI's port and path
   (`wellpipe.cli.callback`), then opens the browser. With ``--no-browser``, or
   an ``https://`` redirect URI, it prints the URL and asks for the address the
   browser lands on instead (shown as it is pasted; a wrong one is asked for
   again, up to three times).
3. Compares the returned ``state`` in constant time before anything else;
   a provider ``error=`` is a clean failure.
4. Exchanges the code, requires ``offline`` in the granted scopes (without it
   WHOOP issues no refresh token and the connection would die within the hour),
   stores the tokens in the home folder's ``.env``, and reads the profile to
   show who got connected.

Exit codes (beside 0 and click's 2 for usage errors):

====  ==============================================================
65    the callback was rejected: missing or wrong ``state`` (possible
      cross-site request forgery), wrong redirect address, or no code
69    the provider could not be reached or answered something unusable
71    the redirect URI's port is already in use on this computer
75    the browser did not come back in time (``--timeout``)
76    the member did not grant ``offline``: nothing was stored
77    the member declined (``error=access_denied``) or the provider
      refused the sign-in or the code
78    not set up, or the provider rejected the client id or secret:
      run ``wellpipe init``
====  ==============================================================

Tokens and codes are never printed or logged. Every installed provider gets
a subcommand; what differs between providers (scopes, PKCE, extra authorize
parameters, callback path) is data in its `ProviderInfo` and connector.
"""

from __future__ import annotations

import functools
import hmac
import shlex
import time
import webbrowser
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, Protocol, TypeVar
from urllib.parse import parse_qsl, urlsplit

import click
import httpx2

from wellpipe.cli.callback import CallbackPortInUse, CallbackTimeout
from wellpipe.cli.console import err, out, reports_errors
from wellpipe.core.errors import AuthError, WellpipeError

if TYPE_CHECKING:
    from wellpipe.cli.home import LocalPaths
    from wellpipe.cli.local_config import LocalConfig
    from wellpipe.core.provider_info import ProviderInfo
    from wellpipe.core.tokens import TokenSet

__all__ = [
    "AUTH_EXIT_CODES",
    "AccessDenied",
    "AuthHooks",
    "CallbackRejected",
    "Connector",
    "MissingOfflineScope",
    "auth",
    "code_from_callback",
    "connector_for",
    "scopes_from_callback",
]

STATE_LIFETIME_S = 600.0
"""A state older than this is refused (R-1.1: expires within 10 minutes)."""
PASTE_ATTEMPTS = 3
"""How many addresses ``--no-browser`` takes before it gives up."""


# ---------------------------------------------------------------------- errors
class CallbackRejected(AuthError):
    """The redirect does not belong to the sign-in this process started (state, path, code)."""


class AccessDenied(AuthError):
    """The provider's redirect carried ``error=`` (the member declined, or the request was bad)."""


class MissingOfflineScope(AuthError):
    """The member did not grant ``offline``, so no refresh token came back; nothing was stored."""


AUTH_EXIT_CODES: dict[type[WellpipeError], int] = {
    CallbackRejected: 65,  # EX_DATAERR
    CallbackPortInUse: 71,  # EX_OSERR
    CallbackTimeout: 75,  # EX_TEMPFAIL
    MissingOfflineScope: 76,  # EX_PROTOCOL
    AccessDenied: 77,  # EX_NOPERM
}
"""Exit codes specific to ``wellpipe auth``; other errors get `reports_errors`'s (78, 77, 69)."""

P = ParamSpec("P")
R = TypeVar("R")


def _reports_auth_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Give the sign-in failures their own exit codes; other errors go to `reports_errors`."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except WellpipeError as error:
            code = next((c for kind, c in AUTH_EXIT_CODES.items() if isinstance(error, kind)), None)
            if code is None:
                raise
            err.print(f"[bold red]Error:[/] {error}", highlight=False)
            raise click.exceptions.Exit(code) from None

    return reports_errors(wrapper)


# ---------------------------------------------------------------------- providers
class Connector(Protocol):
    """What the sign-in needs from one provider."""

    name: str
    display_name: str
    redirect_uri: str

    def authorization_url(self, state: str) -> str:
        """The consent page URL for ``state`` (with every scope Wellpipe needs)."""
        ...

    async def connect(self, code: str, *, callback_scopes: frozenset[str] = frozenset()) -> str:
        """Exchange ``code``, store the tokens, and describe the account (``Alex Rivera ...``).

        Args:
            code: The authorization code.
            callback_scopes: The scopes the redirect said were granted (Oura sends
                them there), used when the token response names none.

        Raises:
            MissingOfflineScope: no refresh token was granted; nothing was stored.
        """
        ...


@dataclass
class AuthHooks:
    """Seams for tests: pass as ``obj`` to the click runner.

    Attributes:
        open_browser: Opens a URL the way `webbrowser.open` does (returns whether it could).
            It runs in a worker thread and may block.
    """

    open_browser: Callable[[str], object] = field(default=webbrowser.open)


# ---------------------------------------------------------------------- the flow
def _plain(text: str, limit: int = 200) -> str:
    """Provider-supplied text made safe for a terminal line and rich markup."""
    cleaned = "".join(ch for ch in text if ch.isprintable() and ch not in "[]<>\\")
    return cleaned[:limit]


def code_from_callback(
    params: Mapping[str, str], *, state: str, provider: str, display_name: str
) -> str:
    """The authorization code in a callback, after checking it belongs to this sign-in.

    The ``state`` is compared first, in constant time, so nothing an attacker
    sends without it (a code, an error) is acted upon.

    Raises:
        CallbackRejected: ``state`` is missing or wrong, or no code came back.
        AccessDenied: the provider answered ``error=`` (e.g. ``access_denied``).
    """
    again = f"run `wellpipe auth {provider}` again"
    received = params.get("state")
    if received is None or not hmac.compare_digest(received.encode(), state.encode()):
        problem = "carries no state" if received is None else "carries a state that is not ours"
        raise CallbackRejected(
            f"The sign-in answer {problem}, so it may not come from the sign-in you started "
            f"(possible cross-site request forgery); nothing was saved: {again}.",
            provider=provider,
        )
    error = params.get("error")
    if error is not None:
        if error == "access_denied":
            raise AccessDenied(
                f"Access was declined on {display_name}'s consent page, so nothing was saved: "
                f"{again} and choose Allow (Wellpipe only reads).",
                provider=provider,
            )
        description = _plain(params.get("error_description", ""))
        raise AccessDenied(
            f"{display_name} refused the sign-in ({_plain(error, 60)}"
            f"{': ' + description if description else ''}); nothing was saved: check the "
            f"app with `wellpipe init`, then {again}.",
            provider=provider,
        )
    code = params.get("code")
    if not code:
        raise CallbackRejected(
            f"The sign-in answer carries no authorization code; nothing was saved: {again}.",
            provider=provider,
        )
    return code


def scopes_from_callback(params: Mapping[str, str]) -> frozenset[str]:
    """The granted scopes a redirect names in ``scope`` (space or comma separated), if any."""
    return frozenset(params.get("scope", "").replace(",", " ").split())


def _params_from_pasted(pasted: str, redirect_uri: str, *, provider: str) -> dict[str, str]:
    """The query of the address the browser landed on, if it is the configured redirect URI."""
    text = pasted.strip()
    expected = urlsplit(redirect_uri)
    landed = urlsplit(text)
    same_place = (
        landed.scheme.lower() == expected.scheme.lower()
        and (landed.hostname or "") == (expected.hostname or "").lower()
        and landed.port == expected.port
        and landed.path == expected.path
    )
    if not same_place:
        raise CallbackRejected(
            f"The pasted address does not start with your redirect URI {redirect_uri}; "
            "nothing was saved: paste the whole address from the browser's address bar "
            f"after the sign-in, or run `wellpipe auth {provider}` again.",
            provider=provider,
        )
    pairs = parse_qsl(landed.query, keep_blank_values=True)
    keys = [key for key, _ in pairs]
    if any(keys.count(key) > 1 for key in ("code", "state", "error")):
        raise CallbackRejected(
            "The pasted address repeats a sign-in parameter; nothing was saved: "
            f"run `wellpipe auth {provider}` again.",
            provider=provider,
        )
    return dict(pairs)


async def _browser_flow(
    connector: Connector,
    *,
    state: str,
    url: str,
    open_browser: Callable[[str], object],
    timeout_s: float,
) -> str:
    import anyio.to_thread

    from wellpipe.cli.callback import CallbackPage, serve_callback

    name, display = connector.name, connector.display_name

    def judge(params: Mapping[str, str]) -> CallbackPage:
        try:
            code_from_callback(params, state=state, provider=name, display_name=display)
        except AccessDenied:
            return CallbackPage(
                False, "Not connected", f"{display} did not grant access. See your terminal."
            )
        except CallbackRejected:
            return CallbackPage(
                False,
                "Not connected",
                "This answer does not belong to the sign-in started in your terminal. "
                "Nothing was saved.",
            )
        return CallbackPage(
            True, f"{display} answered", "Wellpipe is finishing the connection in your terminal."
        )

    async with serve_callback(connector.redirect_uri, judge=judge) as server:
        err.print(f"Opening your browser to sign in to {display}. If it does not open, visit:")
        err.print(f"  {url}", highlight=False, soft_wrap=True, markup=False)
        opened = await anyio.to_thread.run_sync(open_browser, url)
        if opened is False:
            err.print("(No browser could be opened: copy the address above into one.)")
        err.print(
            f"Waiting for {display} to send you back to {connector.redirect_uri} "
            f"(up to {timeout_s:g} s; Ctrl-C to stop)…",
            highlight=False,
            markup=False,
        )
        params = await server.wait(
            timeout_s,
            next_step=f"run `wellpipe auth {name}` again, or add --no-browser to paste "
            "the address instead",
        )
    code = code_from_callback(params, state=state, provider=name, display_name=display)
    return await connector.connect(code, callback_scopes=scopes_from_callback(params))


def _paste_flow(connector: Connector, *, state: str, url: str) -> str:
    import anyio

    name, display = connector.name, connector.display_name
    err.print(f"Open this address in a browser (on any device) and sign in to {display}:")
    out.print(url, highlight=False, soft_wrap=True, markup=False)
    err.print(
        f"{display} then sends the browser to {connector.redirect_uri}?code=…; the page may "
        "fail to load, that is expected. Copy the whole address from the address bar.",
        highlight=False,
        markup=False,
    )
    started = time.monotonic()
    for attempt in range(1, PASTE_ATTEMPTS + 1):
        pasted = click.prompt("Paste the address here", err=True, show_default=False)
        try:
            params = _params_from_pasted(pasted, connector.redirect_uri, provider=name)
            code = code_from_callback(params, state=state, provider=name, display_name=display)
        except CallbackRejected as error:
            if attempt == PASTE_ATTEMPTS:
                raise
            left = PASTE_ATTEMPTS - attempt
            reason = str(error).split("; nothing was saved")[0]
            err.print(
                f"[yellow]That address does not work:[/] {reason}. Copy the address from the "
                f"browser's address bar again ({left} more {'try' if left == 1 else 'tries'}).",
                highlight=False,
                soft_wrap=True,
            )
            continue
        break
    if time.monotonic() - started > STATE_LIFETIME_S:
        raise CallbackRejected(
            "The sign-in took longer than 10 minutes, so its state expired; nothing was "
            f"saved: run `wellpipe auth {name}` again.",
            provider=name,
        )
    return anyio.run(
        functools.partial(connector.connect, code, callback_scopes=scopes_from_callback(params))
    )


def _paths_for(home: Path | None) -> LocalPaths:
    from wellpipe.cli.home import LocalPaths

    return LocalPaths(home=home.expanduser()) if home is not None else LocalPaths.from_environ()


def _run(name: str, *, home: Path | None, no_browser: bool, timeout_s: float) -> None:
    import anyio

    from wellpipe.cli.callback import loopback_redirect
    from wellpipe.cli.local_config import LocalConfig
    from wellpipe.core.errors import ConfigError
    from wellpipe.oauth import OAuthClient

    paths = _paths_for(home)
    config = LocalConfig.load(paths)
    connector = connector_for(name, config, paths)
    try:
        loopback = loopback_redirect(connector.redirect_uri)
    except ValueError as reason:
        raise ConfigError(
            f"The redirect URI {connector.redirect_uri} cannot be used: {reason}; "
            f"fix it with `wellpipe init --provider {name} --redirect-uri`."
        ) from None
    state = OAuthClient.new_state()
    url = connector.authorization_url(state)
    if no_browser or loopback is None:
        if loopback is None and not no_browser:
            err.print("Your redirect URI is not on this computer, so paste the answer instead.")
        account = _paste_flow(connector, state=state, url=url)
    else:
        ctx = click.get_current_context()
        hooks = ctx.find_object(AuthHooks) or AuthHooks()
        account = anyio.run(
            functools.partial(
                _browser_flow,
                connector,
                state=state,
                url=url,
                open_browser=hooks.open_browser,
                timeout_s=timeout_s,
            )
        )
    out.print(f"Connected {connector.display_name} as {account}.", highlight=False)
    where = "" if home is None else f" --home {shlex.quote(str(home))}"
    err.print("Next, add Wellpipe to Claude Desktop:")
    out.print(f"  wellpipe claude install{where}", highlight=False, markup=False, soft_wrap=True)
    err.print("or run the MCP server yourself:")
    out.print(f"  wellpipe serve{where}", highlight=False, markup=False, soft_wrap=True)


# ---------------------------------------------------------------------- any provider
class _LocalConnector:
    """One provider's sign-in: client from the ``.env``, tokens stored there, profile shown."""

    def __init__(self, name: str, config: LocalConfig, paths: LocalPaths) -> None:
        from wellpipe.cli.connection import credentials_hint
        from wellpipe.cli.local_config import AppKeys
        from wellpipe.core.clock import SystemClock
        from wellpipe.net import build_http_client
        from wellpipe.providers.connector import get_connector

        connector = get_connector(name)
        self.info = connector.info
        self.name = name
        self.display_name = self.info.display_name
        self._paths = paths
        self._clock = SystemClock()
        credentials = config.credentials(name)
        self.redirect_uri = credentials.redirect_uri
        location = config.location(name)
        self._base_url_key = AppKeys(name).base_url
        self._origin = config.get(self._base_url_key)
        # Opened (and closed) only in `connect`; creating it does no I/O.
        self._http = build_http_client(base_url=location.origin)
        self._http.event_hooks["response"].append(self._watch_token_answer)
        self.refresh_token_expires_in: float | None = None
        """What the token answer said about the refresh token's life (Google's Testing mode)."""
        self._oauth = connector.oauth_client(
            settings=location,
            credentials=credentials,
            http=self._http,
            clock=self._clock,
            credentials_hint=credentials_hint(name, self.display_name),
        )
        self._verifier: str | None = None

    async def _watch_token_answer(self, response: httpx2.Response) -> None:
        """Note ``refresh_token_expires_in`` (Google sends it for "Testing" clients)."""
        if response.request.method != "POST" or response.status_code != 200:
            return
        if response.request.url.path != httpx2.URL(self._oauth.endpoints.token_url).path:
            return
        await response.aread()
        try:
            lifetime = response.json().get("refresh_token_expires_in")
        except (ValueError, AttributeError):
            return
        if isinstance(lifetime, int | float) and not isinstance(lifetime, bool):
            self.refresh_token_expires_in = float(lifetime)

    def authorization_url(self, state: str) -> str:
        from wellpipe.oauth import new_pkce

        challenge = None
        if self.info.pkce:
            pkce = new_pkce()
            self._verifier, challenge = pkce.verifier, pkce.challenge
        return self._oauth.authorization_url(
            state, scopes=self.info.scopes, code_challenge=challenge
        )

    async def connect(self, code: str, *, callback_scopes: frozenset[str] = frozenset()) -> str:
        from dataclasses import replace

        from wellpipe.cli.connection import open_local
        from wellpipe.cli.env_tokens import store_tokens
        from wellpipe.core.errors import ProviderError

        async with self._http:
            tokens = await self._oauth.exchange_code(code, code_verifier=self._verifier)
        if not tokens.scopes and callback_scopes:
            tokens = replace(tokens, scopes=callback_scopes)
        _require_offline(tokens, info=self.info)
        store_tokens(self._paths, tokens, provider=self.name)
        self._save_origin()
        profile_readable = _report_scopes(self.info, tokens.scopes)
        for note in _connect_notes(self.info, self.refresh_token_expires_in):
            err.print(f"[yellow]Note:[/] {note}", highlight=False)
        if not profile_readable:
            return "an account whose profile Wellpipe may not read"
        try:
            async with open_local(self.name, self._paths, clock=self._clock) as provider:
                profile = await provider.profile()
        except ProviderError as error:
            err.print(f"[yellow]Note:[/] the tokens are saved, but {error}", highlight=False)
            return "an account (its profile could not be read just now)"
        return f"{profile.display_name} (member {profile.source_id})"

    def _save_origin(self) -> None:
        """Keep the origin that issued these tokens beside them in the ``.env``.

        A base URL from this shell's environment alone (a sandbox's) would be
        missing for every other process, Claude Desktop's server included, which
        would then send these tokens to the real provider.
        """
        from wellpipe.cli.env_file import EnvFile

        env_file = EnvFile(self._paths.env_file)
        if not self._origin or env_file.read().get(self._base_url_key, "").strip() == self._origin:
            return
        env_file.update({self._base_url_key: self._origin})
        err.print(
            f"Saved {self._base_url_key}={self._origin} in {self._paths.env_file}: these "
            f"tokens come from there, so every Wellpipe process must talk there.",
            highlight=False,
            soft_wrap=True,
        )


def _connect_notes(info: ProviderInfo, refresh_token_expires_in: float | None) -> list[str]:
    """The provider's notes for after a sign-in, the ones that apply to this grant.

    A provider whose refresh tokens only die in some app configurations (Google's
    "Testing" clients: `ProviderNotes.refresh_token_days`) has notes about that;
    they apply when the token answer said the refresh token expires.
    """
    from wellpipe.cli.provider_notes import notes_for

    notes = notes_for(info)
    if notes.refresh_token_days is None:
        return list(notes.connect)
    if refresh_token_expires_in is None:
        return []
    days = refresh_token_expires_in / 86_400
    return [
        f"{info.display_name} says this sign-in lasts about {days:.0f} days, whatever Wellpipe "
        "does.",
        *notes.connect,
    ]


def _report_scopes(info: ProviderInfo, granted: frozenset[str]) -> bool:
    """Say which scopes were granted and what is missing; whether the profile is readable."""
    from wellpipe.cli.provider_notes import granted_names, lacking_kinds, missing_note
    from wellpipe.core.models import DataKind

    name, display = info.name, info.display_name
    if not granted:
        err.print(
            f"{display} did not say which scopes it granted; Wellpipe assumes the requested "
            "ones, and a question about data it may not read will say so.",
            highlight=False,
        )
        return True
    err.print(f"Granted: {granted_names(info, granted)}", highlight=False, soft_wrap=True)
    note = missing_note(info, granted)
    if note is not None:
        err.print(
            f"[yellow]Note:[/] {display} did not grant everything: {note}; the rest is "
            f"readable. To fix it, run `wellpipe auth {name}` again and leave every "
            "permission allowed on the consent page.",
            highlight=False,
            markup=True,
        )
    return DataKind.PROFILE not in lacking_kinds(info, granted)


def _require_offline(tokens: TokenSet, *, info: ProviderInfo) -> None:
    offline_requested = "offline" in info.scopes
    if tokens.refresh_token and (
        not offline_requested or not tokens.scopes or "offline" in tokens.scopes
    ):
        return
    raise MissingOfflineScope(
        f"{info.display_name} did not grant offline access"
        f"{' (the `offline` scope)' if offline_requested else ''}, so it sent no refresh "
        "token and the connection would stop working within the hour; nothing was saved: "
        f"run `wellpipe auth {info.name}` again and leave offline access allowed on the "
        "consent page (if your developer app lists an `offline` scope, tick it).",
        provider=info.name,
    )


def connector_for(name: str, config: LocalConfig, paths: LocalPaths) -> Connector:
    """The `Connector` for an installed provider.

    Raises:
        UnknownProviderError: no such provider is installed.
        ConfigError: the provider's app is not set up (``wellpipe init``) or its base URL is wrong.
    """
    return _LocalConnector(name, config, paths)


# ---------------------------------------------------------------------- click
class _ProviderGroup(click.Group):
    """One subcommand per installed provider, built when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from wellpipe.providers import available_providers

        return available_providers()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from wellpipe.core.errors import UnknownProviderError
        from wellpipe.providers import get_provider_info

        try:
            info = get_provider_info(cmd_name)
        except UnknownProviderError:
            return None
        return _provider_command(info.name, info.display_name)


@click.group(cls=_ProviderGroup, short_help="Connect your account at a provider.")
def auth() -> None:
    """Connect your account at a provider (opens the browser to sign in).

    Exit codes: 65 answer rejected (state), 69 provider unreachable, 71 port in
    use, 75 timed out, 76 offline not granted, 77 declined or refused, 78 not set
    up or client credentials rejected.
    """


def _provider_command(name: str, display_name: str) -> click.Command:
    @click.command(name=name, short_help=f"Connect your {display_name} account.")
    @click.option(
        "--no-browser",
        is_flag=True,
        help="Print the sign-in address and paste the answer, for machines without a browser.",
    )
    @click.option(
        "--timeout",
        "timeout_s",
        type=click.FloatRange(0, 300, min_open=True),
        default=300,
        show_default=True,
        help="Seconds to wait for the browser.",
    )
    @click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Wellpipe's folder (default: $WELLPIPE_HOME or the platform's app folder).",
    )
    @_reports_auth_errors
    def command(no_browser: bool, timeout_s: float, home: Path | None) -> None:
        _run(name, home=home, no_browser=no_browser, timeout_s=timeout_s)

    command.help = (
        f"Sign in to {display_name} in the browser and save the tokens in Wellpipe's .env.\n\n"
        "Run `wellpipe init` first. Wellpipe listens on 127.0.0.1 at your redirect URI "
        "for the answer."
    )
    return command
