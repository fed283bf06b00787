"""MCP over streamable HTTP at ``/api/mcp`` and ``/mcp``. Placeholder until the endpoint lands."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, nullcontext

from fastapi import FastAPI

from wellpipe.cloud.context import CloudContext


def mount_mcp(app: FastAPI, ctx: CloudContext) -> AbstractAsyncContextManager[object]:
    """Mount the MCP endpoints on ``app``; returns what the app's lifespan must run."""
    return nullcontext()
