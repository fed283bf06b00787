"""``wellpipe serve`` on stdio: what Claude Desktop starts, so it imports nothing it can skip.

The stdio front (`wellpipe.mcp.stdio`) answers the handshake and tool calls
itself; the tool runner loads on its loop thread while the handshake is
answered, and the MCP SDK loads only for a message the front does not answer.
Neither click nor rich is imported here: `wellpipe.cli.run` comes straight here
for the exact command lines an MCP client uses.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wellpipe.cli.server_plan import ServerPlan
    from wellpipe.mcp.calls import ToolRunner

__all__ = ["serve_on_stdio"]


def serve_on_stdio(plan: ServerPlan) -> None:
    """Serve MCP on this process's stdin and stdout until stdin closes, then exit."""
    from wellpipe.mcp.stdio import serve_stdio

    serve_stdio(lambda: _open_runner(plan), _run_sdk)


def _open_runner(plan: ServerPlan) -> AbstractAsyncContextManager[ToolRunner]:
    # On the stdio front's event loop thread, while the handshake is answered.
    from wellpipe.cli.local_tools import local_runner

    return local_runner(plan)


async def _run_sdk(runner: ToolRunner) -> None:
    # Only when the stdio front meets a message it does not answer: the SDK loads here.
    from wellpipe.cli.local_server import run_stdio

    await run_stdio(runner)
