"""The dashboard's page machinery: templates, the per-request `Web` helper, error pages.

Every page is rendered on the server. A `Web` object (one per request) knows the
signed-in session, reads and writes the one-shot flash cookie, checks forms (the
request's origin and a CSRF token), and finishes every response with the dashboard's
headers: a strict Content-Security-Policy and ``Cache-Control: no-store``.

`PageRoute` turns anything that goes wrong inside a dashboard route into a page: a
sentence saying what happened and what to do, and the request id.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.services.sessions import (
    COOKIE_NAME,
    SessionInfo,
    check_csrf,
    cookie_attributes,
    resolve_session,
)
from wellpipe.cloud.web.flash import FLASH_TTL_S, Flash, FlashBox, Kind, Message
from wellpipe.cloud.web.labels import ago, day_label, kind_label, records_label
from wellpipe.cloud.web.middleware import MAX_FORM_FIELDS, MAX_FORM_FILES, MAX_FORM_PART_BYTES

__all__ = [
    "CSP",
    "STATIC_FILES",
    "PageError",
    "PageRoute",
    "SignInRequired",
    "Web",
    "templates",
]

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
CSP = (
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'; "
    "img-src 'self'; script-src 'self'; style-src 'self'"
)
"""No inline script or style anywhere; every asset comes from this origin."""

STATIC_FILES = {
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
    "htmx.min.js": "text/javascript; charset=utf-8",
}
"""What ``/static/`` serves (nothing else), with its media type.

``htmx.min.js`` is htmx 4.0.1 (Zero-Clause BSD) as published on npm as ``htmx.org``,
unchanged: the dashboard's history card polls its fragment with it while a backfill
runs. Nothing uses ``hx-on`` or trigger filters, so it needs no ``unsafe-eval``.
"""

R = TypeVar("R", bound=Response)

_FORM_TOKEN_CONTEXT = b"wellpipe/web/form-token/v1"


class PageError(Exception):
    """Render the error page: ``status``, a heading and one sentence saying what to do."""

    def __init__(self, status: int, sentence: str, *, heading: str | None = None) -> None:
        super().__init__(sentence)
        self.status = status
        self.sentence = sentence
        self.heading = heading or _HEADINGS.get(status, "Something went wrong")


class SignInRequired(Exception):
    """The page needs a signed-in user: redirect to ``/signin`` with a sentence."""


_HEADINGS = {
    400: "That request was incomplete",
    403: "That request was refused",
    404: "Nothing here",
    409: "That did not go through",
    500: "Something went wrong",
    502: "The provider did not answer",
}


def _when(value: datetime | None, default: str = "—", mode: str = "datetime") -> str:
    if value is None:
        return default
    if mode == "date":
        return f"{value:%a %d %b %Y}"
    return f"{value:%d %b %Y, %H:%M} UTC"


@cache
def _asset_versions() -> dict[str, str]:
    return {
        name: hashlib.sha256((HERE / "static" / name).read_bytes()).hexdigest()[:12]
        for name in STATIC_FILES
    }


def _asset(name: str) -> str:
    return f"/static/{name}?v={_asset_versions()[name]}"


@cache
def templates() -> Environment:
    """The Jinja2 environment (autoescaped, strict about undefined names)."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["day"] = day_label
    env.filters["records"] = records_label
    env.filters["kind"] = kind_label
    env.filters["ago"] = ago
    env.globals["asset"] = _asset
    return env


