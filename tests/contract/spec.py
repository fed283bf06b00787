"""WHOOP's official OpenAPI document, as a validator for bodies and requests."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, FormatChecker
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.contract.openapi_spec import (
    Operation,
    closed,
    file_digest,
    is_rfc3339,
    operations,
)

SPEC_PATH = Path(__file__).parent / "specs" / "whoop-openapi.json"
SPEC_SHA256 = "5fb4a52113ea6a299067950de804ab2c487b59b34bb54ab60ea0233cf560c081"
"""As recorded in shared/reference/providers.md for developer/doc/openapi.json."""

SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text())
SERVER_PREFIX = "/developer"

formats = FormatChecker()


formats.checks("date-time")(is_rfc3339)


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
    return file_digest(SPEC_PATH)


_DOCUMENT = closed(copy.deepcopy(SPEC))
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


OPERATIONS = operations(SPEC, SERVER_PREFIX)


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
