"""Faithful fakes of the provider APIs: the embedded default for demos, tests and benchmarks.

Run them as servers with ``wellpipe sandbox`` (WHOOP on 8765, Oura on 8766,
Fitbit on 8767), or one in process::

    sandbox = WhoopSandbox(seed=42)
    transport = sandbox.transport()  # an httpx2.ASGITransport

`SANDBOXES` names each provider's sandbox class; `load_sandbox` imports one only
when it is needed and answers ``None`` when it is not installed, so a demo or a
``wellpipe sandbox`` run simply leaves that provider out.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any, Protocol

import httpx2

from wellpipe.core.tokens import TokenSet
from wellpipe.sandbox.whoop import Fault, WhoopSandbox

__all__ = [
    "DEFAULT_PORTS",
    "SANDBOXES",
    "Fault",
    "ProviderSandbox",
    "WhoopSandbox",
    "load_sandbox",
]

logger = logging.getLogger(__name__)

SANDBOXES: dict[str, str] = {
    "whoop": "wellpipe.sandbox.whoop:WhoopSandbox",
    "oura": "wellpipe.sandbox.oura:OuraSandbox",
    "fitbit": "wellpipe.sandbox.fitbit:FitbitSandbox",
}
"""Provider name -> ``module:Class`` of its sandbox."""

DEFAULT_PORTS: dict[str, int] = {"whoop": 8765, "oura": 8766, "fitbit": 8767}
"""Where ``wellpipe sandbox`` serves each provider's sandbox by default."""


class ProviderSandbox(Protocol):
    """What every sandbox offers (the API of `WhoopSandbox`)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """The ASGI app."""
        ...

    def transport(self) -> httpx2.ASGITransport:
        """An `httpx2` transport to the sandbox in process."""
        ...

    def issue_tokens(self, *, client_id: str = ...) -> dict[str, Any]:
        """A token response for the first member."""
        ...

    def issue_token_set(self, *, client_id: str = ...) -> TokenSet:
        """`issue_tokens` as a `TokenSet`."""
        ...


def load_sandbox(name: str) -> type[ProviderSandbox] | None:
    """The sandbox class of provider ``name``, or ``None`` when there is none (or it is absent)."""
    target = SANDBOXES.get(name)
    if target is None:
        return None
    module_name, attribute = target.split(":")
    try:
        sandbox: type[ProviderSandbox] = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        logger.info("no %s sandbox: %s", name, error)
        return None
    return sandbox