class Web:
    """One dashboard request: its session, flash, cookies and the response headers.

    Build it with `Web.load` (a FastAPI dependency). Routes answer with `render` or
    `redirect`, which apply the cookies this request decided on.
    """

    def __init__(self, request: Request) -> None:
        self.request = request
        self.ctx: CloudContext = request.app.state.ctx
        self.settings = self.ctx.settings
        self.session: SessionInfo | None = None
        self.session_cookie: str | None = None
        self.incoming = Flash()
        self.outgoing = Flash()
        self._had_flash = False
        self._cookies: list[tuple[str, str | None, dict[str, Any]]] = []
        self._form_cookie: str | None = None
        self._flash_box = FlashBox(self._secret())

    @classmethod
    async def load(cls, request: Request) -> Web:
        """The `Web` for ``request``: session resolved, flash opened."""
        web = cls(request)
        web.session_cookie = request.cookies.get(COOKIE_NAME(web.settings))
        web.session = await resolve_session(web.ctx, web.session_cookie)
        request.state.web = web
        raw = request.cookies.get(web.flash_cookie_name)
        if raw is not None:
            web._had_flash = True
            web.incoming = web._flash_box.open(raw, now=web.ctx.clock.now())
        return web

    # ------------------------------------------------------------------ identity
    @property
    def request_id(self) -> str:
        """This request's id (also in the ``X-Request-ID`` header)."""
        return str(getattr(self.request.state, "request_id", "-"))

    def require_user(self) -> SessionInfo:
        """The signed-in session.

        Raises:
            SignInRequired: nobody is signed in (or the session ended).
        """
        if self.session is None:
            raise SignInRequired()
        return self.session

    def start_session(self, cookie_value: str) -> None:
        """Set the session cookie for a session just opened."""
        self._cookies.append(
            (COOKIE_NAME(self.settings), cookie_value, cookie_attributes(self.settings))
        )

    def end_session(self) -> None:
        """Remove the session cookie."""
        self._cookies.append((COOKIE_NAME(self.settings), None, cookie_attributes(self.settings)))

    def set_cookie(self, name: str, value: str | None, attributes: Mapping[str, Any]) -> None:
        """Set (or, with ``None``, delete) a cookie on this request's response."""
        self._cookies.append((name, value, dict(attributes)))

    # ------------------------------------------------------------------ cookies' names
    def cookie_name(self, name: str) -> str:
        """``name`` as this service sets it: ``__Host-`` prefixed over HTTPS."""
        return f"__Host-{name}" if self.settings.secure_cookies else name

    @property
    def flash_cookie_name(self) -> str:
        """The flash cookie's name."""
        return self.cookie_name("wellpipe_flash")

    @property
    def form_cookie_name(self) -> str:
        """The signed-out forms' CSRF cookie's name."""
        return self.cookie_name("wellpipe_form")

    def _secret(self) -> bytes:
        pepper = self.settings.api_key_pepper
        if pepper is None:  # pragma: no cover - create_app always fills it in
            raise RuntimeError("WELLPIPE_API_KEY_PEPPER is not set")
        value: str = pepper.get_secret_value()
        return value.encode()

    def cookie_attributes(self, max_age: int | None) -> dict[str, Any]:
        """A page cookie's attributes: HttpOnly, SameSite=Lax, ``Path=/``, Secure over HTTPS."""
        attributes: dict[str, Any] = {
            "path": "/",
            "secure": self.settings.secure_cookies,
            "httponly": True,
            "samesite": "lax",
        }
        if max_age is not None:
            attributes["max_age"] = max_age
        return attributes

    # ------------------------------------------------------------------ flash
    def flash(self, kind: Kind, text: str) -> None:
        """Show ``text`` on the next page (or this one, if it renders)."""
        self.outgoing.messages.append(Message(kind=kind, text=text))

    # ------------------------------------------------------------------ CSRF
    def _form_token_for(self, cookie_value: str) -> str:
        mac = hmac.new(self._secret(), _FORM_TOKEN_CONTEXT, hashlib.sha256).digest()
        return hmac.new(mac, cookie_value.encode(), hashlib.sha256).hexdigest()

    def csrf_token(self) -> str:
        """The token this page's forms carry: the session's, or one bound to a form cookie."""
        if self.session is not None:
            return self.session.csrf_token
        if self._form_cookie is None:
            existing = self.request.cookies.get(self.form_cookie_name)
            if existing and 32 <= len(existing) <= 128:
                self._form_cookie = existing
            else:
                self._form_cookie = secrets.token_urlsafe(32)
                # A browser-session cookie: it lasts as long as the sign-in page may stay open.
                self.set_cookie(
                    self.form_cookie_name, self._form_cookie, self.cookie_attributes(None)
                )
        return self._form_token_for(self._form_cookie)

    def same_origin(self) -> bool:
        """Whether the request came from our own pages (Fetch Metadata, then ``Origin``).

        Browsers send ``Sec-Fetch-Site`` on every request; anything but ``same-origin``
        (or ``none``, a user typing the address) is refused. ``Origin``, when sent,
        must be the service's public origin or the origin the request was sent to.
        """
        headers = self.request.headers
        site = headers.get("sec-fetch-site")
        if site is not None and site not in {"same-origin", "none"}:
            return False
        origin = headers.get("origin")
        if origin is None:
            return True
        own = f"{self.request.url.scheme}://{self.request.url.netloc}"
        return origin in {self.settings.public_url, own}

    async def form(self) -> dict[str, str]:
        """The submitted form, after the origin and CSRF checks.

        The origin is checked before the body is parsed; the body is parsed within the
        limits of `wellpipe.cloud.web.middleware` (fields, files, field size).

        Raises:
            PageError: 403 when the form came from another site or carries a wrong token;
                400 when the body is not a form we can read (malformed, a multipart body
                without its boundary, too many fields, a file, an over-long field).
        """
        if not self.same_origin():
            logger.info("Form refused: cross-site request (request %s)", self.request_id)
            raise PageError(
                403,
                "This form was sent from another website, so Wellpipe ignored it; "
                "open the dashboard yourself and try again.",
            )
        try:
            data = await self.request.form(
                max_files=MAX_FORM_FILES,
                max_fields=MAX_FORM_FIELDS,
                max_part_size=MAX_FORM_PART_BYTES,
            )
        except (HTTPException, MultiPartException, ClientDisconnect, ValueError) as error:
            # Starlette reports a bad form as HTTPException(400); python-multipart's own
            # parse errors, should one get through, are ValueErrors.
            logger.info(
                "Form refused: unreadable body (%s; request %s)",
                type(error).__name__,
                self.request_id,
            )
            raise PageError(
                400,
                "Wellpipe could not read this form; reload the page and send it again.",
            ) from None
        fields = {name: value for name, value in data.items() if isinstance(value, str)}
        presented = fields.pop("csrf_token", "")
        if not self._token_ok(presented):
            logger.info("Form refused: missing or wrong CSRF token (request %s)", self.request_id)
            raise PageError(
                403,
                "This form has expired or did not come from this page; "
                "reload the page and try again.",
            )
        return fields

    def _token_ok(self, presented: str) -> bool:
        if not presented:
            return False
        if self.session is not None and check_csrf(self.session, presented):
            return True
        cookie = self.request.cookies.get(self.form_cookie_name)
        if not cookie:
            return False
        return hmac.compare_digest(self._form_token_for(cookie), presented)

    # ------------------------------------------------------------------ responses
    def render(self, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
        """Render ``template`` with the page's shared values; shows and clears the flash."""
        messages = [*self.incoming.messages, *self.outgoing.messages]
        page = {
            "user": self.session,
            "csrf_token": self.csrf_token(),
            "messages": messages,
            "request_id": self.request_id,
            "public_url": self.settings.public_url,
            "google_enabled": bool(self.settings.google_client_id),
            "free_limit": self.settings.free_monthly_limit,
            **values,
        }
        body = templates().get_template(template).render(page)
        response = HTMLResponse(body, status_code=status)
        if self._had_flash:
            self.set_cookie(self.flash_cookie_name, None, self.cookie_attributes(None))
        return self.finish(response)

    def fragment(self, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
        """Render a part of a page (an htmx swap): no flash is shown or cleared.

        A fragment is asked for in the background (a poll), so a message meant for the
        next page stays for it.
        """
        body = templates().get_template(template).render(values)
        return self.finish(HTMLResponse(body, status_code=status))

    def redirect(self, url: str) -> RedirectResponse:
        """A 303 to ``url`` (a path of ours or a provider's authorize URL), carrying the flash."""
        response = RedirectResponse(url, status_code=303)
        carried = Flash(
            messages=[*self.incoming.messages, *self.outgoing.messages],
            new_key=self.outgoing.new_key or self.incoming.new_key,
        )
        if carried:
            sealed = self._flash_box.seal(carried, now=self.ctx.clock.now())
            self.set_cookie(self.flash_cookie_name, sealed, self.cookie_attributes(FLASH_TTL_S))
        elif self._had_flash:
            self.set_cookie(self.flash_cookie_name, None, self.cookie_attributes(None))
        return self.finish(response)

    def finish(self, response: R) -> R:
        """Apply this request's cookies and the dashboard's headers to ``response``."""
        for name, value, attributes in self._cookies:
            if value is None:
                response.delete_cookie(
                    name,
                    path=attributes.get("path", "/"),
                    secure=attributes.get("secure", False),
                    httponly=attributes.get("httponly", True),
                    samesite=attributes.get("samesite", "lax"),
                )
            else:
                response.set_cookie(name, value, **attributes)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Cache-Control"] = "no-store"
        return response


def error_page(request: Request, status: int, heading: str, sentence: str) -> Response:
    """The dashboard's error page (for browsers that reach an address outside the pages)."""
    return _error_page(request, status, heading, sentence)


def _error_page(request: Request, status: int, heading: str, sentence: str) -> Response:
    web: Web | None = getattr(request.state, "web", None)
    if web is None:
        web = Web(request)
    try:
        return web.render(
            "error.html", status=status, status_code=status, heading=heading, sentence=sentence
        )
    except Exception:  # the page itself failed: still answer with the sentence
        logger.exception("Error page failed (request %s)", web.request_id)
        body = f"<!doctype html><title>{heading}</title><p>{sentence}</p>"
        return web.finish(HTMLResponse(body, status_code=status))


class PageRoute(APIRoute):
    """A dashboard route: failures become friendly HTML pages, never JSON or a stack trace."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler with the dashboard's error pages."""
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                web: Web | None = getattr(request.state, "web", None)
                if web is None:  # pragma: no cover - raised only after Web.load
                    web = Web(request)
                web.flash("info", "Sign in to continue.")
                return web.redirect("/signin")
            except PageError as error:
                return _error_page(request, error.status, error.heading, error.sentence)
            except RequestValidationError:
                return _error_page(
                    request,
                    400,
                    _HEADINGS[400],
                    "Part of the form was missing or malformed; go back and try again.",
                )
            except Exception:
                logger.exception(
                    "Dashboard error (request %s)", getattr(request.state, "request_id", "-")
                )
                return _error_page(
                    request,
                    500,
                    _HEADINGS[500],
                    "Wellpipe hit an unexpected error; try again, and quote the request id "
                    "below if it keeps happening.",
                )

        return page_handler
