"""Google's AIP-193 error envelope becomes one clear Wellpipe error."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from wellpipe.core import (
    NotFound,
    ProviderResponseError,
    ReauthorizationRequired,
    ScopeNotGranted,
    WellpipeError,
)
from wellpipe.net import Reply
from wellpipe.providers.fitbit import AccountNotLinked
from wellpipe.providers.fitbit.client import raise_for_reply, scope_for
from wellpipe.providers.fitbit.info import ACTIVITY_SCOPE, HEALTH_METRICS_SCOPE, SLEEP_SCOPE

ENDPOINT = "GET /v4/users/me/dataTypes/sleep/dataPoints:reconcile"


def envelope(code: int, status: str, *reasons: str) -> bytes:
    return json.dumps(
        {
            "error": {
                "code": code,
                "message": "The caller does not have permission",
                "status": status,
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": reason,
                        "domain": "health.googleapis.com",
                        "metadata": {"service": "health.googleapis.com"},
                    }
                    for reason in reasons
                ],
            }
        }
    ).encode()


def reply(status: int, content: bytes) -> Reply:
    return Reply(
        status_code=status,
        headers=httpx2.Headers({"content-type": "application/json"}),
        content=content,
        endpoint=ENDPOINT,
    )


def raised(status: int, content: bytes, **kwargs: Any) -> WellpipeError:
    with pytest.raises(WellpipeError) as caught:
        raise_for_reply(
            reply(status, content),
            what=kwargs.pop("what", "sleep data"),
            scope=kwargs.pop("scope", SLEEP_SCOPE),
            **kwargs,
        )
    return caught.value


@pytest.mark.parametrize("reason", ["MISSING_OAUTH_SCOPE", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"])
def test_a_missing_scope_names_the_googlehealth_scope(reason: str) -> None:
    error = raised(403, envelope(403, "PERMISSION_DENIED", reason))
    assert isinstance(error, ScopeNotGranted)
    assert error.scope == SLEEP_SCOPE
    assert str(error) == (
        "Fitbit (Google Health) did not give Wellpipe the "
        "`https://www.googleapis.com/auth/googlehealth.sleep.readonly` permission, which sleep "
        "data needs: run `wellpipe auth fitbit` and allow access to your sleep on Google's "
        "consent screen."
    )


def test_the_cloud_says_its_own_next_step() -> None:
    error = raised(
        403,
        envelope(403, "PERMISSION_DENIED", "MISSING_OAUTH_SCOPE"),
        reconnect_action="reconnect Fitbit in the dashboard",
    )
    assert str(error).endswith(
        "reconnect Fitbit in the dashboard and allow access to your sleep on Google's "
        "consent screen."
    )


@pytest.mark.parametrize("reason", ["RESOURCE_PERMISSION_DENIED", "DATA_ACCESS_DENIED"])
def test_refused_data_access_means_connect_again(reason: str) -> None:
    error = raised(403, envelope(403, "PERMISSION_DENIED", reason))
    assert isinstance(error, ReauthorizationRequired)
    assert str(error) == (
        f"Fitbit (Google Health) access needs to be renewed (Google refused access to the data "
        f"({reason})): run `wellpipe auth fitbit` to connect again."
    )


def test_a_401_after_refresh_means_connect_again() -> None:
    error = raised(401, envelope(401, "UNAUTHENTICATED"), reconnect_action="reconnect it")
    assert isinstance(error, ReauthorizationRequired)
    assert error.action == "reconnect it"


def test_an_account_without_google_health_data_says_so() -> None:
    error = raised(400, envelope(400, "FAILED_PRECONDITION", "ACCOUNT_NOT_LINKED"))
    assert isinstance(error, AccountNotLinked)
    assert str(error) == (
        "Fitbit (Google Health) has no health data for this Google account "
        "(ACCOUNT_NOT_LINKED): sign in to the Fitbit app with this Google account, sync your "
        "device, then try again."
    )


def test_404_is_not_found() -> None:
    error = raised(404, envelope(404, "NOT_FOUND", "RESOURCE_NOT_FOUND"), what="sleep with id 'x'")
    assert isinstance(error, NotFound)
    assert (
        str(error) == "Fitbit (Google Health) has no sleep with id 'x'; check the id and try again."
    )


@pytest.mark.parametrize(
    ("status", "content", "problem"),
    [
        (
            400,
            envelope(400, "INVALID_ARGUMENT", "INVALID_ROLLUP_QUERY_DURATION"),
            "Google answered HTTP 400 (INVALID_ROLLUP_QUERY_DURATION)",
        ),
        (409, envelope(409, "ALREADY_EXISTS"), "Google answered HTTP 409 (ALREADY_EXISTS)"),
        (400, b"<html>Bad Request</html>", "Google answered HTTP 400"),
        (400, b'{"error": "not an object"}', "Google answered HTTP 400"),
        (
            403,
            envelope(403, "PERMISSION_DENIED", "API_PRIVATE_PREVIEW_ACCESS_DENIED"),
            "Google answered HTTP 403 (API_PRIVATE_PREVIEW_ACCESS_DENIED)",
        ),
    ],
)
def test_anything_else_is_a_response_error_with_googles_reason(
    status: int, content: bytes, problem: str
) -> None:
    error = raised(status, content)
    assert isinstance(error, ProviderResponseError)
    assert error.problem == problem
    assert error.status == status
    assert error.endpoint == ENDPOINT


@pytest.mark.parametrize(
    ("data_type", "scope"),
    [
        ("sleep", SLEEP_SCOPE),
        ("daily-heart-rate-variability", HEALTH_METRICS_SCOPE),
        ("daily-oxygen-saturation", HEALTH_METRICS_SCOPE),
        ("weight", HEALTH_METRICS_SCOPE),
        ("steps", ACTIVITY_SCOPE),
        ("exercise", ACTIVITY_SCOPE),
        ("daily-vo2-max", ACTIVITY_SCOPE),
    ],
)
def test_each_type_names_the_scope_google_wants(data_type: str, scope: str) -> None:
    assert scope_for(data_type) == scope
