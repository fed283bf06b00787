"""``wellpipe init``: the setup wizard for your own WHOOP developer app.

It explains where to create the app, which redirect URI to register and which
scopes to tick, then asks for the client id, the client secret (hidden) and the
redirect URI, and writes ``WHOOP_CLIENT_ID``, ``WHOOP_CLIENT_SECRET`` and
``WHOOP_REDIRECT_URI`` into the ``.env`` in Wellpipe's home folder (mode 0600;
every other line, tokens included, is kept).

Every question has a flag, so scripts can run it without a terminal::

    printf '%s' "$SECRET" | wellpipe init --yes --client-id ID --client-secret-stdin

Run again, it shows the current values (the secret masked) as defaults.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
from click.core import ParameterSource

from wellpipe.cli.console import err, out, reports_errors

__all__ = ["init", "mask_secret"]

T = TypeVar("T")

_CLIENT_ID = "WHOOP_CLIENT_ID"
_CLIENT_SECRET = "WHOOP_CLIENT_SECRET"
_REDIRECT_URI = "WHOOP_REDIRECT_URI"
_BASE_URL = "WELLPIPE_WHOOP_BASE_URL"


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


def _base_url(value: str) -> str | None:
    """``None`` removes the setting (empty value or ``default``)."""
    from pydantic import ValidationError

    from wellpipe.providers.whoop import WhoopSettings

    value = value.strip()
    if value in ("", "default"):
        return None
    try:
        return WhoopSettings.for_origin(value).origin
    except ValidationError:
        raise click.BadParameter(
            f"{value!r} is not an origin such as http://127.0.0.1:8765 (a `wellpipe sandbox`)"
        ) from None


def _explain_app(dashboard: str) -> None:
    err.print("[bold]Wellpipe setup[/]: connect your own WHOOP developer app.", highlight=False)
    err.print("WHOOP lets each person read their own data through a free developer app. You need:")
    err.print(f"  1. Open {dashboard} and create an app (any name).", highlight=False)
    err.print("  2. Register the redirect URI shown below.")
    err.print("  3. Tick the scopes listed below, save, and copy the Client ID and Secret.")


def _explain_registration(redirect_uri: str, read_scopes: tuple[str, ...]) -> None:
    err.print("In your WHOOP app, register this redirect URI exactly (character for character):")
    err.print(f"  [bold]{redirect_uri}[/]", highlight=False, soft_wrap=True)
    err.print("and tick these scopes:")
    err.print(f"  {', '.join(read_scopes)}", highlight=False, soft_wrap=True)
    err.print(
        "Wellpipe also asks for `offline` when you sign in, so it stays connected after the "
        "first hour; if your app lists an `offline` scope, tick it too.",
        highlight=False,
    )


@click.command(short_help="Set up Wellpipe: your WHOOP developer app.")
@click.option("--client-id", envvar=_CLIENT_ID, help="Your WHOOP app's Client ID.")
@click.option(
    "--client-secret",
    envvar=_CLIENT_SECRET,
    help="Your WHOOP app's Client Secret (prefer --client-secret-stdin or $WHOOP_CLIENT_SECRET "
    "to keep it out of your shell history).",
)
@click.option(
    "--client-secret-stdin",
    is_flag=True,
    help="Read the Client Secret from the first line of standard input.",
)
@click.option(
    "--redirect-uri",
    help="Where WHOOP sends the browser back: http://127.0.0.1:PORT/path (Wellpipe listens "
    "there) or https://...  [default: http://127.0.0.1:8976/callback/whoop]",
)
@click.option(
    "--base-url",
    help="Talk to this WHOOP origin instead of WHOOP, e.g. a `wellpipe sandbox` at "
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
    client_id: str | None,
    client_secret: str | None,
    client_secret_stdin: bool,
    redirect_uri: str | None,
    base_url: str | None,
    home: Path | None,
    non_interactive: bool,
) -> None:
    """Set up Wellpipe with your WHOOP developer app (client id, secret, redirect URI).

    Asks for what the flags do not give, then writes them to the .env in Wellpipe's
    folder (mode 0600), keeping everything else in it, such as tokens.
    """
    from wellpipe.cli.env_file import EnvFile
    from wellpipe.cli.home import LocalPaths
    from wellpipe.cli.local_config import DEFAULT_REDIRECT_URI
    from wellpipe.providers.whoop import READ_SCOPES
    from wellpipe.providers.whoop.settings import DEVELOPER_DASHBOARD

    if client_secret_stdin:
        if (
            client_secret is not None
            and click.get_current_context().get_parameter_source("client_secret")
            == ParameterSource.COMMANDLINE
        ):
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
    new_base_url = None if base_url is None else _flag("--base-url", lambda: _base_url(base_url))

    paths = LocalPaths(home=home.expanduser()) if home is not None else LocalPaths.from_environ()
    env_file = EnvFile(paths.env_file)
    current = env_file.read()
    current_id = current.get(_CLIENT_ID, "").strip() or None
    current_secret = current.get(_CLIENT_SECRET, "").strip() or None
    current_redirect = current.get(_REDIRECT_URI, "").strip() or None

    _explain_app(DEVELOPER_DASHBOARD)
    if current_id or current_secret:
        err.print(
            f"Current settings in {paths.env_file}: client id {current_id or '(none)'}, "
            f"secret {mask_secret(current_secret) if current_secret else '(none)'}. "
            "Press Enter to keep a value.",
            highlight=False,
        )

    if redirect_uri is None:
        default_redirect = current_redirect or DEFAULT_REDIRECT_URI
        try:
            default_redirect = _redirect_uri(default_redirect)
        except click.BadParameter:
            default_redirect = DEFAULT_REDIRECT_URI
        if non_interactive:
            redirect_uri = default_redirect
        else:
            redirect_uri = click.prompt(
                "Redirect URI", default=default_redirect, value_proc=_redirect_uri, err=True
            )
    assert redirect_uri is not None
    _explain_registration(redirect_uri, READ_SCOPES)
    if redirect_uri.lower().startswith("http://localhost"):
        err.print(
            "[yellow]Note:[/] 127.0.0.1 is more reliable than localhost (which may resolve to "
            "IPv6); Wellpipe listens on 127.0.0.1.",
            highlight=False,
        )
    elif redirect_uri.lower().startswith("https://"):
        err.print(
            "[yellow]Note:[/] with an https:// redirect URI, `wellpipe auth whoop` asks you to "
            "paste the address the browser lands on.",
            highlight=False,
        )

    if client_id is None:
        if non_interactive:
            if current_id is None:
                raise click.UsageError("--client-id is required with --yes (nothing saved yet)")
            client_id = current_id
        else:
            client_id = click.prompt(
                "Client ID",
                default=current_id,
                value_proc=lambda value: _single_token("client id", value),
                err=True,
            )
    if client_secret is None:
        if non_interactive:
            if current_secret is None:
                raise click.UsageError(
                    "--client-secret, --client-secret-stdin or $WHOOP_CLIENT_SECRET is "
                    "required with --yes (nothing saved yet)"
                )
            client_secret = current_secret
        else:
            hint = f" (Enter keeps {mask_secret(current_secret)})" if current_secret else ""
            client_secret = click.prompt(
                f"Client secret, input hidden{hint}",
                default=current_secret,
                show_default=False,
                hide_input=True,
                value_proc=lambda value: _single_token("client secret", value),
                err=True,
            )
    assert client_id is not None
    assert client_secret is not None

    changes: dict[str, str | None] = {
        _CLIENT_ID: client_id,
        _CLIENT_SECRET: client_secret,
        _REDIRECT_URI: redirect_uri,
    }
    if base_url is not None:
        changes[_BASE_URL] = new_base_url
    paths.ensure_home()
    env_file.update(changes)

    err.print(f"Saved to {paths.env_file} (readable only by you).", highlight=False)
    if current_id is not None and current_id != client_id and current.get("WHOOP_REFRESH_TOKEN"):
        err.print(
            "[yellow]Note:[/] the client id changed, and the saved WHOOP tokens belong to the "
            "previous app: connect again with the command below.",
            highlight=False,
        )
    if new_base_url is not None:
        err.print(f"Wellpipe will talk to {new_base_url} instead of WHOOP.", highlight=False)
    _warn_environment_overrides(changes)
    where = "" if home is None else f" --home {shlex.quote(str(home))}"
    err.print("Next, connect your WHOOP account (opens the browser):")
    out.print(f"  wellpipe auth whoop{where}", highlight=False, markup=False, soft_wrap=True)


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
