"""The sandbox's authorization server, modelled on Oura's.

* ``GET /oauth/authorize`` (``response_type=code``, ``client_id``, ``redirect_uri``,
  ``scope`` space-separated, all scopes when omitted, ``state`` optional). By default
  the member approves at once; with ``controls.auto_approve`` off it answers the
  consent page, one checkbox per requested scope, which posts back to
  ``POST /oauth/authorize``. Either way the redirect carries ``code``, ``state`` and
  the **granted** ``scope`` (requested minus what the member unticked).
* ``POST /oauth/token``: the authorization-code and refresh-token grants, client
  credentials in the form body or HTTP Basic. Every grant returns a new access and
  refresh token. Refresh tokens are **single-use**: presenting a spent one is
  ``400 invalid_grant`` ("Token already used or revoked. ..."). The previous access
  token keeps working until it expires (Oura does not document otherwise).
* ``GET|POST /oauth/revoke?access_token=...`` revokes the grant behind the token
  (its access and refresh tokens); any token gets 200, as RFC 7009 asks.
* With a ``grants_file`` the grants and tokens survive a restart (`TokenLedger`).
"""

from __future__ import annotations

import html
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

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
from wellpipe.sandbox.grants_store import TokenLedger

__all__ = [
    "ALL_SCOPES",
    "AccessGrant",
    "AuthorizationServer",
    "OAuthControls",
    "TokenRequestOutcome",
]

ALL_SCOPES = frozenset(
    {"email", "personal", "daily", "heartrate", "workout", "tag", "session", "spo2Daily"}
)
"""Oura's scopes, as the spec's OAuth2 flow lists them."""
_KNOWN_SCOPES = ALL_SCOPES | {"spo2"}  # the doc HTML has shown "spo2" too; accepted as an alias

REUSED_REFRESH = (
    "Token already used or revoked. If you are trying to use a refresh token, "
    "note that it can only be used once."
)


@dataclass
class OAuthControls(ConsentControls[str]):
    """Oura's consent knobs, plus whether the consent page is shown at all."""

    auto_approve: bool = True
    """Approve on ``GET /oauth/authorize`` without showing the consent page."""


AccessGrant = Grant[str]


@dataclass
class _Code:
    grant: AccessGrant
    redirect_uri: str
    expires_at: datetime
    used: bool = False
    issued: list[str] = field(default_factory=list)


