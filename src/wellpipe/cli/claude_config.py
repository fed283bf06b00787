"""Claude Desktop's ``claude_desktop_config.json``: where it lives and our entry in it.

Claude Desktop starts each local MCP server from an ``mcpServers`` entry
(``command``, ``args``, ``env``) with a minimal environment, so the command is
an absolute path. Tokens never go into that file: the server rotates the
refresh token on first use and cannot rewrite Claude's file, so a token there
goes stale (and the ``.env`` wins anyway). ``env`` carries only what the server
would otherwise miss, since Claude Desktop does not pass on the shell's environment:
``WELLPIPE_HOME`` when the home is not the default one, and a provider's base URL
(``WELLPIPE_<NAME>_BASE_URL``, a sandbox) set in this shell's environment but not in
the ``.env``. `desktop_entry` builds that entry; ``wellpipe claude install`` writes it
and the HTTP server's banner prints it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from wellpipe.core.errors import ConfigError

__all__ = [
    "CONFIG_FILENAME",
    "DEFAULT_NAME",
    "ENV_CLAUDE_CONFIG",
    "InstallPlan",
    "backup_path",
    "carried_base_urls",
    "claude_config_dir",
    "claude_config_option",
    "claude_config_path",
    "desktop_entry",
    "entry_home",
    "is_secret_key",
    "load_config",
    "plan_install",
    "render_config",
    "runs_demo_over_http",
    "runs_wellpipe",
    "secret_keys_in",
    "server_entry",
    "wellpipe_command",
    "wellpipe_entries",
    "write_config",
]

CONFIG_FILENAME = "claude_desktop_config.json"
DEFAULT_NAME = "wellpipe"
ENV_CLAUDE_CONFIG = "WELLPIPE_CLAUDE_CONFIG"
"""Overrides the config file's location (as ``--config`` does)."""

claude_config_option = click.option(
    "--claude-config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=ENV_CLAUDE_CONFIG,
    default=None,
    help="Claude Desktop's config file (default: Claude's own).",
)
"""``--claude-config`` for the commands that read Claude Desktop's config (status, doctor)."""

_SECRET_MARKERS = ("TOKEN", "SECRET", "PASSWORD", "API_KEY")
_STALE_TOKEN_STATE = (
    "_TOKEN_EXPIRES_AT",
    "_TOKEN_SCOPES",
    "_GRANT_ERROR",
    "_GRANTED_AT",
    "_REFRESH_UNANSWERED_AT",
)
"""Suffixes of any provider's token state (``OURA_TOKEN_SCOPES``...): stale outside the .env."""


def claude_config_dir(
    *,
    platform: str | None = None,
    environ: Mapping[str, str] | None = None,
    user_home: Path | None = None,
) -> Path:
    """Claude Desktop's configuration folder on this (or the given) platform.

    Args:
        platform: A ``sys.platform`` value (``darwin``, ``win32``, ``linux``...).
        environ: The environment (``os.environ`` when ``None``).
        user_home: The user's home folder (``Path.home()`` when ``None``).

    Returns:
        macOS ``~/Library/Application Support/Claude``, Windows ``%APPDATA%/Claude``,
        elsewhere ``$XDG_CONFIG_HOME/Claude`` or ``~/.config/Claude``.
    """
    platform = sys.platform if platform is None else platform
    env = os.environ if environ is None else environ
    home = Path.home() if user_home is None else user_home
    if platform == "darwin":
        return home / "Library" / "Application Support" / "Claude"
    if platform in {"win32", "cygwin"}:
        appdata = env.get("APPDATA", "").strip()
        return (Path(appdata) if appdata else home / "AppData" / "Roaming") / "Claude"
    xdg = env.get("XDG_CONFIG_HOME", "").strip()
    return (Path(xdg) if xdg else home / ".config") / "Claude"


def claude_config_path(
    override: Path | str | None = None,
    *,
    platform: str | None = None,
    environ: Mapping[str, str] | None = None,
    user_home: Path | None = None,
) -> Path:
    """The config file: ``override``, else ``$WELLPIPE_CLAUDE_CONFIG``, else the platform's."""
    env = os.environ if environ is None else environ
    chosen = override or env.get(ENV_CLAUDE_CONFIG, "").strip()
    if chosen:
        return Path(chosen).expanduser().absolute()
    folder = claude_config_dir(platform=platform, environ=env, user_home=user_home)
    return folder / CONFIG_FILENAME


