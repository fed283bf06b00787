"""Running one tool call, with no MCP SDK: what every face of the server answers a tool call with.

The SDK server (`wellpipe.mcp.server`, used over HTTP and in the cloud) and the
stdio front (`wellpipe.mcp.stdio`, which answers Claude Desktop's first calls
before the SDK has loaded) both run tool calls through `ToolRunner`, so a call
gets the same answer whichever of them answered it. Importing this module does
not import the SDK: it is what ``wellpipe serve`` loads to answer a call.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any

from pydantic import ValidationError

from wellpipe.core.clock import SystemClock
from wellpipe.core.errors import UnknownProviderError, WellpipeError, listed, not_a_provider
from wellpipe.core.ports import Clock, HealthProvider
from wellpipe.mcp.arguments import explain
from wellpipe.mcp.tools import TOOLS, ToolContext, tool_by_name

__all__ = [
    "UNEXPECTED",
    "Connect",
    "OpenedProviders",
    "ProviderNotConnected",
    "ToolOutcome",
    "ToolRunner",
    "none_connected",
    "single_provider",
]

logger = logging.getLogger("wellpipe.mcp.server")

Connect = Callable[[str | None], AbstractAsyncContextManager[Sequence[HealthProvider]]]
"""Opens the caller's providers for one tool call (cached ones are fine).

``None`` means every connected provider, sorted by name (at least one: with none,
raise the error that says how to connect one); a name means just that provider
(`ProviderNotConnected` when it is not connected). Yield an `OpenedProviders` to
say which connections were left out and why.
"""


def none_connected() -> str:
    """The sentence for a self-hosted caller with nothing connected: each command that exists."""
    commands = [f"`wellpipe auth {name}`" for name in _installed()] or ["`wellpipe init`"]
    choices = listed(commands, "or")
    return f"No provider is connected to Wellpipe yet; connect one first ({choices})."


UNEXPECTED = (
    "Wellpipe hit an unexpected error while answering; try again, and if it keeps "
    "happening run `wellpipe doctor` (details are in the server's log)."
)


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


def _installed() -> list[str]:
    from wellpipe.providers import available_providers

    return available_providers()


class ProviderNotConnected(WellpipeError):
    """A tool asked for a provider the caller has not connected.

    A name that is no installed provider at all says so (and which providers there
    are), never to connect it.

    Attributes:
        name: The provider asked for.
        connected: The names of the providers that are connected.
    """

    def __init__(self, name: str, *, connected: Sequence[str], action: str | None = None) -> None:
        self.name = name
        self.connected = tuple(connected)
        installed = _installed()
        if name not in installed:
            super().__init__(
                f"{not_a_provider(name, installed)}; leave out provider to read every "
                "connected one."
            )
            return
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


@dataclass(frozen=True)
class ToolOutcome:
    """One tool call's answer: its text, its structured content, whether it is an error."""

    text: str
    structured: dict[str, Any] | None = None
    is_error: bool = False

    @classmethod
    def error(cls, sentence: str) -> ToolOutcome:
        """A tool error (``isError``) that says what happened and what to do."""
        return cls(text=sentence, is_error=True)

    def wire(self) -> dict[str, Any]:
        """The ``tools/call`` result as JSON, exactly as the SDK serializes it."""
        result: dict[str, Any] = {"content": [{"type": "text", "text": self.text}]}
        if self.structured is not None:
            result["structuredContent"] = self.structured
        result["isError"] = self.is_error
        return result


class ToolRunner:
    """Validates a call's arguments, opens the providers, runs the tool, catches every failure.

    Args:
        connect: Opens the caller's providers for one call.
        clock: The time (the system clock unless a test passes one).
        default_tz: The user's time zone when no record says otherwise.
        on_success: Called after a call that answered without error.
        unexpected: The sentence for a failure nobody foresaw (the details go to the log).
        none_connected: The sentence for a caller with no provider connected, saying how
            to connect one (the cloud: in the dashboard; by default `none_connected`).
        link_base: Where search and fetch results link to (``None``: no links).
    """

    def __init__(
        self,
        *,
        connect: Connect,
        clock: Clock | None = None,
        default_tz: tzinfo = UTC,
        on_success: Callable[[], None] | None = None,
        unexpected: str = UNEXPECTED,
        none_connected: str | None = None,
        link_base: str | None = None,
    ) -> None:
        self._connect = connect
        self._clock = clock or SystemClock()
        self._default_tz = default_tz
        self._on_success = on_success
        self._unexpected = unexpected
        self._none_connected = none_connected
        self._link_base = link_base

    async def call(self, name: str, arguments: dict[str, Any] | None) -> ToolOutcome:
        """Run a tool; any failure becomes a tool error with one actionable sentence."""
        spec = tool_by_name(name)
        if spec is None:
            names = ", ".join(tool.name for tool in TOOLS)
            return ToolOutcome.error(f"There is no tool called {name!r}; the tools are: {names}.")
        arguments = dict(arguments or {})
        try:
            validated = spec.arguments.model_validate(arguments)
        except ValidationError as invalid:
            return ToolOutcome.error(explain(invalid, spec.arguments))
        wanted = getattr(validated, "provider", None)
        if wanted is not None and wanted not in (installed := _installed()):
            return ToolOutcome.error(f"{not_a_provider(wanted, installed)}.")
        try:
            async with self._connect(wanted) as providers:
                if not providers:
                    raise WellpipeError(self._none_connected or none_connected())
                tool_context = ToolContext(
                    providers=tuple(providers),
                    clock=self._clock,
                    default_tz=self._default_tz,
                    notes=tuple(getattr(providers, "notes", ())),
                    link_base=self._link_base,
                )
                answer = await spec.run(tool_context, validated)
        except WellpipeError as failure:
            logger.info("Tool %s failed: %s", name, type(failure).__name__)
            return ToolOutcome.error(str(failure))
        except Exception:
            logger.exception("Tool %s raised an unexpected error", name)
            return ToolOutcome.error(self._unexpected)
        if self._on_success is not None:
            self._on_success()
        return ToolOutcome(
            text=answer.text,
            structured=answer.structured.model_dump(mode="json", exclude_none=True),
        )
