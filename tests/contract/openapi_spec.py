"""What the OpenAPI-based contract helpers share (WHOOP's `spec`, Oura's `oura_spec`).

Closing schemas (a property the spec does not define is refused), the strict
RFC 3339 date-time check, a pinned document's digest, and the spec's operations
as path patterns. Google's discovery document (`google_spec`) is not OpenAPI and
converts its own schemas, but pins its digest the same way.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def is_rfc3339(value: object) -> bool:
    """An RFC 3339 date-time with an offset (a ``ValueError`` if it names no real instant)."""
    if not isinstance(value, str) or not RFC3339.match(value):
        return False
    datetime.fromisoformat(value)
    return True


def file_digest(path: Path) -> str:
    """The sha256 of a pinned spec file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def closed(schema: Any) -> Any:
    """The same schema, refusing properties it does not define (field-for-field fidelity)."""
    if isinstance(schema, dict):
        result = {key: closed(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            result["additionalProperties"] = False
        return result
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    return schema


@dataclass(frozen=True)
class Operation:
    """One operation of an OpenAPI document, matched by ``pattern`` against a request path."""

    method: str
    template: str
    pattern: re.Pattern[str]
    spec: dict[str, Any]

    @property
    def responses(self) -> set[int]:
        return {int(code) for code in self.spec.get("responses", {})}

    def parameters(self, where: str) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in self.spec.get("parameters", []) if p["in"] == where}

    def response_schema(self, status: int) -> str | None:
        """The schema name of a response whose body is one ``$ref``."""
        ref = self._response_body(status).get("$ref")
        return ref.rsplit("/", 1)[-1] if ref else None

    def response_schemas(self, status: int) -> list[str]:
        """The schema names a response may have, the typed one first (then the loose dict)."""
        schema = self._response_body(status)
        refs = [schema] if "$ref" in schema else schema.get("anyOf", [])
        return [ref["$ref"].rsplit("/", 1)[-1] for ref in refs if "$ref" in ref]

    def _response_body(self, status: int) -> dict[str, Any]:
        content = self.spec["responses"].get(str(status), {}).get("content", {})
        body: dict[str, Any] = content.get("application/json", {}).get("schema", {})
        return body


def operations(spec: dict[str, Any], prefix: str = "") -> list[Operation]:
    """Every operation of ``spec``, its path served under ``prefix``."""
    found = []
    for template, item in spec["paths"].items():
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                found.append(
                    Operation(method.upper(), template, re.compile(f"^{prefix}{regex}$"), op)
                )
    return found
