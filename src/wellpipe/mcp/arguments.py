"""Tool arguments: strict models, and one sentence for each way a caller can get them wrong."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from wellpipe.core.errors import not_a_provider
from wellpipe.core.reading import MAX_DAYS, range_problem
from wellpipe.providers import available_providers

if TYPE_CHECKING:
    from wellpipe.mcp.search import DayId, RecordId

__all__ = [
    "MAX_DAYS",
    "DaysArgs",
    "FetchArgs",
    "NoArgs",
    "ProviderArgs",
    "RangeArgs",
    "RecordArgs",
    "SearchArgs",
    "StrictArgs",
    "explain",
    "installed_provider",
]


RecordKind = Literal["sleep", "recovery", "workout", "cycle", "readiness", "activity", "vitals"]


def installed_provider(name: str) -> str:
    """``name`` as an installed provider's name (any case), or a ValueError saying which exist."""
    wanted = name.strip().lower()
    installed = available_providers()
    if wanted not in installed:
        raise ValueError(not_a_provider(name.strip(), installed))
    return wanted


def _known(name: str | None) -> str | None:
    return None if name is None else installed_provider(name)


ProviderName = Annotated[
    str | None,
    Field(default=None, max_length=64),
    AfterValidator(_known),
    # The installed providers, not the connected ones: which are connected is the
    # user's business, not the static tool list's (a provider installed but not
    # connected gets a sentence saying how to connect it).
    WithJsonSchema({"description": "omit for all", "enum": available_providers()}),
]
"""One installed provider's name (``whoop``, ``oura``, ``fitbit``); ``None`` reads every
connected one."""


class StrictArgs(BaseModel):
    """Arguments that reject anything unknown."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class NoArgs(StrictArgs):
    """No arguments."""


class ProviderArgs(StrictArgs):
    """Only a provider."""

    provider: ProviderName = None


class DaysArgs(StrictArgs):
    """How many local days back from today."""

    days: int = Field(default=7, ge=1, le=MAX_DAYS)  # today included: the instructions say so
    provider: ProviderName = None
    fresh: bool = False  # the server instructions say what it does


class RecordArgs(StrictArgs):
    """One record by its id."""

    kind: RecordKind
    id: str = Field(min_length=1, max_length=64, description="the id column of a listing")
    provider: ProviderName = None


class RangeArgs(StrictArgs):
    """An explicit range of local days."""

    kind: Literal[
        "sleep", "recovery", "workout", "cycle", "readiness", "activity", "vitals", "summary"
    ]
    start: date
    end: date = Field(description="included")
    provider: ProviderName = None
    fresh: bool = False  # the server instructions say what it does

    @model_validator(mode="after")
    def _ordered_and_bounded(self) -> Self:
        problem = range_problem(self.start, self.end)
        if problem is not None:
            raise ValueError(problem)
        return self


class SearchArgs(StrictArgs):
    """Plain words; the provider they name (if one) is the one the server opens."""

    query: str = Field(
        max_length=200, description="e.g. sleep last week, oura readiness, workouts in November"
    )

    @property
    def provider(self) -> str | None:
        """The one provider the query names, or ``None`` to read every connected one."""
        from wellpipe.mcp.search import query_provider  # search's module loads on first use

        return query_provider(self.query)


class FetchArgs(StrictArgs):
    """An id from search; the provider it names (if any) is the one the server opens."""

    id: str = Field(min_length=1, max_length=300, description="an id from search")

    @model_validator(mode="after")
    def _an_id_search_gives(self) -> Self:
        provider = self.item.provider
        if provider is not None:
            installed_provider(provider)
        return self

    @property
    def item(self) -> DayId | RecordId:
        """The day or record the id names."""
        from wellpipe.mcp.search import parse_id  # search's module loads on first use

        return parse_id(self.id)

    @property
    def provider(self) -> str | None:
        """The provider the id names, or ``None`` for a day of every connected provider."""
        return self.item.provider


def explain(error: ValidationError, model: type[StrictArgs]) -> str:
    """One sentence telling the caller what was wrong with its arguments and what to send."""
    accepted = ", ".join(model.model_fields) or "no arguments"
    problems: list[str] = []
    for item in error.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in item["loc"])
        problems.append(_problem(field, item["type"], item.get("ctx") or {}, item["msg"]))
    return f"Invalid arguments: {'; '.join(problems)} (this tool takes: {accepted})."


def _problem(field: str, kind: str, ctx: dict[str, Any], message: str) -> str:
    if kind == "extra_forbidden":
        return f"unknown argument {field!r}"
    if kind == "missing":
        return f"{field} is required"
    if field == "days" and kind in {"greater_than_equal", "less_than_equal"}:
        return (
            f"days must be between 1 and {MAX_DAYS}; "
            "for older data call get-range with an explicit range"
        )
    if kind in {
        "date_from_datetime_parsing",
        "date_parsing",
        "date_type",
        "date_from_datetime_inexact",
    }:
        return f"{field} must be a date like 2026-11-21"
    if kind == "literal_error":
        return f"{field} must be one of {ctx.get('expected', 'the listed values')}"
    if kind == "value_error":
        return str(ctx.get("error", message))
    if not field:
        return message
    return f"{field}: {message[0].lower()}{message[1:]}"
