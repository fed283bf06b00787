"""The sandbox's Google authorization server (accounts.google.com + oauth2.googleapis.com).

* ``GET /o/oauth2/v2/auth`` needs ``response_type=code``, ``client_id``,
  ``redirect_uri``, ``scope`` and ``state``, and (this sandbox is stricter than
  Google, which only recommends it) PKCE: ``code_challenge`` with
  ``code_challenge_method=S256``. Parameter errors are an HTML error page, as
  Google shows them; a declined consent redirects with ``error=access_denied``.
  Consent is scripted (`OAuthControls`): the member may untick scopes, and the
  redirect then carries the ``scope`` actually granted.
* ``POST /token``: ``authorization_code`` (``code_verifier`` checked against the
  challenge) and ``refresh_token``. Client authentication by form fields or HTTP
  Basic. A refresh token is issued only with ``access_type=offline``, and only
  on first consent or with ``prompt=consent``. Refresh tokens do NOT rotate: a
  refresh returns a new access token and no refresh token, and the old one keeps
  working. In the "Testing" publishing status refresh tokens die after 7 days.
* ``POST /revoke`` with ``token`` (access or refresh) kills the whole grant.
* With a ``grants_file`` the grants, tokens and consents survive a restart
  (`TokenLedger`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from wellpipe.core.ports import Clock
from wellpipe.sandbox.authserver import (
    ConsentControls,
    Grant,
    TokenRequestOutcome,
    basic_credentials,
    expire_now,
    is_absolute_uri,
    oauth_error,
    with_query,
)
from wellpipe.sandbox.fitbit.types import ALL_READ_SCOPES, SCOPE_PREFIX
from wellpipe.sandbox.grants_store import AccessToken, TokenLedger

__all__ = [
    "ALLOWED_SCOPES",
    "TESTING_REFRESH_TTL",
    "AccessGrant",
    "AuthorizationServer",
    "OAuthControls",
    "PublishingStatus",
    "TokenRequestOutcome",
]

PublishingStatus = Literal["production", "testing"]
TESTING_REFRESH_TTL = timedelta(days=7)
"""Refresh-token lifetime for an app whose consent screen is still in "Testing"."""

_HEALTH_SCOPES = {
    f"{SCOPE_PREFIX}{name}.{mode}"
    for name in (
        "activity_and_fitness",
        "health_metrics_and_measurements",
        "sleep",
        "nutrition",
        "profile",
        "settings",
        "location",
    )
    for mode in ("readonly", "writeonly")
} | {
    f"{SCOPE_PREFIX}ecg.readonly",
    f"{SCOPE_PREFIX}irn.readonly",
    f"{SCOPE_PREFIX}logged_symptoms.writeonly",
    f"{SCOPE_PREFIX}mindfulness.writeonly",
    f"{SCOPE_PREFIX}reproductive_health.writeonly",
}
ALLOWED_SCOPES = frozenset(
    _HEALTH_SCOPES
    | {
        "openid",
        "email",
        "profile",
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/userinfo.profile",
        "https://www.googleapis.com/auth/cloud-platform",
    }
)


OAuthControls = ConsentControls[str]
"""``approve_as`` is a ``healthUserId``."""
AccessGrant = Grant[str]


@dataclass
class _Code:
    grant: AccessGrant
    redirect_uri: str
    challenge: str
    offline: bool
    expires_at: datetime
    used: bool = False
    issued: list[str] = field(default_factory=list)


class AuthorizationServer:
    """Issues, refreshes, resolves and revokes the sandbox's Google tokens."""

    def __init__(
        self,
        *,
        clock: Clock,
        members: list[str],
        token_ttl_s: int = 3600,
        code_ttl_s: int = 600,
        client: tuple[str, str] | None = None,
        publishing_status: PublishingStatus = "production",
        grants_file: Path | None = None,
    ) -> None:
        """Create the server.

        Args:
            clock: Time source for expiries.
            members: ``healthUserId``s that can sign in (the first is the default).
            token_ttl_s: Access-token lifetime (Google: 3600).
            code_ttl_s: Authorization-code lifetime.
            client: A pinned ``(client_id, client_secret)``; without one any
                non-empty pair is accepted.
            publishing_status: ``"testing"`` makes refresh tokens expire after 7 days.
            grants_file: Keep the grants, tokens and consents in this file, loaded
                now (``None``: in memory only).
        """
        self._clock = clock
        self._members = members
        self._ttl = timedelta(seconds=token_ttl_s)
        self._code_ttl = timedelta(seconds=code_ttl_s)
        self._client = client
        self.publishing_status: PublishingStatus = publishing_status
        self.controls = OAuthControls()
        self._codes: dict[str, _Code] = {}
        self._tokens = TokenLedger[str](clock=clock, members=members, path=grants_file)
        # This run's tokens by value (what was loaded is filed by digest inside the ledger).
        self._access, self._refresh = self._tokens.access, self._tokens.refresh
        self.token_requests = 0
        """Token-endpoint calls so far, whatever their outcome."""
        self.refreshes = 0
        """Successful refresh grants so far."""

    # ------------------------------------------------------------------ authorize
    def authorize(self, params: dict[str, str]) -> tuple[int, str | None, str]:
        """Handle ``GET /o/oauth2/v2/auth``: ``(status, redirect location, html page)``."""
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        if not client_id or (self._client is not None and client_id != self._client[0]):
            return 401, None, _page("invalid_client", "The OAuth client was not found.")
        for name in ("redirect_uri", "response_type", "scope", "state"):
            if not params.get(name):
                return 400, None, _page("invalid_request", f"Missing required parameter: {name}")
        if not is_absolute_uri(redirect_uri):
            return 400, None, _page("invalid_request", "Invalid parameter value for redirect_uri")
        if params["response_type"] != "code":
            return (
                400,
                None,
                _page("unsupported_response_type", "Only response_type=code is supported."),
            )
        challenge = params.get("code_challenge", "")
        if not challenge or params.get("code_challenge_method") != "S256":
            return (
                400,
                None,
                _page(
                    "invalid_request",
                    "This sandbox requires PKCE: code_challenge with code_challenge_method=S256.",
                ),
            )
        if not 43 <= len(challenge) <= 128:
            return 400, None, _page("invalid_request", "Invalid code_challenge.")
        requested = params["scope"].split()
        unknown = [s for s in requested if s not in ALLOWED_SCOPES]
        if unknown:
            return (
                400,
                None,
                _page("invalid_scope", f"Some requested scopes were invalid: {unknown}"),
            )
        state = params["state"]
        if self.controls.deny_next > 0:
            self.controls.deny_next -= 1
            return 302, with_query(redirect_uri, {"error": "access_denied", "state": state}), ""
        user_id = self.controls.approve_as or self._members[0]
        granted = frozenset(requested) - self.controls.drop_scopes
        first_consent = (client_id, user_id) not in self._tokens.consents
        if first_consent:
            self._tokens.consents.add((client_id, user_id))
            self._tokens.save()
        offline = params.get("access_type") == "offline" and (
            first_consent or "consent" in params.get("prompt", "").split()
        )
        code = "4/0" + secrets.token_urlsafe(40)
        self._codes[code] = _Code(
            AccessGrant(secrets.token_hex(8), client_id, user_id, granted),
            redirect_uri,
            challenge,
            offline,
            self._clock.now() + self._code_ttl,
        )
        query = {"state": state, "code": code, "scope": " ".join(sorted(granted))}
        return 302, with_query(redirect_uri, query), ""

    # ------------------------------------------------------------------ token
    def token(self, form: dict[str, str], authorization: str | None) -> TokenRequestOutcome:
        """Handle ``POST /token``."""
        self.token_requests += 1
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        basic = basic_credentials(authorization)
        if basic is not None:
            client_id, secret = basic
        if not client_id or not secret:
            return oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if self._client is not None and (client_id, secret) != self._client:
            return oauth_error(401, "invalid_client", "Unauthorized")
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            outcome = self._code_grant(form, client_id)
        elif grant_type == "refresh_token":
            outcome = self._refresh_grant(form, client_id)
        else:
            return oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        self._tokens.save()
        return outcome

    def _code_grant(self, form: dict[str, str], client_id: str) -> TokenRequestOutcome:
        code = self._codes.get(form.get("code", ""))
        if code is None or code.grant.client_id != client_id:
            return oauth_error(400, "invalid_grant", "Malformed auth code.")
        if code.used:  # a replayed code revokes what it produced
            for token in code.issued:
                self._tokens.forget(token)
            code.grant.revoked = True
            return oauth_error(400, "invalid_grant", "Bad Request")
        if code.expires_at <= self._clock.now():
            return oauth_error(400, "invalid_grant", "Bad Request")
        if form.get("redirect_uri") != code.redirect_uri:
            return oauth_error(400, "redirect_uri_mismatch", "Bad Request")
        verifier = form.get("code_verifier", "")
        if not verifier:
            return oauth_error(400, "invalid_grant", "Missing code verifier.")
        if _s256(verifier) != code.challenge:
            return oauth_error(400, "invalid_grant", "Invalid code verifier.")
        code.used = True
        body = self._issue(code.grant, refresh=code.offline)
        code.issued += [body["access_token"], body.get("refresh_token", "")]
        return TokenRequestOutcome(200, body)

    def _refresh_grant(self, form: dict[str, str], client_id: str) -> TokenRequestOutcome:
        presented = self._tokens.find_refresh(form.get("refresh_token", ""))
        expired_or_revoked = oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        if presented is None or presented.grant.revoked:
            return expired_or_revoked
        if presented.grant.client_id != client_id:
            return oauth_error(400, "unauthorized_client", "Unauthorized")
        if presented.expires_at is not None and presented.expires_at <= self._clock.now():
            return expired_or_revoked
        grant = presented.grant
        requested = frozenset(form.get("scope", "").split())
        if not requested <= grant.scopes:
            return oauth_error(
                400, "invalid_scope", "The requested scope exceeds the original grant."
            )
        self.refreshes += 1
        return TokenRequestOutcome(200, self._issue(grant, refresh=False, scopes=requested))

    def _issue(
        self, grant: AccessGrant, *, refresh: bool, scopes: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        access = "ya29.a0" + secrets.token_urlsafe(64)
        self._tokens.add_access(access, grant, self._clock.now() + self._ttl)
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": int(self._ttl.total_seconds()),
            "scope": " ".join(sorted(scopes or grant.scopes)),
            "token_type": "Bearer",
        }
        if refresh:
            token = "1//0" + secrets.token_urlsafe(48)
            expires = None
            if self.publishing_status == "testing":
                expires = self._clock.now() + TESTING_REFRESH_TTL
                body["refresh_token_expires_in"] = int(TESTING_REFRESH_TTL.total_seconds())
            self._tokens.add_refresh(token, grant, expires_at=expires)
            body["refresh_token"] = token
        return body

    def issue_tokens(
        self,
        user_id: str,
        *,
        client_id: str = "sandbox-client",
        scopes: frozenset[str] = ALL_READ_SCOPES,
        refresh: bool = True,
    ) -> dict[str, Any]:
        """Mint a token response directly, skipping the browser (tests, demos, curl)."""
        grant = AccessGrant(secrets.token_hex(8), client_id, user_id, frozenset(scopes))
        body = self._issue(grant, refresh=refresh)
        self._tokens.save()
        return body

    # ------------------------------------------------------------------ revoke
    def revoke(self, token: str) -> TokenRequestOutcome:
        """Handle ``POST /revoke``: the token's whole grant dies."""
        record = self._tokens.find_access(token) or self._tokens.find_refresh(token)
        if record is None or record.grant.revoked:
            return oauth_error(400, "invalid_token", "Token expired or revoked")
        if isinstance(record, AccessToken) and record.expires_at <= self._clock.now():
            return oauth_error(400, "invalid_token", "Token expired or revoked")
        self.revoke_grant(record.grant)
        return TokenRequestOutcome(200, {})

    def revoke_grant(self, grant: AccessGrant) -> None:
        """Kill a grant and every token it produced."""
        grant.revoked = True
        self._tokens.save()

    # ------------------------------------------------------------------ resource side
    def resolve(self, bearer: str) -> tuple[AccessGrant | None, str]:
        """The live grant behind an access token, or ``None`` and why not."""
        record = self._tokens.find_access(bearer)
        if record is None or record.grant.revoked:
            return None, "invalid"
        if record.expires_at <= self._clock.now():
            return None, "expired"
        return record.grant, ""

    def expire_access_tokens(self) -> None:
        """Make every live access token expired now (to exercise refresh)."""
        expire_now(self._tokens.access_records(), self._clock.now())
        self._tokens.save()


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _page(code: str, description: str) -> str:
    return (
        "<!doctype html><html><head><title>Error 400 (OAuth2 Error)</title></head><body>"
        f"<h1>Access blocked: authorization error</h1><p>Error: {html.escape(code)}</p>"
        f"<p>{html.escape(description)}</p></body></html>"
    )
