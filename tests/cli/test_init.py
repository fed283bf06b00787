"""``wellpipe init``: the setup wizard, interactive and not."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from anyio.from_thread import start_blocking_portal
from click.testing import CliRunner, Result

from wellpipe.cli import main
from wellpipe.cli.env_file import EnvFile
from wellpipe.cli.init_command import mask_secret
from wellpipe.cli.local_config import DEFAULT_REDIRECT_URI
from wellpipe.core import SystemClock
from wellpipe.providers import available_providers
from wellpipe.sandbox import WhoopSandbox
from wellpipe.sandbox.server import serve_in_background
from wellpipe.sandbox.whoop import History

SECRET = "a-client-secret-0123456789abcdef"
TOKENS = {
    "WHOOP_ACCESS_TOKEN": "access-token-value",
    "WHOOP_REFRESH_TOKEN": "refresh-token-value",
    "WHOOP_TOKEN_EXPIRES_AT": "2026-11-21T16:30:00+00:00",
    "WHOOP_TOKEN_SCOPES": "offline read:sleep",
}


PICK = "\n" if len(available_providers()) > 1 else ""
"""Enter at "which providers?" (asked when several are installed): WHOOP, the default."""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "wellpipe-home"


def run(home: Path, *args: str, stdin: str | None = None, **env: str) -> Result:
    return CliRunner().invoke(
        main, ["init", *args], input=stdin, env={"WELLPIPE_HOME": str(home), **env}
    )


def said(result: Result) -> str:
    """Stderr with rich's line wrapping undone."""
    return " ".join(result.stderr.split())


def stored(home: Path) -> dict[str, str]:
    return EnvFile(home / ".env").read()


def test_interactive_setup_writes_the_env_with_mode_0600(home: Path) -> None:
    result = run(home, stdin=f"{PICK}\nmy-client-id\n{SECRET}\n")

    assert result.exit_code == 0, result.output
    assert stored(home) == {
        "WHOOP_CLIENT_ID": "my-client-id",
        "WHOOP_CLIENT_SECRET": SECRET,
        "WHOOP_REDIRECT_URI": DEFAULT_REDIRECT_URI,
    }
    assert (home / ".env").stat().st_mode & 0o777 == 0o600
    assert home.stat().st_mode & 0o777 == 0o700
    assert SECRET not in result.output  # hidden input is not echoed
    text = said(result)
    assert "https://developer-dashboard.whoop.com" in text
    assert DEFAULT_REDIRECT_URI in text
    for scope in ("read:recovery", "read:cycles", "read:workout", "read:sleep", "read:profile"):
        assert scope in text
    assert "read:body_measurement" in text
    assert "offline" in text
    assert result.stdout.strip() == "wellpipe auth whoop"


def test_the_redirect_uri_shown_for_registration_is_the_one_saved(home: Path) -> None:
    custom = "http://127.0.0.1:9123/callback/whoop"
    result = run(home, stdin=f"{PICK}{custom}\nid\n{SECRET}\n")
    assert result.exit_code == 0, result.output
    assert stored(home)["WHOOP_REDIRECT_URI"] == custom
    assert f"register this redirect URI exactly (character for character): {custom}" in said(result)


def test_a_refused_redirect_uri_says_why_and_asks_again(home: Path) -> None:
    result = run(
        home, stdin=f"{PICK}http://example.com:80/cb\nhttp://127.0.0.1:8976\n\nid\n{SECRET}\n"
    )
    assert result.exit_code == 0, result.output
    text = said(result)
    assert "plain http:// is only safe to this computer itself" in text
    assert "it needs a path" in text
    assert stored(home)["WHOOP_REDIRECT_URI"] == DEFAULT_REDIRECT_URI


def test_empty_or_spaced_values_are_asked_again(home: Path) -> None:
    result = run(home, stdin=f"{PICK}\n\nmy id\nmy-id\n{SECRET}\n")
    assert result.exit_code == 0, result.output
    assert "cannot contain spaces" in said(result)
    assert stored(home)["WHOOP_CLIENT_ID"] == "my-id"


def test_non_interactive_with_flags(home: Path) -> None:
    result = run(
        home,
        "--yes",
        "--client-id",
        "cid",
        "--client-secret",
        SECRET,
        "--redirect-uri",
        "http://localhost:3000/callback/whoop",
        "--base-url",
        "http://127.0.0.1:8765",
    )
    assert result.exit_code == 0, result.output
    assert stored(home) == {
        "WHOOP_CLIENT_ID": "cid",
        "WHOOP_CLIENT_SECRET": SECRET,
        "WHOOP_REDIRECT_URI": "http://localhost:3000/callback/whoop",
        "WELLPIPE_WHOOP_BASE_URL": "http://127.0.0.1:8765",
    }
    assert "127.0.0.1 is more reliable than localhost" in said(result)
    assert SECRET not in result.output


