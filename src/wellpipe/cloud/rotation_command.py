"""``wellpipe cloud rotate-keys``: re-encrypt stored tokens under the primary key."""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from wellpipe.cloud.security.crypto import SETTING, MissingKeyError, TokenCipher
from wellpipe.cloud.services.rotation import DEFAULT_BATCH, RotationReport
from wellpipe.cloud.settings import SECRETS_FILE, CloudSettings
from wellpipe.core.errors import ConfigError

__all__ = ["rotate_keys"]


def _settings() -> CloudSettings:
    """The settings; the keys come from the development secrets file if the environment has none."""
    try:
        settings = CloudSettings()
    except ValueError as invalid:
        raise click.ClickException(f"invalid setting: {invalid}") from None
    if settings.encryption_keys is None:
        stored = _file_value(settings.home / SECRETS_FILE, SETTING)
        if stored:
            settings = settings.model_copy(update={"encryption_keys": SecretStr(stored)})
    return settings


def _file_value(path: Path, name: str) -> str | None:
    if not path.is_file():
        return None
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == name:
            return value.strip()
    return None


@click.command("rotate-keys")
@click.option(
    "--batch-size",
    default=DEFAULT_BATCH,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Rows re-encrypted per transaction.",
)
def rotate_keys(batch_size: int) -> None:
    """Re-encrypt stored provider tokens under the primary encryption key.

    To rotate: put the new key first in WELLPIPE_ENCRYPTION_KEYS on every worker
    (keep the old key after it) and restart them; run this command; remove the old
    key once the final table shows no row under it. It is safe to interrupt and run
    again, and to run while the service is serving.
    """
    import anyio

    from wellpipe.cloud.context import CloudContext
    from wellpipe.cloud.db import Database
    from wellpipe.cloud.db.migrate import current_revision
    from wellpipe.cloud.services.rotation import count_by_key_id, rotate
    from wellpipe.core.clock import SystemClock

    settings = _settings()
    try:
        cipher = TokenCipher.from_settings(settings)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    console = Console(stderr=True, highlight=False, soft_wrap=True)  # sentences never wrap

    def progress(report: RotationReport) -> None:
        console.print(
            f"batch {report.batches}: {report.reencrypted} re-encrypted, "
            f"{report.overtaken} rewritten meanwhile by the service"
        )

    async def run() -> tuple[RotationReport, dict[str, int]]:
        db = Database(settings.effective_database_url)
        try:
            if await current_revision(db) is None:
                raise click.ClickException(
                    "the database has no Wellpipe schema; check WELLPIPE_DATABASE_URL "
                    "or run `wellpipe cloud migrate` first."
                )
            ctx = CloudContext(settings=settings, db=db, clock=SystemClock())
            console.print(
                f"Re-encrypting stored tokens under key {cipher.primary_key_id} "
                f"(batches of {batch_size})..."
            )
            report = await rotate(ctx, batch_size=batch_size, on_batch=progress)
            return report, await count_by_key_id(ctx)
        finally:
            await db.dispose()

    try:
        report, remaining = anyio.run(run)
    except MissingKeyError as missing:
        raise click.ClickException(
            f"Rotation stopped: stored tokens use key {missing.key_id}, which "
            f"{SETTING} does not hold (missing key {missing.key_id}: add it back to {SETTING} "
            "after the primary key, then run this command again)."
        ) from None

    table = Table(title="Key rotation", title_justify="left")
    table.add_column("")
    table.add_column("rows", justify="right")
    table.add_row(f"re-encrypted under {report.primary}", str(report.reencrypted))
    table.add_row(f"already under {report.primary}", str(report.already_current))
    table.add_row("rewritten meanwhile by the service", str(report.overtaken))
    table.add_row("unreadable (left as they are)", str(len(report.unreadable)))
    for key_id, count in remaining.items():
        table.add_row(f"remaining under {key_id}", str(count))
    console.print(table)

    retired = [kid for kid in cipher.ring.key_ids[1:] if not remaining.get(kid)]
    still = {kid: n for kid, n in remaining.items() if kid != report.primary}
    for key_id in retired:
        console.print(f"Key {key_id} protects no stored token: you can remove it from {SETTING}.")
    if report.unreadable:
        raise click.ClickException(
            f"{len(report.unreadable)} row(s) failed their integrity check and were left "
            f"as they are (ids: {', '.join(report.unreadable[:10])}); those accounts must "
            "reconnect their provider, and their old key stays needed until they do."
        )
    if still:
        listed = ", ".join(f"{kid} ({n})" for kid, n in still.items())
        raise click.ClickException(
            f"Some tokens are still under older keys: {listed}; run this command again."
        )
