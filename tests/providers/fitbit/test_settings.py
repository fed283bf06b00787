"""Where Google lives, what Wellpipe asks of it, and the authorization URL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from pydantic import ValidationError

from tests.conftest import CREDENTIALS
from tests.fakes import FakeClock
from wellpipe.core import DataKind
from wellpipe.oauth import new_pkce
from wellpipe.oauth.client import pkce_challenge
from wellpipe.providers.fitbit import INFO, FitbitSettings, fitbit_oauth_client
from wellpipe.providers.fitbit.connector import CONNECTOR


def test_google_defaults() -> None:
    settings = FitbitSettings()
    assert settings.origin == "https://health.googleapis.com"
    assert settings.oauth_endpoints.authorize_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert settings.oauth_endpoints.token_url == "https://oauth2.googleapis.com/token"
    assert settings.revoke_url == "https://oauth2.googleapis.com/revoke"


def test_each_url_comes_from_its_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WELLPIPE_FITBIT_BASE_URL", "http://health.local:1")
    monkeypatch.setenv("WELLPIPE_FITBIT_AUTH_URL", "http://auth.local:2")
    monkeypatch.setenv("WELLPIPE_FITBIT_TOKEN_URL", "http://token.local:3/")
    settings = FitbitSettings()
    assert settings.origin == "http://health.local:1"
    assert settings.oauth_endpoints.authorize_url == "http://auth.local:2/o/oauth2/v2/auth"
    assert settings.oauth_endpoints.token_url == "http://token.local:3/token"
    assert settings.revoke_url == "http://token.local:3/revoke"


def test_one_origin_for_a_sandbox_whatever_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WELLPIPE_FITBIT_TOKEN_URL", "http://elsewhere:9")
    settings = CONNECTOR.location("http://127.0.0.1:8765")
    assert settings.origin == "http://127.0.0.1:8765"
    assert settings.oauth_endpoints.authorize_url == "http://127.0.0.1:8765/o/oauth2/v2/auth"
    assert settings.oauth_endpoints.token_url == "http://127.0.0.1:8765/token"


def test_a_url_with_a_path_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WELLPIPE_FITBIT_BASE_URL", "https://health.googleapis.com/v4")
    with pytest.raises(ValidationError, match="WELLPIPE_FITBIT_BASE_URL must be an origin"):
        FitbitSettings()


def test_info() -> None:
    assert INFO.name == "fitbit"
    assert INFO.display_name == "Fitbit (Google Health)"
    assert INFO.pkce
    assert not INFO.rotating_refresh_tokens
    assert INFO.kinds == {
        DataKind.SLEEP,
        DataKind.ACTIVITY,
        DataKind.VITALS,
        DataKind.WORKOUT,
        DataKind.PROFILE,
        DataKind.BODY_MEASUREMENT,
    }
    assert all(s.startswith("https://www.googleapis.com/auth/googlehealth.") for s in INFO.scopes)
    assert all(set(INFO.scopes_for(kind)) <= set(INFO.scopes) for kind in INFO.kinds)
    assert INFO.developer_portal == "https://console.cloud.google.com/apis/credentials"


async def test_the_authorization_url_asks_for_offline_access_with_pkce(clock: FakeClock) -> None:
    pkce = new_pkce()
    async with httpx2.AsyncClient() as http:
        oauth = fitbit_oauth_client(
            settings=FitbitSettings(), credentials=CREDENTIALS, http=http, clock=clock
        )
        url = oauth.authorization_url("state-1234", code_challenge=pkce.challenge)
        with pytest.raises(ValueError, match="PKCE"):
            oauth.authorization_url("state-1234")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://accounts.google.com/o/oauth2/v2/auth"
    )
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "response_type": "code",
        "client_id": CREDENTIALS.client_id,
        "redirect_uri": CREDENTIALS.redirect_uri,
        "scope": " ".join(INFO.scopes),
        "state": "state-1234",
        "access_type": "offline",
        "prompt": "consent",
        "include_granted_scopes": "true",
        "code_challenge": pkce_challenge(pkce.verifier),
        "code_challenge_method": "S256",
    }
