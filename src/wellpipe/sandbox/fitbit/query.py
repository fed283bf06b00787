"""Google's error envelope, the AIP-160 filter subset the Health API accepts, and page tokens."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from wellpipe.sandbox.fitbit.history import Point
from wellpipe.sandbox.fitbit.types import DataType

__all__ = ["ApiError", "Filter", "decode_page_token", "encode_page_token", "parse_filter"]

Json = dict[str, Any]
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
SERVICE = "health.googleapis.com"


class ApiError(Exception):
    """An error Google answers in its AIP-193 envelope, with an ``ErrorInfo`` detail."""

    def __init__(
        self,
        code: int,
        status: str,
        message: str,
        reason: str | None = None,
        metadata: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Describe the error (``reason`` becomes the ``ErrorInfo`` detail)."""
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.reason = reason
        self.metadata = metadata
        self.headers = headers or {}

    def body(self) -> Json:
        """``{"error": {code, message, status, details}}``."""
        error: Json = {"code": self.code, "message": self.message, "status": self.status}
        if self.reason is not None:
            error["details"] = [
                {
                    "@type": ERROR_INFO,
                    "reason": self.reason,
                    "domain": "googleapis.com",
                    "metadata": {"service": SERVICE, **(self.metadata or {})},
                }
            ]
        return {"error": error}


def invalid(message: str, reason: str) -> ApiError:
    """A 400 ``INVALID_ARGUMENT``."""
    return ApiError(400, "INVALID_ARGUMENT", message, reason)


