"""``wellpipe doctor``: check each step of the setup, in order, and say how to fix what fails.

Each check is a small function from a `DoctorContext` to a `CheckResult`, so
each can be tested on its own. A failed check is ✗ (exit code 1), a warning
is ! (exit code 0), a check whose prerequisite failed is skipped (-).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from wellpipe.cli.claude_config import claude_config_option
from wellpipe.cli.console import out, reports_errors

if TYPE_CHECKING:
    import httpx2

    from wellpipe.cli.env_tokens import EnvTokenProvider
    from wellpipe.cli.home import LocalPaths
    from wellpipe.cli.local_config import LocalConfig
    from wellpipe.core.ports import Clock
    from wellpipe.core.provider_info import ProviderInfo
    from wellpipe.core.tokens import TokenSet

__all__ = [
    "CHECKS",
    "EXIT_PROBLEMS",
    "PROVIDER_CHECKS",
    "CheckResult",
    "DoctorContext",
    "Outcome",
    "checks_for",
    "doctor",
    "provider_checks",
    "run_checks",
]

EXIT_PROBLEMS = 1
"""The exit code when at least one check failed."""

MIN_PYTHON = (3, 11)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class Outcome(StrEnum):
    """How a check went."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"

    @property
    def mark(self) -> str:
        """The symbol printed before the check."""
        return {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]", "skip": "-"}[
            self.value
        ]


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict.

    Attributes:
        check: What was checked, in a few words.
        outcome: ok, warn, fail or skip.
        detail: What was found.
        fix: What to do about it (for warn and fail).
    """

    check: str
    outcome: Outcome
    detail: str
    fix: str | None = None

    @property
    def failed(self) -> bool:
        """Whether this check makes the doctor fail."""
        return self.outcome is Outcome.FAIL


@dataclass
class DoctorContext:
    """What the checks look at; derived values are computed once and shared.

    Attributes:
        paths: The CLI's files.
        claude_config: Claude Desktop's config file.
        environ: The process environment.
        offline: Skip the checks that need the network.
        clock: Time source for token checks and the live call.
        transport: An `httpx2` transport instead of the network (tests), for
            every provider without one in ``transports``.
        transports: Per provider name, an `httpx2` transport (tests).
        failed: Names of the checks that failed so far.
    """

    paths: LocalPaths
    claude_config: Path
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    offline: bool = False
    clock: Clock | None = None
    transport: httpx2.AsyncBaseTransport | None = None
    transports: Mapping[str, httpx2.AsyncBaseTransport] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)
    _stores: dict[str, EnvTokenProvider] = field(default_factory=dict, repr=False)
    _tokens: dict[str, TokenSet | None] = field(default_factory=dict, repr=False)

    @cached_property
    def config(self) -> LocalConfig:
        """The merged ``.env`` and environment."""
        from wellpipe.cli.local_config import LocalConfig

        return LocalConfig.load(self.paths, self.environ)

    def store(self, provider: str) -> EnvTokenProvider:
        """The ``.env`` token store of ``provider``."""
        if provider not in self._stores:
            from wellpipe.cli.env_tokens import EnvTokenProvider
            from wellpipe.core.clock import SystemClock

            self._stores[provider] = EnvTokenProvider(
                self.paths,
                provider=provider,
                clock=self.clock or SystemClock(),
                environ=self.environ,
            )
        return self._stores[provider]

    def tokens_of(self, provider: str) -> TokenSet | None:
        """The stored tokens of ``provider``, if any."""
        if provider not in self._tokens:
            import anyio

            self._tokens[provider] = anyio.run(self.store(provider).current)
        return self._tokens[provider]

    def transport_for(self, provider: str) -> httpx2.AsyncBaseTransport | None:
        """The transport to reach ``provider`` with (``None``: the network)."""
        return self.transports.get(provider, self.transport)

    @property
    def token_store(self) -> EnvTokenProvider:
        """WHOOP's ``.env`` token store."""
        return self.store("whoop")

    @property
    def tokens(self) -> TokenSet | None:
        """WHOOP's stored tokens, if any."""
        return self.tokens_of("whoop")

    @cached_property
    def in_play(self) -> list[str]:
        """The installed providers that are set up or connected (all of them if none is)."""
        from wellpipe.providers import available_providers

        installed = available_providers()
        chosen = [
            name
            for name in installed
            if self.config.is_configured(name) or self.tokens_of(name) is not None
        ]
        return chosen or installed


