"""The person's side of connecting an assistant: ``/authorize``, the consent page, revoking.

``GET /authorize`` (the browser, sent by Claude or ChatGPT) checks the request
(`wellpipe.cloud.services.authorization.begin`), keeps it, and shows the consent page
(``/authorize/consent``). A signed-out person signs in (or signs up, or uses Google) and
comes back to it. Allow or Deny is a CSRF-protected form of our own page (never
frameable); the answer goes back to the assistant with ``code`` (or ``error``),
``state`` and ``iss``.

The request is bound to this browser by a cookie (``wellpipe_authorize``): a consent
link sent to someone else opens nothing. A request whose client or redirect URI cannot
be trusted is never sent back anywhere: the person gets a page saying what happened.
"""

from __future__ import annotations

import logging
import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from wellpipe.cloud.services import accounts
from wellpipe.cloud.services import authorization as oauth
from wellpipe.cloud.services.accounts import EmailTaken
from wellpipe.cloud.services.tokens import connection_status
from wellpipe.cloud.web.pages import PageError, PageRoute, Web
from wellpipe.providers import get_provider_info

__all__ = ["after_signin", "router"]

logger = logging.getLogger(__name__)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

WebDep = Annotated[Web, Depends(Web.load)]

_BINDING_TTL_S = 3600
_RETURN_TTL_S = 600
_CONSENT = "/authorize/consent"


def _binding_cookie(web: Web) -> str:
    return web.cookie_name("wellpipe_authorize")


def _return_cookie(web: Web) -> str:
    return web.cookie_name("wellpipe_consent")


def _binding(web: Web) -> str | None:
    value = web.request.cookies.get(_binding_cookie(web))
    return value if value and 32 <= len(value) <= 64 else None


def after_signin(web: Web) -> str:
    """Where to go after signing in: back to a waiting consent page, else the dashboard."""
    handle = web.request.cookies.get(_return_cookie(web))
    if handle and len(handle) <= 64 and handle.replace("-", "").replace("_", "").isalnum():
        return f"{_CONSENT}?request={handle}"
    return "/dashboard"


def _refused_page(description: str) -> PageError:
    return PageError(
        400,
        f"{description} Nothing was shared. Go back to your assistant and try connecting again.",
        heading="This connection cannot go on",
    )


def _to_client(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


@router.api_route("/authorize", methods=["GET", "POST"])
async def authorize(web: WebDep, request: Request) -> Response:
    """An assistant's authorization request (RFC 6749 §4.1.1, PKCE, RFC 8707)."""
    if request.method == "POST":
        form = await request.form()
        params = {name: value for name, value in form.items() if isinstance(value, str)}
    else:
        params = dict(request.query_params)
    binding = _binding(web) or secrets.token_urlsafe(32)
    try:
        handle = await oauth.begin(web.ctx, params, binding)
    except oauth.AuthorizeRefused as refused:
        if refused.redirect_uri is None:
            raise _refused_page(refused.description) from None
        return _to_client(
            oauth.redirect_with(
                refused.redirect_uri,
                {
                    "error": refused.error,
                    "error_description": refused.description,
                    "state": refused.state,
                    "iss": oauth.issuer(web.ctx),
                },
            )
        )
    except oauth.ClientRefused as refused:
        raise _refused_page(refused.description) from None
    if web.settings.oauth_test_user:
        return await _approve_for_test_user(web, handle, binding)
    web.set_cookie(_binding_cookie(web), binding, web.cookie_attributes(_BINDING_TTL_S))
    web.set_cookie(_return_cookie(web), handle, web.cookie_attributes(_RETURN_TTL_S))
    return web.redirect(f"{_CONSENT}?request={handle}")


async def _approve_for_test_user(web: Web, handle: str, binding: str) -> Response:
    """Test mode: allow at once for the named test user (created if needed)."""
    email = web.settings.oauth_test_user or ""
    user = await accounts.find_user(web.ctx, email)
    if user is None:
        try:
            user = await accounts.create_user(
                web.ctx, email=email, password=secrets.token_urlsafe(24), request_id=web.request_id
            )
        except EmailTaken:
            user = await accounts.find_user(web.ctx, email)
    if user is None:  # pragma: no cover - created just above
        raise PageError(500, "The test user could not be created.")
    target = await oauth.decide(
        web.ctx, handle, binding, user_id=user.id, allow=True, request_id=web.request_id
    )
    if target is None:  # pragma: no cover - the request was stored a moment ago
        raise _refused_page("The request expired.")
    logger.info("Test mode: approved an authorization request for the test user")
    return web.finish(_to_client(target))


async def _providers_in_words(web: Web, user_id: str) -> str:
    names = [
        get_provider_info(info.provider).display_name
        for info in await connection_status(web.ctx, user_id)
        if info.status == "active"
    ]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


@router.get(_CONSENT)
async def consent_page(web: WebDep, request: Request) -> Response:
    """Who asks, where it sends you back, what it may read; Allow or Deny."""
    handle = request.query_params.get("request", "")
    waiting = await oauth.pending(web.ctx, handle, _binding(web))
    if waiting is None and web.session is not None:  # e.g. back here after signing in late
        web.set_cookie(_return_cookie(web), None, web.cookie_attributes(None))
        web.flash(
            "info",
            "That request from your assistant has expired; start connecting from the "
            "assistant again.",
        )
        return web.redirect("/dashboard")
    if waiting is None:
        raise PageError(
            400,
            "This connection request has expired or was started in another browser. Go back "
            "to your assistant and connect again.",
            heading="This request has expired",
        )
    if web.session is None:
        web.flash("info", f"Sign in to Wellpipe to let {waiting.client_name} read your data.")
        return web.redirect("/signin")
    user = web.require_user()
    providers = await _providers_in_words(web, user.user_id)
    client_host = urlsplit(waiting.client_id).netloc if waiting.client_kind == "cimd" else ""
    return web.render("consent.html", request=waiting, providers=providers, client_host=client_host)


@router.post(_CONSENT)
async def consent_decision(web: WebDep) -> Response:
    """Allow or Deny, then back to the assistant."""
    form = await web.form()
    user = web.require_user()
    decision = form.get("decision")
    if decision not in {"allow", "deny"}:
        raise PageError(400, "Choose Allow or Deny.")
    target = await oauth.decide(
        web.ctx,
        form.get("request", ""),
        _binding(web),
        user_id=user.user_id,
        allow=decision == "allow",
        request_id=web.request_id,
    )
    web.set_cookie(_return_cookie(web), None, web.cookie_attributes(None))
    if target is None:
        raise PageError(
            400,
            "This connection request has expired or was already answered. Go back to your "
            "assistant and connect again.",
            heading="This request has expired",
        )
    return web.redirect(target)


@router.post("/assistants/{grant_id}/revoke")
async def assistant_revoke(grant_id: str, web: WebDep) -> Response:
    """Revoke a connected assistant; its next request is refused."""
    await web.form()
    user = web.require_user()
    if await oauth.revoke_grant(web.ctx, user.user_id, grant_id, request_id=web.request_id):
        web.flash(
            "success",
            "Access revoked. The assistant's next request will be refused; remove the "
            "connector in the assistant too.",
        )
    else:
        web.flash("info", "That assistant was already disconnected.")
    return web.redirect("/dashboard#assistants")
