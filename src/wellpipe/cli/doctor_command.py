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
    from wellpipe.core.tokens import TokenSet

__all__ = [
    "CHECKS",
    "EXIT_PROBLEMS",
    "CheckResult",
    "DoctorContext",
    "Outcome",
    "doctor",
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
        transport: An `httpx2` transport instead of the network (tests).
        failed: Names of the checks that failed so far.
    """

    paths: LocalPaths
    claude_config: Path
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    offline: bool = False
    clock: Clock | None = None
    transport: httpx2.AsyncBaseTransport | None = None
    failed: set[str] = field(default_factory=set)

    @cached_property
    def config(self) -> LocalConfig:
        """The merged ``.env`` and environment."""
        from wellpipe.cli.local_config import LocalConfig

        return LocalConfig.load(self.paths, self.environ)

    @cached_property
    def token_store(self) -> EnvTokenProvider:
        """The ``.env`` token store."""
        from wellpipe.cli.env_tokens import EnvTokenProvider
        from wellpipe.core.clock import SystemClock

        return EnvTokenProvider(
            self.paths, provider="whoop", clock=self.clock or SystemClock(), environ=self.environ
        )

    @cached_property
    def tokens(self) -> TokenSet | None:
        """The stored tokens, if any."""
        import anyio

        return anyio.run(self.token_store.current)


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
        return _warn(
            "Home folder",
            f"{home} has mode {mode:04o}: other users can look inside",
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
            f"{env_file.path} has mode {mode:04o}: other users can read your WHOOP tokens",
            f"chmod 600 {_quote(env_file.path)}",
        )
    return _ok(".env file", f"{env_file.path} (mode {mode:04o})")


def check_app_credentials(ctx: DoctorContext) -> CheckResult:
    """The WHOOP developer app (client id and secret) is configured."""
    from wellpipe.core.errors import ConfigError

    try:
        ctx.config.whoop_credentials()
    except ConfigError as error:
        return _fail("WHOOP app", str(error), "run `wellpipe init`")
    source = ctx.config.source_of("WHOOP_CLIENT_ID")
    return _ok("WHOOP app", f"client id and secret set (from {source})")


def check_redirect_uri(ctx: DoctorContext) -> CheckResult:
    """The redirect URI is an ``http`` loopback URL with a port, as ``wellpipe auth`` listens on."""
    from urllib.parse import urlsplit

    from wellpipe.cli.local_config import DEFAULT_REDIRECT_URI

    uri = ctx.config.get("WHOOP_REDIRECT_URI") or DEFAULT_REDIRECT_URI
    fix = (
        f"set WHOOP_REDIRECT_URI in {ctx.paths.env_file} to a loopback URL such as "
        f"{DEFAULT_REDIRECT_URI} (the same one as in your WHOOP developer app), "
        "or run `wellpipe init` again"
    )
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return _fail("Redirect URI", f"{uri!r} is not a URL", fix)
    host = (parts.hostname or "").lower()
    if parts.scheme != "http" or host not in LOOPBACK_HOSTS:
        return _fail("Redirect URI", f"{uri} is not an http://127.0.0.1 (loopback) address", fix)
    if port is None or parts.query or parts.fragment:
        return _fail("Redirect URI", f"{uri} needs a port and no query or fragment", fix)
    return _ok("Redirect URI", uri)


def check_base_url(ctx: DoctorContext) -> CheckResult:
    """``WELLPIPE_WHOOP_BASE_URL``, if set, is an origin."""
    from wellpipe.core.errors import ConfigError

    try:
        settings = ctx.config.whoop_settings()
    except ConfigError as error:
        return _fail("WHOOP API", str(error), "fix or remove WELLPIPE_WHOOP_BASE_URL")
    custom = ctx.config.get("WELLPIPE_WHOOP_BASE_URL") is not None
    return _ok("WHOOP API", settings.origin + (" (WELLPIPE_WHOOP_BASE_URL)" if custom else ""))


def check_tokens(ctx: DoctorContext) -> CheckResult:
    """A WHOOP account is connected: tokens are stored, including a refresh token."""
    tokens = ctx.tokens
    if tokens is None:
        return _fail(
            "WHOOP tokens", "no WHOOP account is connected yet", "run `wellpipe auth whoop`"
        )
    where = "the environment" if ctx.token_store.from_environment else str(ctx.paths.env_file)
    if not tokens.refresh_token:
        return _warn(
            "WHOOP tokens",
            f"an access token but no refresh token in {where}: the connection ends "
            "when the access token expires",
            "run `wellpipe auth whoop` (and keep `offline` access ticked)",
        )
    if ctx.token_store.from_environment:
        return _warn(
            "WHOOP tokens",
            "tokens come from environment variables, which go stale when WHOOP rotates them",
            "run `wellpipe auth whoop` so they live in the .env, and unset the variables",
        )
    return _ok("WHOOP tokens", f"access and refresh token in {where}")


def check_grant(ctx: DoctorContext) -> CheckResult:
    """The grant was not marked dead by a refused refresh."""
    reason = ctx.token_store.reauthorization_reason
    if reason:
        return _fail(
            "WHOOP grant",
            f"WHOOP refused the stored grant ({reason})",
            "run `wellpipe auth whoop` to connect again",
        )
    if ctx.tokens is None:
        return _skip("WHOOP grant", "no tokens")
    return _ok("WHOOP grant", "not revoked as far as we know")


def check_offline_scope(ctx: DoctorContext) -> CheckResult:
    """``offline`` (refresh tokens) and the read scopes were granted."""
    from wellpipe.providers.whoop import READ_SCOPES

    tokens = ctx.tokens
    if tokens is None:
        return _skip("Scopes", "no tokens")
    if not tokens.scopes:
        return _warn(
            "Scopes",
            "the granted scopes were not recorded",
            "run `wellpipe auth whoop` to record them",
        )
    if "offline" not in tokens.scopes:
        return _fail(
            "Scopes",
            "`offline` was not granted, so the connection cannot renew itself",
            "run `wellpipe auth whoop` and allow offline access",
        )
    missing = [scope for scope in READ_SCOPES if scope not in tokens.scopes]
    if missing:
        return _warn(
            "Scopes",
            f"not granted: {' '.join(missing)} (that data will be unavailable)",
            "run `wellpipe auth whoop` and allow every permission",
        )
    return _ok("Scopes", "offline and every read scope granted")


_NETWORK_NEEDS = frozenset(
    {"WHOOP app", "Redirect URI", "WHOOP API", "WHOOP tokens", "WHOOP grant"}
)


def check_whoop_call(ctx: DoctorContext) -> CheckResult:
    """A real call: read the profile (refreshing the access token first if needed)."""
    check = "WHOOP call"
    if ctx.offline:
        return _skip(check, "--offline")
    blocked = sorted(_NETWORK_NEEDS & ctx.failed)
    if blocked:
        return _skip(check, f"fix {', '.join(blocked)} first")
    import anyio

    from wellpipe.cli.connection import open_local_whoop
    from wellpipe.cli.state import LocalState
    from wellpipe.core.clock import SystemClock
    from wellpipe.core.errors import ProviderUnavailable, ReauthorizationRequired, WellpipeError
    from wellpipe.core.models import Profile

    clock = ctx.clock or SystemClock()

    async def read_profile() -> Profile:
        async with open_local_whoop(
            ctx.paths, clock=clock, environ=ctx.environ, transport=ctx.transport
        ) as whoop:
            return await whoop.profile()

    try:
        profile = anyio.run(read_profile)
    except ReauthorizationRequired as error:
        return _fail(check, str(error), error.action)
    except ProviderUnavailable as error:
        where = ctx.config.get("WELLPIPE_WHOOP_BASE_URL")
        return _fail(
            check,
            str(error),
            "check your internet connection"
            + (f" and WELLPIPE_WHOOP_BASE_URL ({where})" if where else "")
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
    LocalState(ctx.paths).record_success("whoop", clock.now())
    return _ok(check, f"WHOOP answered: signed in as {profile.display_name}")


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
    from wellpipe.cli.claude_config import wellpipe_entries

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
            f"{install} from this shell (or set WELLPIPE_HOME to {their_home})",
        )
    if "--demo" in args:
        return _warn(
            check,
            f"the entry {names[0]!r} serves the sandbox (--demo), not your WHOOP data",
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
        f"{listing}. Tokens there go stale after WHOOP's first rotation, and the .env wins anyway",
        f"run `wellpipe claude install` (it removes them from the Wellpipe entry); "
        f"remove any others from {ctx.claude_config} by hand",
    )


CHECKS: tuple[Callable[[DoctorContext], CheckResult], ...] = (
    check_python,
    check_home,
    check_env_file,
    check_app_credentials,
    check_redirect_uri,
    check_base_url,
    check_tokens,
    check_grant,
    check_offline_scope,
    check_whoop_call,
    check_claude_entry,
    check_no_tokens_in_claude,
)
"""Every check, in the order a setup goes."""


def run_checks(
    ctx: DoctorContext, checks: tuple[Callable[[DoctorContext], CheckResult], ...] = CHECKS
) -> list[CheckResult]:
    """Run ``checks`` in order; each sees which of the earlier ones failed."""
    results = []
    for check in checks:
        result = check(ctx)
        if result.failed:
            ctx.failed.add(result.check)
        results.append(result)
    return results


def _quote(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))


@click.command(short_help="Check each step of the setup.")
@click.option("--offline", is_flag=True, help="Skip the checks that call WHOOP.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@claude_config_option
@reports_errors
def doctor(offline: bool, as_json: bool, claude_config: Path | None) -> None:
    """Check each step of the setup in order, and say how to fix what fails.

    Makes one real WHOOP call (the profile), unless --offline. Exits with 0
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
