"""Helpers for tests of the CLI's local files: a Wellpipe home connected to a sandbox."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import CREDENTIALS, ORIGIN
from wellpipe.cli.env_file import EnvFile
from wellpipe.cli.env_tokens import store_tokens
from wellpipe.cli.home import LocalPaths
from wellpipe.core.ports import Clock
from wellpipe.core.tokens import TokenSet
from wellpipe.sandbox import WhoopSandbox

TOKEN_PATH = "/oauth/oauth2/token"
PROFILE = "/developer/v2/user/profile/basic"

CONFIG = {
    "WHOOP_CLIENT_ID": CREDENTIALS.client_id,
    "WHOOP_CLIENT_SECRET": CREDENTIALS.client_secret,
    "WHOOP_REDIRECT_URI": CREDENTIALS.redirect_uri,
}


def write_config(paths: LocalPaths, *, origin: str = ORIGIN) -> None:
    """A ``.env`` with the test app's credentials, pointing at ``origin``."""
    paths.ensure_home()
    EnvFile(paths.env_file).update({**CONFIG, "WELLPIPE_WHOOP_BASE_URL": origin})


def issue(sandbox: WhoopSandbox, clock: Clock, *, expired: bool = False) -> TokenSet:
    """A fresh grant at the sandbox, as a token set (optionally already expired locally)."""
    issued = sandbox.issue_tokens(client_id=CREDENTIALS.client_id)
    lifetime = timedelta(seconds=-1 if expired else issued["expires_in"])
    return TokenSet(
        access_token=issued["access_token"],
        refresh_token=issued["refresh_token"],
        expires_at=clock.now() + lifetime,
        scopes=frozenset(issued["scope"].split()),
    )


def connect_home(
    paths: LocalPaths,
    sandbox: WhoopSandbox,
    clock: Clock,
    *,
    expired: bool = False,
    origin: str = ORIGIN,
) -> TokenSet:
    """Write the config and a fresh grant's tokens into ``paths``; returns the tokens."""
    write_config(paths, origin=origin)
    tokens = issue(sandbox, clock, expired=expired)
    store_tokens(paths, tokens)
    return tokens


def expire_in_file(paths: LocalPaths, clock: Clock) -> None:
    """Make the stored access token look expired to every process reading the file."""
    EnvFile(paths.env_file).update(
        {"WHOOP_TOKEN_EXPIRES_AT": (clock.now() - timedelta(seconds=1)).isoformat()}
    )
