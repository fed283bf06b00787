"""Operator commands: ``wellpipe cloud user add|delete``, ``key create``, ``set-plan`` on SQLite."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner, Result

from tests.cloud.limits_support import open_context
from wellpipe.cloud.commands import cloud
from wellpipe.cloud.security import api_keys
from wellpipe.cloud.services.accounts import find_user
from wellpipe.cloud.services.keys import Principal, authenticate
from wellpipe.cloud.settings import CloudSettings, ensure_secrets
from wellpipe.core.clock import SystemClock

EMAIL = "Operator.Test@Example.com"
PASSWORD = "a long and unusual passphrase 7"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in ("WELLPIPE_ENCRYPTION_KEYS", "WELLPIPE_API_KEY_PEPPER", "WELLPIPE_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    values = {
        "WELLPIPE_HOME": str(tmp_path),
        "WELLPIPE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cloud.db'}",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def run(env: dict[str, str], *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cloud, list(args), input=input, env=env, catch_exceptions=False)


def _lookup(presented: str | None = None, email: str = EMAIL) -> tuple[bool, Principal | None]:
    """(account exists, what the key authenticates as), read as the service would."""

    async def check() -> tuple[bool, Principal | None]:
        settings, _ = ensure_secrets(CloudSettings())
        ctx = await open_context(settings, SystemClock())
        try:
            exists = await find_user(ctx, email) is not None
            return exists, (await authenticate(ctx, presented) if presented else None)
        finally:
            await ctx.db.dispose()

    return anyio.run(check)


def test_user_add_reads_the_password_from_stdin_and_refuses_a_second_account(
    env: dict[str, str],
) -> None:
    result = run(env, "user", "add", EMAIL, "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "Created the account operator.test@example.com" in result.stderr
    assert PASSWORD not in result.output
    assert _lookup()[0]

    again = run(env, "user", "add", EMAIL.lower(), "--password-stdin", input=PASSWORD)
    assert again.exit_code == 1
    assert "An account with this email exists" in again.stderr


def test_user_add_prompts_twice_without_echo(env: dict[str, str]) -> None:
    result = run(env, "user", "add", EMAIL, input=f"{PASSWORD}\nsomething else\n{PASSWORD}\n" * 2)
    assert result.exit_code == 0, result.output
    assert "do not match" in result.stderr
    assert PASSWORD not in result.output
    assert result.stdout == ""
    assert _lookup()[0]


def test_user_add_refuses_a_weak_password_or_a_bad_email(env: dict[str, str]) -> None:
    weak = run(env, "user", "add", EMAIL, "--password-stdin", input="short\n")
    assert weak.exit_code == 1
    assert weak.stderr.startswith("Error: ")
    bad = run(env, "user", "add", "not-an-email", "--password-stdin", input=PASSWORD)
    assert bad.exit_code == 1
    assert "valid email address" in bad.stderr
    assert not _lookup()[0]


def test_key_create_prints_only_the_key_and_it_works(env: dict[str, str]) -> None:
    assert run(env, "user", "add", EMAIL, "--password-stdin", input=PASSWORD).exit_code == 0
    result = run(env, "key", "create", EMAIL.upper(), "--name", "Claude Desktop")
    assert result.exit_code == 0, result.stderr
    full_key = result.stdout.removesuffix("\n")
    assert result.stdout == full_key + "\n"
    parsed = api_keys.parse(full_key)
    assert parsed is not None
    assert "shown only now" in result.stderr
    assert parsed.key_id in result.stderr
    assert full_key not in result.stderr

    _, principal = _lookup(full_key)
    assert principal is not None
    assert principal.plan == "FREE"

    unknown = run(env, "key", "create", "nobody@example.com", "--name", "x")
    assert unknown.exit_code == 1
    assert unknown.stdout == ""
    assert "No account has the email 'nobody@example.com'" in unknown.stderr
    unnamed = run(env, "key", "create", EMAIL, "--name", "   ")
    assert unnamed.exit_code == 1
    assert "name of 1 to 100 characters" in unnamed.stderr


def test_set_plan_applies_to_the_next_request(env: dict[str, str]) -> None:
    assert run(env, "user", "add", EMAIL, "--password-stdin", input=PASSWORD).exit_code == 0
    full_key = run(env, "key", "create", EMAIL, "--name", "k").stdout.strip()
    result = run(env, "set-plan", EMAIL, "pro")
    assert result.exit_code == 0, result.stderr
    assert "is on PRO" in result.stderr
    principal = _lookup(full_key)[1]
    assert principal is not None
    assert (principal.key_id, principal.plan) == (full_key[8:16], "PRO")
    assert run(env, "set-plan", EMAIL, "FREE").exit_code == 0
    principal = _lookup(full_key)[1]
    assert principal is not None
    assert principal.plan == "FREE"
    assert run(env, "set-plan", EMAIL, "GOLD").exit_code == 2
    unknown = run(env, "set-plan", "nobody@example.com", "PRO")
    assert unknown.exit_code == 1
    assert "No account has the email" in unknown.stderr


def test_user_delete_asks_first_then_removes_the_account_and_its_keys(
    env: dict[str, str],
) -> None:
    assert run(env, "user", "add", EMAIL, "--password-stdin", input=PASSWORD).exit_code == 0
    full_key = run(env, "key", "create", EMAIL, "--name", "k").stdout.strip()

    declined = run(env, "user", "delete", EMAIL, input="n\n")
    assert declined.exit_code == 1
    assert "Aborted" in declined.stderr
    assert _lookup(full_key)[1] is not None

    confirmed = run(env, "user", "delete", EMAIL, input="y\n")
    assert confirmed.exit_code == 0, confirmed.stderr
    assert "deleted" in confirmed.stderr
    assert _lookup(full_key) == (False, None)

    again = run(env, "user", "delete", EMAIL, "--yes")
    assert again.exit_code == 1
    assert "No account has the email" in again.stderr


def test_client_revoke_says_how_many_grants_ended(env: dict[str, str]) -> None:
    result = run(env, "client", "revoke", "https://assistant.example/oauth/client.json")
    assert result.exit_code == 0, result.output
    assert "0 grant(s) ended" in result.stderr
    assert result.stdout == ""
