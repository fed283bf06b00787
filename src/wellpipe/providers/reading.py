"""Helpers every provider's `read` shares: concurrent reads and wire-to-core mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TypeVar

from pydantic import ValidationError

from wellpipe.core.errors import WellpipeError
from wellpipe.net import invalid_response

__all__ = ["Mapper", "drain", "first_failure"]

ItemT = TypeVar("ItemT")
CoreT = TypeVar("CoreT")


async def drain(source: AsyncIterator[ItemT], into: list[ItemT]) -> None:
    """Append everything ``source`` yields to ``into`` (a task of a concurrent read)."""
    into.extend([item async for item in source])


def first_failure(group: BaseExceptionGroup[Exception]) -> Exception:
    """The error to show for concurrent reads that failed: a Wellpipe error if there is one."""
    leaves: list[Exception] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        elif isinstance(exc, Exception):
            leaves.append(exc)

    walk(group)
    return next((e for e in leaves if isinstance(e, WellpipeError)), leaves[0])


@dataclass(frozen=True)
class Mapper:
    """Wire-to-core conversion for one provider.

    A core model refusing a wire value (a `ValidationError`) becomes that
    provider's invalid-response error, naming the record being mapped.
    """

    provider: str

    def call(self, convert: Callable[[], CoreT], record: str) -> CoreT:
        """``convert()``, for a ``record`` (``"sleep"``)."""
        try:
            return convert()
        except ValidationError as exc:
            raise invalid_response(
                exc, provider=self.provider, endpoint=None, record=record
            ) from None

    def one(self, item: ItemT, convert: Callable[[ItemT], CoreT], record: str) -> CoreT:
        """``convert(item)``."""
        return self.call(lambda: convert(item), record)

    def each(
        self, items: list[ItemT], convert: Callable[[ItemT], CoreT], record: str
    ) -> tuple[CoreT, ...]:
        """Each of ``items`` converted, in order."""
        return tuple(self.one(item, convert, record) for item in items)
