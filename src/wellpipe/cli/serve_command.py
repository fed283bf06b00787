"""``wellpipe serve`` and ``wellpipe demo``: the MCP server, on stdio or local HTTP.

This module is imported whenever Claude Desktop starts Wellpipe, so it imports
only click at the top. On stdio the fast front
(`wellpipe.mcp.stdio`) answers the handshake and tool calls itself; the MCP SDK
loads only for a message the front does not answer.
"""

from __future__ import annotations

import sys
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from wellpipe.cli.server_plan import ServerPlan
    from wellpipe.mcp.calls import ToolRunner

__all__ = ["demo", "serve"]

DEFAULT_HTTP_PORT = 8000


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
        from wellpipe.mcp.stdio import serve_stdio

        serve_stdio(lambda: _open_runner(plan), _run_stdio_sdk)
    else:
        from wellpipe.cli.console import reports_errors
        from wellpipe.cli.local_server import run_http

        reports_errors(run_http)(plan)


def _open_runner(plan: ServerPlan) -> AbstractAsyncContextManager[ToolRunner]:
    # On the stdio front's event loop thread, while the handshake is answered.
    from wellpipe.cli.local_tools import local_runner

    return local_runner(plan)


async def _run_stdio_sdk(runner: ToolRunner) -> None:
    # Only when the stdio front meets a message it does not answer: the SDK loads here.
    from wellpipe.cli.local_server import run_stdio

    await run_stdio(runner)


_transport = click.option(
    "--transport",
    type=click.Choice(["stdio", "http"]),
    default=None,
    help="stdio (for Claude Desktop; the default) or streamable HTTP on 127.0.0.1.",
)
_port = click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_HTTP_PORT,
    show_default=True,
    help="Port for --transport http (0 picks a free one).",
)
_seed = click.option(
    "--seed", default=42, show_default=True, help="Seed of the demo's synthetic history."
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

    Started from a terminal it serves HTTP on 127.0.0.1 and prints how to
    connect Claude Desktop or the MCP Inspector; started by an MCP client (stdin
    is a pipe) it speaks stdio, exactly like ``wellpipe serve --demo``.
    """
    chosen = transport or ("http" if sys.stdin.isatty() else "stdio")
    _run(_plan(demo=True, seed=seed, transport=chosen, port=port))