class AuthorizationServer:
    """Issues, rotates, resolves and revokes the sandbox's tokens."""

    def __init__(
        self,
        *,
        clock: Clock,
        members: list[str],
        token_ttl_s: int = 86_400,
        code_ttl_s: int = 600,
        client: tuple[str, str] | None = None,
        grants_file: Path | None = None,
    ) -> None:
        """Create the server.

        Args:
            clock: Time source for expiries.
            members: User ids that can log in (the first is the default).
            token_ttl_s: Access-token lifetime (``expires_in``).
            code_ttl_s: Authorization-code lifetime (Oura: 10 minutes).
            client: A pinned ``(client_id, client_secret)``; without one any
                non-empty pair is accepted.
            grants_file: Keep the grants and tokens in this file, loaded now
                (``None``: in memory only).
        """
        self._clock = clock
        self._members = members
        self._ttl = timedelta(seconds=token_ttl_s)
        self._code_ttl = timedelta(seconds=code_ttl_s)
        self._client = client
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
    def authorize(self, params: dict[str, str]) -> tuple[int, dict[str, str], str]:
        """``GET /oauth/authorize``: ``(status, headers, html)``; 302 or the consent page."""
        problem = self._check_request(params)
        if problem is not None:
            return problem
        requested = _requested(params)
        unknown = sorted(requested - _KNOWN_SCOPES)
        if unknown:
            return self._redirect_error(
                params, "invalid_scope", f"Unknown scope: {' '.join(unknown)}."
            )
        if not self.controls.auto_approve:
            return 200, {}, _consent_page(params, requested)
        return self._decide(params, requested - self.controls.drop_scopes, approve=True)

    def consent(self, form: dict[str, list[str]]) -> tuple[int, dict[str, str], str]:
        """``POST /oauth/authorize``: the consent page's answer (ticked ``scope`` boxes)."""
        params = {key: values[0] for key, values in form.items() if values and key != "scope"}
        problem = self._check_request(params)
        if problem is not None:
            return problem
        ticked = frozenset(form.get("scope", [])) & _KNOWN_SCOPES
        return self._decide(params, ticked, approve=params.get("decision") == "accept")

    def _check_request(self, params: dict[str, str]) -> tuple[int, dict[str, str], str] | None:
        client_id = params.get("client_id", "")
        if not client_id or (self._client is not None and client_id != self._client[0]):
            return 400, {}, _page("invalid_client", "Unknown client_id.")
        if not is_absolute_uri(params.get("redirect_uri", "")):
            return 400, {}, _page("invalid_request", "redirect_uri is missing or not a URL.")
        if params.get("response_type") != "code":
            return self._redirect_error(
                params, "unsupported_response_type", "Only response_type=code is supported."
            )
        return None

    def _decide(
        self, params: dict[str, str], granted: frozenset[str], *, approve: bool
    ) -> tuple[int, dict[str, str], str]:
        if self.controls.deny_next > 0:
            self.controls.deny_next -= 1
            approve = False
        if not approve:
            return self._redirect_error(params, "access_denied", "The user denied access.")
        user_id = self.controls.approve_as or self._members[0]
        grant = AccessGrant(secrets.token_hex(8), params["client_id"], user_id, granted)
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Code(grant, params["redirect_uri"], self._clock.now() + self._code_ttl)
        query = {"code": code, "scope": " ".join(sorted(granted))}
        if "state" in params:
            query["state"] = params["state"]
        return 302, {"location": with_query(params["redirect_uri"], query)}, ""

    def _redirect_error(
        self, params: dict[str, str], code: str, description: str
    ) -> tuple[int, dict[str, str], str]:
        query = {"error": code, "error_description": description}
        if "state" in params:
            query["state"] = params["state"]
        return 302, {"location": with_query(params["redirect_uri"], query)}, ""

    # ------------------------------------------------------------------ token
    def token(self, form: dict[str, str], authorization: str | None) -> TokenRequestOutcome:
        """``POST /oauth/token``."""
        self.token_requests += 1
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        basic = basic_credentials(authorization)
        if basic is not None:
            client_id, secret = basic
        if not client_id or not secret:
            return oauth_error(401, "invalid_client", "Client authentication failed.")
        if self._client is not None and (client_id, secret) != self._client:
            return oauth_error(401, "invalid_client", "Client authentication failed.")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            outcome = self._code_grant(form, client_id)
        elif grant_type == "refresh_token":
            outcome = self._refresh_grant(form, client_id)
        else:
            return oauth_error(400, "unsupported_grant_type", "Unsupported grant_type.")
        self._tokens.save()
        return outcome

    def _code_grant(self, form: dict[str, str], client_id: str) -> TokenRequestOutcome:
        code = self._codes.get(form.get("code", ""))
        invalid = oauth_error(400, "invalid_grant", "Invalid, expired or already used code.")
        if code is None or code.grant.client_id != client_id:
            return invalid
        if code.used:  # a replayed code revokes what it produced
            self.revoke_grant(code.grant)
            return invalid
        redirect = form.get("redirect_uri")
        if code.expires_at <= self._clock.now() or (redirect and redirect != code.redirect_uri):
            return invalid
        code.used = True
        return TokenRequestOutcome(200, self._issue(code.grant))

    def _refresh_grant(self, form: dict[str, str], client_id: str) -> TokenRequestOutcome:
        presented = self._tokens.find_refresh(form.get("refresh_token", ""))
        if presented is None or presented.grant.client_id != client_id:
            return oauth_error(400, "invalid_grant", "Invalid refresh token.")
        if presented.used or presented.grant.revoked:
            return oauth_error(400, "invalid_grant", REUSED_REFRESH)
        presented.used = True
        self.refreshes += 1
        return TokenRequestOutcome(200, self._issue(presented.grant))

    def _issue(self, grant: AccessGrant) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self._tokens.add_access(access, grant, self._clock.now() + self._ttl)
        self._tokens.add_refresh(refresh, grant)
        return {
            "access_token": access,
            "expires_in": int(self._ttl.total_seconds()),
            "refresh_token": refresh,
            "scope": " ".join(sorted(grant.scopes)),
            "token_type": "bearer",
        }

    def issue_tokens(
        self, user_id: str, *, client_id: str = "sandbox-client", scopes: frozenset[str]
    ) -> dict[str, Any]:
        """Mint a token response directly, skipping the browser (tests, demos, curl)."""
        unknown = set(scopes) - _KNOWN_SCOPES
        if unknown:
            raise ValueError(f"unknown Oura scopes: {sorted(unknown)}")
        grant = AccessGrant(secrets.token_hex(8), client_id, user_id, frozenset(scopes))
        body = self._issue(grant)
        self._tokens.save()
        return body

    # ------------------------------------------------------------------ resource side
    def resolve(self, bearer: str) -> AccessGrant | None:
        """The live grant behind an access token; ``None`` if unknown, expired or revoked."""
        record = self._tokens.find_access(bearer)
        if record is None or record.grant.revoked or record.expires_at <= self._clock.now():
            return None
        return record.grant

    def revoke(self, token: str) -> None:
        """``/oauth/revoke``: kill the grant behind an access (or refresh) token."""
        record = self._tokens.find_access(token) or self._tokens.find_refresh(token)
        if record is not None:
            self.revoke_grant(record.grant)

    def revoke_grant(self, grant: AccessGrant) -> None:
        """Kill a grant and every token it produced."""
        grant.revoked = True
        self._tokens.save()

    def expire_access_tokens(self) -> None:
        """Make every live access token expired now (to exercise refresh)."""
        expire_now(self._tokens.access_records(), self._clock.now())
        self._tokens.save()


