"""The history as tidy files: one table per kind, in CSV, JSON Lines or Parquet.

What the files look like (the same columns in every format, in the same order):

* one file per kind (``sleep.csv``, ``recovery.csv``…), one row per record, every kind
  of every provider in one table, rows by provider then local day;
* source columns first: ``provider`` and ``source_id`` (the provider's own id), then
  ``day``, the local calendar day the record belongs to;
* for records with an interval, ``start`` and ``end`` as ISO 8601 instants with the
  offset the provider recorded (``2026-03-01T23:12:00+01:00``; in Parquet, timestamps in
  UTC), ``utc_offset`` (the start's, ``+01:00``) and ``duration_min``; for scored
  records, ``score_state`` (``scored``, ``pending``, ``unscorable``);
* every measurement in its own column, the unit in the name (``hrv_rmssd_ms``,
  ``in_bed_duration_min``, ``recovery_score_pct``): nested scores are flattened, a
  workout's heart-rate zones are ``zone_0_min`` to ``zone_5_min``, Oura's readiness
  contributors are one column each (``contributor_hrv_balance_pct``…, each its own
  1-100 score), readiness's own score is ``readiness_score_pct``;
* last, ``updated_at``: when the provider last changed the record, where it says;
* a value the provider did not give is empty (CSV) or null, never zero.

The columns are declared per kind from the core model (`columns`), not from the first
row, so a file's schema is the same whatever its records hold.

Left out of CSV and Parquet, kept in JSON Lines (each line is the row's columns, then
these): a sleep's stage timeline (``stages``: the minutes per stage are columns already),
the provider-specific ``extras``, and readiness ``contributors`` under a name Wellpipe
does not know yet (a contributor Oura adds later). JSON Lines thus keeps the whole
record.

Every file is read by pandas (``read_csv``, ``read_json(lines=True)``, ``read_parquet``)
and DuckDB (``select * from 'sleep.csv'``) with no option. Text formats leave types to
the reader: pandas reads an id made of digits as a number, and DuckDB guesses CSV and
JSON types from a table's first 20,480 rows (far more than one person's records of a
kind: 56 years of daily records); past them, a column empty so far would lose its values
in DuckDB's JSON reader. Parquet carries its types.

The store is read with `HistoryStore.scan`, one kind at a time, and written as it comes:
memory holds one Parquet row group (`ROW_GROUP_ROWS`) at most. `export_to_folder`
writes files (0600, in a folder it creates 0700); `zip_stream` yields a zip archive
chunk by chunk, one member per kind, for a download. Parquet is written with pyarrow,
imported only when a Parquet file is written.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
import zipfile
from collections.abc import AsyncIterator, Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum, StrEnum
from pathlib import Path
from types import UnionType
from typing import IO, Any, Literal, Protocol, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel

from wellpipe.core.history import KIND_MODELS, HistoryStore
from wellpipe.core.models import DataKind, Readiness, Record, ScoredRecord, Sleep, TimedRecord

__all__ = [
    "EXPORT_KINDS",
    "READINESS_CONTRIBUTORS",
    "ROW_GROUP_ROWS",
    "Column",
    "ColumnType",
    "ExportFormat",
    "ExportedFile",
    "Progress",
    "columns",
    "export_to_folder",
    "file_name",
    "holds_records",
    "zip_stream",
]

ColumnType = Literal["string", "int", "float", "bool", "date", "timestamp"]
"""A column's type: how each format writes it (Parquet: string, int64, double, bool,
date32, timestamp[us, UTC])."""

Value = str | int | float | bool | date | datetime | None

EXPORT_KINDS: tuple[DataKind, ...] = tuple(KIND_MODELS)
"""The kinds a history holds, in the order files are written."""

READINESS_CONTRIBUTORS = (
    "activity_balance",
    "body_temperature",
    "hrv_balance",
    "previous_day_activity",
    "previous_night",
    "recovery_index",
    "resting_heart_rate",
    "sleep_balance",
    "sleep_regularity",
)
"""Oura's readiness contributors with a column each (``contributor_<name>_pct``)."""

ROW_GROUP_ROWS = 10_000
"""Rows per Parquet row group: what memory holds of one kind while exporting it."""

