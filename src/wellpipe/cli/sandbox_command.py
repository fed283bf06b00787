"""``wellpipe sandbox``: run the providers' sandboxes as real HTTP servers."""

from __future__ import annotations

import click

from wellpipe.cli.console import err, reports_errors

__all__ = ["sandbox"]


def _available() -> list[str]:
    from wellpipe.sandbox import DEFAULT_PORTS, SANDBOXES, load_sandbox

    order = sorted(SANDBOXES, key=lambda name: (DEFAULT_PORTS.get(name, 1 << 16), name))
    return [name for name in order if load_sandbox(name) is not None]


def _display(name: str) -> str:
    from wellpipe.core.errors import UnknownProviderError
    from wellpipe.providers import get_provider_info

    try:
        return get_provider_info(name).display_name
    except UnknownProviderError:
        return name


@click.command(short_help="Run fake provider APIs (data, OAuth, rate limits) locally.")
@click.option(
    "--provider",
    "-p",
    "providers",
    multiple=True,
    help="Serve only this provider's sandbox (repeatable; default: every one).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    default=None,
    type=click.IntRange(0, 65535),
    help="Port of the first sandbox; the others take the next ones "
    "[default: 8765 WHOOP, 8766 Oura, 8767 Fitbit].",
)
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
@reports_errors
def sandbox(
    providers: tuple[str, ...],
    host: str,
    port: int | None,
    seed: int,
    days: int,
    members: int,
    client_id: str | None,
    client_secret: str | None,
    token_ttl: int,
) -> None:
    """Run faithful fakes of the provider APIs (data, OAuth, rate limits) on HOST.

    Point Wellpipe at one with WELLPIPE_<NAME>_BASE_URL=http://HOST:PORT (the
    command prints the lines to paste).
    """
    if (client_id is None) != (client_secret is None):
        raise click.UsageError("pass --client-id and --client-secret together, or neither")
    from wellpipe.sandbox import DEFAULT_PORTS, load_sandbox
    from wellpipe.sandbox.server import serve_many_forever

    available = _available()
    unknown = [name for name in providers if name not in available]
    if unknown:
        raise click.BadParameter(
            f"no sandbox for {', '.join(unknown)} (available: {', '.join(available)})",
            param_hint="'--provider'",
        )
    chosen = list(dict.fromkeys(providers)) or available
    apps = []
    for index, name in enumerate(chosen):
        sandbox_class = load_sandbox(name)
        assert sandbox_class is not None
        app = sandbox_class(  # type: ignore[call-arg]
            seed=seed,
            days=days,
            members=members,
            client_id=client_id,
            client_secret=client_secret,
            token_ttl_s=token_ttl,
        )
        wanted = DEFAULT_PORTS.get(name, 0) if port is None else (port + index if port else 0)
        apps.append((name, app, wanted))

    def ready(ports: list[int]) -> None:
        err.print(
            f"[bold]Sandboxes[/] · {days} days of history for {members} member(s) · seed {seed}"
        )
        for (name, _, _), bound in zip(apps, ports, strict=True):
            err.print(f"  {_display(name)}: http://{host}:{bound}", highlight=False)
        err.print("Point Wellpipe at them (paste into your shell, or put them in Wellpipe's .env):")
        for (name, _, _), bound in zip(apps, ports, strict=True):
            err.print(
                f"  export WELLPIPE_{name.upper()}_BASE_URL=http://{host}:{bound}",
                highlight=False,
                soft_wrap=True,
            )
        err.print("Try one with a token for its first member (the sandbox's own, not a real one):")
        for name, app, _ in apps[:1]:
            token = app.issue_tokens(client_id=client_id or "sandbox-client")["access_token"]
            err.print(
                f'  {_display(name)}: -H "Authorization: Bearer {token}"',
                highlight=False,
                soft_wrap=True,
            )
        err.print("Ctrl-C stops them.")

    try:
        serve_many_forever([(app, wanted) for _, app, wanted in apps], host=host, ready=ready)
    except OSError as error:
        from wellpipe.core.errors import ConfigError

        raise ConfigError(
            f"A sandbox port on {host} is not available ({error.strerror}); choose others "
            "with --port N (the first of consecutive ports; 0 picks free ones)."
        ) from None
