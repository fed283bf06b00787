"""Wellpipe Cloud: the multi-tenant service (accounts, provider connect, API keys, REST and MCP).

Layers, one way: ``security`` and ``db`` hold no web code; ``services`` are the use
cases; ``api`` (REST, MCP) and ``web`` (dashboard) are the only FastAPI code; ``app``
assembles them; ``commands`` is ``wellpipe cloud``. Nothing here imports `wellpipe.cli`.
"""