_PROGRESS_EVERY = 500
_CHUNK_BYTES = 64 * 1024


class ExportFormat(StrEnum):
    """A file format of the export."""

    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"

    @property
    def suffix(self) -> str:
        """The file name's extension, with its dot."""
        return f".{self.value}"


def file_name(kind: DataKind, fmt: ExportFormat) -> str:
    """The name of one kind's file (``sleep.csv``)."""
    return f"{kind.value}{fmt.suffix}"


# ------------------------------------------------------------------ the columns
@dataclass(frozen=True)
class Column:
    """One column of a kind's table.

    Attributes:
        name: The column's name (the unit is in it).
        type: How each format writes its values.
        value: The column's value for one record (``None``: not given).
    """

    name: str
    type: ColumnType
    value: Callable[[Record], Value]


def _path_getter(path: tuple[str, ...]) -> Callable[[Record], Value]:
    """A getter for a field reached through nested models (``score.heart_rate_zones``)."""

    def get(record: Record) -> Value:
        value: Any = record
        for name in path:
            value = getattr(value, name)
            if value is None:
                return None
        if isinstance(value, Enum):
            return str(value.value)
        return value  # type: ignore[no-any-return]

    return get


def _utc_offset(record: Record) -> Value:
    offset = record.start.utcoffset() if isinstance(record, TimedRecord) else None
    if offset is None:
        return None
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def _duration(record: Record) -> Value:
    return record.duration_min if isinstance(record, TimedRecord) else None


def _contributor(name: str) -> Callable[[Record], Value]:
    def get(record: Record) -> Value:
        return record.contributors.get(name) if isinstance(record, Readiness) else None

    return get


_PLACED = (
    "provider",
    "source_id",
    "day",
    "start",
    "end",
    "score_state",
    "extras",
    "kind",
    "updated_at",
)
"""Fields placed by hand (or left out) around a model's own fields."""

_RENAMED = {(DataKind.READINESS, "score_pct"): "readiness_score_pct"}
"""Columns whose field name would be ambiguous in a table."""

_NESTED = {"extras", "stages", "contributors"}
"""Fields that are lists or maps: kept whole in JSON Lines only."""


def _scalar(annotation: Any) -> ColumnType | type[BaseModel] | None:
    """The column type of a field's annotation, a nested model to flatten, or ``None``."""
    if get_origin(annotation) in (Union, UnionType):
        present = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(present) != 1:
            return None
        annotation = present[0]
    if not isinstance(annotation, type):
        return None  # Literal, dict[...], tuple[...]
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    if annotation is AwareDatetime or issubclass(annotation, datetime):
        return "timestamp"
    if issubclass(annotation, date):
        return "date"
    if issubclass(annotation, str):
        return "string"
    if issubclass(annotation, BaseModel):
        return annotation
    return None


def _flattened(model: type[BaseModel], path: tuple[str, ...]) -> Iterator[Column]:
    """The columns of a nested model's scalar fields, by their own names."""
    for name, field in model.model_fields.items():
        found = _scalar(field.annotation)
        if isinstance(found, type):
            yield from _flattened(found, (*path, name))
        elif found is not None:
            yield Column(name, found, _path_getter((*path, name)))


def _build(kind: DataKind) -> tuple[Column, ...]:
    model = KIND_MODELS[kind]
    built = [
        Column("provider", "string", _path_getter(("provider",))),
        Column("source_id", "string", _path_getter(("source_id",))),
        Column("day", "date", _path_getter(("day",))),
    ]
    if issubclass(model, TimedRecord):
        built += [
            Column("start", "timestamp", _path_getter(("start",))),
            Column("end", "timestamp", _path_getter(("end",))),
            Column("utc_offset", "string", _utc_offset),
            Column("duration_min", "float", _duration),
        ]
    if issubclass(model, ScoredRecord):
        built.append(Column("score_state", "string", _path_getter(("score_state",))))
    for name, field in model.model_fields.items():
        if name in _PLACED:
            continue
        if kind is DataKind.READINESS and name == "contributors":
            built += [
                Column(f"contributor_{c}_pct", "int", _contributor(c))
                for c in READINESS_CONTRIBUTORS
            ]
            continue
        found = _scalar(field.annotation)
        if isinstance(found, type):
            built += _flattened(found, (name,))
        elif found is not None:
            built.append(Column(_RENAMED.get((kind, name), name), found, _path_getter((name,))))
        elif name not in _NESTED:  # pragma: no cover - a new kind of field: decide its column
            raise TypeError(f"{model.__name__}.{name}: no column type for {field.annotation!r}")
    if "updated_at" in model.model_fields:
        built.append(Column("updated_at", "timestamp", _path_getter(("updated_at",))))
    names = [column.name for column in built]
    if len(set(names)) != len(names):  # pragma: no cover - a model change made two alike
        raise TypeError(f"{model.__name__}: two columns share a name in {names}")
    return tuple(built)


