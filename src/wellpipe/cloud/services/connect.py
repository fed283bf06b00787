"""Connecting a provider account to a Wellpipe account (authorization code flow), and back out.

Works for every provider in the registry through its `ProviderConnector`; nothing here
names a provider. The flow:

1. `begin_connect`: a 256-bit ``state`` whose SHA-256 is stored in ``oauth_states``
   with purpose ``connect:<provider>``, the user, the digest of their session cookie
   and a 10-minute expiry; the browser goes to the provider's authorize URL, whose
   redirect URI is ``{public_url}/callback/{provider}`` (configuration only). When the
   provider uses PKCE (``ProviderInfo.pkce``) the S256 challenge goes with it, and the
   verifier is stored with the state, encrypted and bound to it (never logged).
2. `complete_connect`: the state row is deleted on first use, whatever happens next.
   A missing, unknown, reused or expired state, one from another browser session or
   another provider's flow (mix-up) is refused before any token request. Then the code
   is exchanged, the grant must include what keeps the connection alive (a refresh
   token, i.e. the provider's refresh scope such as WHOOP's ``offline``), the provider
   profile gives the account id, and the tokens are stored encrypted with the scopes
   granted (from the token response, else the callback's ``scope``). Scopes the user
   unticked are named with the data that will be missing (`missing_access`).
3. `disconnect`: revoke at the provider (best effort), delete the tokens and the history
   Wellpipe keeps of that provider for the user (`UserHistory.forget`).
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Literal

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.db.history import UserHistory
from wellpipe.cloud.db.oauth_states import add_state, take_state
from wellpipe.cloud.security.crypto import Binding
from wellpipe.cloud.services.audit import record_event
from wellpipe.cloud.services.health import forget_connection
from wellpipe.cloud.services.sessions import SessionInfo, digest
from wellpipe.cloud.services.tokens import (
    DatabaseTokenProvider,
    delete_connection,
    read_access_token,
    save_connection,
)
from wellpipe.core.errors import (
    AuthError,
    ConfigError,
    ProviderError,
    UnknownProviderError,
    WellpipeError,
)
from wellpipe.core.models import DataKind
from wellpipe.core.ports import TokenProvider
from wellpipe.core.provider_info import ProviderInfo
from wellpipe.core.tokens import MemoryTokenProvider, TokenSet
from wellpipe.net import build_http_client
from wellpipe.oauth import ClientCredentials, InvalidGrant, OAuthClient, new_pkce
from wellpipe.providers import available_providers
from wellpipe.providers.connector import (
    ConnectedProvider,
    ProviderConnector,
    ProviderLocation,
    get_connector,
)

__all__ = [
    "STATE_TTL",
    "ConnectError",
    "ConnectOutcome",
    "RevokeResult",
    "begin_connect",
    "complete_connect",
    "disconnect",
    "missing_access",
    "open_with_tokens",
    "redirect_uri",
    "revoke_grant",
]

logger = logging.getLogger(__name__)

STATE_TTL = timedelta(minutes=10)
"""How long a connect link stays valid (R-1.1)."""

RevokeResult = Literal["revoked", "already_dead", "failed"]
"""What a revoke at the provider came to: done, nothing left to revoke, or to retry."""

_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")


class ConnectError(Exception):
    """Connecting cannot start; ``str()`` is the sentence to show."""


@dataclass(frozen=True)
class ConnectOutcome:
    """How a connect callback or a disconnect ended.

    Attributes:
        ok: Whether the provider account is now connected (or disconnected).
        sentence: What happened and what to do next, for the dashboard.
        provider: The provider named in the callback path.
    """

    ok: bool
    sentence: str
    provider: str


def redirect_uri(ctx: CloudContext, provider: str) -> str:
    """``{public_url}/callback/{provider}``: from configuration, never from the request."""
    return f"{ctx.settings.public_url}/callback/{provider}"


def _display(provider: str) -> str:
    if provider in available_providers():
        return get_connector(provider).info.display_name
    return "the provider"


def _connector(provider: str) -> ProviderConnector:
    if provider not in available_providers():
        raise ConnectError(
            f"Wellpipe cannot connect {provider!r}: this server offers "
            f"{', '.join(available_providers()) or 'no providers'}."
        )
    try:
        return get_connector(provider)
    except UnknownProviderError as error:  # pragma: no cover - listed but not loadable
        raise ConnectError(str(error)) from error


def _credentials(ctx: CloudContext, connector: ProviderConnector) -> ClientCredentials:
    provider = connector.info.name
    found = ctx.settings.credentials_for(provider)
    if found is None:
        raise ConnectError(
            f"{connector.info.display_name} is not set up on this Wellpipe server; ask its "
            f"operator to set WELLPIPE_{provider.upper()}_CLIENT_ID and "
            f"WELLPIPE_{provider.upper()}_CLIENT_SECRET."
        )
    client_id, client_secret = found
    return ClientCredentials(client_id, client_secret, redirect_uri(ctx, provider))


def _location(ctx: CloudContext, connector: ProviderConnector) -> ProviderLocation:
    return connector.location(ctx.provider_base_urls.get(connector.info.name))


def _operator_hint(provider: str) -> str:
    return (
        f"ask the Wellpipe operator to check WELLPIPE_{provider.upper()}_CLIENT_ID and "
        f"WELLPIPE_{provider.upper()}_CLIENT_SECRET"
    )


@asynccontextmanager
async def _oauth(ctx: CloudContext, connector: ProviderConnector) -> AsyncIterator[OAuthClient]:
    location = _location(ctx, connector)
    async with build_http_client(
        base_url=location.origin, transport=ctx.provider_transport
    ) as http:
        yield connector.oauth_client(
            settings=location,
            credentials=_credentials(ctx, connector),
            http=http,
            clock=ctx.clock,
            credentials_hint=_operator_hint(connector.info.name),
        )


def open_with_tokens(
    ctx: CloudContext, provider: str, tokens: TokenProvider
) -> AbstractAsyncContextManager[ConnectedProvider]:
    """Open ``provider`` for one account's ``tokens`` through its connector.

    Raises:
        ConnectError: the provider is unknown or not configured on this server.
    """
    connector = _connector(provider)
    return connector.open_account(
        credentials=_credentials(ctx, connector),
        tokens=tokens,
        location=_location(ctx, connector),
        clock=ctx.clock,
        transport=ctx.provider_transport,
        reconnect_action=f"reconnect {connector.info.display_name} in the dashboard",
        credentials_hint=_operator_hint(provider),
    )


async def begin_connect(
    ctx: CloudContext, *, session: SessionInfo, provider: str, request_id: str | None = None
) -> str:
    """Start connecting ``provider`` for the signed-in user: the URL to send the browser to.

    Raises:
        ConnectError: the provider is unknown or not configured on this server.
    """
    connector = _connector(provider)
    state = OAuthClient.new_state()
    state_digest = digest(state)
    now = ctx.clock.now()
    sealed: bytes | None = None
    async with _oauth(ctx, connector) as oauth:
        if connector.info.pkce:
            pkce = new_pkce()
            url = oauth.authorization_url(state, code_challenge=pkce.challenge)
            binding = _verifier_binding(session.user_id, provider, state_digest)
            sealed = ctx.cipher.encrypt(pkce.verifier, binding)
        else:
            url = oauth.authorization_url(state)
    async with ctx.db.transaction() as db:
        await add_state(
            db,
            state_digest=state_digest,
            purpose=f"connect:{provider}",
            browser_binding=session.id_digest,
            user_id=session.user_id,
            sealed_verifier=sealed,
            created_at=now,
            expires_at=now + STATE_TTL,
        )
    return url


def _verifier_binding(user_id: str, provider: str, state_digest: str) -> Binding:
    """Where a sealed PKCE verifier belongs: this user's connect flow with this state."""
    return Binding(
        user_id=user_id, provider=provider, connection_id=state_digest, field="code_verifier"
    )