def test_the_secret_can_come_from_stdin_or_the_environment(tmp_path: Path) -> None:
    piped = run(tmp_path / "a", "--non-interactive", "--client-id", "cid", "--client-secret-stdin",
                stdin=f"{SECRET}\n")  # fmt: skip
    assert piped.exit_code == 0, piped.output
    assert stored(tmp_path / "a")["WHOOP_CLIENT_SECRET"] == SECRET

    from_env = run(tmp_path / "b", "--yes", "--client-id", "cid", WHOOP_CLIENT_SECRET=SECRET)
    assert from_env.exit_code == 0, from_env.output
    assert stored(tmp_path / "b")["WHOOP_CLIENT_SECRET"] == SECRET


def test_both_secret_flags_at_once_are_refused(home: Path) -> None:
    result = run(
        home, "--yes", "--client-id", "c", "--client-secret", SECRET, "--client-secret-stdin",
        stdin=f"{SECRET}\n",
    )  # fmt: skip
    assert result.exit_code == 2
    assert not (home / ".env").exists()


def test_non_interactive_without_a_client_id_is_a_usage_error(home: Path) -> None:
    result = run(home, "--yes", "--client-secret", SECRET)
    assert result.exit_code == 2
    assert "--client-id is required" in result.stderr
    assert not (home / ".env").exists()


def test_a_bad_redirect_flag_is_refused_with_the_reason(home: Path) -> None:
    result = run(home, "--yes", "--client-id", "c", "--client-secret", SECRET,
                 "--redirect-uri", "http://127.0.0.1/callback")  # fmt: skip
    assert result.exit_code == 2
    assert "--redirect-uri" in result.stderr
    assert "explicit port" in said(result)
    assert not (home / ".env").exists()


def test_rerunning_keeps_tokens_and_shows_current_values_masked(home: Path) -> None:
    home.mkdir(mode=0o700)
    env = EnvFile(home / ".env")
    env.update(
        {
            "WHOOP_CLIENT_ID": "old-id",
            "WHOOP_CLIENT_SECRET": SECRET,
            "WHOOP_REDIRECT_URI": "http://127.0.0.1:9000/callback/whoop",
            **TOKENS,
        }
    )
    (home / ".env").write_text("# my notes\n" + (home / ".env").read_text())

    result = run(home, stdin=f"{PICK}\n\n\n")  # Enter keeps every value

    assert result.exit_code == 0, result.output
    after = stored(home)
    assert after["WHOOP_CLIENT_ID"] == "old-id"
    assert after["WHOOP_CLIENT_SECRET"] == SECRET
    assert after["WHOOP_REDIRECT_URI"] == "http://127.0.0.1:9000/callback/whoop"
    for key, value in TOKENS.items():
        assert after[key] == value
    assert (home / ".env").read_text().startswith("# my notes\n")
    assert SECRET not in result.output
    assert mask_secret(SECRET) in said(result)
    assert "[http://127.0.0.1:9000/callback/whoop]" in result.stderr
    assert "[old-id]" in result.stderr


def test_rerunning_with_a_new_client_id_warns_that_the_tokens_belong_to_the_old_app(
    home: Path,
) -> None:
    home.mkdir(mode=0o700)
    EnvFile(home / ".env").update(
        {"WHOOP_CLIENT_ID": "old-id", "WHOOP_CLIENT_SECRET": SECRET, **TOKENS}
    )
    result = run(home, "--yes", "--client-id", "new-id")
    assert result.exit_code == 0, result.output
    assert "the client id changed" in said(result)
    assert stored(home)["WHOOP_REFRESH_TOKEN"] == TOKENS["WHOOP_REFRESH_TOKEN"]


def test_base_url_default_removes_the_override(home: Path) -> None:
    args = ("--yes", "--client-id", "c", "--client-secret", SECRET)
    assert run(home, *args, "--base-url", "http://127.0.0.1:8765").exit_code == 0
    assert stored(home)["WELLPIPE_WHOOP_BASE_URL"] == "http://127.0.0.1:8765"
    assert run(home, *args, "--base-url", "default").exit_code == 0
    assert "WELLPIPE_WHOOP_BASE_URL" not in stored(home)
    bad = run(home, *args, "--base-url", "http://127.0.0.1:8765/?x=1")
    assert bad.exit_code == 2
    assert "--base-url" in bad.stderr


