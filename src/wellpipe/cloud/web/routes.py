"""Dashboard routes: sign-up and sign-in, connections, API keys, usage, activity, account.

Every page is server-rendered; every change is a POST form that carries the session's
CSRF token and must come from our own pages (`Web.form`), then redirects to a page
(POST/redirect/GET). Messages for the next page travel in the sealed flash cookie,
never in the URL.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from wellpipe.cloud.security.passwords import MIN_LENGTH, WeakPassword
from wellpipe.cloud.services import accounts, connect, google, keys, limits, sessions
from wellpipe.cloud.services import authorization as oauth
from wellpipe.cloud.services.audit import AuditEntry, list_events
from wellpipe.cloud.services.deletion import DeletionReport, delete_account
from wellpipe.cloud.services.export import NoHealthData, download_history, export_account
from wellpipe.cloud.services.history_status import history_status
from wellpipe.cloud.services.tokens import connection_status
from wellpipe.cloud.web.charts import bar_chart
from wellpipe.cloud.web.consent import after_signin
from wellpipe.cloud.web.flash import NewKey
from wellpipe.cloud.web.labels import (
    EndpointLabel,
    endpoint_rows,
    granted_labels,
    lost_data,
    missing_labels,
)
from wellpipe.cloud.web.pages import HERE, STATIC_FILES, PageError, PageRoute, Web
from wellpipe.cloud.web.snippets import PLACEHOLDER, connector_for, snippets_for
from wellpipe.core.errors import listed
from wellpipe.history.export import ExportFormat
from wellpipe.providers import available_providers, get_provider_info

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

WebDep = Annotated[Web, Depends(Web.load)]

_EVENT_LABELS = {
    "account.created": "Account created",
    "account.deleted": "Account deleted",
    "account.exported": "Data exported",
    "signin.succeeded": "Signed in",
    "signin.failed": "Sign-in failed",
    "signout": "Signed out",
    "password.changed": "Password changed",
    "key.created": "API key created",
    "key.revoked": "API key revoked",
    "provider.connected": "Provider connected",
    "provider.disconnected": "Provider disconnected",
    "provider.reauth_required": "Provider needs reconnecting",
    "provider.refreshed": "Provider access renewed",
    "plan.changed": "Plan changed",
    "quota.exceeded": "Monthly limit reached",
    "data.accessed": "Data read",
    "assistant.connected": "Assistant connected",
    "assistant.revoked": "Assistant access revoked",
    "assistant.token_reused": "Assistant access revoked (a used sign-in token came back)",
}
_RECENT_EVENTS = 25


# ---------------------------------------------------------------------- static files
@router.get("/static/{name}")
async def static(name: str) -> Response:
    """The dashboard's own CSS, script and icon (nothing else is served from here)."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise PageError(404, "There is no such file; go back to the dashboard.")
    body = (HERE / "static" / name).read_bytes()
    return Response(
        body,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


# ---------------------------------------------------------------------- public pages
@router.get("/", response_class=HTMLResponse)
async def landing(web: WebDep) -> Response:
    """What Wellpipe Cloud is, with the ways in."""
    shown = [get_provider_info(name).display_name for name in available_providers()]
    return web.render("landing.html", provider_names=listed(shown, "or") or "your wearable")


@router.get("/signup", response_class=HTMLResponse)
async def signup_page(web: WebDep) -> Response:
    """The sign-up form."""
    if web.session is not None:
        return web.redirect("/dashboard")
    return web.render("signup.html", email="", error=None, password_min=MIN_LENGTH)


@router.post("/signup")
async def signup(web: WebDep) -> Response:
    """Create an account and sign it in."""
    form = await web.form()
    email = form.get("email", "")
    try:
        user = await accounts.create_user(
            web.ctx, email=email, password=form.get("password", ""), request_id=web.request_id
        )
    except (accounts.AccountError, WeakPassword) as refused:
        return web.render(
            "signup.html", status=400, email=email, error=str(refused), password_min=MIN_LENGTH
        )
    await _open_session(web, user.id)
    web.flash("success", "Welcome to Wellpipe. Connect a provider to get started.")
    return web.redirect(after_signin(web))


@router.get("/signin", response_class=HTMLResponse)
async def signin_page(web: WebDep) -> Response:
    """The sign-in form."""
    if web.session is not None:
        return web.redirect("/dashboard")
    return web.render("signin.html", email="", error=None)


@router.post("/signin")
async def signin(web: WebDep, request: Request) -> Response:
    """Check the email and password; open a session and mark this browser as the owner's."""
    form = await web.form()
    email = form.get("email", "")
    address = request.client.host if request.client else None
    device_cookie = accounts.device_cookie_name(web.settings)
    try:
        user = await accounts.sign_in(
            web.ctx,
            email=email,
            password=form.get("password", ""),
            address=address,
            device=request.cookies.get(device_cookie),
            request_id=web.request_id,
        )
    except accounts.SignInThrottled as throttled:
        refused = web.render("signin.html", status=429, email=email, error=str(throttled))
        refused.headers["Retry-After"] = str(throttled.retry_after_s)
        return refused
    if user is None:
        return web.render("signin.html", status=400, email=email, error=accounts.SIGNIN_FAILED)
    await _open_session(web, user.id)
    web.set_cookie(
        device_cookie,
        accounts.issue_device_cookie(web.ctx, user.id),
        accounts.device_cookie_attributes(web.settings),
    )
    return web.redirect(after_signin(web))


@router.post("/signout")
async def signout(web: WebDep) -> Response:
    """Close this browser's session."""
    if web.session is None:  # already signed out (expired, or another tab): nothing to close
        return web.redirect("/signin")
    await web.form()
    await sessions.close_session(web.ctx, web.session_cookie, request_id=web.request_id)
    web.end_session()
    web.flash("info", "You are signed out.")
    return web.redirect("/signin")


async def _open_session(web: Web, user_id: str) -> None:
    if web.session_cookie is not None:  # another account was signed in here: end it
        await sessions.close_session(web.ctx, web.session_cookie, request_id=web.request_id)
    cookie_value, _ = await sessions.open_session(web.ctx, user_id, request_id=web.request_id)
    web.start_session(cookie_value)


# ---------------------------------------------------------------------- Google
@router.post("/auth/google")
async def google_start(web: WebDep) -> Response:
    """Send the browser to Google (only when the operator configured a client)."""
    await web.form()
    if not web.settings.google_client_id:
        raise PageError(404, "Sign-in with Google is not set up on this server; use your email.")
    binding = sessions.new_browser_binding()
    try:
        url = await google.begin_google(web.ctx, binding)
    except google.GoogleSignInError as refused:
        web.flash("error", str(refused))
        return web.redirect("/signin")
    web.set_cookie(
        sessions.PRE_SESSION_COOKIE_NAME(web.settings),
        binding,
        sessions.pre_session_cookie_attributes(web.settings),
    )
    return web.redirect(url)


@router.get("/auth/google/callback")
async def google_callback(web: WebDep, request: Request) -> Response:
    """Finish signing in with Google: the user, then a session."""
    if not web.settings.google_client_id:
        raise PageError(404, "Sign-in with Google is not set up on this server; use your email.")
    pre_name = sessions.PRE_SESSION_COOKIE_NAME(web.settings)
    binding = request.cookies.get(pre_name)
    web.set_cookie(pre_name, None, sessions.pre_session_cookie_attributes(web.settings))
    try:
        user = await google.complete_google(
            web.ctx,
            browser_binding=binding,
            params=dict(request.query_params),
            request_id=web.request_id,
        )
    except google.GoogleSignInError as refused:
        web.flash("error", str(refused))
        return web.redirect("/signin")
    await _open_session(web, user.id)
    return web.redirect(after_signin(web))


# ---------------------------------------------------------------------- dashboard
@dataclass(frozen=True)
class ProviderCard:
    """One provider on the dashboard, and this user's connection to it (if any)."""

    name: str
    display_name: str
    status: str | None  # "active" | "needs_reauth" | None (not connected)
    status_reason: str | None
    connected_at: datetime | None
    provider_user_id: str | None
    scopes: tuple[str, ...]  # the granted scopes, in words ("Sleep", "Heart rate")
    missing: tuple[str, ...] = ()  # requested scopes not granted, in words
    lost: tuple[str, ...] = ()  # the kinds of data no granted scope can read

    @property
    def initials(self) -> str:
        """Up to two letters standing in for the provider's logo."""
        return self.display_name[:2].upper()


@dataclass(frozen=True)
class KeyRow:
    """One API key in the list."""

    key_id: str
    name: str
    masked: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class UsageView:
    """This month's count against the plan's limit."""

    plan: str
    count: int
    limit: int | None
    percent: float
    meter_class: str
    reset_at: datetime
    endpoints: list[tuple[EndpointLabel, int]]


@dataclass(frozen=True)
class EventRow:
    """One audit event, worded for people."""

    at: datetime
    label: str
    details: list[tuple[str, str]]


async def _provider_cards(web: Web, user_id: str) -> list[ProviderCard]:
    connections = {info.provider: info for info in await connection_status(web.ctx, user_id)}
    cards = []
    for name in available_providers():
        info = connections.get(name)
        provider = get_provider_info(name)
        granted = frozenset(() if info is None else info.scopes)
        cards.append(
            ProviderCard(
                name=name,
                display_name=provider.display_name,
                status=None if info is None else info.status,
                status_reason=None if info is None else info.status_reason,
                connected_at=None if info is None else info.connected_at,
                provider_user_id=None if info is None else info.provider_user_id,
                scopes=granted_labels(provider, granted),
                missing=missing_labels(provider, granted),
                lost=lost_data(provider, granted),
            )
        )
    return cards


def _usage_view(summary: limits.UsageSummary) -> UsageView:
    percent = 0.0
    meter_class = ""
    if summary.limit:
        percent = round(min(100.0, 100.0 * summary.month_count / summary.limit), 2)
        if summary.month_count >= summary.limit:
            meter_class = " full"
        elif percent >= 80:
            meter_class = " high"
    return UsageView(
        plan=summary.plan,
        count=summary.month_count,
        limit=summary.limit,
        percent=percent,
        meter_class=meter_class,
        reset_at=summary.reset_at,
        endpoints=endpoint_rows((item.endpoint, item.count) for item in summary.endpoints),
    )


def _event_row(entry: AuditEntry) -> EventRow:
    details = [
        (str(name), str(value)[:80])
        for name, value in sorted(entry.detail.items())
        if isinstance(value, str | int | float | bool)
    ]
    return EventRow(at=entry.at, label=_EVENT_LABELS.get(entry.event, entry.event), details=details)


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(web: WebDep) -> Response:
    """Connections, adding an assistant, connected assistants, keys, usage, activity, account."""
    user = web.require_user()
    cards = await _provider_cards(web, user.user_id)
    assistants = await oauth.list_grants(web.ctx, user.user_id)
    key_rows = [
        KeyRow(
            key_id=info.key_id,
            name=info.name,
            masked=f"wp_live_{info.key_id}_…{info.last4}",
            created_at=info.created_at,
            last_used_at=info.last_used_at,
            revoked_at=info.revoked_at,
        )
        for info in await keys.list_keys(web.ctx, user.user_id)
    ]
    summary = await limits.usage_summary(web.ctx, user.user_id, days=30)
    entries = await list_events(web.ctx, user.user_id, limit=_RECENT_EVENTS)
    events = [_event_row(entry) for entry in entries]
    new_key = web.incoming.new_key
    if new_key is not None and new_key.owner != user.user_id:
        new_key = None
    public = web.settings.public_url
    return web.render(
        "dashboard.html",
        providers=cards,
        history=await history_status(web.ctx, user.user_id),
        connector=connector_for(public),
        assistants=assistants,
        keys=key_rows,
        new_key=new_key,
        new_key_snippets=snippets_for(public, new_key.full_key if new_key else None),
        setup_snippets=snippets_for(public, None),
        placeholder=PLACEHOLDER,
        usage=_usage_view(summary),
        chart=bar_chart([(day.day, day.count) for day in summary.daily]),
        events=events,
        password_min=MIN_LENGTH,
    )


@router.get("/dashboard/history", response_class=HTMLResponse)
async def dashboard_history(web: WebDep) -> Response:
    """The history card alone: the dashboard polls it (htmx) while a backfill runs.

    The signed-in user's own history only. Without a session it answers 401 with a
    card that says so and no longer polls (htmx swaps error answers too).
    """
    if web.session is None:
        return web.fragment("_history.html", status=401, signed_out=True)
    history = await history_status(web.ctx, web.session.user_id)
    return web.fragment("_history.html", signed_out=False, history=history)


# ---------------------------------------------------------------------- connections
def _known_provider(provider: str) -> str:
    if provider not in available_providers():
        raise PageError(404, f"This server does not offer {provider!r}; pick one on the dashboard.")
    return provider


@router.post("/connect/{provider}")
async def connect_start(provider: str, web: WebDep) -> Response:
    """Send the browser to the provider to approve access."""
    user = web.require_user()
    await web.form()
    _known_provider(provider)
    try:
        url = await connect.begin_connect(
            web.ctx, session=user, provider=provider, request_id=web.request_id
        )
    except connect.ConnectError as refused:
        web.flash("error", str(refused))
        return web.redirect("/dashboard")
    return web.redirect(url)


@router.get("/callback/{provider}")
async def connect_callback(provider: str, web: WebDep, request: Request) -> Response:
    """The provider sends the browser back here; store the grant and say how it went."""
    outcome = await connect.complete_connect(
        web.ctx,
        session=web.session,
        provider=provider,
        params=dict(request.query_params),
        request_id=web.request_id,
    )
    web.flash("success" if outcome.ok else "error", outcome.sentence)
    if web.session is None:
        return web.redirect("/signin")
    return web.redirect("/dashboard")


@router.post("/disconnect/{provider}")
async def connect_remove(provider: str, web: WebDep) -> Response:
    """Revoke the grant at the provider and forget the tokens."""
    user = web.require_user()
    await web.form()
    _known_provider(provider)
    outcome = await connect.disconnect(
        web.ctx, user_id=user.user_id, provider=provider, request_id=web.request_id
    )
    web.flash("success" if outcome.ok else "warning", outcome.sentence)
    return web.redirect("/dashboard")


# ---------------------------------------------------------------------- API keys
@router.post("/keys")
async def key_create(web: WebDep) -> Response:
    """Create a key; the next dashboard view shows it once."""
    user = web.require_user()
    form = await web.form()
    try:
        created = await keys.create_key(
            web.ctx, user_id=user.user_id, name=form.get("name", ""), request_id=web.request_id
        )
    except keys.ApiKeyError as refused:
        web.flash("error", str(refused))
        return web.redirect("/dashboard")
    web.outgoing.new_key = NewKey(
        owner=user.user_id, key_id=created.key_id, name=created.name, full_key=created.full_key
    )
    return web.redirect("/dashboard#new-key")


@router.post("/keys/{key_id}/revoke")
async def key_revoke(key_id: str, web: WebDep) -> Response:
    """Revoke one of the user's keys; it stops working on the next request."""
    user = web.require_user()
    await web.form()
    revoked = await keys.revoke_key(
        web.ctx, user_id=user.user_id, key_id=key_id, request_id=web.request_id
    )
    if revoked:
        web.flash("success", "The key is revoked; anything using it stops working now.")
    else:
        web.flash("warning", "That key was already revoked or is not yours; nothing changed.")
    return web.redirect("/dashboard")


# ---------------------------------------------------------------------- account
@router.post("/account/password")
async def password_change(web: WebDep) -> Response:
    """Change the password; other browsers are signed out."""
    user = web.require_user()
    form = await web.form()
    try:
        await accounts.change_password(
            web.ctx,
            user_id=user.user_id,
            current=form.get("current", ""),
            new=form.get("new", ""),
            keep_session=user.id_digest,
            request_id=web.request_id,
        )
    except (accounts.AccountError, WeakPassword) as refused:
        web.flash("error", str(refused))
        return web.redirect("/dashboard#account-title")
    web.flash("success", "Your password is changed; other browsers were signed out.")
    return web.redirect("/dashboard")


@router.post("/account/export")
async def account_export(web: WebDep) -> Response:
    """Everything stored about the account, as a JSON download."""
    user = web.require_user()
    await web.form()
    document = await export_account(web.ctx, user.user_id, request_id=web.request_id)
    body = json.dumps(document, indent=2, sort_keys=True, default=str)
    stamp = f"{web.ctx.clock.now():%Y%m%d}"
    response = Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="wellpipe-export-{stamp}.json"'},
    )
    return web.finish(response)


