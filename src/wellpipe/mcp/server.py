"""The MCP server: Wellpipe's tools on the official SDK's `MCPServer`, for any transport.

Tools are declared once in `wellpipe.mcp.tools`; this server lists them with
compact, strict schemas and runs them, turning every failure a user can meet
into a tool error (``isError``) that says what to do, never a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, tzinfo
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, TextContent, Tool, ToolAnnotations
from pydantic import ValidationError

from wellpipe import __version__
from wellpipe.core.clock import SystemClock
from wellpipe.core.errors import UnknownProviderError, WellpipeError
from wellpipe.core.ports import Clock, HealthProvider
from wellpipe.mcp.arguments import explain
from wellpipe.mcp.tools import (
    INSTRUCTIONS,
    TOOLS,
    ToolContext,
    ToolSpec,
    input_schema,
    tool_by_name,
)

__all__ = [
    "Connect",
    "OpenedProviders",
    "ProviderNotConnected",
    "WellpipeServer",
    "build_server",
    "list_tools",
    "single_provider",
]

logger = logging.getLogger(__name__)

Connect = Callable[[str | None], AbstractAsyncContextManager[Sequence[HealthProvider]]]
"""Opens the caller's providers for one tool call (cached ones are fine).

``None`` means every connected provider, sorted by name (at least one: with none,
raise the error that says how to connect one); a name means just that provider
(`ProviderNotConnected` when it is not connected). Yield an `OpenedProviders` to
say which connections were left out and why.
"""


class OpenedProviders(tuple[HealthProvider, ...]):
    """The providers a `Connect` opened, plus a sentence per connection it left out.

    A connection whose grant is dead is left out while the others answer; its
    note ("reconnect Oura in the dashboard") travels with every answer.
    """

    notes: tuple[str, ...]

    def __new__(
        cls, providers: Sequence[HealthProvider], notes: Sequence[str] = ()
    ) -> OpenedProviders:
        """The opened ``providers``, and a sentence for each connection left out."""
        opened = super().__new__(cls, providers)
        opened.notes = tuple(notes)
        return opened


def _display(name: str) -> str:
    from wellpipe.providers import get_provider_info

    try:
        return get_provider_info(name).display_name
    except UnknownProviderError:
        return name


class ProviderNotConnected(WellpipeError):
    """A tool asked for a provider the caller has not connected.

    Attributes:
        name: The provider asked for.
        connected: The names of the providers that are connected.
    """

    def __init__(self, name: str, *, connected: Sequence[str], action: str | None = None) -> None:
        self.name = name
        self.connected = tuple(connected)
        listed = ", ".join(_display(n) for n in self.connected) or "none"
        todo = action or f"run `wellpipe auth {name}` to connect it"
        super().__init__(
            f"{_display(name)} is not connected (connected: {listed}); {todo}, "
            "or leave out provider to read every connected one."
        )


def single_provider(
    opener: Callable[[], AbstractAsyncContextManager[HealthProvider]],
    *,
    name: str | None = None,
    action: str | None = None,
) -> Connect:
    """A `Connect` for a caller with exactly one provider, opened by ``opener``.

    ``name`` (when known before opening) refuses another provider without opening
    anything; otherwise the opened provider's own name is compared.
    """

    @asynccontextmanager
    async def connect(wanted: str | None) -> AsyncIterator[Sequence[HealthProvider]]:
        if wanted is not None and name is not None and wanted != name:
            raise ProviderNotConnected(wanted, connected=[name], action=action)
        async with opener() as provider:
            if wanted is not None and wanted != provider.info.name:
                raise ProviderNotConnected(wanted, connected=[provider.info.name], action=action)
            yield (provider,)

    return connect


_READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)
_NONE_CONNECTED = (
    "No provider is connected to Wellpipe yet; connect one first (`wellpipe auth <provider>`)."
)
_UNEXPECTED = (
    "Wellpipe hit an unexpected error while answering; try again, and if it keeps "
    "happening run `wellpipe doctor` (details are in the server's log)."
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


def _error(sentence: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=sentence)], is_error=True)


class WellpipeServer(MCPServer[Any]):
    """`MCPServer` whose tools are Wellpipe's `ToolSpec` table."""

    def __init__(
        self,
        *,
        connect: Connect,
        clock: Clock | None = None,
        default_tz: tzinfo = UTC,
        on_success: Callable[[], None] | None = None,
        unexpected: str = _UNEXPECTED,
        link_base: str | None = None,
    ) -> None:
        """Serve the tools over ``connect``; ``link_base`` (a URL prefix) gives search links."""
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
        self._connect = connect
        self._clock = clock or SystemClock()
        self._default_tz = default_tz
        self._on_success = on_success
        self._unexpected = unexpected
        self._link_base = link_base
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
        """Run a tool; any failure becomes a tool error with one actionable sentence."""
        spec = tool_by_name(name)
        if spec is None:
            names = ", ".join(tool.name for tool in TOOLS)
            return _error(f"There is no tool called {name!r}; the tools are: {names}.")
        try:
            validated = spec.arguments.model_validate(arguments)
        except ValidationError as invalid:
            return _error(explain(invalid, spec.arguments))
        wanted = getattr(validated, "provider", None)
        try:
            async with self._connect(wanted) as providers:
                if not providers:
                    raise WellpipeError(_NONE_CONNECTED)
                tool_context = ToolContext(
                    providers=tuple(providers),
                    clock=self._clock,
                    default_tz=self._default_tz,
                    notes=tuple(getattr(providers, "notes", ())),
                    link_base=self._link_base,
                )
                answer = await spec(tool_context, arguments)
        except WellpipeError as failure:
            logger.info("Tool %s failed: %s", name, type(failure).__name__)
            return _error(str(failure))
        except Exception:
            logger.exception("Tool %s raised an unexpected error", name)
            return _error(self._unexpected)
        if self._on_success is not None:
            self._on_success()
        return CallToolResult(
            content=[TextContent(type="text", text=answer.text)],
            structured_content=answer.structured.model_dump(mode="json", exclude_none=True),
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
        connect=connect,
        clock=clock,
        default_tz=default_tz,
        on_success=on_success,
        link_base=link_base,
    )
