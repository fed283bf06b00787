"""The dashboard's words for internal names: usage endpoints, scopes and the data they cost."""

from __future__ import annotations

import re
from importlib.util import find_spec
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wellpipe.cloud.web.labels import (
    ASSISTANT,
    MCP_TOOLS,
    REST_API,
    REST_ROUTES,
    EndpointLabel,
    endpoint_label,
    endpoint_rows,
    granted_labels,
    lost_data,
    missing_labels,
)
from wellpipe.mcp.tools import TOOLS
from wellpipe.providers import get_provider_info
from wellpipe.providers.fitbit.info import SCOPES as GOOGLE_SCOPES
from wellpipe.providers.fitbit.info import SLEEP_SCOPE


def rest_endpoint_names() -> set[str]:
    """The ``rest:<name>`` usage names the REST API charges: its calls and ranged routes."""
    from wellpipe.cloud.api import rest

    spec = find_spec("wellpipe.cloud.api.rest")
    assert spec is not None
    assert spec.origin is not None
    source = Path(spec.origin).read_text()
    literal = set(re.findall(r'Call\(Face\.REST, "([a-z_-]+)"', source))
    assert "Call(Face.REST, route," in source  # the ranged routes, named after their path
    ranged = {path for path, *_ in rest._RANGED}
    assert literal
    assert ranged
    return literal | ranged


def test_every_mcp_tool_has_its_own_label() -> None:
    assert set(MCP_TOOLS) == {tool.name for tool in TOOLS}
    for tool in TOOLS:
        label = endpoint_label(f"mcp:{tool.name}")
        assert label == EndpointLabel(MCP_TOOLS[tool.name], ASSISTANT)
        assert "-" not in label.what


def test_every_rest_route_has_its_own_label() -> None:
    assert set(REST_ROUTES) == rest_endpoint_names()
    for name, what in REST_ROUTES.items():
        assert endpoint_label(f"rest:{name}") == EndpointLabel(what, REST_API)


def test_the_same_data_reads_alike_through_both_ways_in() -> None:
    assert endpoint_label("rest:sleep").text == "Sleep, via the REST API"
    assert endpoint_label("mcp:get-recent-sleep").text == "Sleep, via an assistant (MCP)"
    assert endpoint_label("rest:summary").what == endpoint_label("mcp:get-daily-summary").what


@pytest.mark.parametrize(
    ("endpoint", "label"),
    [
        ("mcp:get-recent-stress", EndpointLabel("Stress", ASSISTANT)),
        ("mcp:get_daily_summary", EndpointLabel("Daily summary", ASSISTANT)),
        ("rest:heart-rate_zones", EndpointLabel("Heart rate zones", REST_API)),
        ("grpc:get-sleep", EndpointLabel("Sleep", "Grpc")),
        ("export", EndpointLabel("Export", "")),
        ("rest:", EndpointLabel("Other requests", REST_API)),
    ],
)
def test_names_nobody_labelled_yet_still_read_as_words(endpoint: str, label: EndpointLabel) -> None:
    assert endpoint_label(endpoint) == label


@given(st.text(max_size=64))
def test_any_endpoint_name_gives_a_short_label(endpoint: str) -> None:
    label = endpoint_label(endpoint)
    assert label.what.strip()
    assert len(label.what) <= 40


def test_usage_rows_add_up_names_that_read_alike_largest_first() -> None:
    rows = endpoint_rows(
        [("mcp:get-daily-summary", 2), ("rest:sleep", 3), ("mcp:get_daily_summary", 2)]
    )
    assert rows == [
        (EndpointLabel("Daily summary", ASSISTANT), 4),
        (EndpointLabel("Sleep", REST_API), 3),
    ]


def test_google_scopes_on_the_card_are_words_and_say_what_is_lost() -> None:
    google = get_provider_info("fitbit")
    granted = set(GOOGLE_SCOPES) - {SLEEP_SCOPE}
    assert granted_labels(google, granted) == (
        "Health metrics",
        "Activity and fitness",
        "Profile",
        "Settings",
    )
    assert missing_labels(google, granted) == ("Sleep",)
    assert lost_data(google, granted) == ("sleep",)


def test_an_unknown_granted_scope_reads_short_and_comes_last() -> None:
    google = get_provider_info("fitbit")
    extra = "https://www.googleapis.com/auth/googlehealth.nutrition.readonly"
    labels = granted_labels(google, {*GOOGLE_SCOPES, extra})
    assert labels[-1] == "Nutrition"
    assert not any("googleapis" in label for label in labels)
    assert missing_labels(google, {*GOOGLE_SCOPES, extra}) == ()


def test_nothing_is_missing_when_the_provider_did_not_say_what_it_granted() -> None:
    oura = get_provider_info("oura")
    assert missing_labels(oura, ()) == ()
    assert lost_data(oura, ()) == ()
    granted = set(oura.scopes) - {"heartrate", "workout"}
    assert missing_labels(oura, granted) == ("Heart rate", "Workouts")
    assert lost_data(oura, granted) == ("workout",)
