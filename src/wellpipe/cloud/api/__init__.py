"""HTTP surfaces for programs: REST (``/api/v1``) and MCP (``/api/mcp``, ``/mcp``)."""
