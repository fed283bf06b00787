"""Google's Health API discovery document, turned into closed JSON Schemas for bodies.

Discovery schemas are not JSON Schema: ``$ref`` names a schema id, int64/uint64
travel as decimal strings, ``google-duration`` is ``"<seconds>s"`` and
``google-datetime`` an RFC 3339 instant. The conversion keeps every enum and
closes every object (a property the document does not declare is refused), so a
sandbox body validates only if Google could have sent it field for field.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, FormatChecker
from jsonschema.protocols import Validator

from tests.contract.openapi_spec import file_digest

SPEC_PATH = Path(__file__).parent / "specs" / "google-health-discovery.json"
SPEC_SHA256 = "a333ed417b30f5d9b0fe922807eb8f7e3ea0eec809f06c2f14f03e53129bec40"
"""As recorded in shared/reference/providers.md §1 (revision 20260805)."""

DISCOVERY: dict[str, Any] = json.loads(SPEC_PATH.read_text())

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_INT64 = r"^-?\d+$"
_UINT64 = r"^\d+$"
_DURATION = r"^-?\d+(\.\d{1,9})?s$"

formats = FormatChecker()


@formats.checks("google-datetime")
def _google_datetime(value: object) -> bool:
    if not isinstance(value, str) or not _RFC3339.match(value):
        return False
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", value)
    datetime.fromisoformat(trimmed)
    return True


def spec_digest() -> str:
    return file_digest(SPEC_PATH)


def convert(schema: dict[str, Any]) -> dict[str, Any]:
    """One discovery schema (or property) as closed JSON Schema."""
    if "$ref" in schema:
        return {"$ref": f"#/definitions/{schema['$ref']}"}
    kind = schema.get("type")
    fmt = schema.get("format")
    out: dict[str, Any]
    if kind == "object":
        out = {"type": "object"}
        if "properties" in schema:
            out["properties"] = {k: convert(v) for k, v in schema["properties"].items()}
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            out["additionalProperties"] = convert(extra)
        elif "properties" in schema:
            out["additionalProperties"] = False
    elif kind == "array":
        out = {"type": "array", "items": convert(schema.get("items", {}))}
    elif kind == "string":
        out = {"type": "string"}
        if fmt == "int64":
            out["pattern"] = _INT64
        elif fmt == "uint64":
            out["pattern"] = _UINT64
        elif fmt == "google-duration":
            out["pattern"] = _DURATION
        elif fmt == "google-datetime":
            out["format"] = "google-datetime"
        elif fmt == "byte":
            out["pattern"] = r"^[A-Za-z0-9+/_-]*={0,2}$"
        if "enum" in schema:
            out["enum"] = list(schema["enum"])
    elif kind == "integer":
        out = {"type": "integer"}
        if fmt == "int32":
            out.update(minimum=-(2**31), maximum=2**31 - 1)
        elif fmt == "uint32":
            out.update(minimum=0, maximum=2**32 - 1)
    elif kind == "number":
        out = {"type": "number"}
    elif kind == "boolean":
        out = {"type": "boolean"}
    elif kind == "any" or kind is None:
        out = {}
    else:  # pragma: no cover - the document has no other types
        raise ValueError(f"unknown discovery type {kind!r}")
    return out


DEFINITIONS: dict[str, Any] = {name: convert(s) for name, s in DISCOVERY["schemas"].items()}

# Google's JSON error envelope: google.rpc.Status plus the canonical ``status`` name.
DEFINITIONS["ErrorEnvelope"] = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                **DEFINITIONS["Status"]["properties"],
                "status": {
                    "type": "string",
                    "enum": [
                        "INVALID_ARGUMENT",
                        "FAILED_PRECONDITION",
                        "OUT_OF_RANGE",
                        "UNAUTHENTICATED",
                        "PERMISSION_DENIED",
                        "NOT_FOUND",
                        "ABORTED",
                        "ALREADY_EXISTS",
                        "RESOURCE_EXHAUSTED",
                        "CANCELLED",
                        "DATA_LOSS",
                        "UNKNOWN",
                        "INTERNAL",
                        "NOT_IMPLEMENTED",
                        "UNAVAILABLE",
                        "DEADLINE_EXCEEDED",
                    ],
                },
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "@type": {"const": "type.googleapis.com/google.rpc.ErrorInfo"},
                            "reason": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]+$"},
                            "domain": {"type": "string"},
                            "metadata": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                        },
                        "required": ["@type", "reason", "domain"],
                        "additionalProperties": False,
                    },
                },
            },
            "required": ["code", "message", "status"],
            "additionalProperties": False,
        }
    },
    "required": ["error"],
    "additionalProperties": False,
}


def validator(schema_name: str) -> Validator:
    """Validates a JSON body against the named discovery schema, closed and strict."""
    return Draft7Validator(
        {"$ref": f"#/definitions/{schema_name}", "definitions": DEFINITIONS},
        format_checker=formats,
    )


def method(resource_path: str, name: str) -> dict[str, Any]:
    """A discovery method, e.g. ``method("users.dataTypes.dataPoints", "list")``."""
    node: dict[str, Any] = DISCOVERY
    for part in resource_path.split("."):
        node = node["resources"][part]
    return dict(node["methods"][name])


DATA_POINT_UNION = frozenset(DISCOVERY["schemas"]["DataPoint"]["properties"]) - {
    "name",
    "dataSource",
}
"""The ``DataPoint`` data union: exactly one of these is set on a point."""
