"""The sandbox's authorization server, modelled on WHOOP's (an Ory Hydra deployment).

* ``GET /oauth/oauth2/auth`` auto-approves (as the first member unless told
  otherwise) and redirects with ``code``, ``scope`` and ``state``. A ``state``
  under 8 characters is refused with ``error=invalid_state``.
* ``POST /oauth/oauth2/token`` serves the authorization-code and refresh grants,
  with the client secret in the form body (``client_secret_post``).
* Refresh tokens rotate: a refresh invalidates the previous access and refresh
  tokens; presenting a used refresh token is ``invalid_grant`` and, by default,
  revokes the whole grant (the strict behaviour that punishes refresh races).
* A refresh token is issued only when ``offline`` was granted.
* With a ``grants_file`` the grants and tokens survive a restart (`TokenLedger`).
"""

from __future__ import annotations

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
    expire_now,
    is_absolute_uri,
    with_query,
)
from wellpipe.sandbox.grants_store import TokenLedger

__all__ = [
    "ALLOWED_SCOPES",
    "AccessGrant",
    "AuthorizationServer",
    "OAuthControls",
    "TokenRequestOutcome",
]

ALLOWED_SCOPES = frozenset(
    {
        "read:recovery",
        "read:cycles",
        "read:workout",
        "read:sleep",
        "read:profile",
        "read:body_measurement",
        "offline",
    }
)


OAuthControls = ConsentControls[int]
AccessGrant = Grant[int]


@dataclass
class _Code:
    grant: AccessGrant
    redirect_uri: str
    expires_at: datetime
    used: bool = False
    issued_tokens: list[str] = field(default_factory=list)


_STATE_TOO_SHORT = (
    "The state is missing or does not have enough characters and is therefore considered "
    "too weak. Request parameter 'state' must be at least be 8 characters long to ensure "
    "sufficient entropy."
)