_COLUMNS: dict[DataKind, tuple[Column, ...]] = {}


def columns(kind: DataKind) -> tuple[Column, ...]:
    """The columns of one kind's table, in file order (the same in every format).

    Raises:
        KeyError: the history keeps no such kind (profile, body measurement).
    """
    found = _COLUMNS.get(kind)
    if found is None:
        found = _COLUMNS[kind] = _build(kind)
    return found


def _nested(record: Record) -> dict[str, Any]:
    """The lists and maps CSV and Parquet leave out, as JSON values."""
    out: dict[str, Any] = {}
    if isinstance(record, Sleep):
        out["stages"] = [
            {"stage": s.stage.value, "start": s.start.isoformat(), "end": s.end.isoformat()}
            for s in record.stages
        ]
    if isinstance(record, Readiness):
        out["contributors"] = dict(record.contributors)
    out["extras"] = record.extras
    return out


# ------------------------------------------------------------------ writers
class _Writer(Protocol):
    """Writes one kind's rows to a binary stream it does not own."""

    def write(self, record: Record) -> None: ...

    def close(self) -> None: ...


def _csv_cell(kind: ColumnType, value: Value) -> str:
    if value is None:
        return ""
    if kind == "bool":
        return "true" if value else "false"
    if kind == "float":
        return repr(float(value))  # type: ignore[arg-type]
    if isinstance(value, date):  # dates and timestamps alike
        return value.isoformat()
    return str(value)


class _CsvWriter:
    def __init__(self, kind: DataKind, sink: IO[bytes]) -> None:
        self._columns = columns(kind)
        self._text = io.TextIOWrapper(sink, encoding="utf-8", newline="", write_through=True)
        self._csv = csv.writer(self._text, lineterminator="\n")
        self._csv.writerow([column.name for column in self._columns])

    def write(self, record: Record) -> None:
        self._csv.writerow([_csv_cell(c.type, c.value(record)) for c in self._columns])

    def close(self) -> None:
        self._text.flush()
        self._text.detach()


def _json_value(value: Value) -> Value:
    return value.isoformat() if isinstance(value, date) else value


class _JsonlWriter:
    def __init__(self, kind: DataKind, sink: IO[bytes]) -> None:
        self._columns = columns(kind)
        self._sink = sink

    def write(self, record: Record) -> None:
        row: dict[str, Any] = {c.name: _json_value(c.value(record)) for c in self._columns}
        row.update(_nested(record))
        line = json.dumps(row, ensure_ascii=False, separators=(",", ":"))
        self._sink.write(line.encode() + b"\n")

    def close(self) -> None:
        self._sink.flush()


class _Positioned(io.RawIOBase):
    """A write-only stream that knows its position (pyarrow asks; a zip member cannot say)."""

    def __init__(self, sink: IO[bytes]) -> None:
        super().__init__()
        self._sink = sink
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        written = len(data)
        self._sink.write(bytes(data))
        self._position += written
        return written

    def tell(self) -> int:
        return self._position


