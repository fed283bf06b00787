"""What every REST data endpoint shares: the caller's key, metering, and errors as problems.

* `require_principal`: the API key, from ``Authorization: Bearer`` (or ``X-API-Key``),
  never from the URL; a 401 problem with ``WWW-Authenticate: Bearer`` otherwise.
* `metered`: counts the request once it is valid (a 429 problem when refused), puts
  the ``X-RateLimit-*`` headers on the answer whatever it is, gives the request back
  when the provider failed, and turns Wellpipe errors into problem details.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wellpipe.cloud.api.problems import PROBLEM_BASE, Problem, ProblemBody
from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.services.health import (
    CloudProvider,
    NoProviderConnected,
    ProviderNotConnected,
    open_providers,
)
from wellpipe.cloud.services.keys import KeyClaim, Principal, authenticate, recall
from wellpipe.cloud.services.limits import Charge, admit, charge, refund
from wellpipe.core.errors import (
    AuthError,
    ConfigError,
    NotFound,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderUnavailable,
    ReauthorizationRequired,
    ScopeNotGranted,
    UnsupportedDataKind,
    WellpipeError,
)
from wellpipe.providers import available_providers, get_provider_info

__all__ = [
    "ERROR_RESPONSES",
    "Caller",
    "CurrentCaller",
    "CurrentPrincipal",
    "Opened",
    "bearer_scheme",
    "chosen_provider",
    "connected",
    "context",
    "display_names",
    "invalid_key_problem",
    "key_in_url",
    "metered",
    "presented_key",
    "problem_for",
    "refundable",
    "require_caller",
    "require_principal",
]

logger = logging.getLogger(__name__)


bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="WellpipeApiKey",
    bearerFormat="wp_live_…",
    description=(
        "Your Wellpipe API key, created in the dashboard, sent as "
        "`Authorization: Bearer wp_live_…`. Keys are never accepted in the URL."
    ),
)

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="wellpipe"'}
_URL_KEY_NAMES = frozenset(
    {"api_key", "apikey", "api-key", "key", "access_token", "token", "auth", "authorization"}
)
_KEY_PREFIXES = ("wp_live_", "wp_test_")


def context(request: Request) -> CloudContext:
    """The service's context."""
    ctx: CloudContext = request.app.state.ctx
    return ctx


def key_in_url(request: Request) -> bool:
    """Whether the query string carries something that looks like a credential."""
    for name, value in request.query_params.multi_items():
        if name.lower() in _URL_KEY_NAMES or any(p in value for p in _KEY_PREFIXES):
            return True
    return False


def presented_key(request: Request, bearer: str | None) -> str:
    """The API key the request carries; a 401 problem when it carries none (or one in the URL).

    Args:
        request: The request.
        bearer: The ``Authorization: Bearer`` value, if any; else ``X-API-Key`` is read.
    """
    if key_in_url(request):
        raise Problem(
            401,
            "unauthorized",
            "API keys are never accepted in the URL: send yours as `Authorization: Bearer "
            "wp_live_…`, and since a URL gets logged, revoke that key and create a new one "
            "in the dashboard.",
            headers=_CHALLENGE,
        )
    presented = bearer or request.headers.get("x-api-key")
    if not presented or not presented.strip():
        raise Problem(
            401,
            "unauthorized",
            "Send your Wellpipe API key as `Authorization: Bearer wp_live_…`; "
            "create one in the dashboard.",
            headers=_CHALLENGE,
        )
    return presented.strip()


def invalid_key_problem() -> Problem:
    """The 401 problem for a key that is not (or no longer) valid."""
    return Problem(
        401,
        "unauthorized",
        "This API key is not valid (mistyped, revoked or deleted); "
        "create a new key in the dashboard.",
        headers=_CHALLENGE,
    )


