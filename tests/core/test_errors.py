from __future__ import annotations

import pytest

from wellpipe.core import (
    ConfigError,
    NotFound,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderUnavailable,
    ReauthorizationRequired,
    UnknownProviderError,
    WellpipeError,
)


def test_a_dead_grant_tells_a_self_hosted_user_to_run_wellpipe_auth() -> None:
    error = ReauthorizationRequired(provider="whoop", reason="refresh token refused")
    assert "run `wellpipe auth whoop`" in str(error)
    assert error.action == "run `wellpipe auth whoop` to connect again"


def test_a_dead_grant_can_carry_the_clouds_next_step() -> None:
    error = ReauthorizationRequired(
        provider="whoop", reason="revoked", action="reconnect WHOOP in the dashboard"
    )
    assert str(error).endswith("reconnect WHOOP in the dashboard.")


def test_rate_limits_say_when_to_try_again() -> None:
    assert "try again in 30 seconds" in str(
        ProviderRateLimited(provider="whoop", endpoint=None, retry_after=30)
    )
    assert "try again in 5 minutes" in str(
        ProviderRateLimited(provider="whoop", endpoint=None, retry_after=300)
    )
    assert "try again in 3 hours" in str(
        ProviderRateLimited(provider="whoop", endpoint=None, retry_after=3 * 3600)
    )


def test_a_malformed_response_names_the_endpoint_and_the_field() -> None:
    error = ProviderResponseError(
        provider="whoop",
        endpoint="GET /developer/v2/cycle",
        problem="a required field is missing",
        field="records[0].start",
    )
    assert "GET /developer/v2/cycle" in str(error)
    assert "`records[0].start`" in str(error)
    assert error.field == "records[0].start"


@pytest.mark.parametrize(
    "error",
    [
        ConfigError("x"),
        ProviderUnavailable(provider="whoop", endpoint=None, detail="HTTP 503"),
        NotFound(provider="whoop", endpoint=None, what="sleep 1"),
        UnknownProviderError("garmin", installed=["whoop"]),
    ],
)
def test_every_error_is_a_wellpipe_error(error: Exception) -> None:
    assert isinstance(error, WellpipeError)


def test_unknown_provider_lists_what_is_installed() -> None:
    error = UnknownProviderError("garmin", installed=["whoop", "oura"])
    assert "oura, whoop" in str(error)
    assert isinstance(error, LookupError)