def missing_access(info: ProviderInfo, granted: frozenset[str] | set[str]) -> list[str]:
    """Phrases naming each requested scope the user did not grant, with the data it costs.

    Empty when everything was granted, or when the provider did not say what it granted.
    """
    if not granted:
        return []
    phrases = []
    for scope in info.scopes:
        if scope in granted:
            continue
        kinds = [
            kind.value
            for kind in DataKind
            if scope in info.scopes_for(kind)
            and not any(other in granted for other in info.scopes_for(kind))
        ]
        phrases.append(f"{scope} (no {', '.join(kinds)} data)" if kinds else scope)
    return phrases


async def complete_connect(
    ctx: CloudContext,
    *,
    session: SessionInfo | None,
    provider: str,
    params: Mapping[str, str],
    request_id: str | None = None,
) -> ConnectOutcome:
    """Finish connecting from the provider's redirect to ``/callback/{provider}``.

    Args:
        ctx: The service.
        session: The browser's session (``None`` when it has none).
        provider: The provider named in the callback path.
        params: The callback's query parameters.
        request_id: For the audit log.

    Returns:
        The outcome; nothing is stored unless ``ok``. Refusals of the state make no
        request to the provider.
    """
    display = _display(provider)
    again = f"start connecting {display} again from the dashboard"

    def refused(why: str) -> ConnectOutcome:
        return ConnectOutcome(False, f"{why}; {again}.", provider)

    state = params.get("state") or ""
    if not state:
        return refused("The link back from the provider carried no state, so it was refused")
    async with ctx.db.transaction() as db:
        pending = await take_state(db, digest(state))
    if pending is None:
        return refused("This connection link is unknown or was already used")
    purpose, binding, user_id = pending.purpose, pending.browser_binding, pending.user_id
    expires_at, sealed = pending.expires_at, pending.sealed_verifier
    if expires_at <= ctx.clock.now():
        return refused("This connection link expired (links last 10 minutes)")
    if (
        session is None
        or not hmac.compare_digest(binding.encode(), session.id_digest.encode())
        or user_id != session.user_id
    ):
        return refused("This connection was started in another browser session")
    if not hmac.compare_digest(purpose.encode(), f"connect:{provider}".encode()):
        return refused("This link belongs to another connection flow")
    try:
        connector = _connector(provider)
    except ConnectError as error:
        return ConnectOutcome(False, str(error), provider)
    error_code = params.get("error")
    if error_code:
        if error_code == "access_denied":
            return ConnectOutcome(
                False,
                f"You declined access at {display}, so nothing was connected; connect again "
                "from the dashboard whenever you like.",
                provider,
            )
        shown = f" ({error_code})" if _ERROR_CODE.fullmatch(error_code) else ""
        return refused(f"{display} refused the connection{shown}")
    code = params.get("code") or ""
    if not code:
        return refused(f"{display} sent no authorization code")
    verifier: str | None = None
    if connector.info.pkce:
        try:
            where = _verifier_binding(user_id or "", provider, digest(state))
            verifier = None if sealed is None else ctx.cipher.decrypt(sealed, where)
        except WellpipeError:
            verifier = None
        if verifier is None:
            logger.warning("The PKCE verifier of a %s connect could not be read", provider)
            return refused("This connection link cannot be completed")
    try:
        async with _oauth(ctx, connector) as oauth:
            tokens = await oauth.exchange_code(code, code_verifier=verifier)
    except InvalidGrant:
        return refused(f"{display} refused the authorization code (expired or already used)")
    except ConfigError:
        return ConnectOutcome(
            False,
            f"{display} rejected this Wellpipe server's app credentials; "
            f"{_operator_hint(provider)}.",
            provider,
        )
    except ConnectError as error:
        return ConnectOutcome(False, str(error), provider)
    except WellpipeError:
        logger.warning("Token exchange with %s failed", provider, exc_info=True)
        return ConnectOutcome(
            False,
            f"{display} could not be reached to finish connecting; try again in a few minutes.",
            provider,
        )
    missing_refresh = _missing_refresh(oauth, tokens)
    if missing_refresh is not None:
        logger.info("%s granted no refresh token to user %s; nothing stored", provider, user_id)
        return ConnectOutcome(
            False,
            f"{display} did not grant offline access{missing_refresh}, so Wellpipe could not "
            "stay connected and saved nothing; connect again and leave offline access allowed.",
            provider,
        )
    if not tokens.scopes and params.get("scope"):
        # Some providers say what was granted only in the redirect (Oura).
        tokens = replace(tokens, scopes=frozenset(params["scope"].split()))
    tokens, provider_user_id = await _profile_id(ctx, provider, tokens)
    await save_connection(
        ctx,
        user_id=user_id,
        provider=provider,
        tokens=tokens,
        provider_user_id=provider_user_id,
    )
    forget_connection(ctx, user_id=user_id, provider=provider)  # this worker sees it at once
    async with ctx.db.transaction() as db:
        await record_event(
            db,
            user_id=user_id,
            event="provider.connected",
            at=ctx.clock.now(),
            detail={"provider": provider, "scopes": sorted(tokens.scopes)},
            request_id=request_id,
        )
    await _start_backfill(ctx, user_id=user_id, provider=provider)
    not_granted = missing_access(connector.info, tokens.scopes)
    sentence = f"{display} is connected."
    if not_granted:
        sentence = (
            f"{display} is connected, but it did not grant {', '.join(not_granted)}; "
            f"Wellpipe cannot read that data until you connect {display} again and allow it."
        )
    return ConnectOutcome(True, sentence, provider)