def _bearer(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    return credentials.credentials if credentials is not None else None


async def _authenticated(request: Request, presented: str) -> Principal:
    principal = await authenticate(context(request), presented)
    if principal is None:
        raise invalid_key_problem()
    request.state.principal = principal
    return principal


async def require_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The caller, from their API key; a 401 problem when there is no valid key."""
    return await _authenticated(request, presented_key(request, _bearer(credentials)))


@dataclass
class Caller:
    """The API key of a data request, confirmed now or (`recall`) when it is charged.

    Attributes:
        presented: The key as sent.
        claim: Who this process last verified the key as, when it did recently: `metered`
            then confirms the key in the statement that counts the request.
        principal: Who the request acts for, once confirmed.
    """

    presented: str = field(repr=False)
    claim: KeyClaim | None
    principal: Principal | None

    @property
    def user_id(self) -> str:
        """The key's owner (as claimed until confirmed)."""
        if self.principal is not None:
            return self.principal.user_id
        assert self.claim is not None  # one of the two is always set
        return self.claim.user_id

    @property
    def confirmed(self) -> Principal:
        """The principal, once `metered` (or `confirm`) confirmed the key.

        Raises:
            RuntimeError: the key was not confirmed yet (a bug: read it inside `connected`).
        """
        if self.principal is None:
            raise RuntimeError("the API key was not confirmed yet")
        return self.principal

    async def confirm(self, request: Request) -> Principal:
        """The principal, reading the key row if not yet confirmed; a 401 problem if invalid."""
        if self.principal is None:
            self.principal = await _authenticated(request, self.presented)
        return self.principal


async def require_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Caller:
    """The key of a data request: recalled without database work when this process knows it.

    A key this process has not verified lately is authenticated at once (a 401 problem
    when invalid); a recalled one is confirmed by `metered`, in the statement that counts
    the request, before anything is read for it.
    """
    presented = presented_key(request, _bearer(credentials))
    claim = recall(context(request), presented)
    if claim is not None:
        return Caller(presented=presented, claim=claim, principal=None)
    principal = await _authenticated(request, presented)
    return Caller(presented=presented, claim=None, principal=principal)


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
"""An endpoint parameter that requires a valid API key."""

CurrentCaller = Annotated[Caller, Depends(require_caller)]
"""An endpoint parameter for a metered data request's API key (see `connected`)."""


def _seconds(value: float) -> str:
    return str(max(1, math.ceil(value)))


def problem_for(error: WellpipeError, headers: Mapping[str, str] | None = None) -> Problem:
    """The problem details a Wellpipe error becomes (its message is the sentence)."""
    extra = dict(headers or {})
    sentence = str(error)
    if isinstance(error, ProviderNotConnected | NoProviderConnected):
        return Problem(409, "provider-not-connected", sentence, headers=extra)
    if isinstance(error, ScopeNotGranted):
        return Problem(403, "scope-not-granted", sentence, headers=extra)
    if isinstance(error, ReauthorizationRequired):
        return Problem(409, "reauthorization-required", sentence, headers=extra)
    if isinstance(error, ProviderRateLimited):
        extra["Retry-After"] = _seconds(error.retry_after)
        return Problem(503, "provider-busy", sentence, headers=extra)
    if isinstance(error, ProviderUnavailable):
        extra["Retry-After"] = "30"
        return Problem(503, "provider-unavailable", sentence, headers=extra)
    if isinstance(error, NotFound):
        return Problem(404, "not-found", sentence, headers=extra)
    if isinstance(error, ProviderResponseError):
        return Problem(502, "provider-error", sentence, headers=extra)
    if isinstance(error, AuthError | ConfigError):
        logger.error("Service misconfigured: %s", type(error).__name__)
        return Problem(503, "service-unavailable", sentence, headers=extra)
    if isinstance(error, UnsupportedDataKind):
        return Problem(422, "invalid-request", sentence, headers=extra)
    return Problem(422, "invalid-request", sentence, headers=extra)


def refundable(error: BaseException) -> bool:
    """Failures that are not the caller's doing: the provider's, or the service's."""
    if isinstance(error, ProviderRateLimited | ProviderUnavailable | ProviderResponseError):
        return True
    if isinstance(error, ConfigError):
        return True
    if isinstance(error, AuthError) and not isinstance(
        error, ReauthorizationRequired | ScopeNotGranted
    ):
        return True  # WHOOP refused the service's app credentials, not the user's grant
    return not isinstance(error, WellpipeError | Problem)  # a bug of ours


async def _charged(request: Request, caller: Caller, endpoint: str) -> tuple[Principal, Charge]:
    ctx = context(request)
    request_id = getattr(request.state, "request_id", None)
    if caller.principal is None and caller.claim is not None:
        admitted = await admit(ctx, caller.claim, endpoint, request_id=request_id)
        if admitted is not None:
            caller.principal = request.state.principal = admitted.principal
            return admitted.principal, admitted.charge
    principal = await caller.confirm(request)
    return principal, await charge(ctx, principal, endpoint, request_id=request_id)


@asynccontextmanager
async def metered(
    request: Request, response: Response, caller: Caller, endpoint: str
) -> AsyncIterator[Charge]:
    """Charge one request of ``caller`` for the block; refund it if the provider fails.

    A recalled key is confirmed in the same unit of work that counts the request
    (`admit`), else authenticated in full first.

    Raises:
        Problem: 401 when the key is no longer valid; 429 when refused; the problem for a
            Wellpipe error from the block.
    """
    ctx = context(request)
    request_id = getattr(request.state, "request_id", None)
    principal, counted = await _charged(request, caller, endpoint)
    if not counted.allowed:
        kind = "quota-exceeded" if counted.reason == "quota" else "rate-limited"
        sentence = counted.sentence or "Too many requests; try again later."
        raise Problem(429, kind, sentence, headers=counted.headers)
    headers = dict(counted.headers)
    try:
        yield counted
    except Exception as error:
        if refundable(error):
            try:
                await refund(ctx, principal, endpoint, at=counted.at)
                headers = _given_back(headers)
            except Exception:
                logger.exception("Could not refund a failed request (request %s)", request_id)
        if isinstance(error, WellpipeError):
            raise problem_for(error, headers) from None
        if isinstance(error, Problem):
            error.headers = {**headers, **error.headers}
        raise
    response.headers.update(headers)


def chosen_provider(provider: str | None) -> str | None:
    """The ``provider`` query parameter, checked; a 422 problem for one this service lacks."""
    if provider is None:
        return None
    offered = available_providers()
    if provider not in offered:
        names = ", ".join(offered) or "none"
        raise Problem(
            422,
            "invalid-request",
            f"provider: this service offers {names}; name one of them, or leave provider "
            "out to read every connected one.",
        )
    return provider


@dataclass
class Opened:
    """The caller's providers for one request.

    Attributes:
        providers: The named provider, or every usable connection sorted by name.
        notes: Sentences about connections left out (they must be reconnected).
        named: Whether the request named one provider.
    """

    providers: list[CloudProvider]
    notes: list[str]
    named: bool

    @property
    def merged(self) -> bool:
        """Whether several providers answer together (one timeline labelled by source)."""
        return len(self.providers) > 1


@asynccontextmanager
async def connected(
    request: Request,
    response: Response,
    caller: Caller,
    endpoint: str,
    provider: str | None = None,
) -> AsyncIterator[Opened]:
    """The caller's providers, with the request charged (see `metered`).

    The connections are checked first: a user who has connected nothing (or not the
    named provider), or whose grant is known to be dead, is told so without being
    charged (once the key is confirmed: a revoked key learns nothing about the account).
    """
    wanted = chosen_provider(provider)
    try:
        async with (
            open_providers(context(request), user_id=caller.user_id, provider=wanted) as found,
            metered(request, response, caller, endpoint),
        ):
            yield Opened(providers=found[0], notes=found[1], named=wanted is not None)
    except WellpipeError as error:
        await caller.confirm(request)
        raise problem_for(error) from None


def display_names(names: list[str]) -> str:
    """``"WHOOP and Oura"``: the display names of ``names``, for sentences."""
    shown = [get_provider_info(name).display_name for name in names]
    return ", ".join(shown[:-1]) + (" and " if len(shown) > 1 else "") + shown[-1]


def _given_back(headers: dict[str, str]) -> dict[str, str]:
    """The headers after a refund: one more request remains (monthly limits only)."""
    remaining = headers.get("X-RateLimit-Remaining")
    if remaining is not None and remaining.isdigit() and "monthly" in headers.get("RateLimit", ""):
        headers = {**headers, "X-RateLimit-Remaining": str(int(remaining) + 1)}
    return headers


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemBody"}}
        },
    }


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ProblemBody,
        **_problem_response(
            "Missing or invalid API key (also when a key is sent in the URL). "
            "Problem type " + PROBLEM_BASE + "unauthorized."
        ),
    },
    403: _problem_response(
        "The provider's grant lacks a permission this read needs (`scope-not-granted`): "
        "connect it again in the dashboard and leave that permission ticked."
    ),
    409: _problem_response(
        "No provider (or not the one named) is connected, or its access must be renewed: "
        "connect or reconnect it in the dashboard."
    ),
    422: _problem_response("A parameter is missing or invalid; the detail says which."),
    429: _problem_response(
        "The monthly quota (`quota-exceeded`) or the per-minute limit (`rate-limited`) is "
        "used up; `Retry-After` says when to come back."
    ),
    502: _problem_response("The provider sent something Wellpipe cannot use; try again later."),
    503: _problem_response(
        "The provider is busy or not responding (`Retry-After` says when to try again), or "
        "the service is not set up for it."
    ),
}
"""The error answers every data endpoint documents (problem details)."""
