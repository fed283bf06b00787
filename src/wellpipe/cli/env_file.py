"""A ``.env`` file read and rewritten without losing anything a person wrote in it.

Reading understands what people put in ``.env`` files: ``KEY=VALUE``, an
optional ``export`` prefix, single quotes (literal), double quotes (with
backslash escapes), ``#`` comments and blank lines. No variable interpolation.

Writing is one atomic, durable replacement (R-1.19): a temp file created 0600 in
the same folder, written, fsynced, ``os.replace``-d over the file, and the
folder fsynced. Lines that an update does not touch are kept byte for byte.

A process killed mid-write can leave a temp file (``.env.<pid>.<random>.tmp``)
beside the ``.env``. Readers never look at it, and the next `EnvFile.update`
removes temp files whose writer is gone (or that are older than an hour).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EnvFile", "format_value", "parse_env"]

FILE_MODE = 0o600
_STALE_TEMP_AGE_S = 3600.0

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_ASSIGNMENT = re.compile(r"[ \t]*(?:export[ \t]+)?(?P<key>[A-Za-z_][A-Za-z0-9_.\-]*)[ \t]*=[ \t]*")
_UNQUOTED_SAFE = re.compile(r"[A-Za-z0-9_\-.:/+=@,%~^]+")
_DOUBLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "'": "'", "$": "$"}


@dataclass(frozen=True)
class _Entry:
    """One span of the file: an assignment (``key`` set) or anything else, verbatim."""

    raw: str
    key: str | None = None
    value: str = ""


def _split_lines(text: str) -> list[str]:
    """Lines with their own endings, so joining them gives back ``text`` exactly."""
    return text.splitlines(keepends=True) if text else []


def _read_double_quoted(text: str, start: int) -> tuple[str, int] | None:
    """The value of a double-quoted string opening at ``text[start]`` and the index after it."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(out), i + 1
        if char == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in _DOUBLE_ESCAPES:
                out.append(_DOUBLE_ESCAPES[nxt])
            else:
                out.append(char + nxt)
            i += 2
            continue
        out.append(char)
        i += 1
    return None


def _rest_is_comment(text: str) -> bool:
    rest = text.strip(" \t\r\n")
    return rest == "" or rest.startswith("#")


def _quoted_entry(
    lines: list[str], index: int, key: str, value_start: int, opener: str
) -> tuple[_Entry, int] | None:
    """The entry of a quoted value starting on ``lines[index]`` (which may span lines)."""
    for end in range(index, len(lines)):
        block = "".join(lines[index : end + 1])
        if opener == "'":
            close = block.find("'", value_start + 1)
            parsed = None if close < 0 else (block[value_start + 1 : close], close + 1)
        else:
            parsed = _read_double_quoted(block, value_start)
        if parsed is None:
            continue
        value, after = parsed
        if not _rest_is_comment(block[after:]):
            return None
        return _Entry(raw=block, key=key, value=value), end + 1
    return None


def _parse_entries(text: str) -> list[_Entry]:
    """Split ``text`` into spans; every character belongs to exactly one span."""
    lines = _split_lines(text)
    entries: list[_Entry] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        match = _ASSIGNMENT.match(line)
        if match is None:
            entries.append(_Entry(raw=line))
            index += 1
            continue
        key = match["key"]
        value_start = match.end()
        opener = line[value_start : value_start + 1]
        if opener in ("'", '"'):
            quoted = _quoted_entry(lines, index, key, value_start, opener)
            if quoted is None:
                entries.append(_Entry(raw=line))  # unterminated or malformed: keep, ignore
                index += 1
            else:
                entry, index = quoted
                entries.append(entry)
            continue
        body = line[value_start:].rstrip("\r\n")
        comment = re.search(r"[ \t]#", body)
        if comment is not None:
            body = body[: comment.start()]
        elif body.startswith("#"):
            body = ""
        entries.append(_Entry(raw=line, key=key, value=body.strip(" \t")))
        index += 1
    return entries


def parse_env(text: str) -> dict[str, str]:
    """The assignments in ``text``; a key assigned twice keeps its last value.

    Lines that are not assignments (comments, blank lines, garbage) are ignored.
    """
    return {entry.key: entry.value for entry in _parse_entries(text) if entry.key is not None}


