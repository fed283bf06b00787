"""``wellpipe claude install`` / ``show``: Wellpipe's entry in Claude Desktop's config."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from wellpipe.cli.claude_config import DEFAULT_NAME, ENV_CLAUDE_CONFIG, entry_home
from wellpipe.cli.console import err, out, reports_errors

__all__ = ["NEXT_STEP", "claude", "entry_home"]

NEXT_STEP = "Quit Claude Desktop completely and reopen it"
STALE_TOKENS_WHY = (
    "tokens don't belong in Claude's config: providers rotate the refresh token on first use, "
    "so a copy there goes stale, and the one in Wellpipe's .env wins anyway"
)

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=ENV_CLAUDE_CONFIG,
    default=None,
    help=f"The claude_desktop_config.json to use (default: Claude's own; or ${ENV_CLAUDE_CONFIG}).",
)
name_option = click.option(
    "--name",
    default=DEFAULT_NAME,
    show_default=True,
    help="The entry's name under mcpServers (Claude shows it in its tool list).",
)


@click.group(short_help="Add Wellpipe to Claude Desktop.")
def claude() -> None:
    """Connect Wellpipe's MCP server to Claude Desktop (claude_desktop_config.json)."""


@claude.command(short_help="Add or update the Wellpipe entry in Claude Desktop's config.")
@config_option
@name_option
@click.option("--demo", is_flag=True, help="Serve the built-in provider sandboxes (to try it out).")
@click.option("--dry-run", is_flag=True, help="Print the resulting JSON; change nothing.")
@reports_errors
def install(config_path: Path | None, name: str, demo: bool, dry_run: bool) -> None:
    """Add (or update) Wellpipe in Claude Desktop's claude_desktop_config.json.

    Every other server and setting in the file is kept as it is, and the old
    file is copied to claude_desktop_config.json.bak-<time> first. No token or
    secret is written: the server reads them from Wellpipe's own .env. What the
    server would miss from this shell goes into the entry's env: WELLPIPE_HOME
    (if not the default) and base URLs set only in the environment (a sandbox).
    """
    import os

    from wellpipe.cli.claude_config import (
        claude_config_path,
        desktop_entry,
        load_config,
        plan_install,
        render_config,
        write_config,
    )
    from wellpipe.cli.home import ENV_HOME

    path = claude_config_path(config_path)
    claude_missing = config_path is None and not path.parent.is_dir()
    entry = desktop_entry(demo=demo)
    shell_sets_home = bool(os.environ.get(ENV_HOME, "").strip())
    plan = plan_install(load_config(path), name=name, entry=entry, keep_home=not shell_sets_home)
    summary = "\n".join(plan.summary())

    if dry_run:
        click.echo(render_config(plan.after), nl=False)
        err.print(
            f"Dry run: {path} was not changed. It would get:", highlight=False, soft_wrap=True
        )
        err.print(summary, markup=False, highlight=False, soft_wrap=True)
        _warn(plan.removed_secrets, plan.other_secrets, plan.other_wellpipe, dry_run=True)
        _explain_env(plan.entry, plan.kept_home, dry_run=True)
        return

    if claude_missing:
        err.print(
            f"[yellow]Claude Desktop was not found[/] (no {path.parent}); writing its config "
            "anyway, so Wellpipe is there when you install it (claude.ai/download).",
            highlight=False,
            soft_wrap=True,
        )
    if not plan.changed:
        out.print(
            f"{name} is already set up in {path}; nothing to change.",
            highlight=False,
            soft_wrap=True,
        )
        _warn([], plan.other_secrets, plan.other_wellpipe)
        return
    from datetime import datetime

    backup = write_config(path, plan.after, now=datetime.now().astimezone())
    verb = "Updated" if plan.previous is not None else "Added"
    out.print(f"{verb} [bold]{name}[/] in {path}:", highlight=False, soft_wrap=True)
    out.print(summary, markup=False, highlight=False, soft_wrap=True)
    if backup is not None:
        out.print(f"The previous file is saved as {backup}.", highlight=False, soft_wrap=True)
    _warn(plan.removed_secrets, plan.other_secrets, plan.other_wellpipe)
    _explain_env(plan.entry, plan.kept_home)
    if demo:
        out.print(
            "This entry serves the built-in sandbox (synthetic data).",
            highlight=False,
            soft_wrap=True,
        )
    out.print(f"Next: {NEXT_STEP}.", highlight=False, soft_wrap=True)


