"""The ``wellpipe`` command line.

`run` is the ``wellpipe`` script. The command lines an MCP client spawns
(``wellpipe serve`` and ``wellpipe serve --demo``, stdin not a terminal) go
straight to the stdio server, without click or any other command: Claude
Desktop waits for their first answer. Everything else is the click group
`main` (`wellpipe.cli.app`), whose commands load only when they run.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wellpipe.cli.app import main

__all__ = ["main", "run"]

_STDIO_COMMANDS: dict[tuple[str, ...], bool] = {("serve",): False, ("serve", "--demo"): True}
"""The argument lists served without click, and whether each is the demo."""


def run() -> None:
    """The ``wellpipe`` command."""
    demo = _STDIO_COMMANDS.get(tuple(sys.argv[1:]))
    if demo is not None and not sys.stdin.isatty():
        # Pydantic looks for plugins in every installed distribution's metadata at the
        # first model (~20-50 ms); the server uses none. An explicit setting is kept.
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
        from wellpipe.cli.logs import configure_logging
        from wellpipe.cli.server_plan import DEFAULT_SEED, ServerPlan
        from wellpipe.cli.stdio_serve import serve_on_stdio

        configure_logging(0)
        serve_on_stdio(ServerPlan(demo=demo, seed=DEFAULT_SEED, transport="stdio", port=0))
        return
    from wellpipe.cli.app import main

    main()


def __getattr__(name: str) -> Any:
    if name == "main":
        from wellpipe.cli.app import main

        return main
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
