"""Ready-to-paste setup for each assistant: the connector URL, and the key-based snippets.

What each client accepts (reference mcp.md §2.2-§2.4, §5.1):

* Connectors (Claude on the web and mobile, and Claude Desktop through the account;
  ChatGPT's developer-mode apps) take the MCP URL and sign in with OAuth: `connector_for`
  gives that URL and a link that opens Claude's "Add custom connector" dialog filled in.
* Clients without OAuth use an API key (`snippets_for`): Claude Desktop's config file
  through ``mcp-remote``, Claude Code with a header on the command line, a GPT Action
  importing the OpenAPI document with the key as a Bearer API key, curl.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

__all__ = [
    "CLAUDE_ADD_CONNECTOR",
    "PLACEHOLDER",
    "Connector",
    "Snippets",
    "connector_for",
    "snippets_for",
]

PLACEHOLDER = "YOUR_API_KEY"
CLAUDE_ADD_CONNECTOR = "https://claude.ai/customize/connectors"
"""Claude's connector settings; its query can open the "Add custom connector" dialog filled in."""
CONNECTOR_NAME = "Wellpipe"


@dataclass(frozen=True)
class Connector:
    """What a person needs to add Wellpipe as a connector (OAuth, no key)."""

    name: str
    mcp_url: str
    claude_add_url: str
    reachable: bool = True
    """Whether Claude's and ChatGPT's servers could reach it (public https)."""


def connector_for(public_url: str) -> Connector:
    """The URL to paste for ``public_url``, and the link that pre-fills Claude's dialog."""
    mcp_url = f"{public_url}/api/mcp"
    query = urlencode(
        {"modal": "add-custom-connector", "connectorName": CONNECTOR_NAME, "connectorUrl": mcp_url}
    )
    parts = urlsplit(public_url)
    host = (parts.hostname or "").lower()
    private = host in {"localhost", "127.0.0.1", "::1"} or host.endswith((".local", ".test"))
    return Connector(
        name=CONNECTOR_NAME,
        mcp_url=mcp_url,
        claude_add_url=f"{CLAUDE_ADD_CONNECTOR}?{query}",
        reachable=parts.scheme == "https" and not private,
    )


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