def test_the_home_flag_picks_the_folder_and_the_next_step_carries_it(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    result = CliRunner().invoke(
        main,
        ["init", "--yes", "--home", str(elsewhere), "--client-id", "c", "--client-secret", SECRET],
    )
    assert result.exit_code == 0, result.output
    assert stored(elsewhere)["WHOOP_CLIENT_ID"] == "c"
    assert result.stdout.strip() == f"wellpipe auth whoop --home {elsewhere}"


def test_an_environment_value_that_overrides_the_file_is_pointed_out(home: Path) -> None:
    result = run(
        home, "--yes", "--client-id", "c", "--client-secret", SECRET,
        WHOOP_REDIRECT_URI="http://127.0.0.1:1234/other",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "WHOOP_REDIRECT_URI is also set in your environment" in said(result)


@pytest.mark.parametrize(
    ("secret", "shown"),
    [("short", "****"), ("exactly-15-char", "****"), ("sixteen-chars-ok", "****s-ok")],
)
def test_mask_secret(secret: str, shown: str) -> None:
    assert mask_secret(secret) == shown


# ---------------------------------------------------------------------- against a sandbox
@pytest.fixture
def running_sandbox(history: History) -> Iterator[str]:
    """A WHOOP sandbox on loopback, as `wellpipe sandbox` runs it: its origin."""
    sandbox = WhoopSandbox(clock=SystemClock(), history=history)
    with (
        start_blocking_portal(backend="asyncio") as portal,
        portal.wrap_async_context_manager(serve_in_background(sandbox)) as origin,
    ):
        yield origin


def test_at_a_sandbox_any_client_will_do_and_the_base_url_is_saved(
    home: Path, running_sandbox: str
) -> None:
    result = run(home, "--yes", "--provider", "whoop", "--base-url", running_sandbox)

    assert result.exit_code == 0, result.output
    text = said(result)
    assert f"the WHOOP sandbox at {running_sandbox}" in text
    assert "any client id and secret will do" in text
    assert "developer-dashboard" not in text  # no developer app to create
    assert stored(home) == {
        "WHOOP_CLIENT_ID": "sandbox-client",
        "WHOOP_CLIENT_SECRET": "sandbox-secret",
        "WHOOP_REDIRECT_URI": "http://127.0.0.1:8976/callback/whoop",
        "WELLPIPE_WHOOP_BASE_URL": running_sandbox,
    }


def test_interactively_enter_takes_the_sandbox_client(home: Path, running_sandbox: str) -> None:
    result = run(home, "--provider", "whoop", "--base-url", running_sandbox, stdin="\n\n\n")
    assert result.exit_code == 0, result.output
    assert "Enter takes sandbox-secret" in said(result)
    assert stored(home)["WHOOP_CLIENT_ID"] == "sandbox-client"


def test_the_base_url_exported_for_the_sandbox_is_saved_in_the_env(
    home: Path, running_sandbox: str
) -> None:
    """`wellpipe sandbox` says to export these; every later process must see them too."""
    result = run(home, "--yes", "--provider", "whoop", WELLPIPE_WHOOP_BASE_URL=running_sandbox)
    assert result.exit_code == 0, result.output
    assert stored(home)["WELLPIPE_WHOOP_BASE_URL"] == running_sandbox
    assert "any client id and secret will do" in said(result)
    assert "saved as WELLPIPE_WHOOP_BASE_URL in the .env" in said(result)


def test_a_sandbox_that_is_not_running_yet_is_pointed_out(home: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        origin = f"http://127.0.0.1:{probe.getsockname()[1]}"
    result = run(home, "--yes", "--provider", "whoop", "--base-url", origin)
    assert result.exit_code == 0, result.output
    assert f"nothing answers at {origin} yet: start `wellpipe sandbox`" in said(result)


def test_an_existing_loose_home_is_made_private(home: Path) -> None:
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    result = run(home, "--yes", "--client-id", "c", "--client-secret", SECRET)
    assert result.exit_code == 0, result.output
    assert home.stat().st_mode & 0o777 == 0o700


@pytest.mark.skipif("fitbit" not in available_providers(), reason="fitbit is not registered")
def test_google_scopes_are_named_with_the_exact_scope_to_add(home: Path) -> None:
    result = run(home, "--yes", "--provider", "fitbit", "--client-id", "c",
                 "--client-secret", SECRET)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        "Health metrics: https://www.googleapis.com/auth/"
        "googlehealth.health_metrics_and_measurements.readonly" in said(result)
    )