async def _start_backfill(ctx: CloudContext, *, user_id: str | None, provider: str) -> None:
    """Queue the history backfill of a fresh connection (a failure only delays it).

    The periodic reconciliation queues it again when the store holds nothing yet, or an
    unfinished backfill.
    """
    if user_id is None:
        return
    from wellpipe.cloud.jobs.tasks import enqueue_backfill  # the queue loads on first use

    try:
        await enqueue_backfill(ctx, user_id=user_id, provider=provider)
    except Exception:
        logger.exception("Could not queue the %s backfill; the reconciliation will", provider)


def _missing_refresh(oauth: OAuthClient, tokens: TokenSet) -> str | None:
    """``None`` when the grant can renew itself; else the scope to name (maybe empty)."""
    refresh_scope = getattr(oauth, "_refresh_scope", None)
    named = f" (the `{refresh_scope}` scope)" if isinstance(refresh_scope, str) else ""
    if not tokens.refresh_token:
        return named
    if named and tokens.scopes and refresh_scope not in tokens.scopes:
        return named
    return None


async def _profile_id(
    ctx: CloudContext, provider: str, tokens: TokenSet
) -> tuple[TokenSet, str | None]:
    """The provider's id for the account (``None`` if the profile is unavailable).

    Also returns the tokens to store: the same, unless reading the profile refreshed them.
    """
    memory = MemoryTokenProvider(tokens, clock=ctx.clock)
    provider_user_id: str | None = None
    try:
        async with open_with_tokens(ctx, provider, memory) as opened:
            provider_user_id = (await opened.profile()).source_id
    except (WellpipeError, ConnectError):
        logger.warning("Could not read the %s profile after connecting", provider, exc_info=True)
    access = await memory.get_access_token()
    if access and access != tokens.access_token:
        tokens = TokenSet(
            access_token=access,
            refresh_token=await memory.get_refresh_token() or tokens.refresh_token,
            expires_at=None,
            scopes=tokens.scopes,
        )
    return tokens, provider_user_id


