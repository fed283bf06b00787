"""The one way in: every data request, REST or MCP, passes this gate once.

A request to read data goes **entry → gate → reader → renderer**. The entry (a REST route,
an MCP ``tools/call``) validates its arguments and says what it asks (`Call`); the gate

1. resolves the credential to a principal (`identify`: an API key this process verified
   lately is recalled without database work and confirmed in step 3);
2. opens the user's providers (the one named, or every usable connection): nothing
   connected, or a grant known to be dead, is refused here, uncounted;
3. checks the plan and the burst limit and counts the call, in one atomic unit
   (`admit` for a recalled key: the key check and the count are one statement; else
   `charge` after a full authentication);
4. lets the entry read (`Pass`), then settles the outcome: **data answered is counted
   once; anything else is given back** (a refusal of ours, a provider failure of any
   kind, our own error) and the rate-limit headers say so;
5. writes the access audit row (what was read and how much, never a value).

The counting rule, in full (`COUNTED`):

========================================  =======
outcome                                   counted
========================================  =======
data answered (notes about others ok)     yes
authentication failed                     no
refused by our own validation (4xx)       no
over the monthly quota or burst limit     no
nothing connected / grant dead            no
provider failure (scope, outage, busy,    no
404 for an id, malformed answer)
our own error (5xx)                       no
========================================  =======

A refused request still used a burst slot (the burst limit counts attempts), except one
whose key failed. A give-back never waits on a lock its own request holds: the request
holds none by then.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from wellpipe.cloud.context import CloudContext
from wellpipe.cloud.services import authorization
from wellpipe.cloud.services.health import CloudProvider, open_providers, record_access
from wellpipe.cloud.services.keys import KeyClaim, Principal, authenticate, recall
from wellpipe.cloud.services.limits import Charge, admit, charge, refund
from wellpipe.core.errors import (
    AuthError,
    InvalidRequest,
    ProviderError,
    UnsupportedDataKind,
    WellpipeError,
)
from wellpipe.providers import available_providers

__all__ = [
    "COUNTED",
    "Call",
    "Caller",
    "Face",
    "LimitReached",
    "Outcome",
    "Pass",
    "Unauthenticated",
    "authenticate_now",
    "enter",
    "identify",
    "outcome_of",
]

logger = logging.getLogger(__name__)

ENDPOINT_MAX_LENGTH = 64


class Face(StrEnum):
    """How a request came in."""

    REST = "rest"
    MCP = "mcp"


class Outcome(StrEnum):
    """What became of a request that passed the gate's count (see the module's table)."""

    ANSWERED = "answered"
    REFUSED = "refused"
    PROVIDER_FAILED = "provider failed"
    INTERNAL_ERROR = "internal error"


COUNTED: dict[Outcome, bool] = {
    Outcome.ANSWERED: True,
    Outcome.REFUSED: False,
    Outcome.PROVIDER_FAILED: False,
    Outcome.INTERNAL_ERROR: False,
}
"""Whether each outcome counts against the monthly quota (the README states the same)."""


def outcome_of(error: BaseException | None) -> Outcome:
    """The outcome class of a request that ended with ``error`` (``None``: it answered)."""
    if error is None:
        return Outcome.ANSWERED
    if isinstance(error, InvalidRequest | UnsupportedDataKind):
        return Outcome.REFUSED
    if isinstance(error, ProviderError | AuthError):
        return Outcome.PROVIDER_FAILED
    if isinstance(error, WellpipeError):
        return Outcome.REFUSED
    return Outcome.INTERNAL_ERROR


@dataclass(frozen=True)
class Call:
    """What one data request asks for, as the usage chart and the access log name it.

    Attributes:
        face: REST or MCP.
        name: The REST route (``health``, ``sleep``...) or the MCP tool.
        kind: What it reads (``summary``, ``sleep``, ``profile``, ...).
        span: The days it covers, in words (``2026-11-01..2026-11-07``, ``last 7 days``).
        provider: The provider it names, if any.
    """

    face: Face
    name: str
    kind: str
    span: str | None = None
    provider: str | None = None

    @property
    def endpoint(self) -> str:
        """``rest:<route>`` or ``mcp:<tool>``: the usage chart's key."""
        return f"{self.face.value}:{self.name}"[:ENDPOINT_MAX_LENGTH]


@dataclass
class Caller:
    """A presented credential: recalled (confirmed when counted) or already authenticated.

    Attributes:
        presented: The credential as sent (never shown).
        claim: Who this process last verified the key as, when it did lately; the gate
            confirms it in the statement that counts the request.
        principal: Who the request acts for, once confirmed.
    """

    presented: str = field(repr=False)
    claim: KeyClaim | None = None
    principal: Principal | None = None

    @property
    def user_id(self) -> str:
        """The credential's owner (as claimed until confirmed)."""
        if self.principal is not None:
            return self.principal.user_id
        if self.claim is None:  # pragma: no cover - identify() always sets one
            raise RuntimeError("a caller without a claim or a principal")
        return self.claim.user_id


class Unauthenticated(Exception):
    """The credential is not (or no longer) valid: a 401, never counted."""


class LimitReached(WellpipeError):
    """The monthly quota or the burst limit refused the request (the sentence says when)."""

    def __init__(self, counted: Charge) -> None:
        super().__init__(counted.sentence or "Too many requests; try again later.")
        self.charge = counted