@router.post("/account/health-export")
async def health_export(web: WebDep) -> Response:
    """The health records kept of the user, as a zip of tables, streamed as it is made."""
    user = web.require_user()
    form = await web.form()
    try:
        fmt = ExportFormat(form.get("format", "csv"))
    except ValueError:
        web.flash("error", "Choose CSV, JSON Lines or Parquet, then download again.")
        return web.redirect("/dashboard#export-title")
    try:
        download = await download_history(web.ctx, user.user_id, fmt, request_id=web.request_id)
    except NoHealthData as nothing:
        web.flash("info", str(nothing))
        return web.redirect("/dashboard#export-title")
    response = StreamingResponse(
        download.chunks,
        media_type=download.media_type,
        headers={"Content-Disposition": f'attachment; filename="{download.filename}"'},
    )
    return web.finish(response)


@router.post("/account/delete")
async def account_delete(web: WebDep) -> Response:
    """Delete the account after the typed confirmation matches its email."""
    user = web.require_user()
    form = await web.form()
    if form.get("confirm", "").strip().lower() != user.email.lower():
        web.flash("error", "The confirmation did not match your email; nothing was deleted.")
        return web.redirect("/dashboard#delete-title")
    report = await delete_account(web.ctx, user_id=user.user_id, request_id=web.request_id)
    web.end_session()
    web.flash("success", _deletion_sentence(report))
    return web.redirect("/")


def _deletion_sentence(report: DeletionReport) -> str:
    return report.sentence or "Your account and everything linked to it are deleted."
