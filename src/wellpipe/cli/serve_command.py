"""``wellpipe serve`` and ``wellpipe demo``: the MCP server, on stdio or local HTTP.

It imports only click at the top. Claude Desktop's own command lines
(``wellpipe serve``, ``wellpipe serve --demo``) skip click altogether and go
straight to `wellpipe.cli.stdio_serve` (see `wellpipe.cli.run`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from wellpipe.cli.server_plan import DEFAULT_SEED

if TYPE_CHECKING:
    from wellpipe.cli.server_plan import ServerPlan

__all__ = ["demo", "serve"]

DEFAULT_HTTP_PORT = 8000
STDIO_DEMO_NOTICE = (
    "Wellpipe demo: serving MCP on stdio (stdin and stdout) for an MCP client such as "
    "Claude Desktop; to try it in the MCP Inspector or a browser, run `wellpipe demo` "
    "without --transport stdio."
)
"""The one line ``wellpipe demo --transport stdio`` writes to stderr."""


def _plan(*, demo: bool, seed: int, transport: str, port: int) -> ServerPlan:
    from wellpipe.cli.server_plan import ServerPlan

    return ServerPlan(demo=demo, seed=seed, transport=transport, port=port)


def _run(plan: ServerPlan) -> None:
    if plan.transport == "stdio":
        if sys.stdin.isatty():
            from wellpipe.cli.console import err

            err.print(
                "[dim]Wellpipe's MCP server is waiting for an MCP client on stdin "
                "(Claude Desktop starts it this way; see `wellpipe claude install`). "
                "To try it by hand, run `wellpipe demo` instead. Ctrl-C quits.[/]",
                highlight=False,
            )
        from wellpipe.cli.stdio_serve import serve_on_stdio

        serve_on_stdio(plan)
    else:
        from wellpipe.cli.console import reports_errors
        from wellpipe.cli.local_server import run_http

        reports_errors(run_http)(plan)


_transport = click.option(
    "--transport",
    type=click.Choice(["stdio", "http"]),
    default=None,
    help="stdio (for Claude Desktop; serve's default) or streamable HTTP on 127.0.0.1 "
    "(demo's default).",
)
_port = click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_HTTP_PORT,
    show_default=True,
    help="Port for --transport http (0 picks a free one).",
)
_seed = click.option(
    "--seed", default=DEFAULT_SEED, show_default=True, help="Seed of the demo's synthetic history."
)


@click.command(short_help="Run the MCP server (stdio or HTTP).")
@_transport
@_port
@click.option(
    "--demo",
    is_flag=True,
    help="Serve the built-in sandboxes of every provider (synthetic data, no account needed).",
)
@_seed
def serve(transport: str | None, port: int, demo: bool, seed: int) -> None:
    """Run Wellpipe's MCP server for Claude Desktop (stdio) or a local HTTP client.

    Over HTTP the server listens on 127.0.0.1 only, at /mcp, checks Host and
    Origin, and (for real data) requires the bearer token it prints at start.
    """
    _run(_plan(demo=demo, seed=seed, transport=transport or "stdio", port=port))


@click.command(short_help="Try the MCP server on the built-in sandbox.")
@_transport
@_port
@_seed
def demo(transport: str | None, port: int, seed: int) -> None:
    """The MCP server on the built-in provider sandboxes: no account, synthetic data.

    It serves streamable HTTP on 127.0.0.1 and prints how to connect the MCP
    Inspector or Claude Desktop, whether or not it runs in a terminal (an IDE,
    nohup and CI get the same). ``--transport stdio`` speaks MCP on stdin and
    stdout instead, for an MCP client, exactly like ``wellpipe serve --demo``
    (which is what Claude Desktop runs).
    """
    chosen = transport or "http"
    if chosen == "stdio" and not sys.stdin.isatty():
        # A terminal gets `_run`'s own hint; stdout carries protocol only.
        click.echo(STDIO_DEMO_NOTICE, err=True)
    _run(_plan(demo=True, seed=seed, transport=chosen, port=port))
