"""``wellpipe init``: the setup wizard for your own developer apps (WHOOP, Oura, Fitbit...).

It asks which providers to set up, then for each explains where to create the
developer app, which redirect URI to register and which scopes to allow, and
asks for the client id, the client secret (hidden) and the redirect URI. It
writes ``<NAME>_CLIENT_ID``, ``<NAME>_CLIENT_SECRET`` and ``<NAME>_REDIRECT_URI``
into the ``.env`` in Wellpipe's home folder (mode 0600; every other line,
tokens included, is kept).

Every question has a flag, so scripts can run it without a terminal::

    printf '%s' "$SECRET" | wellpipe init --yes --provider oura --client-id ID --client-secret-stdin

Run again, it shows the current values (the secret masked) as defaults.

Against a sandbox (``--base-url http://127.0.0.1:8765``, or the
``WELLPIPE_<NAME>_BASE_URL`` lines ``wellpipe sandbox`` prints, exported in this
shell) it says that no developer app is needed and any client id and secret will
do (offering ``sandbox-client`` / ``sandbox-secret``), and saves the base URL in
the ``.env``, where every Wellpipe process (Claude Desktop's too) finds it.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from wellpipe.cli.console import err, out, reports_errors

if TYPE_CHECKING:
    from wellpipe.cli.home import LocalPaths
    from wellpipe.core.provider_info import ProviderInfo

__all__ = ["DEFAULT_PROVIDER", "init", "mask_secret"]

T = TypeVar("T")

DEFAULT_PROVIDER = "whoop"
"""What ``wellpipe init`` sets up when nothing says otherwise (the first provider Wellpipe had)."""

SANDBOX_CLIENT = ("sandbox-client", "sandbox-secret")
"""The client id and secret offered for a sandbox (which accepts any, unless pinned)."""

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class _Sandbox:
    """What a loopback base URL turned out to be.

    Attributes:
        origin: The base URL.
        running: Whether a Wellpipe sandbox answered there.
        pinned: Whether it accepts only the client it was started with.
    """

    origin: str
    running: bool
    pinned: bool = False


def _probe_sandbox(origin: str) -> _Sandbox | None:
    """A sandbox at ``origin``, if it is a loopback address (``None`` otherwise)."""
    from urllib.parse import urlsplit

    import httpx2

    if (urlsplit(origin).hostname or "").lower() not in _LOOPBACK:
        return None
    try:
        with httpx2.Client(trust_env=False, timeout=2.0) as http:
            info = http.get(f"{origin}/_sandbox").json()
    except (httpx2.HTTPError, ValueError):
        return _Sandbox(origin, running=False)
    if not isinstance(info, dict) or "sandbox" not in info:
        return _Sandbox(origin, running=False)
    return _Sandbox(origin, running=True, pinned=bool(info.get("pinned_client")))


def mask_secret(secret: str) -> str:
    """A secret as it may be shown: its last four characters at most, and only if it is long."""
    return f"****{secret[-4:]}" if len(secret) >= 16 else "****"


def _single_token(label: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise click.BadParameter(f"the {label} cannot be empty")
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise click.BadParameter(
            f"the {label} cannot contain spaces or control characters; copy it again from "
            "the developer dashboard"
        )
    return value


def _flag(name: str, check: Callable[[], T]) -> T:
    """Run a check of a flag's value, naming the flag if it fails."""
    try:
        return check()
    except click.BadParameter as error:
        error.param_hint = f"'{name}'"
        raise


def _redirect_uri(value: str) -> str:
    from wellpipe.cli.callback import check_redirect_uri

    value = value.strip()
    try:
        return check_redirect_uri(value)
    except ValueError as reason:
        raise click.BadParameter(
            f"{value!r} cannot be used as the redirect URI: {reason}"
        ) from None


def _base_url(provider: str, value: str) -> str | None:
    """``None`` removes the setting (empty value or ``default``)."""
    from pydantic import ValidationError

    from wellpipe.providers.connector import get_connector

    value = value.strip()
    if value in ("", "default"):
        return None
    try:
        return get_connector(provider).location(value).origin
    except (ValidationError, ValueError):
        raise click.BadParameter(
            f"{value!r} is not an origin such as http://127.0.0.1:8765 (a `wellpipe sandbox`)"
        ) from None


