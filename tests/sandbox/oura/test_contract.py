"""Every body the Oura sandbox serves validates against Oura's published spec, closed."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from typing import Any

import httpx2
import pytest

from tests.conftest import NOW
from tests.contract.oura_spec import (
    SPEC,
    SPEC_SHA256,
    check_parameter,
    operation_for,
    spec_digest,
    validator,
)
from tests.fakes import FakeClock
from tests.sandbox.oura.conftest import ORIGIN
from wellpipe.sandbox.oura import API, COLLECTIONS, DEFAULT_MEMBERS, History, OuraSandbox

TYPED = {
    "daily_activity": "PublicDailyActivity",
    "daily_readiness": "PublicDailyReadiness",
    "daily_sleep": "PublicDailySleep",
    "daily_spo2": "PublicDailySpO2",
    "daily_stress": "PublicDailyStress",
    "session": "PublicSession",
    "sleep": "PublicModifiedSleepModel",
    "vO2_max": "PublicVO2Max",
    "workout": "PublicWorkout",
}


def test_the_vendored_spec_is_ouras_published_document() -> None:
    assert spec_digest() == SPEC_SHA256


def test_the_spec_checker_refuses_what_oura_would_not_send() -> None:
    check = validator("PublicDailySleep")
    good: dict[str, Any] = {
        "id": "x",
        "contributors": {"deep_sleep": 50},
        "day": "2026-11-20",
        "score": 80,
        "timestamp": "2026-11-20T00:00:00-07:00",
    }
    assert check.is_valid(good)
    assert not check.is_valid({**good, "surprise": 1})  # closed
    assert not check.is_valid({**good, "contributors": {"mood": 1}})  # closed, nested
    assert not check.is_valid({**good, "day": "20.11.2026"})
    assert not check.is_valid({**good, "timestamp": "2026-11-20T00:00:00"})  # no offset
    assert not check.is_valid({**good, "score": "80"})
    assert not check.is_valid({k: v for k, v in good.items() if k != "id"})
    row: dict[str, Any] = {"bpm": 60, "source": "awake", "timestamp": "2026-11-20T00:00:00+00:00"}
    assert validator("PublicHeartRateRow").is_valid({**row, "timestamp_unix": 1})
    assert not validator("PublicHeartRateRow").is_valid(
        {**row, "timestamp": "2026-11-20T00:00:00-07:00", "timestamp_unix": 1}
    )


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _enum_values(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {str(v) for v in node.get("enum", [])}
        return found.union(*(_enum_values(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_enum_values(v) for v in node))
    return set()


_ENUM_VALUES = _enum_values(SPEC["components"]["schemas"])


def _shape(value: Any) -> Any:
    """A stand-in the spec judges exactly as it judges ``value``, with duplicates merged.

    The Oura schemas constrain only types, required and unknown properties, enums, id's
    minimum length and (ours) the date formats, never a number's value. So numbers
    become 0 / 0.5, dates and timestamps a canonical one (keeping a UTC offset apart from
    the others, and anything malformed as it is), strings that are no enum's value "s"
    (empty ones stay empty), and arrays keep
    one of each shape: the same verdict at a fraction of jsonschema's cost (a day's
    activity has 1,440 MET samples)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return 0
    if isinstance(value, float):
        return 0.5
    if isinstance(value, str):
        if _DATE.match(value):
            return "2000-01-01" if _valid(date.fromisoformat, value) else value
        if _STAMP.match(value) and _valid(datetime.fromisoformat, value):
            utc = value.endswith(("Z", "+00:00"))
            return "2000-01-01T00:00:00+00:00" if utc else "2000-01-01T00:00:00-07:00"
        return value if value in _ENUM_VALUES or not value else "s"
    if isinstance(value, list):
        shapes: dict[Any, Any] = {}
        for item in value:
            shaped = _shape(item)
            key = (
                json.dumps(shaped, sort_keys=True)
                if isinstance(shaped, dict | list)
                else (type(shaped), shaped)
            )
            shapes.setdefault(key, shaped)
        return list(shapes.values())
    assert isinstance(value, dict)
    return {key: _shape(item) for key, item in value.items()}


