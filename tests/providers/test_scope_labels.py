"""Every built-in provider names each scope it requests in words people read."""

from __future__ import annotations

import pytest

from wellpipe.providers import available_providers, get_provider_info
from wellpipe.providers.fitbit.info import (
    ACTIVITY_SCOPE,
    HEALTH_METRICS_SCOPE,
    PROFILE_SCOPE,
    SETTINGS_SCOPE,
    SLEEP_SCOPE,
)


@pytest.mark.parametrize("name", available_providers())
def test_each_requested_scope_has_a_short_distinct_label(name: str) -> None:
    info = get_provider_info(name)
    labels = dict(info.scope_labels)
    assert set(labels) == set(info.scopes)
    assert len(set(labels.values())) == len(labels)
    for scope, label in labels.items():
        assert label == info.scope_label(scope)
        assert len(label) <= 24, label
        assert label[0].isupper(), label
        assert label != scope
        assert "://" not in label
        assert "_" not in label


def test_google_scopes_read_as_the_data_they_open() -> None:
    assert dict(get_provider_info("fitbit").scope_labels) == {
        SLEEP_SCOPE: "Sleep",
        HEALTH_METRICS_SCOPE: "Health metrics",
        ACTIVITY_SCOPE: "Activity and fitness",
        PROFILE_SCOPE: "Profile",
        SETTINGS_SCOPE: "Settings",
    }


def test_whoop_and_oura_scopes_read_as_words() -> None:
    whoop = get_provider_info("whoop")
    assert whoop.scope_label("read:recovery") == "Recovery"
    assert whoop.scope_label("offline") == "Stay connected"
    oura = get_provider_info("oura")
    assert oura.scope_label("daily") == "Daily summaries"
    assert oura.scope_label("heartrate") == "Heart rate"
