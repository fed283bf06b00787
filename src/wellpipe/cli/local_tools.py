"""What the local MCP server reads (your connected providers, or the demo sandboxes), SDK-free.

Both faces of the local server run tool calls through the `ToolRunner` made
here: the stdio front (which answers Claude Desktop's first calls before the
MCP SDK has loaded) and the SDK server (HTTP, and stdio after a hand-off). It
imports neither the SDK nor a provider until a call needs one.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, ExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from wellpipe.cli.home import LocalPaths
from wellpipe.cli.server_plan import ServerPlan
from wellpipe.core.clock import SystemClock
from wellpipe.core.errors import ConfigError, listed
from wellpipe.core.ports import Clock, HealthProvider
from wellpipe.core.reading import LIVE_DAYS
from wellpipe.mcp.calls import ProviderNotConnected, ToolRunner

if TYPE_CHECKING:
    from wellpipe.history.local import LocalHistory

__all__ = [
    "KeptHistory",
    "NoProviderConnected",
    "SharedProviders",
    "demo_origin",
    "demo_providers",
    "local_runner",
    "open_demo",
]

DEMO_CLIENT_ID = "wellpipe-demo"

Opener = Callable[[str], AbstractAsyncContextManager[HealthProvider]]


def demo_origin(provider: str) -> str:
    """Where the demo's in-process sandbox of ``provider`` pretends to live (never resolved)."""
    return f"http://sandbox.{provider}.invalid"


class NoProviderConnected(ConfigError):
    """No provider is connected in the local ``.env`` (says how to connect each)."""

    def __init__(self, installed: Sequence[str], configured: Sequence[str]) -> None:
        commands = [f"`wellpipe auth {name}`" for name in (configured or installed)]
        choices = listed(commands, "or")
        if configured:
            todo = f"connect an account with {choices}"
        else:
            todo = f"run `wellpipe init` to set up a developer app, then connect it with {choices}"
        super().__init__(f"No provider is connected to Wellpipe yet: {todo}.")


class SharedProviders:
    """The server's provider connections, each opened on first use and kept for its life.

    ``connected()`` is asked at every call, so ``wellpipe auth oura`` while the
    server runs adds Oura without a restart; a failure to open is not cached.

    Args:
        opener: Opens one provider by name.
        connected: The names of the providers to serve now, sorted.
        not_connected: The error to raise when ``connected()`` is empty.
        on_success: Called with a provider's name after a call that used it succeeded.
    """

    def __init__(
        self,
        opener: Opener,
        connected: Callable[[], list[str]],
        not_connected: Callable[[], Exception],
        on_success: Callable[[str], None] | None = None,
    ) -> None:
        self._opener = opener
        self._connected = connected
        self._not_connected = not_connected
        self._on_success = on_success
        self._stack = AsyncExitStack()
        self._opened: dict[str, HealthProvider] = {}
        self._lock = anyio.Lock()

    async def _open(self, name: str) -> HealthProvider:
        async with self._lock:
            if name not in self._opened:
                self._opened[name] = await self._stack.enter_async_context(self._opener(name))
            return self._opened[name]

    @asynccontextmanager
    async def connect(self, wanted: str | None = None) -> AsyncIterator[Sequence[HealthProvider]]:
        """Every connected provider (``None``), or just ``wanted``."""
        names = self._connected()
        if wanted is not None:
            if wanted not in names:
                raise ProviderNotConnected(wanted, connected=names)
            names = [wanted]
        elif not names:
            raise self._not_connected()
        providers = [await self._open(name) for name in names]
        yield providers
        if self._on_success is not None:
            for name in names:
                self._on_success(name)

    async def aclose(self) -> None:
        """Close every connection (their HTTP clients)."""
        await self._stack.aclose()


class KeptHistory:
    """The server's history store, opened on the first read and closed with the server.

    Every provider the server opens answers through it (`StoredProvider`): a question
    asked again is answered from the store, and only days it lacks, or that may still
    change, are read from the provider.
    """

    def __init__(self, folder: Callable[[], Path], *, clock: Clock, sync_action: str) -> None:
        """Keep the history in ``folder()`` (called on first use)."""
        self._folder = folder
        self._clock = clock
        self._sync_action = sync_action
        self._store: LocalHistory | None = None
        self._lock = anyio.Lock()

    async def store(self) -> LocalHistory:
        """The store, opened (and its file created) on first use."""
        async with self._lock:
            if self._store is None:
                from wellpipe.history.local import LocalHistory

                self._store = await LocalHistory.in_home(self._folder())
            return self._store

    def around(self, opener: Opener) -> Opener:
        """``opener``, its providers answering from this history."""

        @asynccontextmanager
        async def opened(name: str) -> AsyncIterator[HealthProvider]:
            from wellpipe.core.stored import StoredProvider

            async with opener(name) as live:
                yield StoredProvider(
                    live, await self.store(), clock=self._clock, sync_action=self._sync_action
                )

        return opened

    async def aclose(self) -> None:
        """Close the store (if it was opened)."""
        if self._store is not None:
            await self._store.close()