class AuthorizationServer:
    """Issues, rotates, resolves and revokes the sandbox's tokens."""

    def __init__(
        self,
        *,
        clock: Clock,
        members: list[int],
        token_ttl_s: int = 3600,
        code_ttl_s: int = 600,
        client: tuple[str, str] | None = None,
        revoke_family_on_reuse: bool = True,
        grants_file: Path | None = None,
    ) -> None:
        """Create the server.

        Args:
            clock: Time source for expiries.
            members: User ids that can log in (the first is the default).
            token_ttl_s: Access-token lifetime (WHOOP: 3600).
            code_ttl_s: Authorization-code lifetime.
            client: A pinned ``(client_id, client_secret)``; without one any
                non-empty pair is accepted.
            revoke_family_on_reuse: Whether reusing a spent refresh token also
                revokes the grant's live tokens.
            grants_file: Keep the grants and tokens in this file, loaded now
                (``None``: in memory only).
        """
        self._clock = clock
        self._members = members
        self._ttl = timedelta(seconds=token_ttl_s)
        self._code_ttl = timedelta(seconds=code_ttl_s)
        self._client = client
        self._revoke_family = revoke_family_on_reuse
        self.controls = OAuthControls()
        self._codes: dict[str, _Code] = {}
        self._tokens = TokenLedger[int](clock=clock, members=members, path=grants_file)
        # This run's tokens by value (what was loaded is filed by digest inside the ledger).
        self._access, self._refresh = self._tokens.access, self._tokens.refresh
        self.token_requests = 0
        """Token-endpoint calls so far, whatever their outcome."""
        self.refreshes = 0
        """Successful refresh grants so far."""

    # ------------------------------------------------------------------ authorize
    def authorize(self, params: dict[str, str]) -> tuple[int, dict[str, str], str]:
        """Handle ``GET /oauth/oauth2/auth``: ``(status, headers, html body)``."""
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        if not client_id or (self._client is not None and client_id != self._client[0]):
            return (
                400,
                {},
                _page("invalid_client", "Client authentication failed (unknown client)."),
            )
        if not is_absolute_uri(redirect_uri):
            return (
                400,
                {},
                _page(
                    "invalid_request",
                    "The 'redirect_uri' parameter is missing or is not a valid URL.",
                ),
            )
        state = params.get("state", "")

        def error(code: str, description: str) -> tuple[int, dict[str, str], str]:
            query = {"error": code, "error_description": description, "state": state}
            return 302, {"location": with_query(redirect_uri, query)}, ""

        if params.get("response_type") != "code":
            return error(
                "unsupported_response_type",
                "The authorization server does not support obtaining a token using this method.",
            )
        if len(state) < 8:
            return error("invalid_state", _STATE_TOO_SHORT)
        requested = params.get("scope", "").split()
        unknown = [s for s in requested if s not in ALLOWED_SCOPES]
        if unknown:
            return error("invalid_scope", f"The requested scope is invalid: {' '.join(unknown)}.")
        if self.controls.deny_next > 0:
            self.controls.deny_next -= 1
            return error("access_denied", "The resource owner denied the request.")
        user_id = (
            self.controls.approve_as if self.controls.approve_as is not None else self._members[0]
        )
        granted = frozenset(requested) - self.controls.drop_scopes
        grant = AccessGrant(secrets.token_hex(8), client_id, user_id, granted)
        code = _opaque()
        self._codes[code] = _Code(grant, redirect_uri, self._clock.now() + self._code_ttl)
        query = {"code": code, "scope": " ".join(sorted(granted)), "state": state}
        return 302, {"location": with_query(redirect_uri, query)}, ""

    # ------------------------------------------------------------------ token
    def token(self, form: dict[str, str], authorization: str | None) -> TokenRequestOutcome:
        """Handle ``POST /oauth/oauth2/token``."""
        self.token_requests += 1
        client_id = form.get("client_id", "")
        secret = form.get("client_secret", "")
        if not client_id or not secret:
            hint = " (this client authenticates with client_secret_post)" if authorization else ""
            return _error(401, "invalid_client", f"Client authentication failed{hint}.")
        if self._client is not None and (client_id, secret) != self._client:
            return _error(401, "invalid_client", "Client authentication failed.")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            outcome = self._code_grant(form, client_id)
        elif grant_type == "refresh_token":
            outcome = self._refresh_grant(form, client_id)
        else:
            return _error(
                400, "unsupported_grant_type", "The authorization grant type is not supported."
            )
        self._tokens.save()
        return outcome

    def _code_grant(self, form: dict[str, str], client_id: str) -> TokenRequestOutcome:
        code = self._codes.get(form.get("code", ""))
        invalid = _error(
            400,
            "invalid_grant",
            "The provided authorization grant is invalid, "
            "expired, revoked, does not match the redirection URI used in the "
            "authorization request, or was issued to another client.",
        )
        if code is None or code.grant.client_id != client_id:
            return invalid
        if code.used:  # a replayed code revokes what it produced
            for token in code.issued_tokens:
                self._revoke_token(token)
            code.grant.revoked = True
            return invalid
        if code.expires_at <= self._clock.now() or form.get("redirect_uri") != code.redirect_uri:
            return invalid
        code.used = True
        body = self._issue(code.grant)
        code.issued_tokens += [body["access_token"], body.get("refresh_token", "")]
        return TokenRequestOutcome(200, body)

    def _refresh_grant(self, form: dict[str, str], client_id: str) -> TokenRequestOutcome:
        presented = self._tokens.find_refresh(form.get("refresh_token", ""))
        if presented is None or presented.grant.client_id != client_id:
            return _error(400, "invalid_grant", "The refresh token is malformed or not valid.")
        grant = presented.grant
        if presented.used or grant.revoked:
            if self._revoke_family:
                self.revoke_grant(grant)
            return _error(400, "invalid_grant", "The refresh token was already used or revoked.")
        requested = set(form.get("scope", "").split())
        if not requested <= grant.scopes:
            return _error(400, "invalid_scope", "The requested scope exceeds the original grant.")
        presented.used = True
        for record in self._tokens.access_of(grant):  # the previous ones die with the rotation
            record.revoked = True
        self.refreshes += 1
        return TokenRequestOutcome(200, self._issue(grant))

    def _issue(self, grant: AccessGrant) -> dict[str, Any]:
        access = _opaque()
        self._tokens.add_access(access, grant, self._clock.now() + self._ttl)
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": int(self._ttl.total_seconds()),
            "scope": " ".join(sorted(grant.scopes)),
            "token_type": "bearer",
        }
        if "offline" in grant.scopes:
            refresh = _opaque()
            self._tokens.add_refresh(refresh, grant)
            body["refresh_token"] = refresh
        return body

    def issue_tokens(
        self,
        user_id: int,
        *,
        client_id: str = "sandbox-client",
        scopes: frozenset[str] = ALLOWED_SCOPES,
    ) -> dict[str, Any]:
        """Mint a token response directly, skipping the browser (tests, demos, curl)."""
        body = self._issue(AccessGrant(secrets.token_hex(8), client_id, user_id, frozenset(scopes)))
        self._tokens.save()
        return body

    # ------------------------------------------------------------------ resource side
    def resolve(self, bearer: str) -> AccessGrant | None:
        """The live grant behind an access token; ``None`` if unknown, expired or revoked."""
        record = self._tokens.find_access(bearer)
        if record is None or record.revoked or record.grant.revoked:
            return None
        if record.expires_at <= self._clock.now():
            return None
        return record.grant

    def revoke_grant(self, grant: AccessGrant) -> None:
        """Kill a grant and every token it produced."""
        grant.revoked = True
        for record in self._tokens.access_of(grant):
            record.revoked = True
        self._tokens.save()

    def _revoke_token(self, token: str) -> None:
        access = self._tokens.find_access(token)
        if access is not None:
            access.revoked = True
        refresh = self._tokens.find_refresh(token)
        if refresh is not None:
            refresh.used = True

    def expire_access_tokens(self) -> None:
        """Make every live access token expired now (to exercise refresh)."""
        expire_now(self._tokens.access_records(), self._clock.now())
        self._tokens.save()


def _opaque() -> str:
    return f"{secrets.token_urlsafe(32)}.{secrets.token_urlsafe(32)}"


def _error(status: int, code: str, description: str) -> TokenRequestOutcome:
    return TokenRequestOutcome(
        status, {"error": code, "error_description": description, "status_code": status}
    )


def _page(code: str, description: str) -> str:
    return (
        "<!doctype html><html><head><title>Authorization error</title></head><body>"
        f"<h1>{code}</h1><p>{description}</p></body></html>"
    )