async def revoke_grant(ctx: CloudContext, provider: str, tokens: TokenProvider) -> RevokeResult:
    """Revoke one account's grant at ``provider``, never raising.

    Returns:
        ``"revoked"``; ``"already_dead"`` when the provider no longer knows the grant
        (nothing left to revoke); ``"failed"`` when it should be tried again later.
    """
    try:
        async with open_with_tokens(ctx, provider, tokens) as opened:
            await opened.revoke()
    except AuthError:
        return "already_dead"
    except (ProviderError, ConfigError, ConnectError):
        logger.warning("Revoking the %s grant failed", provider, exc_info=True)
        return "failed"
    except Exception:
        logger.exception("Revoking the %s grant failed unexpectedly", provider)
        return "failed"
    return "revoked"


async def disconnect(
    ctx: CloudContext, *, user_id: str, provider: str, request_id: str | None = None
) -> ConnectOutcome:
    """Revoke the grant at the provider (best effort), delete the stored tokens and history.

    The history Wellpipe keeps of ``provider`` for the user (records, covered days,
    backfill cursors) is deleted too, whether or not a connection was left.

    Returns:
        ``ok`` when a connection was removed; the sentence says whether the provider
        confirmed the revoke, and how many kept records were deleted.
    """
    display = _display(provider)
    result: RevokeResult | None = None
    if await read_access_token(ctx, user_id=user_id, provider=provider) is not None:
        result = await revoke_grant(
            ctx, provider, DatabaseTokenProvider(ctx, user_id=user_id, provider=provider)
        )
    deleted = await delete_connection(ctx, user_id=user_id, provider=provider)
    forget_connection(ctx, user_id=user_id, provider=provider)  # this worker, at once
    forgotten = await UserHistory.of(ctx, user_id).forget(provider)
    kept = ""
    if forgotten == 1:
        kept = f" The 1 record Wellpipe kept from {display} is deleted."
    elif forgotten:
        kept = f" The {forgotten:,} records Wellpipe kept from {display} are deleted."
    if not deleted and result is None:
        return ConnectOutcome(False, f"{display} is not connected.{kept}", provider)
    async with ctx.db.transaction() as db:
        await record_event(
            db,
            user_id=user_id,
            event="provider.disconnected",
            at=ctx.clock.now(),
            detail={"provider": provider, "revoke": result or "no_token"},
            request_id=request_id,
        )
    if result == "failed":
        return ConnectOutcome(
            True,
            f"{display} is disconnected and its tokens are deleted, but {display} did not "
            f"confirm the revoke; also remove Wellpipe in your {display} account settings.{kept}",
            provider,
        )
    return ConnectOutcome(
        True, f"{display} is disconnected and its access revoked.{kept}", provider
    )