def _local_providers(paths: LocalPaths, clock: Clock, history: KeptHistory) -> SharedProviders:
    from wellpipe.cli.connection import connected_providers, open_local
    from wellpipe.cli.local_config import LocalConfig
    from wellpipe.cli.state import LocalState
    from wellpipe.providers import available_providers

    state = LocalState(paths)

    def connected() -> list[str]:
        config = LocalConfig.load(paths)
        return [name for name in connected_providers(paths) if config.is_configured(name)]

    def not_connected() -> Exception:
        config = LocalConfig.load(paths)
        installed = available_providers()
        return NoProviderConnected(
            installed, [name for name in installed if config.is_configured(name)]
        )

    def live(name: str) -> AbstractAsyncContextManager[HealthProvider]:
        return open_local(name, paths, clock=clock)

    return SharedProviders(
        history.around(live),
        connected,
        not_connected,
        lambda name: state.record_success(name, clock.now()),
    )


def _home_history(paths: LocalPaths, clock: Clock) -> KeptHistory:
    def folder() -> Path:
        paths.ensure_home()
        return paths.home

    return KeptHistory(
        folder,
        clock=clock,
        sync_action=f"run `wellpipe sync` first, or ask for at most {LIVE_DAYS} days",
    )


def _demo_history(clock: Clock, stack: ExitStack) -> KeptHistory:
    """A history for one demo run only: the sandboxes' people are not the user."""

    def folder() -> Path:
        return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wellpipe-demo-")))

    return KeptHistory(
        folder,
        clock=clock,
        sync_action=(
            f"ask for at most {LIVE_DAYS} days at a time (the demo keeps only what this run "
            "has read)"
        ),
    )


def demo_providers() -> list[str]:
    """The installed providers that have a sandbox, sorted (what the demo serves)."""
    from wellpipe.providers import available_providers
    from wellpipe.sandbox import load_sandbox

    return [name for name in available_providers() if load_sandbox(name) is not None]


@asynccontextmanager
async def open_demo(name: str, *, seed: int, clock: Clock) -> AsyncIterator[HealthProvider]:
    """The demo's provider ``name``: its built-in sandbox in process, with a demo grant.

    Raises:
        ConfigError: ``name`` has no sandbox.
    """
    from wellpipe.core.tokens import MemoryTokenProvider
    from wellpipe.oauth import ClientCredentials
    from wellpipe.providers.connector import get_connector
    from wellpipe.sandbox import load_sandbox

    sandbox_class = load_sandbox(name)
    if sandbox_class is None:
        raise ConfigError(f"{name} has no built-in sandbox, so the demo cannot serve it.")
    sandbox: Any = sandbox_class(seed=seed, clock=clock)  # type: ignore[call-arg]
    connector = get_connector(name)
    credentials = ClientCredentials(
        client_id=DEMO_CLIENT_ID,
        client_secret="wellpipe-demo-secret",
        redirect_uri=f"http://127.0.0.1:8976/callback/{name}",
    )
    tokens = MemoryTokenProvider(
        sandbox.issue_token_set(client_id=credentials.client_id), clock=clock
    )
    async with connector.open_account(
        credentials=credentials,
        tokens=tokens,
        location=connector.location(demo_origin(name)),
        clock=clock,
        transport=sandbox.transport(),
    ) as provider:
        yield provider


def _demo_providers(seed: int, clock: Clock, history: KeptHistory) -> SharedProviders:
    names = demo_providers()

    def opener(name: str) -> AbstractAsyncContextManager[HealthProvider]:
        return open_demo(name, seed=seed, clock=clock)

    def not_connected() -> Exception:
        return ConfigError("No provider with a sandbox is installed, so the demo has no data.")

    return SharedProviders(history.around(opener), lambda: list(names), not_connected)


@asynccontextmanager
async def local_runner(plan: ServerPlan) -> AsyncIterator[ToolRunner]:
    """The tool runner of ``plan``: its providers opened on first use, closed at the end."""
    clock = SystemClock()
    paths = LocalPaths.from_environ()
    with ExitStack() as folders:
        if plan.demo:
            history = _demo_history(clock, folders)
            shared = _demo_providers(plan.seed, clock, history)
        else:
            history = _home_history(paths, clock)
            shared = _local_providers(paths, clock, history)
        local_tz = datetime.now().astimezone().tzinfo
        try:
            yield ToolRunner(connect=shared.connect, clock=clock, default_tz=local_tz or UTC)
        finally:
            with anyio.CancelScope(shield=True):
                await shared.aclose()
                await history.aclose()