def _ok(check: str, detail: str) -> CheckResult:
    return CheckResult(check, Outcome.OK, detail)


def _fail(check: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(check, Outcome.FAIL, detail, fix)


def _warn(check: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(check, Outcome.WARN, detail, fix)


def _skip(check: str, because: str) -> CheckResult:
    return CheckResult(check, Outcome.SKIP, f"skipped: {because}")


# ---------------------------------------------------------------------- the checks
def check_python(_: DoctorContext) -> CheckResult:
    """Python is recent enough."""
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] < MIN_PYTHON:
        return _fail(
            "Python",
            f"Python {version} at {sys.executable}",
            "install Wellpipe with Python 3.11 or newer "
            "(e.g. `pipx install --python 3.12 wellpipe`)",
        )
    return _ok("Python", f"Python {version}")


def check_home(ctx: DoctorContext) -> CheckResult:
    """The home folder exists and only its owner can enter it."""
    home = ctx.paths.home
    if not home.is_dir():
        return _fail("Home folder", f"{home} does not exist", "run `wellpipe init`")
    mode = stat.S_IMODE(home.stat().st_mode)
    if os.name == "posix" and mode & 0o077:
        return _fail(
            "Home folder",
            f"{home} has mode {mode:04o}: other users can look inside, where your tokens are",
            f"chmod 700 {_quote(home)}",
        )
    return _ok("Home folder", str(home))


def check_env_file(ctx: DoctorContext) -> CheckResult:
    """The ``.env`` exists and only its owner can read it (0600)."""
    from wellpipe.cli.env_file import EnvFile

    env_file = EnvFile(ctx.paths.env_file)
    mode = env_file.mode()
    if mode is None:
        return _fail(".env file", f"{env_file.path} does not exist", "run `wellpipe init`")
    if os.name == "posix" and mode & 0o077:
        return _fail(
            ".env file",
            f"{env_file.path} has mode {mode:04o}: other users can read your tokens",
            f"chmod 600 {_quote(env_file.path)}",
        )
    return _ok(".env file", f"{env_file.path} (mode {mode:04o})")


def _info(provider: str) -> ProviderInfo:
    from wellpipe.providers import get_provider_info

    return get_provider_info(provider)


def check_app_credentials(ctx: DoctorContext, provider: str = "whoop") -> CheckResult:
    """The provider's developer app (client id and secret) is configured."""
    from wellpipe.cli.local_config import AppKeys
    from wellpipe.core.errors import ConfigError

    check = f"{_info(provider).display_name} app"
    try:
        ctx.config.credentials(provider)
    except ConfigError as error:
        return _fail(check, str(error), "run `wellpipe init`")
    source = ctx.config.source_of(AppKeys(provider).client_id)
    return _ok(check, f"client id and secret set (from {source})")


def check_redirect_uri(ctx: DoctorContext, provider: str = "whoop") -> CheckResult:
    """The redirect URI is an ``http`` loopback URL with a port, as ``wellpipe auth`` listens on."""
    from urllib.parse import urlsplit

    from wellpipe.cli.local_config import AppKeys, default_redirect_uri

    info = _info(provider)
    check = f"{info.display_name} redirect URI"
    key = AppKeys(provider).redirect_uri
    default = default_redirect_uri(provider)
    uri = ctx.config.get(key) or default
    fix = (
        f"set {key} in {ctx.paths.env_file} to a loopback URL such as "
        f"{default} (the same one as in your {info.display_name} developer app), "
        "or run `wellpipe init` again"
    )
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return _fail(check, f"{uri!r} is not a URL", fix)
    host = (parts.hostname or "").lower()
    if parts.scheme != "http" or host not in LOOPBACK_HOSTS:
        return _fail(check, f"{uri} is not an http://127.0.0.1 (loopback) address", fix)
    if port is None or parts.query or parts.fragment:
        return _fail(check, f"{uri} needs a port and no query or fragment", fix)
    return _ok(check, uri)


def check_base_url(ctx: DoctorContext, provider: str = "whoop") -> CheckResult:
    """``WELLPIPE_<NAME>_BASE_URL``, if set, is an origin."""
    from wellpipe.cli.local_config import AppKeys
    from wellpipe.core.errors import ConfigError

    check = f"{_info(provider).display_name} API"
    key = AppKeys(provider).base_url
    try:
        location = ctx.config.location(provider)
    except ConfigError as error:
        return _fail(check, str(error), f"fix or remove {key}")
    custom = ctx.config.get(key) is not None
    return _ok(check, location.origin + (f" ({key})" if custom else ""))


def check_tokens(ctx: DoctorContext, provider: str = "whoop") -> CheckResult:
    """An account is connected: tokens are stored, including a refresh token."""
    display = _info(provider).display_name
    check = f"{display} tokens"
    auth = f"run `wellpipe auth {provider}`"
    tokens = ctx.tokens_of(provider)
    store = ctx.store(provider)
    if tokens is None:
        return _fail(check, f"no {display} account is connected yet", auth)
    where = "the environment" if store.from_environment else str(ctx.paths.env_file)
    if not tokens.refresh_token:
        return _warn(
            check,
            f"an access token but no refresh token in {where}: the connection ends "
            "when the access token expires",
            f"{auth} (and keep offline access allowed)",
        )
    if store.from_environment:
        return _warn(
            check,
            f"tokens come from environment variables, which go stale when {display} rotates them",
            f"{auth} so they live in the .env, and unset the variables",
        )
    return _ok(check, f"access and refresh token in {where}")


def _expired_refresh_token(ctx: DoctorContext, provider: str) -> tuple[str, str] | None:
    """(explanation, fix) when the grant may have died of old age (Google's Testing mode)."""
    from datetime import timedelta

    from wellpipe.cli.provider_notes import notes_for
    from wellpipe.core.clock import SystemClock

    notes = notes_for(_info(provider))
    granted_at = ctx.store(provider).granted_at
    if notes.refresh_token_days is None or granted_at is None:
        return None
    age = (ctx.clock or SystemClock()).now() - granted_at
    if age < timedelta(days=notes.refresh_token_days - 1):
        return None
    return (
        f"the grant is {age.days} days old, and refresh tokens can expire after "
        f"{notes.refresh_token_days} days (an OAuth client still in 'Testing')",
        notes.refresh_token_hint or f"run `wellpipe auth {provider}` to connect again",
    )


def check_grant(ctx: DoctorContext, provider: str = "whoop") -> CheckResult:
    """The grant was not marked dead by a refused refresh."""
    display = _info(provider).display_name
    check = f"{display} grant"
    reason = ctx.store(provider).reauthorization_reason
    if reason:
        aged = _expired_refresh_token(ctx, provider)
        if aged is not None:
            return _fail(
                check, f"{display} refused the stored grant ({reason}); {aged[0]}", aged[1]
            )
        return _fail(
            check,
            f"{display} refused the stored grant ({reason})",
            f"run `wellpipe auth {provider}` to connect again",
        )
    if ctx.tokens_of(provider) is None:
        return _skip(check, "no tokens")
    return _ok(check, "not revoked as far as we know")


def check_offline_scope(ctx: DoctorContext, provider: str = "whoop") -> CheckResult:
    """Offline access (refresh tokens) and the read scopes were granted."""
    from wellpipe.cli.provider_notes import missing_note

    info = _info(provider)
    check = f"{info.display_name} scopes"
    auth = f"run `wellpipe auth {provider}`"
    tokens = ctx.tokens_of(provider)
    if tokens is None:
        return _skip(check, "no tokens")
    if not tokens.scopes:
        return _warn(check, "the granted scopes were not recorded", f"{auth} to record them")
    if "offline" in info.scopes and "offline" not in tokens.scopes:
        return _fail(
            check,
            "`offline` was not granted, so the connection cannot renew itself",
            f"{auth} and allow offline access",
        )
    note = missing_note(info, tokens.scopes)
    if note is not None:
        return _warn(
            check, f"not everything was granted: {note}", f"{auth} and allow every permission"
        )
    return _ok(check, "every scope Wellpipe asks for was granted")


def _network_needs(display: str) -> frozenset[str]:
    return frozenset(
        {f"{display} app", f"{display} redirect URI", f"{display} API", f"{display} tokens"}
        | {f"{display} grant"}
    )


def check_call(ctx: DoctorContext, provider: str = "whoop") -> CheckResult:
    """A real call: read the profile (refreshing the access token first if needed)."""
    from wellpipe.cli.local_config import AppKeys

    display = _info(provider).display_name
    check = f"{display} call"
    if ctx.offline:
        return _skip(check, "--offline")
    blocked = sorted(_network_needs(display) & ctx.failed)
    if blocked:
        return _skip(check, f"fix {', '.join(blocked)} first")
    import anyio

    from wellpipe.cli.connection import open_local
    from wellpipe.cli.state import LocalState
    from wellpipe.core.clock import SystemClock
    from wellpipe.core.errors import (
        ProviderError,
        ProviderUnavailable,
        ReauthorizationRequired,
        ScopeNotGranted,
        WellpipeError,
    )
    from wellpipe.core.models import Profile

    clock = ctx.clock or SystemClock()

    async def read_profile() -> Profile:
        async with open_local(
            provider,
            ctx.paths,
            clock=clock,
            environ=ctx.environ,
            transport=ctx.transport_for(provider),
        ) as opened:
            return await opened.profile()

    try:
        profile = anyio.run(read_profile)
    except ScopeNotGranted as error:
        LocalState(ctx.paths).record_success(provider, clock.now())
        return _warn(check, f"{display} answered, but {error}", error.action)
    except ReauthorizationRequired as error:
        aged = _expired_refresh_token(ctx, provider)
        if aged is not None:
            return _fail(check, f"{error} ({aged[0]})", aged[1])
        recorded = ctx.store(provider).reauthorization_reason
        if recorded:  # what the token store knows (a spent refresh token, say) says more
            return _fail(check, f"{display} access needs to be renewed ({recorded})", error.action)
        return _fail(check, str(error), error.action)
    except ProviderError as error:
        unanswered = _unanswered_refresh(ctx, provider, display)
        if unanswered is not None:
            return unanswered
        key = AppKeys(provider).base_url
        where = ctx.config.get(key)
        if where and _is_loopback(where) and _refuses_connections(where):
            return _fail(
                check,
                f"the {display} sandbox at {where} is not running ({key})",
                f"start `wellpipe sandbox` (or remove {key} to use {display} itself), then run "
                "`wellpipe doctor` again",
            )
        if not isinstance(error, ProviderUnavailable):
            sentence = str(error)
            return _fail(check, sentence, _next_step(sentence))
        return _fail(
            check,
            str(error),
            "check your internet connection"
            + (f" and {key} ({where})" if where else "")
            + ", then run `wellpipe doctor` again",
        )
    except WellpipeError as error:
        sentence = str(error)
        return _fail(check, sentence, _next_step(sentence))
    except Exception as error:  # a bug must not hide the other checks
        return _fail(
            check,
            f"unexpected {type(error).__name__}",
            "run `wellpipe -vv doctor` and report the output (it holds no tokens)",
        )
    LocalState(ctx.paths).record_success(provider, clock.now())
    return _ok(check, f"{display} answered: signed in as {profile.display_name}")


def _is_loopback(origin: str) -> bool:
    from urllib.parse import urlsplit

    return (urlsplit(origin).hostname or "").lower() in LOOPBACK_HOSTS | {"::1"}


def _refuses_connections(origin: str) -> bool:
    """Whether nothing listens at a loopback ``origin`` (a sandbox that is not running)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(origin)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=2.0):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def _unanswered_refresh(ctx: DoctorContext, provider: str, display: str) -> CheckResult | None:
    """The verdict after a token refresh that got no usable answer (the token may be spent)."""
    if ctx.store(provider).refresh_unanswered_at is None:
        return None
    return _fail(
        f"{display} call",
        f"{display} gave no usable answer to the token refresh. It replaces the refresh token "
        "at every refresh, so the stored one may already be spent",
        f"run `wellpipe doctor` again; if {display} then refuses the grant, run "
        f"`wellpipe auth {provider}` to connect again",
    )


def check_whoop_call(ctx: DoctorContext) -> CheckResult:
    """`check_call` for WHOOP."""
    return check_call(ctx, "whoop")


def _next_step(sentence: str) -> str:
    """The part of an error sentence after its last ``;`` or ``:`` (where the next step is)."""
    cut = max(sentence.rfind("; "), sentence.rfind(": "))
    return sentence[cut + 2 :].rstrip(".") if cut >= 0 else sentence


def _load_claude(ctx: DoctorContext) -> tuple[dict[str, Any] | None, str | None]:
    from wellpipe.cli.claude_config import load_config
    from wellpipe.core.errors import ConfigError

    try:
        return load_config(ctx.claude_config), None
    except ConfigError as error:
        return None, str(error)


def check_claude_entry(ctx: DoctorContext) -> CheckResult:
    """Claude Desktop's config has a Wellpipe entry whose command exists."""
    from wellpipe.cli.claude_config import runs_demo_over_http, wellpipe_entries

    check = "Claude Desktop"
    install = "run `wellpipe claude install`"
    config, problem = _load_claude(ctx)
    if problem:
        return _fail(check, problem, "fix the file, then run `wellpipe claude install`")
    if config is None:
        return _fail(check, f"{ctx.claude_config} does not exist", install)
    names = wellpipe_entries(config)
    if not names:
        return _fail(check, f"no Wellpipe entry in {ctx.claude_config}", install)
    over_http = [name for name in names if runs_demo_over_http(config["mcpServers"][name])]
    if over_http:
        return _fail(
            check,
            f"the entry {over_http[0]!r} runs `wellpipe demo`, which serves HTTP, not the "
            "stdio Claude Desktop speaks",
            "run `wellpipe claude install --demo` (it runs `wellpipe serve --demo`), and remove "
            f"{over_http[0]!r} if it is another entry",
        )
    entry = config["mcpServers"][names[0]]
    command = entry.get("command")
    args = entry.get("args") if isinstance(entry.get("args"), list) else []
    if not isinstance(command, str) or not command:
        return _fail(check, f"the entry {names[0]!r} has no command", install)
    if not Path(command).is_absolute():
        return _warn(
            check,
            f"the entry {names[0]!r} runs {command!r}, not an absolute path; Claude Desktop "
            "starts servers with a minimal PATH and may not find it",
            install,
        )
    if not (Path(command).is_file() and os.access(command, os.X_OK)):
        return _fail(check, f"the entry {names[0]!r} runs {command}, which does not exist", install)
    env = entry.get("env") if isinstance(entry.get("env"), dict) else {}
    theirs = Path(str(env.get("WELLPIPE_HOME"))).expanduser() if env.get("WELLPIPE_HOME") else None
    from wellpipe.cli.home import wellpipe_home

    their_home = theirs or wellpipe_home({})
    if their_home.absolute() != ctx.paths.home.absolute():
        return _fail(
            check,
            f"the entry {names[0]!r} uses the home {their_home}, this shell uses {ctx.paths.home}",
            f"to check the setup Claude uses, set WELLPIPE_HOME={_quote(their_home)} here; to "
            f"point Claude at this one, run `WELLPIPE_HOME={_quote(ctx.paths.home)} wellpipe "
            "claude install`",
        )
    if "--demo" in args or ("demo" in args and "serve" not in args):
        return _warn(
            check,
            f"the entry {names[0]!r} serves the sandboxes (--demo), not your own data",
            "run `wellpipe claude install` (without --demo)",
        )
    extra = f"; also {', '.join(names[1:])}: Claude starts each" if len(names) > 1 else ""
    if extra:
        return _warn(
            check,
            f"{names[0]!r} in {ctx.claude_config}{extra}",
            f"remove the extra entries from {ctx.claude_config}",
        )
    return _ok(check, f"{names[0]!r} in {ctx.claude_config}")


def check_no_tokens_in_claude(ctx: DoctorContext) -> CheckResult:
    """No entry in Claude Desktop's config holds tokens or secrets."""
    from wellpipe.cli.claude_config import secret_keys_in

    check = "No tokens in Claude's config"
    config, problem = _load_claude(ctx)
    if problem or config is None:
        return _skip(check, "no readable config")
    found = secret_keys_in(config)
    if not found:
        return _ok(check, "none found")
    listing = "; ".join(f"{name!r}: {', '.join(keys)}" for name, keys in found.items())
    return _fail(
        check,
        f"{listing}. Tokens there go stale after the first rotation, and the .env wins anyway",
        f"run `wellpipe claude install` (it removes them from the Wellpipe entry); "
        f"remove any others from {ctx.claude_config} by hand",
    )


Check = Callable[[DoctorContext], CheckResult]
ProviderCheck = Callable[[DoctorContext, str], CheckResult]

GENERAL_CHECKS: tuple[Check, ...] = (check_python, check_home, check_env_file)
"""The checks before any provider's."""

PROVIDER_CHECKS: tuple[ProviderCheck, ...] = (
    check_app_credentials,
    check_redirect_uri,
    check_base_url,
    check_tokens,
    check_grant,
    check_offline_scope,
    check_call,
)
"""The checks of one provider, in the order its setup goes."""

CLAUDE_CHECKS: tuple[Check, ...] = (check_claude_entry, check_no_tokens_in_claude)
"""The checks after every provider's."""


def _bound(check: ProviderCheck, provider: str) -> Check:
    def run(ctx: DoctorContext) -> CheckResult:
        return check(ctx, provider)

    run.__name__ = f"{getattr(check, '__name__', 'check')}[{provider}]"
    return run


def provider_checks(provider: str) -> tuple[Check, ...]:
    """`PROVIDER_CHECKS` for one provider."""
    return tuple(_bound(check, provider) for check in PROVIDER_CHECKS)


def _not_set_up(provider: str) -> Check:
    def run(_: DoctorContext) -> CheckResult:
        return _skip(
            _info(provider).display_name,
            f"not set up (optional): `wellpipe init --provider {provider}` adds it",
        )

    return run


def checks_for(ctx: DoctorContext) -> tuple[Check, ...]:
    """Every check for this machine: each set-up (or connected) provider gets its own."""
    from wellpipe.providers import available_providers

    chosen = ctx.in_play
    per_provider: list[Check] = []
    for name in available_providers():
        per_provider += provider_checks(name) if name in chosen else [_not_set_up(name)]
    return (*GENERAL_CHECKS, *per_provider, *CLAUDE_CHECKS)


CHECKS: tuple[Check, ...] = (*GENERAL_CHECKS, *provider_checks("whoop"), *CLAUDE_CHECKS)
"""The checks of a WHOOP-only setup, in the order a setup goes (see `checks_for`)."""


def run_checks(ctx: DoctorContext, checks: tuple[Check, ...] | None = None) -> list[CheckResult]:
    """Run ``checks`` (default: `checks_for`) in order; each sees which earlier ones failed."""
    results = []
    for check in checks_for(ctx) if checks is None else checks:
        result = check(ctx)
        if result.failed:
            ctx.failed.add(result.check)
        results.append(result)
    return results


def _quote(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))