def _explain_sandbox(info: ProviderInfo, sandbox: _Sandbox) -> None:
    where = f"the {info.display_name} sandbox at {sandbox.origin}"
    if sandbox.pinned:
        err.print(
            f"[bold]{info.display_name}[/]: Wellpipe talks to {where}. It accepts only the "
            "client id and secret it was started with (`wellpipe sandbox --client-id ... "
            "--client-secret ...`): enter those.",
            highlight=False,
        )
        return
    err.print(
        f"[bold]{info.display_name}[/]: Wellpipe talks to {where}, not to "
        f"{info.display_name}: no developer app is needed, and any client id and secret "
        f"will do (Enter takes {SANDBOX_CLIENT[0]} / {SANDBOX_CLIENT[1]}).",
        highlight=False,
    )
    if not sandbox.running:
        err.print(
            f"[yellow]Note:[/] nothing answers at {sandbox.origin} yet: start `wellpipe "
            f"sandbox` before `wellpipe auth {info.name}`.",
            highlight=False,
        )


def _explain_app(info: ProviderInfo) -> None:
    from wellpipe.cli.provider_notes import notes_for

    err.print(
        f"[bold]{info.display_name}[/]: {info.display_name} lets each person read their own "
        "data through a developer app they create. You need:",
        highlight=False,
    )
    portal = info.developer_portal or f"{info.display_name}'s developer site"
    err.print(f"  1. Open {portal} and create an app (any name).", highlight=False)
    err.print("  2. Register the redirect URI shown below.")
    err.print("  3. Allow the scopes listed below, save, and copy the Client ID and Secret.")
    for note in notes_for(info).setup:
        err.print(f"  [yellow]Note:[/] {note}", highlight=False)


def _explain_registration(info: ProviderInfo, redirect_uri: str) -> None:
    from wellpipe.cli.provider_notes import scope_lines

    err.print(
        f"In your {info.display_name} app, register this redirect URI exactly "
        "(character for character):",
        highlight=False,
    )
    err.print(f"  [bold]{redirect_uri}[/]", highlight=False, soft_wrap=True)
    err.print("and allow these scopes (tick them where the app lists scopes):")
    for line in scope_lines(info):
        err.print(f"  {line}", highlight=False, soft_wrap=True, markup=False)
    if "offline" in info.scopes:
        err.print(
            "Wellpipe asks for `offline` when you sign in, so it stays connected after the "
            "first hour; if your app lists an `offline` scope, tick it too.",
            highlight=False,
        )


@dataclass
class _Given:
    """What the flags said for the one provider they apply to."""

    client_id: str | None
    client_secret: str | None
    redirect_uri: str | None
    base_url: str | None


def _pick_providers(
    requested: tuple[str, ...], installed: list[str], configured: list[str], *, ask: bool
) -> list[str]:
    from wellpipe.providers import get_provider_info

    unknown = [name for name in requested if name not in installed]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not installed "
            f"(installed: {', '.join(installed)})",
            param_hint="'--provider'",
        )
    if requested:
        return list(dict.fromkeys(requested))
    default = configured or [DEFAULT_PROVIDER if DEFAULT_PROVIDER in installed else installed[0]]
    if not ask or len(installed) == 1:
        return default
    infos = [get_provider_info(name) for name in installed]
    err.print("[bold]Wellpipe setup[/]: which providers do you want to connect?")
    for number, info in enumerate(infos, start=1):
        where = f" (developer app at {info.developer_portal})" if info.developer_portal else ""
        err.print(f"  {number}. {info.name}: {info.display_name}{where}", highlight=False)

    def parse(text: str) -> list[str]:
        chosen = []
        for part in text.replace(",", " ").split():
            token = part.strip().lower()
            if token.isdigit() and 1 <= int(token) <= len(installed):
                chosen.append(installed[int(token) - 1])
            elif token in installed:
                chosen.append(token)
            else:
                raise click.BadParameter(
                    f"{part!r} is not one of {', '.join(installed)} (or 1-{len(installed)})"
                )
        if not chosen:
            raise click.BadParameter("choose at least one provider")
        return list(dict.fromkeys(chosen))

    answer: list[str] = click.prompt(
        "Providers (numbers or names, separated by commas)",
        default=", ".join(default),
        value_proc=parse,
        err=True,
    )
    return answer


