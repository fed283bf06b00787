"""What every REST data endpoint shares: the caller's key, the gate, errors as problems.

* `require_caller` / `require_principal`: the API key, from ``Authorization: Bearer`` (or
  ``X-API-Key``), never from the URL; a 401 problem with ``WWW-Authenticate: Bearer``
  otherwise.
* `known_parameters`: a query parameter the endpoint does not take is a 422 problem.
* `admitted`: the one gate (`wellpipe.cloud.services.gate`) as HTTP: the rate-limit
  headers on every answer, and refusals and failures as problem details.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wellpipe.cloud.api.problems import PROBLEM_BASE, Problem, ProblemBody
from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.services import gate
from wellpipe.cloud.services.gate import Call, Caller, Pass
from wellpipe.cloud.services.health import NoProviderConnected, ProviderNotConnected
from wellpipe.cloud.services.keys import Principal, authenticate
from wellpipe.core.errors import (
    AuthError,
    ConfigError,
    NotFound,
    NotFoundAnywhere,
    ProviderRateLimited,
    ProviderResponseError,
    ProviderUnavailable,
    ReauthorizationRequired,
    ScopeNotGranted,
    UnsupportedDataKind,
    WellpipeError,
)

__all__ = [
    "ERROR_RESPONSES",
    "CurrentCaller",
    "CurrentPrincipal",
    "admitted",
    "bearer_scheme",
    "context",
    "invalid_key_problem",
    "key_in_url",
    "known_parameters",
    "presented_key",
    "problem_for",
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
    return principal


async def require_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    """The caller, from their API key; a 401 problem when there is no valid key.

    A query parameter the endpoint does not take is then a 422 (`known_parameters`).
    """
    presented = presented_key(request, _bearer(credentials))
    known_parameters(request)
    return await _authenticated(request, presented)


async def require_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Caller:
    """The key of a data request (see `wellpipe.cloud.services.gate.identify`).

    A key this process verified lately is recalled without database work; the gate
    confirms it in the statement that counts the request. Any other is authenticated
    now (a 401 problem when invalid). A query parameter the endpoint does not take is a
    422 (`known_parameters`), before any database work.
    """
    presented = presented_key(request, _bearer(credentials))
    known_parameters(request)
    try:
        return await gate.identify(context(request), presented)
    except gate.Unauthenticated:
        raise invalid_key_problem() from None


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
"""An endpoint parameter that requires a valid API key."""

CurrentCaller = Annotated[Caller, Depends(require_caller)]
"""An endpoint parameter for a data request's API key (see `admitted`)."""


def _query_names(dependant: Dependant) -> frozenset[str]:
    """Every query parameter an endpoint takes, its dependencies' included."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)


_TAKEN: dict[int, frozenset[str]] = {}
"""Each route's query parameter names, by the route's identity (routes live as long as
the app; worked out once)."""


def known_parameters(request: Request) -> None:
    """Refuse a query parameter the endpoint does not take (as MCP refuses unknown arguments).

    Raises:
        Problem: 422 naming the first unknown parameter.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    taken = _TAKEN.get(id(route))
    if taken is None:
        taken = _TAKEN[id(route)] = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - taken)
    if unknown:
        listed = ", ".join(sorted(taken)) or "no parameters"
        raise Problem(
            422,
            "invalid-request",
            f"Unknown parameter {unknown[0]!r}; this endpoint takes: {listed}.",
        )


def _seconds(value: float) -> str:
    return str(max(1, math.ceil(value)))


def problem_for(error: WellpipeError, headers: Mapping[str, str] | None = None) -> Problem:
    """The problem details a Wellpipe error becomes (its message is the sentence)."""
    extra = dict(headers or {})
    sentence = str(error)
    if isinstance(error, ProviderNotConnected | NoProviderConnected):
        return Problem(409, "provider-not-connected", sentence, headers=extra)
    if isinstance(error, UnsupportedDataKind):
        return Problem(409, "not-offered", sentence, headers=extra)
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
    if isinstance(error, NotFoundAnywhere) and error.failed:
        # A provider that could not be asked may have the record: not a 404 but a retry.
        waits = [e.retry_after for _, e in error.failed if isinstance(e, ProviderRateLimited)]
        extra["Retry-After"] = _seconds(max(waits)) if waits else "30"
        return Problem(503, "provider-unavailable", sentence, headers=extra)
    if isinstance(error, NotFound):
        return Problem(404, "not-found", sentence, headers=extra)
    if isinstance(error, ProviderResponseError):
        return Problem(502, "provider-error", sentence, headers=extra)
    if isinstance(error, AuthError | ConfigError):
        logger.error("Service misconfigured: %s", type(error).__name__)
        return Problem(503, "service-unavailable", sentence, headers=extra)
    return Problem(422, "invalid-request", sentence, headers=extra)


def _request_id(request: Request) -> str | None:
    found: str | None = getattr(request.state, "request_id", None)
    return found


@asynccontextmanager
async def admitted(
    request: Request, response: Response, caller: Caller, call: Call
) -> AsyncIterator[Pass]:
    """The gate, for one REST data request: its outcome as HTTP.

    The rate-limit headers go on the answer whatever it is (given back when the request
    is not counted); refusals and failures become problem details.

    Raises:
        Problem: 401 (the key is no longer valid), 429 (quota or burst), or the problem
            a Wellpipe error becomes.
    """
    passed: Pass | None = None
    try:
        async with gate.enter(
            context(request), caller, call, request_id=_request_id(request)
        ) as passed:
            yield passed
    except gate.Unauthenticated:
        raise invalid_key_problem() from None
    except gate.LimitReached as limited:
        counted = limited.charge
        kind = "quota-exceeded" if counted.reason == "quota" else "rate-limited"
        raise Problem(429, kind, str(limited), headers=counted.headers) from None
    except WellpipeError as error:
        raise problem_for(error, passed.headers if passed is not None else None) from None
    except Problem as problem:
        if passed is not None:
            problem.headers = {**passed.headers, **problem.headers}
        raise
    response.headers.update(passed.headers)


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
        "No provider (or not the one named) is connected, its access must be renewed, or "
        "none of the connected providers offers this kind of data (`not-offered`): connect "
        "or reconnect one in the dashboard."
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
