"""Oura's published OpenAPI document (3.1, JSON Schema 2020-12), as a validator for bodies and
requests. Same shape as `tests.contract.spec` (WHOOP's): schemas are closed (properties the spec
does not define are refused) and Oura's date strings are checked strictly."""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.contract.openapi_spec import (
    Operation,
    closed,
    file_digest,
    is_rfc3339,
    operations,
)

SPEC_PATH = Path(__file__).parent / "specs" / "oura-openapi.json"
SPEC_SHA256 = "c6d570b38d1d1da68d7ca05e16e7020c115625099b12a61e28d7136e585d2505"
"""As recorded in shared/reference/providers.md for openapi-1.35.json."""

SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text())

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

formats = FormatChecker()


formats.checks("date-time", raises=ValueError)(is_rfc3339)


@formats.checks("date", raises=ValueError)
def _date(value: object) -> bool:
    if not isinstance(value, str) or not _DATE.match(value):
        return False
    date.fromisoformat(value)
    return True


def spec_digest() -> str:
    return file_digest(SPEC_PATH)


def _strict_dates(document: dict[str, Any]) -> dict[str, Any]:
    """Oura's date aliases are bare strings in the spec; hold them to what their names say."""
    schemas = document["components"]["schemas"]
    schemas["ISODate"] = {**schemas["ISODate"], "format": "date"}
    schemas["LocalizedDateTime"] = {**schemas["LocalizedDateTime"], "format": "date-time"}
    schemas["UtcDateTime"] = {
        **schemas["UtcDateTime"],
        "format": "date-time",
        "pattern": r"(Z|\+00:00)$",
    }
    return document


_DOCUMENT = _strict_dates(closed(copy.deepcopy(SPEC)))
_REGISTRY: Registry[Any] = Registry().with_resource(
    "oura", Resource.from_contents(_DOCUMENT, default_specification=DRAFT202012)
)


def validator(schema_name: str) -> Validator:
    """Validates a JSON body against ``#/components/schemas/<schema_name>``, closed and strict."""
    return Draft202012Validator(
        {"$ref": f"oura#/components/schemas/{schema_name}"},
        registry=_REGISTRY,
        format_checker=formats,
    )


OPERATIONS = operations(SPEC)


def operation_for(method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
    """The spec operation serving ``method path``; literal paths win over templated ones."""
    matches = [
        (op, match.groupdict())
        for op in OPERATIONS
        if op.method == method and (match := op.pattern.match(path))
    ]
    matches.sort(key=lambda found: len(found[1]))
    return matches[0] if matches else None


def check_parameter(schema: dict[str, Any], raw: str) -> bool:
    """Whether a raw query/path string is a valid value for the parameter schema."""
    options = schema.get("anyOf", [schema])
    for option in options:
        kind = option.get("type")
        if kind == "null":
            continue
        if kind == "boolean" and raw.lower() in {"true", "false"}:
            return True
        if kind == "integer" and re.fullmatch(r"-?\d+", raw):
            return True
        if kind == "string":
            fmt = option.get("format")
            if fmt is None or formats.conforms(raw, fmt):
                return True
    return False