def _valid(parse: Any, value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


class _Checker:
    """Validates bodies by shape, each distinct document shape once.

    An envelope is valid when its own keys are and every item is, so a page is checked
    as its envelope with no items plus each item against the item schema."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    def errors(self, schema: str, body: Any) -> list[str]:
        if isinstance(body, dict) and isinstance(body.get("data"), list):
            item = _item_schema(schema)
            found = self._errors(schema, {**body, "data": []})
            for document in body["data"]:
                found += self._errors(item, document)
            return found
        return self._errors(schema, body)

    def _errors(self, schema: str, body: Any) -> list[str]:
        shaped = _shape(body)
        key = (schema, json.dumps(shaped, sort_keys=True))
        if key in self.seen:
            return []
        self.seen.add(key)
        return [e.message for e in validator(schema).iter_errors(shaped)]


def _item_schema(envelope: str) -> str:
    ref = SPEC["components"]["schemas"][envelope]["properties"]["data"]["items"]["$ref"]
    return str(ref).rsplit("/", 1)[-1]


def test_shapes_keep_the_verdict() -> None:
    check = validator("PublicDailySleep")
    good: dict[str, Any] = {
        "id": "x",
        "contributors": {"deep_sleep": 50, "timing": None},
        "day": "2026-11-20",
        "score": 80,
        "timestamp": "2026-11-20T00:00:00-07:00",
    }
    for body in (
        good,
        {**good, "day": "2026-13-01"},
        {**good, "timestamp": "2026-11-20 00:00"},
        {**good, "score": 8.5},
        {**good, "id": ""},
        {**good, "extra": 1},
        {**good, "contributors": {"deep_sleep": "high"}},
    ):
        assert check.is_valid(_shape(body)) == check.is_valid(body), body


async def _pages(
    http: httpx2.AsyncClient, path: str, params: dict[str, str], headers: dict[str, str]
) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    query = dict(params)
    while True:
        response = await http.get(path, params=query, headers=headers)
        assert response.status_code == 200, (path, response.text)
        pages.append(response.json())
        if pages[-1]["next_token"] is None:
            return pages
        query["next_token"] = pages[-1]["next_token"]


@pytest.mark.parametrize("user", [m.user_id for m in DEFAULT_MEMBERS], ids=["gen3", "gen2"])
async def test_every_page_of_every_route_validates_against_the_spec(
    clock: FakeClock, oura_history: History, user: str
) -> None:
    sandbox = OuraSandbox(
        clock=clock, history=oura_history, rate_limit=None, heartrate_page_size=200
    )
    headers = {"Authorization": f"Bearer {sandbox.issue_tokens(user)['access_token']}"}
    member = sandbox.member(user)
    checker = _Checker()
    async with httpx2.AsyncClient(base_url=ORIGIN, transport=sandbox.transport()) as http:
        for name in COLLECTIONS:
            path = f"{API}/{name}"
            [operation, _] = operation_for("GET", path) or (None, None)
            assert operation is not None
            envelope = operation.response_schemas(200)[0]
            assert envelope == f"MultiDocumentResponse_{TYPED[name]}_"
            pages = await _pages(http, path, {"start_date": "2020-01-01"}, headers)
            for page in pages:
                errors = checker.errors(envelope, page)
                assert not errors, (name, errors[:3])
            served = [doc["id"] for page in pages for doc in page["data"]]
            assert served == [d.id for d in member.collection(name)]
            for doc in member.collection(name)[::37]:
                response = await http.get(f"{path}/{doc.id}", headers=headers)
                assert response.status_code == 200
                errors = checker.errors(TYPED[name], response.json())
                assert not errors, (name, errors[:3])

        hr_pages = await _pages(
            http,
            f"{API}/heartrate",
            {
                "start_datetime": (NOW - timedelta(days=4)).isoformat(),
                "end_datetime": NOW.isoformat(),
            },
            headers,
        )
        assert len(hr_pages) > 1
        for page in hr_pages:
            errors = checker.errors("TimeSeriesResponse_PublicHeartRateRow_", page)
            assert not errors, errors[:3]
        info = (await http.get(f"{API}/personal_info", headers=headers)).json()
        assert not list(validator("PersonalInfoResponse").iter_errors(info))


async def test_fields_trims_to_the_loose_envelope(
    http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    body = (
        await http.get(
            f"{API}/daily_sleep",
            params={"start_date": "2026-11-01", "end_date": "2026-11-10", "fields": "score"},
            headers=bearer,
        )
    ).json()
    assert body["data"]
    assert all(set(doc) == {"id", "day", "timestamp", "score"} for doc in body["data"])
    assert validator("MultiDocumentResponseDict").is_valid(body)


async def test_every_status_is_one_the_spec_lists_and_400s_are_validation_errors(
    oura: OuraSandbox, http: httpx2.AsyncClient, bearer: dict[str, str]
) -> None:
    narrow = {
        "Authorization": f"Bearer {oura.issue_tokens(scopes=frozenset({'daily'}))['access_token']}"
    }
    probes: list[tuple[str, dict[str, str], dict[str, str]]] = [
        (f"{API}/daily_sleep", {}, bearer),
        (f"{API}/daily_sleep", {}, {}),
        (f"{API}/daily_sleep", {"start_date": "yesterday"}, bearer),
        (f"{API}/daily_sleep", {"start_date": "2026-11-10", "end_date": "2026-11-01"}, bearer),
        (f"{API}/sleep", {"next_token": "%%%"}, bearer),
        (f"{API}/sleep/nope", {}, bearer),
        (f"{API}/workout", {}, narrow),
        (f"{API}/heartrate", {"start_datetime": "2026-01-01T00:00:00Z"}, bearer),
        (f"{API}/heartrate", {"latest": "maybe"}, bearer),
        (f"{API}/heartrate", {}, narrow),
        (f"{API}/personal_info", {}, narrow),
        (f"{API}/personal_info", {}, bearer),
    ]
    for path, params, headers in probes:
        response = await http.get(path, params=params, headers=headers)
        if response.status_code == 400:
            assert validator("HTTPValidationError").is_valid(response.json()), response.text
    statuses = set()
    for request in oura.requests:
        found = operation_for(request.method, request.path)
        assert found is not None, request.path
        operation, path_values = found
        assert request.status in operation.responses, (request.path, request.status)
        statuses.add(request.status)
        for name, _raw in request.query:
            allowed = operation.parameters("query")
            assert name in allowed, (request.path, name)
        for name, raw in path_values.items():
            assert check_parameter(operation.parameters("path")[name]["schema"], raw)
    assert statuses == {200, 400, 401, 403, 404}
