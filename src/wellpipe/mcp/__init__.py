"""Wellpipe's MCP surface, shared by the local server and the cloud: tools and the server."""