def _requested(params: dict[str, str]) -> frozenset[str]:
    raw = params.get("scope")
    if raw is None or not raw.strip():
        return ALL_SCOPES  # Oura: no scope parameter means every scope
    return frozenset(raw.replace("+", " ").split())


_SCOPE_LABELS = {
    "email": "Email address",
    "personal": "Personal information (gender, age, height, weight)",
    "daily": "Daily summaries of sleep, activity and readiness",
    "heartrate": "Heart rate time series",
    "workout": "Workouts",
    "tag": "Tags",
    "session": "Sessions (meditation, breathing)",
    "spo2Daily": "SpO2 average during sleep",
    "spo2": "SpO2 average during sleep",
}


def _consent_page(params: dict[str, str], requested: frozenset[str]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k in {"client_id", "redirect_uri", "response_type", "state"}
    )
    boxes = "".join(
        f'<li><label><input type="checkbox" name="scope" value="{html.escape(s)}" checked> '
        f"{html.escape(_SCOPE_LABELS.get(s, s))} (<code>{html.escape(s)}</code>)</label></li>"
        for s in sorted(requested)
    )
    client = html.escape(params.get("client_id", ""))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorize {client}</title></head>
<body><h1>Oura sandbox</h1><p><b>{client}</b> would like to access:</p>
<form method="post" action="/oauth/authorize">{hidden}<ul>{boxes}</ul>
<button name="decision" value="accept">Accept</button>
<button name="decision" value="deny">Deny</button></form></body></html>"""


def _page(code: str, description: str) -> str:
    return (
        "<!doctype html><html><head><title>Authorization error</title></head><body>"
        f"<h1>{html.escape(code)}</h1><p>{html.escape(description)}</p></body></html>"
    )
