"""The OAuth 2.0 client side: authorization URLs, code exchange and refresh.

Only what Wellpipe's providers use: the authorization-code grant and the
refresh grant, with the client secret in the form body (``client_secret_post``)
or in a Basic header (``client_secret_basic``). Failures are classified so that
only a provider saying ``invalid_grant`` ever counts as a dead grant.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

import httpx2
from pydantic import BaseModel

from wellpipe.core.errors import AuthError, ConfigError, ProviderResponseError
from wellpipe.core.ports import Clock
from wellpipe.core.provider_info import ProviderInfo
from wellpipe.core.tokens import TokenSet
from wellpipe.net import RetryPolicy, parse_reply, send

__all__ = [
    "ClientCredentials",
    "InvalidGrant",
    "OAuthClient",
    "OAuthEndpoints",
    "PkcePair",
    "new_pkce",
]


@dataclass(frozen=True)
class OAuthEndpoints:
    """Where the provider's authorization server lives."""

    authorize_url: str
    token_url: str


@dataclass(frozen=True)
class ClientCredentials:
    """A developer app's credentials. The secret never appears in ``repr``."""

    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str


@dataclass(frozen=True)
class PkcePair:
    """A PKCE (RFC 7636) verifier and its S256 challenge. The verifier stays secret."""

    verifier: str = field(repr=False)
    challenge: str


def new_pkce() -> PkcePair:
    """A fresh verifier (64 URL-safe characters, 384 bits) and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    return PkcePair(verifier=verifier, challenge=pkce_challenge(verifier))


def pkce_challenge(verifier: str) -> str:
    """``BASE64URL(SHA256(verifier))`` without padding (the S256 method)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class InvalidGrant(AuthError):
    """The token endpoint answered ``invalid_grant``: that code or refresh token is dead."""


class _TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: float | None = None
    refresh_token: str | None = None
    scope: str | None = None