class _ParquetWriter:
    def __init__(self, kind: DataKind, sink: IO[bytes]) -> None:
        import pyarrow as pa  # type: ignore[import-untyped]  # heavy: only for Parquet
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        self._pa = pa
        self._columns = columns(kind)
        types = {
            "string": pa.string(),
            "int": pa.int64(),
            "float": pa.float64(),
            "bool": pa.bool_(),
            "date": pa.date32(),
            "timestamp": pa.timestamp("us", tz="UTC"),
        }
        self._schema = pa.schema(
            [pa.field(c.name, types[c.type]) for c in self._columns],
            metadata={"wellpipe.kind": kind.value},
        )
        self._stream = _Positioned(sink)
        self._writer = pq.ParquetWriter(self._stream, self._schema, compression="zstd")
        self._buffer: list[list[Value]] = [[] for _ in self._columns]
        self._rows = 0

    def write(self, record: Record) -> None:
        for values, column in zip(self._buffer, self._columns, strict=True):
            values.append(column.value(record))
        self._rows += 1
        if self._rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        arrays = [
            self._pa.array(values, type=field.type)
            for values, field in zip(self._buffer, self._schema, strict=True)
        ]
        self._writer.write_batch(self._pa.record_batch(arrays, schema=self._schema))
        self._buffer = [[] for _ in self._columns]
        self._rows = 0

    def close(self) -> None:
        self._flush()
        self._writer.close()
        self._stream.flush()


def _writer(fmt: ExportFormat, kind: DataKind, sink: IO[bytes]) -> _Writer:
    if fmt is ExportFormat.CSV:
        return _CsvWriter(kind, sink)
    if fmt is ExportFormat.JSONL:
        return _JsonlWriter(kind, sink)
    return _ParquetWriter(kind, sink)


# ------------------------------------------------------------------ to a folder
Progress = Callable[[DataKind, int], None]
"""Told ``(kind, records written since the last call)`` as an export goes."""


@dataclass(frozen=True)
class ExportedFile:
    """One file an export wrote.

    Attributes:
        kind: The kind its rows are.
        path: Where it is.
        rows: How many records it holds.
        size_bytes: Its size.
    """

    kind: DataKind
    path: Path
    rows: int
    size_bytes: int


def _kinds(kinds: Collection[DataKind] | None) -> tuple[DataKind, ...]:
    return EXPORT_KINDS if kinds is None else tuple(k for k in EXPORT_KINDS if k in kinds)


@contextlib.asynccontextmanager
async def _scanning(
    store: HistoryStore, kind: DataKind, since: date | None
) -> AsyncIterator[AsyncIterator[Record]]:
    """One kind's scan, closed (its read transaction ended) however the export ends."""
    records = store.scan(kinds=(kind,), since=since)
    try:
        yield records
    finally:
        close = getattr(records, "aclose", None)
        if close is not None:
            await close()


async def holds_records(
    store: HistoryStore,
    *,
    kinds: Collection[DataKind] | None = None,
    since: date | None = None,
) -> bool:
    """Whether an export of ``kinds`` from ``since`` would find any record (one look)."""
    for kind in _kinds(kinds):
        async with _scanning(store, kind, since) as records:
            async for _ in records:
                return True
    return False


def _make_folder(folder: Path) -> None:
    """Create ``folder`` (0700) unless it exists; an existing folder is left as it is."""
    if folder.is_dir():
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)  # whatever the umask


class _PrivateFile:
    """One kind's file, written under a temporary name (0600) and renamed when whole."""

    def __init__(self, target: Path) -> None:
        self.target = target
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        self._temporary: Path | None = Path(name)  # mkstemp: 0600
        self.handle: IO[bytes] = os.fdopen(fd, "wb")

    def commit(self) -> None:
        """Close the file and give it its name (a file of that name is replaced)."""
        self.handle.close()
        if self._temporary is not None:
            os.replace(self._temporary, self.target)
            self._temporary = None

    def discard(self) -> None:
        """Close and remove the temporary file, unless committed."""
        self.handle.close()
        if self._temporary is not None:
            with contextlib.suppress(OSError):
                self._temporary.unlink()
            self._temporary = None


