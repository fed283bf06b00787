"""The server's answers that never change, precomputed so ``wellpipe serve`` starts fast.

``initialize`` and ``tools/list`` do not depend on the user, the data or the
transport, so the stdio front (`wellpipe.mcp.stdio`) answers them from
``static.json`` while the SDK is still importing. The file is generated from the
real SDK server (``python -m wellpipe.mcp.static``); a test fails when it is stale.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

__all__ = ["STATIC_FILE", "generate", "load"]

STATIC_FILE = Path(__file__).with_name("static.json")

_PROBE_UNKNOWN = "1999-01-01"
_MODERN_ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "wellpipe-static", "version": "0"},
}


def load() -> dict[str, Any]:
    """The precomputed answers (cheap: JSON only, no SDK import)."""
    data: dict[str, Any] = json.loads(STATIC_FILE.read_text(encoding="utf-8"))
    return data


async def generate() -> dict[str, Any]:
    """Ask the real SDK server for its ``initialize`` answers and tool list."""
    import mcp_types
    from mcp.client._memory import InMemoryTransport  # the SDK's own in-process transport
    from mcp.shared.message import SessionMessage

    from wellpipe.core.ports import HealthProvider
    from wellpipe.mcp.server import build_server

    def unusable(_provider: str | None) -> AbstractAsyncContextManager[Sequence[HealthProvider]]:
        raise RuntimeError("static answers never read data")

    server = build_server(connect=unusable)
    versions = [*mcp_types.version.HANDSHAKE_PROTOCOL_VERSIONS, _PROBE_UNKNOWN]

    listings = ("tools/list", "prompts/list", "resources/list", "resources/templates/list")

    async def ask(version: str, *, then_list: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        async with InMemoryTransport(server) as (read, write):

            async def call(message: dict[str, Any]) -> dict[str, Any]:
                payload = mcp_types.jsonrpc_message_adapter.validate_python(message)
                await write.send(SessionMessage(payload))
                if "id" not in message:
                    return {}
                answer = await read.receive()
                assert isinstance(answer, SessionMessage)
                dumped = answer.message.model_dump(mode="json", by_alias=True, exclude_none=True)
                result: dict[str, Any] = dumped["result"]
                return result

            initialized = await call(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": version,
                        "capabilities": {},
                        "clientInfo": {"name": "wellpipe-static", "version": "0"},
                    },
                }
            )
            lists: dict[str, Any] = {}
            if then_list:
                await call({"jsonrpc": "2.0", "method": "notifications/initialized"})
                for number, method in enumerate(listings, start=2):
                    lists[method] = await call({"jsonrpc": "2.0", "id": number, "method": method})
            return initialized, lists

    async def modern() -> dict[str, Any]:
        """The 2026-07-28 era: ``server/discover``, the lists, and what a call result carries."""
        async with InMemoryTransport(server) as (read, write):
            answers: dict[str, Any] = {}
            for number, method in enumerate(["server/discover", *listings], start=1):
                params: dict[str, Any] = {"_meta": dict(_MODERN_ENVELOPE)}
                message = {"jsonrpc": "2.0", "id": number, "method": method, "params": params}
                payload = mcp_types.jsonrpc_message_adapter.validate_python(message)
                await write.send(SessionMessage(payload))
                answer = await read.receive()
                assert isinstance(answer, SessionMessage)
                dumped = answer.message.model_dump(mode="json", by_alias=True, exclude_none=True)
                answers[method] = dumped["result"]
            # What the SDK adds to every tools/call result beside the tool's own answer.
            call = {
                "jsonrpc": "2.0",
                "id": 99,
                "method": "tools/call",
                "params": {"_meta": dict(_MODERN_ENVELOPE), "name": "", "arguments": {}},
            }
            payload = mcp_types.jsonrpc_message_adapter.validate_python(call)
            await write.send(SessionMessage(payload))
            answer = await read.receive()
            assert isinstance(answer, SessionMessage)
            dumped = answer.message.model_dump(mode="json", by_alias=True, exclude_none=True)
            own = ("content", "structuredContent", "isError")
            extra = {k: v for k, v in dumped["result"].items() if k not in own}
            return {
                "versions": list(mcp_types.version.MODERN_PROTOCOL_VERSIONS),
                "discover": answers.pop("server/discover"),
                "lists": answers,
                "call_extra": extra,
            }

    def modern_extra(legacy: dict[str, Any], modern: dict[str, Any]) -> dict[str, Any]:
        """What the 2026-07-28 era adds to every listing (checked to be only additions)."""
        extras = []
        for method, result in modern["lists"].items():
            extra = {k: v for k, v in result.items() if k not in legacy[method]}
            if {**legacy[method], **extra} != result:
                raise AssertionError(f"{method} differs by era beyond additions; extend the front")
            extras.append(extra)
        if any(extra != extras[0] for extra in extras):
            raise AssertionError("the listings' modern additions differ; extend the front")
        return extras[0]

    negotiated: dict[str, str] = {}
    template: dict[str, Any] | None = None
    answers: dict[str, Any] = {}
    for version in versions:
        result, listed = await ask(version, then_list=template is None)
        negotiated["*" if version == _PROBE_UNKNOWN else version] = result.pop("protocolVersion")
        if template is None:
            template, answers = result, listed
        elif result != template:
            raise AssertionError(f"initialize differs by version ({version}); extend the front")
    modern_answers = await modern()
    return {
        "initialize": template,
        "negotiated": negotiated,
        "lists": answers,
        "modern": {**modern_answers, "lists": modern_extra(answers, modern_answers)},
    }


def _write() -> None:
    import anyio

    data = anyio.run(generate)
    STATIC_FILE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    _write()