class OAuthClient:
    """Talks to one provider's authorization server on behalf of one developer app."""

    def __init__(
        self,
        *,
        info: ProviderInfo,
        endpoints: OAuthEndpoints,
        credentials: ClientCredentials,
        http: httpx2.AsyncClient,
        clock: Clock,
        refresh_scope: str | None = None,
        credentials_hint: str = "check the client id and secret of your developer app",
        retry: RetryPolicy = RetryPolicy(attempts=3, timeout_s=20.0),
    ) -> None:
        """Create a client.

        Args:
            info: The provider (scopes, token endpoint auth method).
            endpoints: Authorize and token URLs.
            credentials: The developer app's client id, secret and redirect URI.
            http: The HTTP client to use (inject a sandbox transport in tests).
            clock: Time source, for token expiry.
            refresh_scope: ``scope`` to send with refresh requests (WHOOP: ``offline``).
            credentials_hint: What to tell the user when the provider rejects the
                app's credentials (``invalid_client``).
            retry: Retries for transient token-endpoint failures.
        """
        self.info = info
        self.endpoints = endpoints
        self.credentials = credentials
        self._http = http
        self._clock = clock
        self._refresh_scope = refresh_scope
        self._credentials_hint = credentials_hint
        self._retry = retry

    @staticmethod
    def new_state() -> str:
        """A fresh, unguessable ``state`` (256 bits; 43 URL-safe characters)."""
        return secrets.token_urlsafe(32)

    def authorization_url(
        self,
        state: str,
        *,
        scopes: tuple[str, ...] | None = None,
        code_challenge: str | None = None,
    ) -> str:
        """The URL to send the user's browser to.

        Args:
            state: The CSRF token the callback must bring back.
            scopes: Scopes to request (default: the provider's).
            code_challenge: The PKCE S256 challenge; required when the provider
                uses PKCE (`ProviderInfo.pkce`).

        Raises:
            ValueError: ``state`` is shorter than 8 characters (providers reject it),
                or a PKCE provider got no challenge.
        """
        if len(state) < 8:
            raise ValueError("state must be at least 8 characters long")
        if self.info.pkce and code_challenge is None:
            raise ValueError(f"{self.info.display_name} needs a PKCE code challenge")
        params = {
            "response_type": "code",
            "client_id": self.credentials.client_id,
            "redirect_uri": self.credentials.redirect_uri,
            "scope": " ".join(scopes if scopes is not None else self.info.scopes),
            "state": state,
            **dict(self.info.authorize_params),
        }
        if code_challenge is not None:
            params["code_challenge"] = code_challenge
            params["code_challenge_method"] = "S256"
        return f"{self.endpoints.authorize_url}?{urlencode(params)}"

    async def exchange_code(self, code: str, *, code_verifier: str | None = None) -> TokenSet:
        """Trade an authorization code for tokens.

        Args:
            code: The code the callback received.
            code_verifier: The PKCE verifier whose challenge went out with the
                authorization URL (PKCE providers only).

        Raises:
            InvalidGrant: the code expired, was used already, or the redirect URI differs.
            ConfigError: the provider rejected the app's credentials.
            ProviderError: the token endpoint failed (see its subclasses).
        """
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.credentials.redirect_uri,
        }
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        return await self._token_request(form, idempotent=False)

    async def refresh(self, refresh_token: str) -> TokenSet:
        """Trade a refresh token for a new pair. The old refresh token is spent.

        Raises:
            InvalidGrant: the refresh token is dead (used, revoked or expired).
            ConfigError: the provider rejected the app's credentials.
            ProviderError: the token endpoint failed; the refresh token is
                unchanged as far as we know, keep it.
        """
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if self._refresh_scope:
            form["scope"] = self._refresh_scope
        return await self._token_request(form, idempotent=False)

    async def _token_request(self, form: dict[str, str], *, idempotent: bool) -> TokenSet:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        body = dict(form)
        auth: httpx2.Auth | None = None
        if self.info.token_auth_method == "client_secret_post":
            body["client_id"] = self.credentials.client_id
            body["client_secret"] = self.credentials.client_secret
        else:
            auth = httpx2.BasicAuth(self.credentials.client_id, self.credentials.client_secret)
        endpoint = f"POST {httpx2.URL(self.endpoints.token_url).path}"
        sent_at = self._clock.now()

        def build() -> httpx2.Request:
            return self._http.build_request(
                "POST", self.endpoints.token_url, content=urlencode(body), headers=headers
            )

        reply = await send(
            self._http,
            build,
            provider=self.info.name,
            endpoint=endpoint,
            clock=self._clock,
            policy=self._retry,
            auth=auth,
            idempotent=idempotent,
        )
        if reply.status_code == 200:
            parsed = parse_reply(_TokenResponse, reply, provider=self.info.name)
            expires_at = (
                sent_at + timedelta(seconds=parsed.expires_in)
                if parsed.expires_in is not None
                else None
            )
            return TokenSet(
                access_token=parsed.access_token,
                refresh_token=parsed.refresh_token or None,
                expires_at=expires_at,
                scopes=frozenset((parsed.scope or "").split()),
            )
        error, description = _oauth_error(reply.content)
        display = self.info.display_name
        if error == "invalid_grant":
            raise InvalidGrant(
                f"{display} refused the grant (invalid_grant"
                f"{': ' + description if description else ''}).",
                provider=self.info.name,
            )
        if error == "invalid_client" or reply.status_code == 401:
            raise ConfigError(
                f"{display} rejected this app's client credentials (invalid_client): "
                f"{self._credentials_hint}."
            )
        raise ProviderResponseError(
            provider=self.info.name,
            endpoint=endpoint,
            problem=f"HTTP {reply.status_code}" + (f" ({error})" if error else ""),
            status=reply.status_code,
        )


def _oauth_error(content: bytes) -> tuple[str | None, str | None]:
    """The ``error`` and ``error_description`` of an RFC 6749 §5.2 error body, if any."""
    try:
        body = json.loads(content)
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    description = body.get("error_description")
    return (
        error if isinstance(error, str) else None,
        description[:200] if isinstance(description, str) else None,
    )
