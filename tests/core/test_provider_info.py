"""`ProviderInfo`'s scope labels: every requested scope or none, and readable fallbacks."""

from __future__ import annotations

from typing import Any

import pytest

from wellpipe.core.models import DataKind
from wellpipe.core.provider_info import ProviderInfo, readable_scope


def info(**overrides: Any) -> ProviderInfo:
    fields: dict[str, Any] = {
        "name": "ring",
        "display_name": "Ring",
        "kinds": frozenset({DataKind.SLEEP}),
        "scopes": ("daily", "heartrate"),
        "token_auth_method": "client_secret_post",
    }
    return ProviderInfo(**{**fields, **overrides})


def test_labelled_scopes_read_as_their_labels() -> None:
    ring = info(scope_labels=(("daily", "Daily summaries"), ("heartrate", "Heart rate")))
    assert ring.scope_label("daily") == "Daily summaries"
    assert ring.scope_label("heartrate") == "Heart rate"
    assert ring.scope_label("spo2Daily") == "Spo2 daily"  # granted but never requested


def test_a_provider_without_labels_reads_as_the_fallback() -> None:
    assert info().scope_label("heartrate") == "Heartrate"


@pytest.mark.parametrize(
    "labels",
    [
        (("daily", "Daily summaries"),),  # heartrate unlabelled
        (("daily", "Daily"), ("heartrate", "Heart rate"), ("email", "Email")),  # not requested
        (("daily", "Daily"), ("daily", "Again"), ("heartrate", "Heart rate")),  # twice
        (("daily", "Daily"), ("heartrate", "  ")),  # empty
    ],
)
def test_labels_must_name_each_requested_scope_once(labels: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(ValueError, match="label"):
        info(scope_labels=labels)


@pytest.mark.parametrize(
    ("scope", "readable"),
    [
        ("https://www.googleapis.com/auth/googlehealth.nutrition.readonly", "Nutrition"),
        ("https://www.googleapis.com/auth/userinfo.email", "Email"),
        ("read:body_measurement", "Body measurement"),
        ("spo2Daily", "Spo2 daily"),
        ("heart-rate", "Heart rate"),
        ("offline", "Offline"),
        ("x" * 80, "X" + "x" * 30 + "…"),
        ("", "?"),
    ],
)
def test_an_unlabelled_scope_reads_short_without_its_url(scope: str, readable: str) -> None:
    assert readable_scope(scope) == readable
