"""WHOOP's official OpenAPI document, as a validator for bodies and requests."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_PATH = Path(__file__).parent / "specs" / "whoop-openapi.json"
SPEC_SHA256 = "5fb4a52113ea6a299067950de804ab2c487b59b34bb54ab60ea0233cf560c081"
"""As recorded in shared/reference/providers.md for developer/doc/openapi.json."""

SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text())
SERVER_PREFIX = "/developer"

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

formats = FormatChecker()


@formats.checks("date-time")
def _date_time(value: object) -> bool:
    if not isinstance(value, str) or not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value)
    return True


@formats.checks("uuid")
def _uuid(value: object) -> bool:
    return isinstance(value, str) and str(uuid.UUID(value)) == value


@formats.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@formats.checks("int64")
def _int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


def spec_digest() -> str:
    return hashlib.sha256(SPEC_PATH.read_bytes()).hexdigest()


def _closed(schema: Any) -> Any:
    """The same schema, refusing properties it does not define (field-for-field fidelity)."""
    if isinstance(schema, dict):
        closed = {key: _closed(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


_DOCUMENT = _closed(copy.deepcopy(SPEC))
_REGISTRY: Registry[Any] = Registry().with_resource(
    "whoop", Resource.from_contents(_DOCUMENT, default_specification=DRAFT4)
)


def validator(schema_name: str) -> Validator:
    """Validates a JSON body against ``#/components/schemas/<schema_name>``, closed and strict."""
    return Draft4Validator(
        {"$ref": f"whoop#/components/schemas/{schema_name}"},
        registry=_REGISTRY,
        format_checker=formats,
    )


@dataclass(frozen=True)
class Operation:
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
        content = self.spec["responses"].get(str(status), {}).get("content", {})
        ref = content.get("application/json", {}).get("schema", {}).get("$ref")
        return ref.rsplit("/", 1)[-1] if ref else None


def _operations() -> list[Operation]:
    found = []
    for template, item in SPEC["paths"].items():
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                found.append(
                    Operation(method.upper(), template, re.compile(f"^{SERVER_PREFIX}{regex}$"), op)
                )
    return found


OPERATIONS = _operations()


def operation_for(method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
    for op in OPERATIONS:
        if op.method == method and (match := op.pattern.match(path)):
            return op, match.groupdict()
    return None


def check_parameter(schema: dict[str, Any], raw: str) -> bool:
    """Whether a raw query/path string is a valid value for the parameter schema."""
    kind = schema.get("type")
    if kind == "integer":
        try:
            value = int(raw)
        except ValueError:
            return False
        maximum = schema.get("maximum")
        return (maximum is None or value <= maximum) and formats.conforms(
            value, schema.get("format", "")
        )
    if schema.get("format") in {"date-time", "uuid"}:
        try:
            return formats.conforms(raw, schema["format"])
        except ValueError:
            return False
    return kind == "string"
