"""A small OpenID provider (Google-like) as an ASGI app, for Sign in with Google tests.

Discovery, an authorize endpoint that approves at once and redirects with a code, a
token endpoint that checks the client, the redirect URI and the PKCE verifier and
returns an RS256-signed ID token, and the JWKS. Knobs spoil the next ID tokens one way
each (wrong nonce, audience, issuer or key, expired, unverified email).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlencode

import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakes import FakeClock

IDP_ORIGIN = "http://idp.test"
DISCOVERY_URL = f"{IDP_ORIGIN}/.well-known/openid-configuration"
CLIENT_ID = "wellpipe-google-client.apps.example"
CLIENT_SECRET = "google-client-secret"


@cache
def _keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """The provider's signing key and a stranger's (generated once per test session)."""
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


@dataclass
class Knobs:
    """How the next ID tokens are spoiled (all off: a valid token)."""

    wrong_nonce: bool = False
    wrong_audience: bool = False
    wrong_issuer: bool = False
    expired: bool = False
    email_verified: bool | str = True
    foreign_key: bool = False
    algorithm_none: bool = False


@dataclass
class Account:
    """Who "logs in" at the consent screen."""

    subject: str = "google-subject-1"
    email: str = "person@example.com"


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    method: str
    nonce: str
    account: Account
    used: bool = False


@dataclass
class FakeIdP:
    """The provider. ``transport()`` plugs it into `httpx2`."""

    clock: FakeClock
    knobs: Knobs = field(default_factory=Knobs)
    account: Account = field(default_factory=Account)
    token_requests: int = 0
    authorize_params: list[dict[str, str]] = field(default_factory=list)
    token_forms: list[dict[str, str]] = field(default_factory=list)
    _codes: dict[str, _Code] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/authorize", self._authorize),
                Route("/token", self._token, methods=["POST"]),
                Route("/jwks", self._jwks),
            ]
        )

    def transport(self) -> httpx2.ASGITransport:
        return httpx2.ASGITransport(app=self.app)

    async def _discovery(self, _request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": IDP_ORIGIN,
                "authorization_endpoint": f"{IDP_ORIGIN}/authorize",
                "token_endpoint": f"{IDP_ORIGIN}/token",
                "jwks_uri": f"{IDP_ORIGIN}/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def _jwks(self, _request: Request) -> Response:
        jwk = RSAAlgorithm.to_jwk(_keys()[0].public_key(), as_dict=True)
        jwk.update(kid="idp-key-1", use="sig", alg="RS256")
        return JSONResponse({"keys": [jwk]})

    async def _authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.authorize_params.append(params)
        if params.get("client_id") != CLIENT_ID or params.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        if "openid" not in params.get("scope", "").split():
            return JSONResponse({"error": "invalid_scope"}, status_code=400)
        code = secrets.token_urlsafe(24)
        self._codes[code] = _Code(
            client_id=params["client_id"],
            redirect_uri=params.get("redirect_uri", ""),
            challenge=params.get("code_challenge", ""),
            method=params.get("code_challenge_method", ""),
            nonce=params.get("nonce", ""),
            account=Account(self.account.subject, self.account.email),
        )
        query = urlencode({"code": code, "state": params.get("state", "")})
        return RedirectResponse(f"{params.get('redirect_uri', '')}?{query}", status_code=302)

    async def _token(self, request: Request) -> Response:
        self.token_requests += 1
        form = {key: str(value) for key, value in (await request.form()).items()}
        self.token_forms.append(form)
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        code = self._codes.get(form.get("code", ""))
        if code is None or code.used or form.get("grant_type") != "authorization_code":
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        code.used = True
        if form.get("redirect_uri") != code.redirect_uri or code.method != "S256":
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = form.get("code_verifier", "")
        expected = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        if not verifier or expected != code.challenge:
            return JSONResponse(
                {"error": "invalid_grant", "error_description": "PKCE verification failed"},
                status_code=400,
            )
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": 3599,
                "scope": "openid email",
                "id_token": self.id_token(code.nonce, code.account),
            }
        )

    def id_token(self, nonce: str, account: Account) -> str:
        now = int(self.clock.now().timestamp())
        knobs = self.knobs
        claims: dict[str, Any] = {
            "iss": "http://evil.test" if knobs.wrong_issuer else IDP_ORIGIN,
            "aud": "someone-else" if knobs.wrong_audience else CLIENT_ID,
            "azp": CLIENT_ID,
            "sub": account.subject,
            "email": account.email,
            "email_verified": knobs.email_verified,
            "nonce": "not-your-nonce" if knobs.wrong_nonce else nonce,
            "iat": now - (7200 if knobs.expired else 0),
            "exp": now - 3600 if knobs.expired else now + 3600,
        }
        if knobs.algorithm_none:
            return jwt.encode(claims, key="", algorithm="none", headers={"kid": "idp-key-1"})
        key = _keys()[1] if knobs.foreign_key else _keys()[0]
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "idp-key-1"})