@click.command(short_help="Set up Wellpipe: your developer app at each provider.")
@click.option(
    "--provider",
    "-p",
    "providers",
    multiple=True,
    help="Set up this provider (repeatable; default: ask, or WHOOP with --yes).",
)
@click.option("--client-id", help="The app's Client ID (with one --provider).")
@click.option(
    "--client-secret",
    help="The app's Client Secret (prefer --client-secret-stdin or $<NAME>_CLIENT_SECRET "
    "to keep it out of your shell history).",
)
@click.option(
    "--client-secret-stdin",
    is_flag=True,
    help="Read the Client Secret from the first line of standard input.",
)
@click.option(
    "--redirect-uri",
    help="Where the provider sends the browser back: http://127.0.0.1:PORT/path (Wellpipe "
    "listens there) or https://...  [default: http://127.0.0.1:8976/callback/<name>]",
)
@click.option(
    "--base-url",
    help="Talk to this origin instead of the provider, e.g. a `wellpipe sandbox` at "
    "http://127.0.0.1:8765 ('default' removes it).",
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Wellpipe's folder (default: $WELLPIPE_HOME or the platform's app folder).",
)
@click.option(
    "--yes",
    "--non-interactive",
    "non_interactive",
    is_flag=True,
    help="Ask nothing: use the flags, then the current values, then the defaults.",
)
@reports_errors
def init(
    providers: tuple[str, ...],
    client_id: str | None,
    client_secret: str | None,
    client_secret_stdin: bool,
    redirect_uri: str | None,
    base_url: str | None,
    home: Path | None,
    non_interactive: bool,
) -> None:
    """Set up Wellpipe with your developer apps (client id, secret, redirect URI).

    Asks which providers to set up and what the flags do not give, then writes it
    to the .env in Wellpipe's folder (mode 0600), keeping everything else in it,
    such as tokens.
    """
    from wellpipe.cli.home import LocalPaths
    from wellpipe.cli.local_config import LocalConfig
    from wellpipe.providers import available_providers

    if client_secret_stdin:
        if client_secret is not None:
            raise click.UsageError("pass --client-secret or --client-secret-stdin, not both")
        client_secret = sys.stdin.readline().strip()
        if not client_secret:
            raise click.UsageError("--client-secret-stdin read an empty line")

    # Validate what the flags gave before asking anything.
    if client_id is not None:
        given_id = client_id
        client_id = _flag("--client-id", lambda: _single_token("client id", given_id))
    if client_secret is not None:
        secret = client_secret
        client_secret = _flag("--client-secret", lambda: _single_token("client secret", secret))
    if redirect_uri is not None:
        uri = redirect_uri
        redirect_uri = _flag("--redirect-uri", lambda: _redirect_uri(uri))

    paths = LocalPaths(home=home.expanduser()) if home is not None else LocalPaths.from_environ()
    installed = available_providers()
    config = LocalConfig.load(paths, {})
    configured = [name for name in installed if config.is_configured(name)]
    flags_given = any(v is not None for v in (client_id, client_secret, redirect_uri, base_url))
    chosen = _pick_providers(
        providers, installed, configured, ask=not non_interactive and not flags_given
    )
    if flags_given and len(chosen) > 1:
        raise click.UsageError(
            "--client-id, --client-secret, --redirect-uri and --base-url apply to one "
            "provider: pass a single --provider"
        )
    new_base_url = (
        None if base_url is None else _flag("--base-url", lambda: _base_url(chosen[0], base_url))
    )
    given = _Given(client_id, client_secret, redirect_uri, new_base_url)
    for name in chosen:
        _setup_provider(
            name,
            paths,
            given=given,
            base_url_given=base_url is not None,
            non_interactive=non_interactive,
        )
    err.print(f"Saved to {paths.env_file} (readable only by you).", highlight=False)
    where = "" if home is None else f" --home {shlex.quote(str(home))}"
    err.print(f"Next, connect your account{'s' if len(chosen) > 1 else ''} (opens the browser):")
    for name in chosen:
        out.print(f"  wellpipe auth {name}{where}", highlight=False, markup=False, soft_wrap=True)


