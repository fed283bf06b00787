"""The MCP server: Wellpipe's tools on the official SDK's `MCPServer`, for any transport.

Tools are declared once in `wellpipe.mcp.tools`; this server lists them with
compact, strict schemas and runs them, turning every failure a user can meet
into a tool error (``isError``) that says what to do, never a stack trace.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, tzinfo
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent, Tool, ToolAnnotations

from wellpipe import __version__
from wellpipe.core.ports import Clock
from wellpipe.mcp.calls import (
    Connect,
    OpenedProviders,
    ProviderNotConnected,
    ToolRunner,
    single_provider,
)
from wellpipe.mcp.tools import INSTRUCTIONS, TOOLS, ToolSpec, input_schema, tool_by_name

__all__ = [
    "Connect",
    "OpenedProviders",
    "ProviderNotConnected",
    "WellpipeServer",
    "build_server",
    "list_tools",
    "single_provider",
]

_READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)


def _as_tool(spec: ToolSpec[Any]) -> Tool:
    return Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=input_schema(spec.arguments),
        output_schema=spec.output.model_json_schema(),
        annotations=_READ_ONLY,
    )


def list_tools() -> list[Tool]:
    """Every tool as ``tools/list`` shows it (static: it never depends on the user or data)."""
    return [_as_tool(spec) for spec in TOOLS]


class WellpipeServer(MCPServer[Any]):
    """`MCPServer` whose tools are Wellpipe's `ToolSpec` table."""

    def __init__(self, runner: ToolRunner) -> None:
        """Serve the tools; every call goes through ``runner`` (shared with the stdio front)."""
        super().__init__(
            name="wellpipe",
            title="Wellpipe",
            version=__version__,
            instructions=INSTRUCTIONS,
            website_url="https://wellpipe.io",
            # The SDK would otherwise install an INFO handler on the root logger; the
            # CLI and the cloud configure (redacted) logging themselves.
            log_level="WARNING",
        )
        self._runner = runner
        self._tools = list_tools()

    async def list_tools(self) -> list[Tool]:
        """Wellpipe's tools, in a fixed order."""
        return list(self._tools)

    def _tool_input_schema(self, name: str) -> dict[str, Any] | None:
        spec = tool_by_name(name)
        return None if spec is None else input_schema(spec.arguments)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult:
        """Run a tool through `ToolRunner`: any failure is a tool error with one sentence."""
        outcome = await self._runner.call(name, arguments)
        return CallToolResult(
            content=[TextContent(type="text", text=outcome.text)],
            structured_content=outcome.structured,
            is_error=outcome.is_error,
        )


def build_server(
    *,
    connect: Connect,
    clock: Clock | None = None,
    default_tz: tzinfo = UTC,
    on_success: Callable[[], None] | None = None,
    link_base: str | None = None,
) -> WellpipeServer:
    """A Wellpipe MCP server whose tools read through ``connect``.

    ``link_base`` is where search and fetch results link to: a result's ``url`` is it
    followed by the result's id (the host must serve those pages); without it, no links.
    """
    return WellpipeServer(
        ToolRunner(
            connect=connect,
            clock=clock,
            default_tz=default_tz,
            on_success=on_success,
            link_base=link_base,
        )
    )
