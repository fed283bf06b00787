"""The authorization server's protocol endpoints, at the issuer's root (where Claude looks).

=======================================================  ===================================
``GET /.well-known/oauth-authorization-server``          RFC 8414 metadata
``GET /.well-known/oauth-protected-resource[/api/mcp]``  RFC 9728, for ``/api/mcp``
``GET /.well-known/oauth-protected-resource/mcp``        RFC 9728, for ``/mcp``
``POST /register``                                       RFC 7591 dynamic registration
``POST /token``                                          code and refresh grants
``POST /revoke``                                         RFC 7009
=======================================================  ===================================

``/authorize`` is a page (`wellpipe.cloud.web.consent`). The documents are built with the
official ``mcp`` SDK's models (`OAuthMetadata`, `ProtectedResourceMetadata`); the
handlers are ours, because the SDK's compare client secrets in the clear, require
``client_id`` in the form even under ``client_secret_basic``, match loopback redirect URIs
without the RFC 8252 port exception, do not validate registered redirect URIs, omit
``iss`` and the client-metadata-document flag, and read the wall clock. Browser-based
clients may call every endpoint here cross-origin (no cookies are involved).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from mcp.shared.auth import OAuthMetadata, ProtectedResourceMetadata
from pydantic import AnyHttpUrl

from wellpipe.cloud.api.deps import context
from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.services import authorization as oauth

__all__ = ["metadata_url", "router"]

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, MCP-Protocol-Version",
    "Access-Control-Max-Age": "600",
}
_FORM_LIMIT = 16 * 1024


def metadata_url(ctx: CloudContext, resource_path: str) -> str:
    """The absolute URL of the protected-resource metadata for ``resource_path``."""
    return f"{oauth.issuer(ctx)}/.well-known/oauth-protected-resource{resource_path}"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={**_CORS, **(headers or {})})


def authorization_metadata(ctx: CloudContext) -> dict[str, Any]:
    """The RFC 8414 document."""
    base = oauth.issuer(ctx)
    document = OAuthMetadata(
        issuer=AnyHttpUrl(base),
        authorization_endpoint=AnyHttpUrl(f"{base}/authorize"),
        token_endpoint=AnyHttpUrl(f"{base}/token"),
        registration_endpoint=AnyHttpUrl(f"{base}/register"),
        revocation_endpoint=AnyHttpUrl(f"{base}/revoke"),
        revocation_endpoint_auth_methods_supported=list(oauth.METHODS),
        scopes_supported=[oauth.SCOPE],
        response_types_supported=["code"],
        response_modes_supported=["query"],
        grant_types_supported=["authorization_code", "refresh_token"],
        token_endpoint_auth_methods_supported=list(oauth.METHODS),
        code_challenge_methods_supported=["S256"],
        client_id_metadata_document_supported=True,
        authorization_response_iss_parameter_supported=True,
        service_documentation=AnyHttpUrl(f"{base}/api/docs"),
    )
    body = document.model_dump(mode="json", exclude_none=True)
    body["issuer"] = base  # no trailing slash: it must equal the issuer exactly
    return body


def resource_metadata(ctx: CloudContext, resource_path: str) -> dict[str, Any]:
    """The RFC 9728 document for the MCP endpoint at ``resource_path``."""
    base = oauth.issuer(ctx)
    document = ProtectedResourceMetadata(
        resource=AnyHttpUrl(base + resource_path),
        authorization_servers=[AnyHttpUrl(base)],
        scopes_supported=[oauth.SCOPE],
        bearer_methods_supported=["header"],
        resource_name="Wellpipe",
        resource_documentation=AnyHttpUrl(f"{base}/api/docs"),
    )
    body = document.model_dump(mode="json", exclude_none=True)
    body["resource"] = base + resource_path
    body["authorization_servers"] = [base]
    return body


@router.get("/.well-known/oauth-authorization-server")
async def as_metadata(request: Request) -> Response:
    """RFC 8414: where the endpoints are and what they support."""
    return _json(authorization_metadata(context(request)), headers={"Cache-Control": "max-age=300"})


@router.get("/.well-known/oauth-protected-resource")
@router.get("/.well-known/oauth-protected-resource/api/mcp")
async def prm_api_mcp(request: Request) -> Response:
    """RFC 9728 for ``/api/mcp`` (also the root form)."""
    body = resource_metadata(context(request), oauth.RESOURCE_PATHS[0])
    return _json(body, headers={"Cache-Control": "max-age=300"})


@router.get("/.well-known/oauth-protected-resource/mcp")
async def prm_mcp(request: Request) -> Response:
    """RFC 9728 for ``/mcp``."""
    body = resource_metadata(context(request), oauth.RESOURCE_PATHS[1])
    return _json(body, headers={"Cache-Control": "max-age=300"})


@router.options("/.well-known/oauth-authorization-server")
@router.options("/.well-known/oauth-protected-resource")
@router.options("/.well-known/oauth-protected-resource/api/mcp")
@router.options("/.well-known/oauth-protected-resource/mcp")
@router.options("/register")
@router.options("/token")
@router.options("/revoke")
async def preflight() -> Response:
    """CORS preflight for browser-based clients (no cookies are ever involved)."""
    return Response(status_code=204, headers=_CORS)


async def _form(request: Request) -> dict[str, str]:
    """The urlencoded body, within a small limit; repeated parameters are refused."""
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        raise oauth.OAuthError(
            "invalid_request", "Send the parameters as application/x-www-form-urlencoded."
        )
    raw = await request.body()
    if len(raw) > _FORM_LIMIT:
        raise oauth.OAuthError("invalid_request", "The request body is too large.")
    form = await request.form()
    values: dict[str, str] = {}
    for name, value in form.multi_items():
        if not isinstance(value, str):
            raise oauth.OAuthError("invalid_request", "Files are not accepted here.")
        if name in values:
            raise oauth.OAuthError("invalid_request", f"The parameter {name} is repeated.")
        values[name] = value
    return values


def _error(refused: oauth.OAuthError) -> JSONResponse:
    headers = dict(_NO_STORE)
    if isinstance(refused, oauth.ClientRefused):
        headers["WWW-Authenticate"] = 'Basic realm="wellpipe"'
    return _json(refused.body(), status=refused.status, headers=headers)


@router.post("/register")
async def register(request: Request) -> Response:
    """RFC 7591: open registration, capped per network address."""
    ctx = context(request)
    raw = await request.body()
    if len(raw) > _FORM_LIMIT:
        return _error(oauth.OAuthError("invalid_client_metadata", "The registration is too large."))
    source = request.client.host if request.client else None
    try:
        answer = await oauth.register(ctx, raw, source=source)
    except oauth.OAuthError as refused:
        response = _error(refused)
        if refused.status == 429:
            response.headers["Retry-After"] = "3600"
        return response
    return _json(answer, status=201, headers=_NO_STORE)


@router.post("/token")
async def token(request: Request) -> Response:
    """The authorization-code and refresh-token grants."""
    ctx = context(request)
    request_id = getattr(request.state, "request_id", None)
    try:
        form = await _form(request)
        client = await oauth.authenticate_client(ctx, form, request.headers.get("authorization"))
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            tokens = await oauth.exchange_code(ctx, client, form, request_id=request_id)
        elif grant_type == "refresh_token":
            tokens = await oauth.refresh(ctx, client, form, request_id=request_id)
        else:
            raise oauth.OAuthError(
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token.",
            )
    except oauth.OAuthError as refused:
        return _error(refused)
    return _json(tokens.body(), headers=_NO_STORE)


@router.post("/revoke")
async def revoke(request: Request) -> Response:
    """RFC 7009: 200 whether or not the token was known."""
    ctx = context(request)
    try:
        form = await _form(request)
        client = await oauth.authenticate_client(ctx, form, request.headers.get("authorization"))
        presented = form.get("token")
        if not presented:
            raise oauth.OAuthError("invalid_request", "Send the token to revoke.")
        await oauth.revoke_token(ctx, client, presented)
    except oauth.OAuthError as refused:
        return _error(refused)
    return Response(status_code=200, headers={**_CORS, **_NO_STORE})
