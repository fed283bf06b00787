"""Ready-to-paste setup for each assistant, with the user's key (or a placeholder) filled in.

What each client accepts (reference mcp.md §2.2-§2.4, §5.1):

* Claude connectors (claude.ai, Desktop, mobile) take a URL and authenticate with OAuth;
  a static bearer key is not supported there today. Claude Desktop reaches a remote
  server with a key through ``mcp-remote`` in ``claude_desktop_config.json``.
* Claude Code adds a remote server with a header on the command line.
* ChatGPT: a GPT Action imports the OpenAPI document and sends the key as a Bearer API key.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

__all__ = ["PLACEHOLDER", "Snippets", "snippets_for"]

PLACEHOLDER = "YOUR_API_KEY"


@dataclass(frozen=True)
class Snippets:
    """The addresses and the text blocks the dashboard shows."""

    mcp_url: str
    openapi_url: str
    rest_url: str
    curl: str
    claude_desktop: str
    claude_code: str


def snippets_for(public_url: str, key: str | None) -> Snippets:
    """Snippets for ``public_url``, with ``key`` filled in (or `PLACEHOLDER`)."""
    secret = key or PLACEHOLDER
    mcp_url = f"{public_url}/api/mcp"
    rest_url = f"{public_url}/api/v1/health?type=summary&days=7"
    curl = f'curl -H "Authorization: Bearer {secret}" \\\n  {shlex.quote(rest_url)}'
    args = ["-y", "mcp-remote", mcp_url, "--header", "Authorization:${WELLPIPE_AUTH}"]
    if public_url.startswith("http://"):
        args.append("--allow-http")
    desktop = {
        "mcpServers": {
            "wellpipe": {
                "command": "npx",
                "args": args,
                "env": {"WELLPIPE_AUTH": f"Bearer {secret}"},
            }
        }
    }
    claude_code = (
        f"claude mcp add --transport http wellpipe {mcp_url} \\\n"
        f'  --header "Authorization: Bearer {secret}"'
    )
    return Snippets(
        mcp_url=mcp_url,
        openapi_url=f"{public_url}/openapi.json",
        rest_url=rest_url,
        curl=curl,
        claude_desktop=json.dumps(desktop, indent=2),
        claude_code=claude_code,
    )