async def identify(ctx: CloudContext, presented: str, *, resource: str | None = None) -> Caller:
    """The caller behind a credential: recalled without database work when possible.

    Args:
        ctx: The service context.
        presented: An API key, or an assistant's OAuth access token.
        resource: Where it was presented (the MCP endpoint's URL): an access token is
            only valid at the resource it was issued for, so without one it is refused.

    Raises:
        Unauthenticated: the credential is not valid (here).
    """
    if authorization.is_access_token(presented):
        granted = None
        if resource is not None:
            granted = await authorization.resolve_access(ctx, presented, resource)
        if granted is None:
            raise Unauthenticated
        return Caller(presented=presented, principal=granted)
    claim = recall(ctx, presented)
    if claim is not None:
        return Caller(presented=presented, claim=claim)
    principal = await authenticate(ctx, presented)
    if principal is None:
        raise Unauthenticated
    return Caller(presented=presented, principal=principal)


async def authenticate_now(
    ctx: CloudContext, presented: str, *, resource: str | None = None
) -> Caller:
    """`identify`, never from memory: for requests no counting statement will confirm.

    Raises:
        Unauthenticated: the credential is not valid (here).
    """
    if authorization.is_access_token(presented):
        return await identify(ctx, presented, resource=resource)
    principal = await authenticate(ctx, presented)
    if principal is None:
        raise Unauthenticated
    return Caller(presented=presented, principal=principal)


async def confirm(ctx: CloudContext, caller: Caller) -> Principal:
    """The caller's principal, authenticating in full if it was only recalled.

    Raises:
        Unauthenticated: the credential is no longer valid.
    """
    if caller.principal is None:
        caller.principal = await authenticate(ctx, caller.presented)
        if caller.principal is None:
            raise Unauthenticated
    return caller.principal


@dataclass
class Pass:
    """A counted request on its way to the reader.

    Attributes:
        principal: Who it acts for.
        providers: The providers to read: the one named, or every usable connection.
        notes: Sentences about connections left out (a grant to renew).
        charge: How it was counted; `headers` follow the outcome.
        outcome: What became of it (set when the gate settles it).
    """

    principal: Principal
    providers: list[CloudProvider]
    notes: list[str]
    charge: Charge
    outcome: Outcome | None = None

    @property
    def headers(self) -> dict[str, str]:
        """The rate-limit headers of the answer, both families, after the outcome."""
        if self.outcome is not None and not COUNTED[self.outcome]:
            return self.charge.given_back().headers
        return dict(self.charge.headers)


async def _count(ctx: CloudContext, caller: Caller, call: Call, request_id: str | None) -> Charge:
    """Count the call: one unit for a recalled key, else authenticate in full and charge."""
    if caller.principal is None and caller.claim is not None:
        admitted = await admit(ctx, caller.claim, call.endpoint, request_id=request_id)
        if admitted is not None:
            caller.principal = admitted.principal
            return admitted.charge
    principal = await confirm(ctx, caller)
    return await charge(ctx, principal, call.endpoint, request_id=request_id)


def _audit_detail(call: Call, principal: Principal, providers: Sequence[CloudProvider]) -> Any:
    detail: dict[str, Any] = {
        "endpoint": call.endpoint,
        "key_id": principal.key_id,
        "kind": call.kind[:32],
        "records": sum(provider.records_read for provider in providers),
        "upstream_calls": sum(provider.upstream_calls for provider in providers),
        "providers": ",".join(provider.info.name for provider in providers)[:64],
    }
    if principal.client_name is not None:
        detail["client"] = principal.client_name[:100]
    if call.span is not None:
        detail["range"] = call.span[:32]
    return detail


def _offered(provider: str | None) -> None:
    """Refuse a named provider this service does not offer (the same sentence for any face).

    Raises:
        InvalidRequest: the name is not one of the installed, enabled providers.
    """
    if provider is None:
        return
    offered = available_providers()
    if provider not in offered:
        names = ", ".join(offered) or "none"
        raise InvalidRequest(
            f"provider: this service offers {names}; name one of them, or leave provider "
            "out to read every connected one."
        )


@asynccontextmanager
async def enter(
    ctx: CloudContext, caller: Caller, call: Call, *, request_id: str | None = None
) -> AsyncIterator[Pass]:
    """Let one data request through: providers opened, counted, settled, audited.

    Raises:
        InvalidRequest: the named provider is not one this service offers (uncounted).
        Unauthenticated: the credential is no longer valid (nothing counted).
        LimitReached: the quota or burst limit refused it (its `Charge` has the headers).
        WellpipeError: nothing to read (not connected, every grant dead), uncounted,
            or whatever the block raised (given back; the `Pass` has the headers).
    """
    try:
        _offered(call.provider)
        async with open_providers(ctx, user_id=caller.user_id, provider=call.provider) as found:
            providers, notes = found
            counted = await _count(ctx, caller, call, request_id)
            if not counted.allowed:
                raise LimitReached(counted)
            principal = caller.principal
            assert principal is not None  # _count confirmed it
            passed = Pass(principal=principal, providers=providers, notes=notes, charge=counted)
            try:
                yield passed
            except BaseException as error:
                passed.outcome = outcome_of(error)
                if not COUNTED[passed.outcome]:
                    await _give_back(ctx, passed, call)
                raise
            passed.outcome = Outcome.ANSWERED
            await record_access(
                ctx,
                user_id=principal.user_id,
                detail=_audit_detail(call, principal, providers),
                request_id=request_id,
            )
            if principal.grant_id is not None:
                await authorization.note_use(ctx, principal.grant_id)
    except WellpipeError:
        # A revoked key learns nothing about the account: confirm it before answering.
        await confirm(ctx, caller)
        raise


async def _give_back(ctx: CloudContext, passed: Pass, call: Call) -> None:
    try:
        await refund(ctx, passed.principal, call.endpoint, at=passed.charge.at)
    except Exception:  # the request's own answer matters more; the count stays one high
        logger.exception("Could not give back an uncounted request (%s)", call.endpoint)
