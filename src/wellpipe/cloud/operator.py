"""Operator commands: ``user add|delete``, ``key create``, ``set-plan``, ``client revoke``.

They run against the database the service uses (``WELLPIPE_DATABASE_URL``, or SQLite in
the Wellpipe home), migrate it first, and go through the same services as the dashboard,
so every change is audited and follows the same rules. Only what a script needs goes to
stdout (the new key); explanations go to stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import click

from wellpipe.cloud.context import CloudContext

__all__ = ["client", "key", "set_plan", "user"]

T = TypeVar("T")


def _say(message: str) -> None:
    click.echo(message, err=True)


def _run(work: Callable[[CloudContext], Awaitable[T]]) -> T:
    """Run ``work`` with a context over the configured (and migrated) database."""
    from wellpipe.cloud.db import Database, upgrade_to_head
    from wellpipe.cloud.settings import CloudSettings, ensure_secrets
    from wellpipe.core.clock import SystemClock

    try:
        settings, _ = ensure_secrets(CloudSettings())
    except ValueError as invalid:
        raise click.ClickException(f"invalid setting: {invalid}") from None

    async def main() -> T:
        db = Database(settings.effective_database_url)
        try:
            await upgrade_to_head(db)
            return await work(CloudContext(settings=settings, db=db, clock=SystemClock()))
        finally:
            await db.dispose()

    return anyio.run(main)


async def _user_id(ctx: CloudContext, email: str) -> str:
    from wellpipe.cloud.services.accounts import find_user

    found = await find_user(ctx, email)
    if found is None:
        raise click.ClickException(
            f"No account has the email {email!r}; check it, or add it with "
            f"`wellpipe cloud user add {email}`."
        )
    return found.id


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.read()
        # One trailing newline is the line end of `echo`/a file, not part of the password.
        if password.endswith("\r\n"):
            password = password[:-2]
        elif password.endswith("\n"):
            password = password[:-1]
        if not password:
            raise click.ClickException("No password on stdin; pipe one in, e.g. from a file.")
        return password
    return str(
        click.prompt(
            "Password", hide_input=True, confirmation_prompt="Repeat the password", err=True
        )
    )


@click.group()
def user() -> None:
    """Add or delete accounts."""


@user.command("add")
@click.argument("email")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from stdin (one line) instead of prompting for it.",
)
def user_add(email: str, password_stdin: bool) -> None:
    """Create an account with EMAIL and a password (asked for, hidden, twice)."""
    password = _read_password(password_stdin)

    async def work(ctx: CloudContext) -> str:
        from wellpipe.cloud.security.passwords import WeakPassword
        from wellpipe.cloud.services.accounts import AccountError, create_user

        try:
            created = await create_user(ctx, email=email, password=password)
        except (AccountError, WeakPassword) as refused:
            raise click.ClickException(str(refused)) from None
        return created.email

    stored = _run(work)
    _say(
        f"Created the account {stored} (plan FREE). Give it an API key with "
        f"`wellpipe cloud key create {stored} --name NAME`."
    )


@user.command("delete")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def user_delete(email: str, yes: bool) -> None:
    """Delete the account EMAIL and everything stored about it (provider grants revoked)."""
    if not yes:
        click.confirm(
            f"Delete the account {email} with its keys, connections and usage? "
            "This cannot be undone",
            abort=True,
            err=True,
        )

    async def work(ctx: CloudContext) -> str:
        from wellpipe.cloud.services.deletion import delete_account

        report = await delete_account(ctx, user_id=await _user_id(ctx, email))
        return report.sentence

    _say(f"{email}: {_run(work)}")


@click.group()
def key() -> None:
    """Create API keys for an account."""


@key.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What the key is for, e.g. 'Claude Desktop'.")
def key_create(email: str, name: str) -> None:
    """Create an API key for EMAIL and print it (only the key, on stdout, once)."""

    async def work(ctx: CloudContext) -> tuple[str, str, str]:
        from wellpipe.cloud.services.keys import ApiKeyError, create_key

        try:
            created = await create_key(ctx, user_id=await _user_id(ctx, email), name=name)
        except ApiKeyError as refused:
            raise click.ClickException(str(refused)) from None
        return created.full_key, created.key_id, created.name

    full_key, key_id, key_name = _run(work)
    _say(
        f"Created the key {key_name!r} (id {key_id}) for {email}. It is shown only now: "
        "store it where your assistant reads it. It goes in the header "
        "'Authorization: Bearer <key>'."
    )
    click.echo(full_key)


@click.command("set-plan")
@click.argument("email")
@click.argument("plan", type=click.Choice(["FREE", "PRO"], case_sensitive=False))
def set_plan(email: str, plan: str) -> None:
    """Put the account EMAIL on PLAN (FREE or PRO); it applies from the next request."""

    async def work(ctx: CloudContext) -> None:
        from wellpipe.cloud.services import accounts

        try:
            await accounts.set_plan(ctx, user_id=await _user_id(ctx, email), plan=plan.upper())
        except accounts.AccountError as refused:
            raise click.ClickException(str(refused)) from None

    _run(work)
    _say(f"{email} is on {plan.upper()} from the next request.")


@click.group()
def client() -> None:
    """Revoke an assistant's OAuth client."""


@client.command("revoke")
@click.argument("client_id")
def client_revoke(client_id: str) -> None:
    """Stop the assistant CLIENT_ID (a registered id, or a metadata document's URL).

    Every grant it holds is revoked at once, and it can no longer sign anyone in.
    """

    async def work(ctx: CloudContext) -> int:
        from wellpipe.cloud.services.authorization import revoke_client

        return await revoke_client(ctx, client_id)

    revoked = _run(work)
    _say(
        f"Revoked the client {client_id}: {revoked} grant(s) ended; its next request is "
        "refused, and it can no longer sign anyone in."
    )