def format_value(value: str) -> str:
    """``value`` as it should appear after ``KEY=``: bare if safe, else quoted."""
    if _UNQUOTED_SAFE.fullmatch(value) or value == "":
        return value
    if "'" not in value and all(char.isprintable() for char in value):
        return f"'{value}'"
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _fsync_folder(folder: Path) -> None:
    if os.name != "posix":  # pragma: no cover - Windows cannot open folders
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_is_gone(pid: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - os.kill would terminate it there
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class EnvFile:
    """One ``.env`` file on disk.

    Attributes:
        path: Where the file lives (it may not exist yet).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        """Whether the file exists."""
        return self.path.is_file()

    def mode(self) -> int | None:
        """The file's permission bits (e.g. ``0o600``), or ``None`` when it is missing."""
        try:
            return stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError:
            return None

    def read_text(self) -> str:
        """The file's exact contents (``""`` when missing); undecodable bytes survive a rewrite."""
        try:
            with open(self.path, encoding="utf-8", errors="surrogateescape", newline="") as file:
                return file.read()
        except FileNotFoundError:
            return ""

    def read(self) -> dict[str, str]:
        """Every ``KEY=VALUE`` in the file; ``{}`` when it is missing."""
        return parse_env(self.read_text())

    def update(self, changes: Mapping[str, str | None]) -> None:
        """Set (or, for ``None``, delete) keys in one atomic, durable rewrite.

        A changed key is replaced where it stands (earlier duplicates of it are
        dropped), a new key is appended, and every other line is kept byte for byte.
        The file ends up with mode 0600.

        Raises:
            ValueError: a key is not a valid ``.env`` name.
        """
        for key in changes:
            if not _KEY.fullmatch(key):
                raise ValueError(f"{key!r} is not a valid .env key; use letters, digits and _.")
        entries = _parse_entries(self.read_text())
        last_index = {entry.key: i for i, entry in enumerate(entries) if entry.key is not None}
        out: list[str] = []
        for i, entry in enumerate(entries):
            if entry.key is None or entry.key not in changes:
                out.append(entry.raw)
                continue
            new = changes[entry.key]
            if new is None or last_index[entry.key] != i:
                continue  # deleted, or an earlier duplicate of a changed key
            ending = "\r\n" if entry.raw.endswith("\r\n") else "\n"
            prefix = "export " if entry.raw.lstrip(" \t").startswith("export") else ""
            out.append(f"{prefix}{entry.key}={format_value(new)}{ending}")
        appended = [
            f"{key}={format_value(value)}\n"
            for key, value in changes.items()
            if value is not None and key not in last_index
        ]
        if appended and out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        self._write_atomically("".join(out + appended))

    def _temp_files(self) -> Iterator[tuple[Path, int | None]]:
        prefix = f"{self.path.name}."
        for candidate in self.path.parent.glob(f"{self.path.name}.*.tmp"):
            middle = candidate.name[len(prefix) : -len(".tmp")].split(".")
            pid = int(middle[0]) if len(middle) == 2 and middle[0].isdigit() else None
            yield candidate, pid

    def remove_stale_temp_files(self) -> int:
        """Delete temp files left by writers that died mid-write; returns how many.

        A temp file is stale when its writer's process is gone, or it is older
        than an hour. Another live process's in-flight temp file is left alone.
        """
        removed = 0
        now = time.time()
        for candidate, pid in self._temp_files():
            try:
                too_old = now - candidate.stat().st_mtime > _STALE_TEMP_AGE_S
            except FileNotFoundError:
                continue
            if pid == os.getpid():
                continue
            if too_old or (pid is not None and _pid_is_gone(pid)):
                with contextlib.suppress(FileNotFoundError):
                    candidate.unlink()
                    removed += 1
        return removed

    def _write_atomically(self, text: str) -> None:
        target = self.path.resolve() if self.path.is_symlink() else self.path
        folder = target.parent
        self.remove_stale_temp_files()
        temp = folder / f"{target.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, FILE_MODE)  # whatever the umask did
            with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise
        _fsync_folder(folder)
