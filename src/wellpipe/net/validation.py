"""Provider bodies that fail validation become one kind of error, naming the field that failed."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from wellpipe.core.errors import ProviderResponseError
from wellpipe.net.retry import Reply

__all__ = ["field_path", "invalid_response", "parse_reply"]

ModelT = TypeVar("ModelT", bound=BaseModel)


def field_path(loc: tuple[int | str, ...]) -> str | None:
    """A pydantic error location as a readable path: ``records[3].score.strain``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith("function-"):  # pydantic's name for a model validator step
            continue
        else:
            path += f".{part}" if path else part
    return path or None


def _problem(error_type: str, message: str) -> str:
    if error_type == "missing":
        return "a required field is missing"
    if error_type == "json_invalid":
        return "the body is not valid JSON"
    return message[:1].lower() + message[1:]


def invalid_response(
    exc: ValidationError,
    *,
    provider: str,
    endpoint: str | None,
    status: int | None = None,
    record: str | None = None,
) -> ProviderResponseError:
    """The error for the first thing wrong in ``exc``.

    Args:
        exc: What validation found.
        provider: Provider name.
        endpoint: The call the body came from, if known.
        status: The HTTP status of the body, if any.
        record: Set when a parsed record failed a core model's checks (``"sleep"``).
    """
    error = exc.errors(include_url=False)[0]
    problem = _problem(error["type"], error["msg"])
    if record is not None:
        problem = f"a {record} holds an impossible value ({problem})"
    return ProviderResponseError(
        provider=provider,
        endpoint=endpoint,
        problem=problem,
        field=field_path(error["loc"]),
        status=status,
    )


def parse_reply(model: type[ModelT], reply: Reply, *, provider: str) -> ModelT:
    """The reply's JSON body as ``model``, strictly.

    Raises:
        ProviderResponseError: the body is not JSON or not the shape ``model`` wants.
    """
    try:
        return model.model_validate_json(reply.content)
    except ValidationError as exc:
        raise invalid_response(
            exc, provider=provider, endpoint=reply.endpoint, status=reply.status_code
        ) from None