def wellpipe_command(
    argv0: str | None = None,
    *,
    python: str | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> list[str]:
    """The absolute command line that runs this very Wellpipe installation.

    In order: the ``wellpipe`` script this process was started as; the script
    beside the running Python (a virtualenv's ``bin``); ``wellpipe`` on ``PATH``;
    and finally ``[python, "-m", "wellpipe"]``, which always works.

    Args:
        argv0: How this process was started (``sys.argv[0]`` when ``None``).
        python: The running interpreter (``sys.executable`` when ``None``).
        which: Looks a program up on ``PATH``.
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    python = sys.executable if python is None else python
    started_as = Path(argv0)
    if started_as.stem == "wellpipe" and started_as.suffix.lower() in {"", ".exe"}:
        if started_as.parent != Path() and started_as.is_file():
            return [str(started_as.absolute())]
        found = which(argv0)
        if found:
            return [str(Path(found).absolute())]
    if python:
        for name in ("wellpipe", "wellpipe.exe"):
            beside = Path(python).parent / name
            if beside.is_file() and os.access(beside, os.X_OK):
                return [str(beside.absolute())]
    found = which("wellpipe")
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(python or "python3").absolute()), "-m", "wellpipe"]


def server_entry(
    *,
    command: list[str],
    demo: bool = False,
    home: Path | None = None,
    base_urls: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Our ``mcpServers`` entry.

    It always runs ``serve`` (stdio by default), never ``demo``, which serves HTTP
    unless told ``--transport stdio``.

    Args:
        command: From `wellpipe_command`.
        demo: Serve the built-in sandboxes (``serve --demo``) instead of your accounts.
        home: The Wellpipe home to pin in ``env``; ``None`` for the default home.
        base_urls: ``WELLPIPE_<NAME>_BASE_URL`` values to pin in ``env``.
    """
    entry: dict[str, Any] = {
        "command": command[0],
        "args": [*command[1:], "serve", *(["--demo"] if demo else [])],
    }
    env = {**({"WELLPIPE_HOME": str(home)} if home is not None else {}), **(base_urls or {})}
    if env:
        entry["env"] = env
    return entry


def entry_home(environ: Mapping[str, str] | None = None) -> Path | None:
    """The Wellpipe home to pin in Claude's entry, or ``None`` when it is the default one.

    Claude Desktop starts the server without the shell's environment, so a
    ``WELLPIPE_HOME`` set here must be written into the entry to apply there.
    """
    from wellpipe.cli.home import wellpipe_home

    chosen = wellpipe_home(environ).expanduser().absolute()
    default = wellpipe_home({}).expanduser().absolute()
    return None if chosen == default else chosen


def _is_base_url_key(key: str) -> bool:
    return key.startswith("WELLPIPE_") and key.endswith("_BASE_URL")


def carried_base_urls(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The providers' base URLs this shell's environment sets and the ``.env`` does not.

    Claude Desktop's server reads the ``.env`` itself, but not this shell's
    environment: without these it would talk to the real provider (with a
    sandbox's tokens, if the account was connected at a sandbox).
    """
    from wellpipe.cli.env_file import EnvFile
    from wellpipe.cli.home import LocalPaths
    from wellpipe.cli.local_config import AppKeys
    from wellpipe.providers import available_providers

    env = os.environ if environ is None else environ
    in_file = EnvFile(LocalPaths.from_environ(env).env_file).read()
    carried = {}
    for name in available_providers():
        key = AppKeys(name).base_url
        value = env.get(key, "").strip()
        if value and in_file.get(key, "").strip() != value:
            carried[key] = value
    return carried


def desktop_entry(
    *, demo: bool, environ: Mapping[str, str] | None = None, command: list[str] | None = None
) -> dict[str, Any]:
    """The entry ``wellpipe claude install [--demo]`` writes, and the HTTP banner prints.

    Args:
        demo: Serve the built-in sandboxes (they need no base URL).
        environ: This shell's environment (``os.environ`` when ``None``).
        command: From `wellpipe_command` (computed when ``None``).
    """
    return server_entry(
        command=command or wellpipe_command(),
        demo=demo,
        home=entry_home(environ),
        base_urls=None if demo else carried_base_urls(environ),
    )


def is_secret_key(key: str) -> bool:
    """Whether an ``env`` key carries a token, a secret or token state that goes stale."""
    upper = key.upper()
    return upper.endswith(_STALE_TOKEN_STATE) or any(marker in upper for marker in _SECRET_MARKERS)


def secret_keys_in(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Server name -> secret-looking ``env`` keys, for every entry that has any."""
    servers = config.get("mcpServers")
    found: dict[str, list[str]] = {}
    if not isinstance(servers, dict):
        return found
    for name, entry in servers.items():
        env = entry.get("env") if isinstance(entry, dict) else None
        if isinstance(env, dict):
            keys = [key for key in env if is_secret_key(str(key))]
            if keys:
                found[str(name)] = keys
    return found


def load_config(path: Path) -> dict[str, Any] | None:
    """The parsed config file, or ``None`` if it does not exist (an empty file reads as ``{}``).

    Raises:
        ConfigError: The file is unreadable, is not valid JSON, or does not have
            the expected shape. We never overwrite such a file.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Cannot read the Claude Desktop config {path} ({_reason(exc)}); "
            "check its permissions, or pass another file with --config."
        ) from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"The Claude Desktop config {path} is not valid JSON (line {exc.lineno}, "
            f"column {exc.colno}: {exc.msg}); nothing was changed: fix the file "
            "(Claude Desktop: Settings → Developer → Edit Config) and run this again."
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"The Claude Desktop config {path} is not a JSON object; nothing was changed: "
            "fix the file and run this again."
        )
    if "mcpServers" in data and not isinstance(data["mcpServers"], dict):
        raise ConfigError(
            f'"mcpServers" in the Claude Desktop config {path} is not a JSON object; '
            "nothing was changed: fix the file and run this again."
        )
    return data


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__


@dataclass(frozen=True)
class InstallPlan:
    """What installing our entry changes.

    Attributes:
        name: The entry's name under ``mcpServers``.
        before: The whole config before (``None`` if the file does not exist).
        after: The whole config after.
        previous: Our entry before (``None`` if it was not there).
        entry: Our entry after.
        removed_secrets: ``env`` keys dropped from our entry because they hold tokens.
        other_secrets: Other entries that hold tokens (left alone, but worth a warning).
        other_wellpipe: Other entries that also run Wellpipe.
        kept_home: The entry's ``WELLPIPE_HOME``, kept because this shell sets none.
    """

    name: str
    before: dict[str, Any] | None
    after: dict[str, Any]
    previous: dict[str, Any] | None
    entry: dict[str, Any]
    removed_secrets: list[str] = field(default_factory=list)
    other_secrets: dict[str, list[str]] = field(default_factory=dict)
    other_wellpipe: list[str] = field(default_factory=list)
    kept_home: str | None = None

    @property
    def changed(self) -> bool:
        """Whether the file needs writing."""
        return self.before != self.after

    def summary(self) -> list[str]:
        """Diff-like lines: ``+`` added, ``-`` removed, ``~`` changed, ``=`` unchanged."""
        prefix = f"mcpServers.{self.name}"
        if self.previous is None:
            lines = [f"+ {prefix}"]
            lines += [f"+ {prefix}.{key} = {_show(value)}" for key, value in self.entry.items()]
            return lines
        lines = []
        for key in dict.fromkeys([*self.previous, *self.entry]):
            old, new = self.previous.get(key), self.entry.get(key)
            if key == "env" and isinstance(old, dict) and isinstance(new, dict):
                lines += _env_lines(f"{prefix}.env", old, new)
            elif key not in self.entry:
                lines.append(f"- {prefix}.{key}")
            elif key not in self.previous:
                lines.append(f"+ {prefix}.{key} = {_show(new)}")
            elif old != new:
                lines.append(f"~ {prefix}.{key}: {_show(old)} → {_show(new)}")
        return lines or [f"= {prefix} (already up to date)"]


def _env_lines(prefix: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    lines = []
    for key in dict.fromkeys([*old, *new]):
        if key not in new:
            shown = "(a secret)" if is_secret_key(str(key)) else _show(old[key])
            lines.append(f"- {prefix}.{key} {shown}")
        elif key not in old:
            lines.append(f"+ {prefix}.{key} = {_show(new[key])}")
        elif old[key] != new[key]:
            lines.append(f"~ {prefix}.{key}: {_show(old[key])} → {_show(new[key])}")
    return lines


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _words(entry: object) -> list[str]:
    if not isinstance(entry, dict):
        return []
    command = entry.get("command")
    args = entry.get("args")
    words = [command] if isinstance(command, str) else []
    words += [a for a in args if isinstance(a, str)] if isinstance(args, list) else []
    return words if any(Path(word).stem == "wellpipe" for word in words) else []


def runs_wellpipe(entry: object) -> bool:
    """Whether an ``mcpServers`` entry starts ``wellpipe ... serve`` (or ``wellpipe ... demo``)."""
    words = _words(entry)
    return "serve" in words or "demo" in words


def runs_demo_over_http(entry: object) -> bool:
    """Whether an entry starts ``wellpipe demo`` without ``--transport stdio``.

    ``wellpipe demo`` serves HTTP unless told otherwise, which Claude Desktop cannot speak.
    """
    words = _words(entry)
    if "demo" not in words or "serve" in words:
        return False
    joined = " ".join(words)
    return "--transport stdio" not in joined and "--transport=stdio" not in joined


def wellpipe_entries(config: Mapping[str, Any] | None, name: str = DEFAULT_NAME) -> list[str]:
    """Names of the entries that are (``name``) or run Wellpipe, ``name`` first."""
    servers = (config or {}).get("mcpServers")
    if not isinstance(servers, dict):
        return []
    found = [name] if isinstance(servers.get(name), dict) else []
    return found + [
        other for other, entry in servers.items() if other != name and runs_wellpipe(entry)
    ]


def plan_install(
    config: dict[str, Any] | None,
    *,
    name: str,
    entry: dict[str, Any],
    keep_home: bool = False,
) -> InstallPlan:
    """Add or update ``mcpServers[name]``, leaving every other key and entry as it is.

    Keys of an existing entry that we do not set (``disabled``, custom ``env``
    values...) are kept, except token and secret ``env`` keys, which are dropped,
    base URLs that ``entry`` does not set, and a ``WELLPIPE_HOME`` that no longer
    applies.

    Args:
        config: The whole config (``None`` if the file does not exist).
        name: The entry's name.
        entry: From `desktop_entry`.
        keep_home: Keep the entry's ``WELLPIPE_HOME`` when ``entry`` sets none (this
            shell does not set one: the entry's home is where its setup lives).
    """
    before = json.loads(json.dumps(config)) if config is not None else None
    after: dict[str, Any] = json.loads(json.dumps(config)) if config is not None else {}
    servers: dict[str, Any] = after.setdefault("mcpServers", {})
    previous = servers.get(name)
    merged: dict[str, Any] = dict(previous) if isinstance(previous, dict) else {}
    merged["command"] = entry["command"]
    merged["args"] = list(entry["args"])
    old_env = merged.get("env")
    env: dict[str, Any] = dict(old_env) if isinstance(old_env, dict) else {}
    removed = [key for key in env if is_secret_key(str(key))]
    for key in removed:
        del env[key]
    new_env = entry.get("env", {})
    kept_home = None
    if keep_home and "WELLPIPE_HOME" not in new_env and env.get("WELLPIPE_HOME"):
        kept_home = str(env["WELLPIPE_HOME"])
    else:
        env.pop("WELLPIPE_HOME", None)
    for key in [key for key in env if _is_base_url_key(str(key))]:
        del env[key]
    env.update(new_env)
    if env:
        merged["env"] = env
    else:
        merged.pop("env", None)
    servers[name] = merged
    others = {k: v for k, v in secret_keys_in(after).items() if k != name}
    return InstallPlan(
        name=name,
        before=before,
        after=after,
        previous=dict(previous) if isinstance(previous, dict) else None,
        entry=merged,
        removed_secrets=removed,
        other_secrets=others,
        other_wellpipe=[
            other for other, value in servers.items() if other != name and runs_wellpipe(value)
        ],
        kept_home=kept_home,
    )


def render_config(config: Mapping[str, Any]) -> str:
    """The file's text: two-space indented JSON, non-ASCII kept, a final newline."""
    return json.dumps(config, indent=2, ensure_ascii=False) + "\n"


def backup_path(path: Path, now: datetime) -> Path:
    """``<file>.bak-YYYYmmdd-HHMMSS`` (with ``-2``, ``-3``... if that name is taken)."""
    stem = f"{path.name}.bak-{now.strftime('%Y%m%d-%H%M%S')}"
    candidate = path.with_name(stem)
    counter = 2
    while candidate.exists():
        candidate = path.with_name(f"{stem}-{counter}")
        counter += 1
    return candidate


def write_config(path: Path, config: Mapping[str, Any], *, now: datetime) -> Path | None:
    """Write ``config`` atomically, first copying an existing file to a timestamped backup.

    A new file gets mode 0600; an existing file keeps its mode.

    Returns:
        The backup's path, or ``None`` when there was no file to back up.

    Raises:
        ConfigError: The folder or file cannot be written.
    """
    from wellpipe.cli.state import write_private_file

    backup: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = 0o600
        if path.exists():
            mode = path.stat().st_mode & 0o777
            backup = backup_path(path, now)
            shutil.copy2(path, backup)
        write_private_file(path, render_config(config), mode=mode)
    except OSError as exc:
        raise ConfigError(
            f"Cannot write the Claude Desktop config {path} ({_reason(exc)}); "
            "check the folder's permissions, or print the entry with --dry-run and "
            "paste it in yourself."
        ) from None
    return backup
