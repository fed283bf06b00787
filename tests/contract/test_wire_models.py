"""WHOOP wire models mirror the official schemas field for field: names, required-ness, types."""

from __future__ import annotations

import types
import typing
from typing import Any
from uuid import UUID

import pytest
from pydantic import AwareDatetime, BaseModel

from tests.contract.spec import SPEC
from wellpipe.providers.whoop import schemas as wire

SCHEMAS = SPEC["components"]["schemas"]

PAIRS: dict[str, type[BaseModel]] = {
    "Cycle": wire.Cycle,
    "CycleScore": wire.CycleScore,
    "PaginatedCycleResponse": wire.PaginatedCycleResponse,
    "Sleep": wire.Sleep,
    "SleepScore": wire.SleepScore,
    "SleepStageSummary": wire.SleepStageSummary,
    "SleepNeeded": wire.SleepNeeded,
    "PaginatedSleepResponse": wire.PaginatedSleepResponse,
    "Recovery": wire.Recovery,
    "RecoveryScore": wire.RecoveryScore,
    "RecoveryCollection": wire.RecoveryCollection,
    "WorkoutV2": wire.WorkoutV2,
    "WorkoutScore": wire.WorkoutScore,
    "ZoneDurations": wire.ZoneDurations,
    "WorkoutCollection": wire.WorkoutCollection,
    "UserBasicProfile": wire.UserBasicProfile,
    "UserBodyMeasurement": wire.UserBodyMeasurement,
}


def _strip(annotation: Any) -> Any:
    """The type inside ``X | None`` and ``Annotated[X, ...]``."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        else:
            return annotation


def _expected_type(prop: dict[str, Any]) -> Any:
    if "$ref" in prop:
        return PAIRS[prop["$ref"].rsplit("/", 1)[-1]]
    kind, fmt = prop.get("type"), prop.get("format")
    if kind == "integer":
        return int
    if kind == "number":
        return float
    if kind == "boolean":
        return bool
    if kind == "array":
        return list
    if fmt == "date-time":
        return AwareDatetime  # RFC 3339 date-times always carry an offset
    if fmt == "uuid":
        return UUID
    if "enum" in prop:
        return wire.ScoreState
    return str


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_a_wire_model_has_exactly_the_schemas_fields(name: str) -> None:
    schema, model = SCHEMAS[name], PAIRS[name]
    assert set(model.model_fields) == set(schema["properties"])
    required = {field for field, info in model.model_fields.items() if info.is_required()}
    assert required == set(schema.get("required", []))


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_a_wire_model_has_the_schemas_types(name: str) -> None:
    schema, model = SCHEMAS[name], PAIRS[name]
    for field, prop in schema["properties"].items():
        annotation = _strip(model.model_fields[field].annotation)
        expected = _expected_type(prop)
        if expected is list:
            assert typing.get_origin(annotation) is list, field
            assert typing.get_args(annotation)[0] is _expected_type(prop["items"]), field
        else:
            assert annotation is expected, (name, field, annotation, expected)
        if "enum" in prop:
            assert {s.value for s in wire.ScoreState} == set(prop["enum"])


def test_every_member_data_schema_has_a_wire_model() -> None:
    partner = {
        "LabRequisition",
        "Patient",
        "PatientCore",
        "ServiceRequest",
        "UnilabsPatient",
        "PartnerTokenResponse",
        "PartnerTokenRequest",
        "ServiceRequestStatusRequest",
        "CreateObservationRequest",
        "DiagnosticReportCreateRequest",
        "ActivityIdMappingResponse",
    }
    assert set(SCHEMAS) - partner == set(PAIRS)