def _explain_env(entry: Mapping[str, Any], kept_home: str | None, *, dry_run: bool = False) -> None:
    """Say why the entry carries a home or base URLs (Claude does not see this shell's)."""
    from wellpipe.cli.home import ENV_HOME, wellpipe_home

    if kept_home is not None:
        verb = "Would keep" if dry_run else "Kept"
        err.print(
            f"{verb} {ENV_HOME}={kept_home} in the entry: its setup lives there, and this "
            f"shell sets no {ENV_HOME}. To point Claude Desktop at the default home instead, "
            f"run `{ENV_HOME}={wellpipe_home({})} wellpipe claude install`.",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    env = entry.get("env")
    base_urls = (
        {k: v for k, v in env.items() if k.startswith("WELLPIPE_") and k.endswith("_BASE_URL")}
        if isinstance(env, dict)
        else {}
    )
    for key, value in base_urls.items():
        err.print(
            f"The entry carries {key}={value} from this shell's environment, so Claude "
            "Desktop's server talks to the same place (save it in Wellpipe's .env with "
            "`wellpipe init --base-url` to need it no more).",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )


def _warn(
    removed: list[str],
    others: dict[str, list[str]],
    duplicates: list[str],
    *,
    dry_run: bool = False,
) -> None:
    if removed:
        verb = "Would remove" if dry_run else "Removed"
        err.print(
            f"[yellow]{verb} {', '.join(removed)}[/] from the entry: {STALE_TOKENS_WHY}.",
            highlight=False,
            soft_wrap=True,
        )
    for other, keys in others.items():
        err.print(
            f"[yellow]Warning:[/] the entry {other!r} holds {', '.join(keys)}; {STALE_TOKENS_WHY}. "
            f"Remove them (or the entry) from the file by hand.",
            highlight=False,
            soft_wrap=True,
        )
    if duplicates:
        err.print(
            f"[yellow]Warning:[/] {', '.join(map(repr, duplicates))} also run(s) Wellpipe; "
            "Claude would start it twice: remove the extra entry from the file by hand.",
            highlight=False,
            soft_wrap=True,
        )


@claude.command(short_help="Show the Wellpipe entry in Claude Desktop's config.")
@config_option
@name_option
@reports_errors
def show(config_path: Path | None, name: str) -> None:
    """Print the config file's path and the Wellpipe entry in it.

    Exits with 1 when the entry is not there.
    """
    from wellpipe.cli.claude_config import claude_config_path, load_config, render_config

    path = claude_config_path(config_path)
    config = load_config(path)
    err.print(f"Claude Desktop config: {path}", highlight=False, soft_wrap=True)
    servers = (config or {}).get("mcpServers") or {}
    entry = servers.get(name)
    if entry is None:
        missing = "does not exist" if config is None else f"has no {name!r} entry"
        err.print(
            f"[yellow]The file {missing}[/]: run `wellpipe claude install`.",
            highlight=False,
            soft_wrap=True,
        )
        raise click.exceptions.Exit(1)
    click.echo(render_config({"mcpServers": {name: entry}}), nl=False)
    env = entry.get("env") if isinstance(entry, dict) else None
    from wellpipe.cli.claude_config import is_secret_key

    secrets = [key for key in env if is_secret_key(key)] if isinstance(env, dict) else []
    _warn([], {name: secrets} if secrets else {}, [])