def _setup_provider(
    name: str,
    paths: LocalPaths,
    *,
    given: _Given,
    base_url_given: bool,
    non_interactive: bool,
) -> None:
    from wellpipe.cli.env_file import EnvFile
    from wellpipe.cli.local_config import AppKeys, default_redirect_uri
    from wellpipe.providers import get_provider_info

    info = get_provider_info(name)
    keys = AppKeys(name)
    env_file = EnvFile(paths.env_file)
    current = env_file.read()
    current_id = current.get(keys.client_id, "").strip() or None
    current_secret = current.get(keys.client_secret, "").strip() or None
    current_redirect = current.get(keys.redirect_uri, "").strip() or None
    client_id = given.client_id or os.environ.get(keys.client_id, "").strip() or None
    client_secret = given.client_secret or os.environ.get(keys.client_secret, "").strip() or None
    redirect_uri = given.redirect_uri

    # Where it will talk: the flag, else this shell's environment (`wellpipe sandbox`
    # prints the lines to export), else what the .env already says.
    new_base_url: str | None = None
    save_base_url = base_url_given
    if base_url_given:
        new_base_url = given.base_url
    else:
        exported = os.environ.get(keys.base_url, "").strip()
        if exported:
            try:
                new_base_url = _base_url(name, exported)
            except click.BadParameter:
                raise click.UsageError(
                    f"{keys.base_url}={exported!r} in your environment is not an origin such "
                    "as http://127.0.0.1:8765; fix or unset it (or pass --base-url)"
                ) from None
            save_base_url = new_base_url != (current.get(keys.base_url, "").strip() or None)
        else:
            new_base_url = current.get(keys.base_url, "").strip() or None
    sandbox = _probe_sandbox(new_base_url) if new_base_url else None
    offer_id, offer_secret = current_id, current_secret
    if sandbox is not None and not sandbox.pinned:
        offer_id = offer_id or SANDBOX_CLIENT[0]
        offer_secret = offer_secret or SANDBOX_CLIENT[1]

    if sandbox is not None:
        _explain_sandbox(info, sandbox)
    else:
        _explain_app(info)
    if current_id or current_secret:
        err.print(
            f"Current settings: client id {current_id or '(none)'}, "
            f"secret {mask_secret(current_secret) if current_secret else '(none)'}. "
            "Press Enter to keep a value.",
            highlight=False,
        )

    if redirect_uri is None:
        default_redirect = current_redirect or default_redirect_uri(name)
        try:
            default_redirect = _redirect_uri(default_redirect)
        except click.BadParameter:
            default_redirect = default_redirect_uri(name)
        if non_interactive:
            redirect_uri = default_redirect
        else:
            redirect_uri = click.prompt(
                f"{info.display_name} redirect URI",
                default=default_redirect,
                value_proc=_redirect_uri,
                err=True,
            )
    assert redirect_uri is not None
    if sandbox is None:  # a sandbox takes any redirect URI and grants every scope
        _explain_registration(info, redirect_uri)
    if redirect_uri.lower().startswith("http://localhost"):
        err.print(
            "[yellow]Note:[/] 127.0.0.1 is more reliable than localhost (which may resolve to "
            "IPv6); Wellpipe listens on 127.0.0.1.",
            highlight=False,
        )
    elif redirect_uri.lower().startswith("https://"):
        err.print(
            f"[yellow]Note:[/] with an https:// redirect URI, `wellpipe auth {name}` asks you "
            "to paste the address the browser lands on.",
            highlight=False,
        )

    if client_id is None:
        if non_interactive:
            if offer_id is None:
                raise click.UsageError("--client-id is required with --yes (nothing saved yet)")
            client_id = offer_id
        else:
            client_id = click.prompt(
                f"{info.display_name} Client ID",
                default=offer_id,
                value_proc=lambda value: _single_token("client id", value),
                err=True,
            )
    if client_secret is None:
        if non_interactive:
            if offer_secret is None:
                raise click.UsageError(
                    f"--client-secret, --client-secret-stdin or ${keys.client_secret} is "
                    "required with --yes (nothing saved yet)"
                )
            client_secret = offer_secret
        else:
            hint = (
                f" (Enter keeps {mask_secret(current_secret)})"
                if current_secret
                else f" (Enter takes {offer_secret})"
                if offer_secret
                else ""
            )
            client_secret = click.prompt(
                f"{info.display_name} Client secret, input hidden{hint}",
                default=offer_secret,
                show_default=False,
                hide_input=True,
                value_proc=lambda value: _single_token("client secret", value),
                err=True,
            )
    assert client_id is not None
    assert client_secret is not None

    changes: dict[str, str | None] = {
        keys.client_id: client_id,
        keys.client_secret: client_secret,
        keys.redirect_uri: redirect_uri,
    }
    if save_base_url:
        changes[keys.base_url] = new_base_url
    paths.ensure_home()
    env_file.update(changes)

    refresh_key = f"{name.upper()}_REFRESH_TOKEN"
    if current_id is not None and current_id != client_id and current.get(refresh_key):
        err.print(
            f"[yellow]Note:[/] the client id changed, and the saved {info.display_name} tokens "
            "belong to the previous app: connect again with the command below.",
            highlight=False,
        )
    if new_base_url is not None and save_base_url:
        err.print(
            f"Wellpipe will talk to {new_base_url} instead of {info.display_name} (saved as "
            f"{keys.base_url} in the .env, so Claude Desktop's server talks there too).",
            highlight=False,
        )
    _warn_environment_overrides(changes)


def _warn_environment_overrides(changes: dict[str, str | None]) -> None:
    import os

    for key, value in changes.items():
        environment = os.environ.get(key, "").strip()
        if environment and environment != value:
            err.print(
                f"[yellow]Note:[/] {key} is also set in your environment, and that value "
                "wins over the .env; unset it to use what you just saved.",
                highlight=False,
            )
