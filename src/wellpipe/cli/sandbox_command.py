"""``wellpipe sandbox``: run the WHOOP sandbox as a real HTTP server."""

from __future__ import annotations

import click

from wellpipe.cli.console import err

__all__ = ["sandbox"]


@click.command(short_help="Run a fake WHOOP API (data, OAuth, rate limits) locally.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
@click.option("--seed", default=42, show_default=True, help="Seed of the synthetic history.")
@click.option(
    "--days",
    default=400,
    show_default=True,
    type=click.IntRange(180, 3650),
    help="Days of history.",
)
@click.option("--members", default=2, show_default=True, type=click.IntRange(1, 50))
@click.option(
    "--client-id", default=None, help="Accept only this client id (with --client-secret)."
)
@click.option("--client-secret", default=None, help="Accept only this client secret.")
@click.option(
    "--token-ttl",
    default=3600,
    show_default=True,
    type=click.IntRange(1),
    help="Access-token seconds.",
)
def sandbox(
    host: str,
    port: int,
    seed: int,
    days: int,
    members: int,
    client_id: str | None,
    client_secret: str | None,
    token_ttl: int,
) -> None:
    """Run a faithful fake of the WHOOP API v2 (data, OAuth, rate limits) on HOST:PORT.

    Point Wellpipe at it with WELLPIPE_WHOOP_BASE_URL=http://HOST:PORT.
    """
    if (client_id is None) != (client_secret is None):
        raise click.UsageError("pass --client-id and --client-secret together, or neither")
    from wellpipe.sandbox import WhoopSandbox  # loaded only when this command runs
    from wellpipe.sandbox.server import serve_forever

    app = WhoopSandbox(
        seed=seed,
        days=days,
        members=members,
        client_id=client_id,
        client_secret=client_secret,
        token_ttl_s=token_ttl,
    )
    origin = f"http://{host}:{port}"
    token = app.issue_tokens()["access_token"]
    err.print(
        f"[bold]WHOOP sandbox[/] · {days} days of history for {members} member(s) · seed {seed}"
    )
    err.print("Point Wellpipe at it:")
    err.print(f"  export WELLPIPE_WHOOP_BASE_URL={origin}", highlight=False, soft_wrap=True)
    err.print("Try it (a token for the first member):")
    err.print(
        f'  curl -H "Authorization: Bearer {token}" {origin}/developer/v2/activity/sleep?limit=1',
        highlight=False,
        soft_wrap=True,
    )
    serve_forever(app, host=host, port=port)