@click.command(short_help="Check each step of the setup.")
@click.option("--offline", is_flag=True, help="Skip the checks that call the providers.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@claude_config_option
@reports_errors
def doctor(offline: bool, as_json: bool, claude_config: Path | None) -> None:
    """Check each step of the setup in order, and say how to fix what fails.

    Makes one real call per connected provider (the profile), unless --offline. Exits with 0
    when nothing failed (warnings are fine) and 1 otherwise.
    """
    from wellpipe.cli.claude_config import claude_config_path
    from wellpipe.cli.home import LocalPaths

    ctx = DoctorContext(
        paths=LocalPaths.from_environ(),
        claude_config=claude_config_path(claude_config),
        offline=offline,
    )
    results = run_checks(ctx)
    if as_json:
        click.echo(
            json.dumps([{**asdict(r), "outcome": r.outcome.value} for r in results], indent=2)
        )
    else:
        for result in results:
            out.print(
                f"{result.outcome.mark} [bold]{result.check}[/]: {result.detail}",
                highlight=False,
                soft_wrap=True,
                markup=True,
            )
            if result.fix and result.outcome in {Outcome.FAIL, Outcome.WARN}:
                out.print(f"    fix: {result.fix}", highlight=False, soft_wrap=True, markup=False)
        failures = sum(r.failed for r in results)
        summary = (
            "[green]Everything checks out.[/]"
            if not failures
            else f"[red]{failures} problem{'s' if failures > 1 else ''}[/]: fix the first one, "
            "then run `wellpipe doctor` again."
        )
        out.print(summary, highlight=False, soft_wrap=True)
    if any(r.failed for r in results):
        raise click.exceptions.Exit(EXIT_PROBLEMS)
