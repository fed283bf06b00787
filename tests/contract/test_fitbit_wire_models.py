"""Google Health wire models hold to the discovery document: every field they define is the
schema's, with the schema's type, and nothing Google marks optional is required."""

from __future__ import annotations

import json
import types
import typing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import AwareDatetime, BaseModel

from wellpipe.providers.fitbit import schemas as wire

DISCOVERY = json.loads(
    (Path(__file__).parent / "specs" / "google-health-discovery.json").read_text()
)
SCHEMAS: dict[str, Any] = DISCOVERY["schemas"]

PAIRS: dict[str, type[BaseModel]] = {
    name: getattr(wire, name)
    for name in sorted(SCHEMAS)
    if isinstance(getattr(wire, name, None), type) and issubclass(getattr(wire, name), BaseModel)
}
"""Every wire model named after a discovery schema."""
ALWAYS_SENT = {
    ("DailyRollupDataPoint", "civilStartTime"),
    ("DailyRollupDataPoint", "civilEndTime"),
    ("RollupDataPoint", "startTime"),
    ("RollupDataPoint", "endTime"),
}
"""Response fields the document leaves unqualified that every roll-up window carries."""


def _strip(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            args = typing.get_args(annotation)
            marker = next((a for a in args[1:] if hasattr(a, "func")), None)
            if marker is not None:
                return marker.func  # a PlainValidator: its function names the type
            annotation = args[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            return annotation


def _expected(prop: dict[str, Any]) -> Any:
    if "$ref" in prop:
        return prop["$ref"]
    kind, fmt = prop.get("type"), prop.get("format")
    if kind == "string" and fmt == "int64":
        return "int64"
    if kind == "string" and fmt == "google-duration":
        return "duration"
    if kind == "string" and fmt == "google-datetime":
        return AwareDatetime
    simple: dict[str, Any] = {
        "integer": int,
        "number": float,
        "boolean": bool,
        "string": str,
        "array": list,
    }
    return simple[str(kind)]


def _actual(annotation: Any, metadata: list[Any] | None = None) -> Any:
    marker = next((m for m in metadata or [] if hasattr(m, "func")), None)
    inner = marker.func if marker is not None else _strip(annotation)
    if callable(inner) and getattr(inner, "__name__", "") == "_int64":
        return "int64"
    if callable(inner) and getattr(inner, "__name__", "") == "_duration":
        return "duration"
    if inner is timedelta:
        return "duration"
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return inner.__name__
    if typing.get_origin(inner) is list:
        return list
    return inner


def test_the_models_cover_what_wellpipe_reads() -> None:
    assert {
        "DataPoint",
        "ReconciledDataPoint",
        "ListDataPointsResponse",
        "ReconcileDataPointsResponse",
        "Sleep",
        "SleepStage",
        "SleepSummary",
        "Exercise",
        "MetricsSummary",
        "DailyRollupDataPoint",
        "DailyRollUpDataPointsResponse",
        "RollUpDataPointsResponse",
        "Identity",
        "Profile",
        "Settings",
    } <= set(PAIRS)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_every_field_is_the_schemas_with_its_type(name: str) -> None:
    properties = SCHEMAS[name]["properties"]
    for field, info in PAIRS[name].model_fields.items():
        key = info.alias or field
        assert key in properties, (name, key)
        prop = properties[key]
        expected, actual = _expected(prop), _actual(info.annotation, info.metadata)
        if name == "Status" and field == "details":
            continue  # google.protobuf.Any entries: modelled as ErrorInfo, read leniently
        if expected is list:
            assert actual is list, (name, field)
            item = _strip(info.annotation)
            item_expected = _expected(prop["items"])
            assert _actual(typing.get_args(item)[0]) in (item_expected, dict), (name, field)
        else:
            assert actual == expected, (name, field, actual, expected)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_nothing_optional_at_google_is_required_here(name: str) -> None:
    properties = SCHEMAS[name]["properties"]
    for field, info in PAIRS[name].model_fields.items():
        if info.is_required() and (name, field) not in ALWAYS_SENT:
            description = properties[info.alias or field].get("description", "")
            assert description.startswith(("Required.", "Output only.")), (name, field)
