"""Errors as RFC 9457 problem details: a type, a title and one sentence saying what to do."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

__all__ = ["PROBLEM_TYPES", "Problem", "ProblemBody", "problem_response"]

PROBLEM_BASE = "https://wellpipe.io/problems/"

PROBLEM_TYPES = {
    "unauthorized": "Missing or invalid API key",
    "forbidden": "Not allowed",
    "not-found": "Not found",
    "invalid-request": "Invalid request",
    "quota-exceeded": "Monthly request limit reached",
    "rate-limited": "Too many requests",
    "provider-not-connected": "Provider not connected",
    "not-offered": "No connected provider offers this",
    "reauthorization-required": "Provider access needs to be renewed",
    "provider-busy": "Provider is busy",
    "provider-unavailable": "Provider unavailable",
    "provider-error": "Provider error",
    "service-unavailable": "Service temporarily unavailable",
    "internal-error": "Internal error",
}
"""Problem type slugs and their fixed titles."""


class ProblemBody(BaseModel):
    """The JSON body of every error response (``application/problem+json``)."""

    type: str = Field(description="A URI naming the kind of problem.")
    title: str = Field(description="Short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What happened and what to do next, in one sentence.")
    request_id: str | None = Field(default=None, description="Quote this when asking for help.")


class Problem(Exception):
    """An error a client can act on; rendered as problem details by the app's handler."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if kind not in PROBLEM_TYPES:
            raise ValueError(f"unknown problem type {kind!r}")
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.headers = dict(headers or {})


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    """The response for ``problem``, carrying the request id."""
    body = ProblemBody(
        type=PROBLEM_BASE + problem.kind,
        title=PROBLEM_TYPES[problem.kind],
        status=problem.status,
        detail=problem.detail,
        request_id=getattr(request.state, "request_id", None),
    )
    return JSONResponse(
        body.model_dump(),
        status_code=problem.status,
        headers=problem.headers,
        media_type="application/problem+json",
    )
