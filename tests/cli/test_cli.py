from __future__ import annotations

from typing import Any

import click
import pytest
from click.testing import CliRunner

from wellpipe import __version__
from wellpipe.cli import main
from wellpipe.cli.console import exit_code_for, reports_errors
from wellpipe.core import (
    ConfigError,
    ProviderUnavailable,
    ReauthorizationRequired,
    UnknownProviderError,
)


def test_help_lists_every_command_without_importing_them() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("init", "auth", "serve", "demo", "claude", "status", "doctor", "sandbox"):
        assert f"  {command} " in result.stdout


def test_the_demo_refuses_a_nonsense_port() -> None:
    result = CliRunner().invoke(main, ["demo", "--port", "70000"])
    assert result.exit_code == 2
    assert "--port" in result.stderr


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.stdout.strip() == f"wellpipe, version {__version__}"


def test_the_sandbox_command_serves_a_configured_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    served: dict[str, Any] = {}

    def fake_serve(apps: Any, *, host: str, ready: Any, log_level: str = "info") -> None:
        [(app, port)] = apps
        served.update(app=app, host=host, port=port)
        ready([port])

    monkeypatch.setattr("wellpipe.sandbox.server.serve_many_forever", fake_serve)
    result = CliRunner().invoke(
        main,
        [
            "sandbox",
            "--provider",
            "whoop",
            "--port",
            "9911",
            "--seed",
            "3",
            "--days",
            "200",
            "--members",
            "1",
            "--client-id",
            "id",
            "--client-secret",
            "secret",
        ],
    )
    assert result.exit_code == 0, result.output
    assert served["port"] == 9911
    assert served["host"] == "127.0.0.1"
    assert served["app"].pinned_client
    assert served["app"].history.days == 200
    assert "export WELLPIPE_WHOOP_BASE_URL=http://127.0.0.1:9911" in result.stderr
    assert '-H "Authorization: Bearer ' in result.stderr


def test_the_sandbox_command_wants_both_halves_of_a_client() -> None:
    result = CliRunner().invoke(main, ["sandbox", "--client-id", "id"])
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("WHOOP_CLIENT_ID is missing: run `wellpipe init`."), 78),
        (ReauthorizationRequired(provider="whoop", reason="refresh token refused"), 77),
        (ProviderUnavailable(provider="whoop", endpoint=None, detail="HTTP 503"), 69),
        (UnknownProviderError("garmin", installed=[]), 1),
    ],
)
def test_errors_become_a_sentence_and_an_exit_code_not_a_traceback(
    error: Exception, code: int
) -> None:
    @click.command()
    @reports_errors
    def failing() -> None:
        raise error

    result = CliRunner().invoke(failing)
    assert result.exit_code == code
    assert result.stderr.startswith("Error: ")
    assert str(error)[:40] in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_exit_codes_follow_sysexits() -> None:
    assert exit_code_for(ConfigError("x")) == 78