async def export_to_folder(
    store: HistoryStore,
    folder: Path,
    fmt: ExportFormat,
    *,
    kinds: Collection[DataKind] | None = None,
    since: date | None = None,
    progress: Progress | None = None,
) -> tuple[ExportedFile, ...]:
    """Write one file per kind that has records into ``folder``.

    The folder is created (0700) when the first record arrives, so an export that finds
    nothing leaves nothing behind. Each file is written under a temporary name (0600)
    and renamed when complete: a file with its final name is whole. A file of the same
    name is replaced.

    Args:
        store: The history to read.
        folder: Where the files go (created with its parents if missing).
        fmt: The file format.
        kinds: The kinds to export (every kind when ``None``).
        since: The first local day to export (every day when ``None``).
        progress: Told how many records were written, kind by kind.

    Returns:
        The files written, in `EXPORT_KINDS` order (none: the store holds no matching
        record).

    Raises:
        OSError: a file could not be written (the temporary file is removed).
    """
    written: list[ExportedFile] = []
    for kind in _kinds(kinds):
        rows = unreported = 0
        file: _PrivateFile | None = None
        writer: _Writer | None = None
        try:
            async with _scanning(store, kind, since) as records:
                async for record in records:
                    if writer is None:
                        _make_folder(folder)
                        file = _PrivateFile(folder / file_name(kind, fmt))
                        writer = _writer(fmt, kind, file.handle)
                    writer.write(record)
                    rows += 1
                    unreported += 1
                    if progress is not None and unreported >= _PROGRESS_EVERY:
                        progress(kind, unreported)
                        unreported = 0
            if writer is None or file is None:
                continue
            writer.close()
            writer = None
            file.commit()
        finally:
            if writer is not None:  # failed half way: end the writer before its file goes
                with contextlib.suppress(Exception):
                    writer.close()
            if file is not None:
                file.discard()
        if progress is not None and unreported:
            progress(kind, unreported)
        written.append(ExportedFile(kind, file.target, rows, file.target.stat().st_size))
    return tuple(written)


# ------------------------------------------------------------------ as a zip stream
class _Pipe(io.RawIOBase):
    """A non-seekable sink whose bytes are taken out as they come (for `zip_stream`)."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []
        self.pending = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self.pending += len(chunk)
        return len(chunk)

    def take(self) -> bytes:
        """Everything written since the last call."""
        out = b"".join(self._chunks)
        self._chunks.clear()
        self.pending = 0
        return out


async def zip_stream(
    store: HistoryStore,
    fmt: ExportFormat,
    *,
    folder: str,
    now: datetime,
    kinds: Collection[DataKind] | None = None,
    since: date | None = None,
) -> AsyncIterator[bytes]:
    """A zip archive of one file per kind that has records, yielded as it is written.

    The archive goes to a non-seekable stream (each member's sizes follow its data), so
    nothing of it is held beyond one chunk and one Parquet row group. Members are
    ``<folder>/<kind>.<format>``, mode 0600 when unzipped. A store without a matching
    record gives an empty archive.

    Args:
        store: The history to read.
        fmt: The members' format.
        folder: The folder the members unzip into.
        now: The members' modification time.
        kinds: The kinds to export (every kind when ``None``).
        since: The first local day to export (every day when ``None``).

    Yields:
        The archive's bytes, about 64 KiB at a time; the last chunk ends the archive.
    """
    pipe = _Pipe()
    stamp = (now.year, now.month, now.day, now.hour, now.minute, now.second)
    compression = zipfile.ZIP_STORED if fmt is ExportFormat.PARQUET else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(pipe, "w") as archive:
        for kind in _kinds(kinds):
            async with contextlib.AsyncExitStack() as member_scope:
                records = await member_scope.enter_async_context(_scanning(store, kind, since))
                writer: _Writer | None = None
                async for record in records:
                    if writer is None:
                        info = zipfile.ZipInfo(f"{folder}/{file_name(kind, fmt)}", stamp)
                        info.compress_type = compression
                        info.external_attr = 0o100600 << 16  # a regular file, owner-only
                        member = member_scope.enter_context(archive.open(info, "w"))
                        writer = _writer(fmt, kind, member)
                        member_scope.callback(writer.close)
                    writer.write(record)
                    if pipe.pending >= _CHUNK_BYTES:
                        yield pipe.take()
            if pipe.pending:
                yield pipe.take()
    yield pipe.take()