# ---------------------------------------------------------------------- filters
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_CIVIL = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2})?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>>=|<=|!=|=|<|>|:)|(?P<paren>[()])|(?P<word>[^\s()"<>=!:]+))'
)


@dataclass(frozen=True)
class _Member:
    attribute: str  # start | civil_start | end | civil_end
    literal: str  # physical | civil | date


@dataclass(frozen=True)
class Term:
    """``field op literal``."""

    attribute: str
    op: str
    value: datetime

    def matches(self, point: Point) -> bool:
        """Whether the point satisfies this comparison."""
        actual = getattr(point, self.attribute)
        if actual is None:
            return False
        return bool(actual >= self.value if self.op == ">=" else actual < self.value)


@dataclass(frozen=True)
class Filter:
    """A conjunction of disjunctions of terms (AIP-160: OR binds tighter than AND)."""

    clauses: tuple[tuple[Term, ...], ...] = ()
    text: str = ""

    def matches(self, point: Point) -> bool:
        """Whether the point passes every clause."""
        return all(any(term.matches(point) for term in clause) for clause in self.clauses)

    def physical_bounds(self, lower: datetime, upper: datetime) -> tuple[datetime, datetime]:
        """A window of instants that holds every match (civil bounds widened by 14 h)."""
        for clause in self.clauses:
            if len(clause) != 1:
                continue
            term = clause[0]
            value = term.value
            if value.tzinfo is None:
                value = value.replace(tzinfo=lower.tzinfo)
                value += timedelta(hours=-14 if term.op == ">=" else 14)
            if term.op == ">=":
                lower = max(lower, value)
            else:
                upper = min(upper, value)
        return lower, upper


def _members(data_type: DataType) -> dict[str, _Member]:
    snake = data_type.snake
    if data_type.kebab == "sleep":
        return {
            "sleep.interval.end_time": _Member("end", "physical"),
            "sleep.interval.civil_end_time": _Member("civil_end", "civil"),
        }
    if data_type.shape == "session":
        return {f"{snake}.interval.civil_start_time": _Member("civil_start", "civil")}
    if data_type.shape == "interval":
        return {
            f"{snake}.interval.start_time": _Member("start", "physical"),
            f"{snake}.interval.civil_start_time": _Member("civil_start", "civil"),
        }
    if data_type.shape == "sample":
        return {
            f"{snake}.sample_time.physical_time": _Member("start", "physical"),
            f"{snake}.sample_time.civil_time": _Member("civil_start", "civil"),
        }
    return {f"{snake}.date": _Member("civil_start", "date")}


def parse_filter(text: str | None, data_type: DataType) -> Filter:
    """Parse the ``filter`` parameter for this data type, or raise the 400 Google sends."""
    if not text or not text.strip():
        return Filter()
    tokens = _tokenize(text)
    members = _members(data_type)
    allow_or = data_type.kebab == "sleep"
    clauses: list[tuple[Term, ...]] = []
    position = 0

    def term_at(index: int) -> tuple[Term, int]:
        if index + 2 >= len(tokens):
            raise _format(f"Incomplete comparison in filter: {text!r}")
        field_kind, field = tokens[index]
        op_kind, op = tokens[index + 1]
        value_kind, raw = tokens[index + 2]
        if field_kind != "word" or op_kind != "op" or value_kind not in {"str", "word"}:
            raise _format(f"Expected 'field operator value' in filter: {text!r}")
        member = members.get(field)
        if member is None:
            supported = ", ".join(sorted(members))
            raise invalid(
                f"Filter field {field!r} is not supported for data type "
                f"{data_type.kebab!r}; supported: {supported}.",
                "INVALID_DATA_POINT_FILTER",
            )
        if op not in {">=", "<"}:
            raise invalid(
                f"Operator {op!r} is not supported for {field!r}; use >= or <.",
                "INVALID_DATA_POINT_FILTER",
            )
        literal = raw[1:-1] if value_kind == "str" else raw
        return Term(member.attribute, op, _literal(literal, member.literal, field)), index + 3

    while position < len(tokens):
        group: list[Term] = []
        parenthesised = tokens[position] == ("paren", "(")
        if parenthesised:
            position += 1
        while True:
            term, position = term_at(position)
            group.append(term)
            if position < len(tokens) and tokens[position] == ("word", "OR"):
                if not allow_or:
                    raise invalid(
                        f"OR is not supported when filtering {data_type.kebab!r}; use AND.",
                        "INVALID_DATA_POINT_FILTER",
                    )
                position += 1
                continue
            break
        if parenthesised:
            if position >= len(tokens) or tokens[position] != ("paren", ")"):
                raise _format(f"Unbalanced parentheses in filter: {text!r}")
            position += 1
        clauses.append(tuple(group))
        if position < len(tokens):
            if tokens[position] != ("word", "AND"):
                raise _format(f"Expected AND or OR in filter: {text!r}")
            position += 1
            if position >= len(tokens):
                raise _format(f"Filter ends with AND: {text!r}")
    return Filter(tuple(clauses), text.strip())


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if match is None or match.end() == position:
            raise _format(f"Cannot parse filter: {text!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _literal(raw: str, kind: str, field: str) -> datetime:
    try:
        if kind == "physical":
            if not _RFC3339.match(raw):
                raise ValueError(raw)
            return datetime.fromisoformat(trim_nanos(raw))
        if kind == "date":
            if not _DATE.match(raw):
                raise ValueError(raw)
            return datetime.combine(date.fromisoformat(raw), datetime.min.time())
        if not _CIVIL.match(raw):
            raise ValueError(raw)
        return datetime.fromisoformat(raw)
    except ValueError:
        expected = {
            "physical": "an RFC-3339 timestamp such as 2026-11-20T00:00:00Z",
            "civil": "a civil date or date-time such as 2026-11-20 or 2026-11-20T06:00:00",
            "date": "a date such as 2026-11-20",
        }[kind]
        reason = "INVALID_CIVIL_DATE_TIME" if kind != "physical" else "INVALID_FILTER_FORMAT"
        raise invalid(
            f"Invalid value {raw!r} for {field!r}: expected {expected}.", reason
        ) from None


def trim_nanos(raw: str) -> str:
    """An RFC-3339 string with at most microseconds, as `datetime.fromisoformat` needs."""
    match = re.match(r"^(.*\.\d{1,6})\d*(Z|[+-]\d{2}:\d{2})$", raw)
    return f"{match.group(1)}{match.group(2)}" if match else raw


def _format(message: str) -> ApiError:
    return invalid(message, "INVALID_FILTER_FORMAT")


# ---------------------------------------------------------------------- page tokens
def query_digest(*parts: object) -> str:
    """What a page token is bound to: the same query must come back with it."""
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


def encode_page_token(position: int, digest: str) -> str:
    """An opaque token: where the next page starts, bound to the query."""
    raw = json.dumps({"p": position, "q": digest}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_page_token(token: str, digest: str) -> int:
    """The position a token stands for, or the 400 Google sends for a bad or foreign token."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        position = int(data["p"])
        if data["q"] != digest:
            raise ValueError("another query's token")
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise invalid(
            "The page token is invalid or belongs to a different query.", "INVALID_PAGE_TOKEN"
        ) from None
    return position
