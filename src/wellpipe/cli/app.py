"""The ``wellpipe`` click group: commands live in their own modules and load only when they run."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import click

from wellpipe import __version__
from wellpipe.cli.logs import configure_logging

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["main"]

# name -> (module, attribute, one-line help). The help is here so ``wellpipe --help``
# lists every command without importing any of them.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("wellpipe.cli.init_command", "init", "Set up Wellpipe: your provider developer apps."),
    "auth": ("wellpipe.cli.auth_command", "auth", "Connect your account at a provider."),
    "serve": ("wellpipe.cli.serve_command", "serve", "Run the MCP server (stdio or HTTP)."),
    "demo": ("wellpipe.cli.serve_command", "demo", "Try the MCP server on the built-in sandboxes."),
    "claude": ("wellpipe.cli.claude_command", "claude", "Add Wellpipe to Claude Desktop."),
    "sync": (
        "wellpipe.cli.sync_command",
        "sync",
        "Keep your history: backfill, then what changed.",
    ),
    "status": ("wellpipe.cli.status_command", "status", "Show connections, tokens and paths."),
    "doctor": ("wellpipe.cli.doctor_command", "doctor", "Check each step of the setup."),
    "export": ("wellpipe.cli.export_command", "export", "Write your history to CSV/JSONL/Parquet."),
    "sandbox": ("wellpipe.cli.sandbox_command", "sandbox", "Run fake provider APIs locally."),
}


PLUGIN_GROUP = "wellpipe.commands"
"""Entry-point group for command groups installed beside the CLI (``wellpipe cloud``)."""


def _entry_points(name: str | None = None) -> list[EntryPoint]:
    # importlib.metadata scans every installed package: only when a command is not ours.
    from importlib.metadata import entry_points

    return [ep for ep in entry_points(group=PLUGIN_GROUP) if name in (None, ep.name)]


def _plugins() -> dict[str, str]:
    return {ep.name: ep.value for ep in _entry_points()}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command, in the order a newcomer needs them."""
        return [*COMMANDS, *_plugins(), *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import the command's module only now."""
        if cmd_name not in COMMANDS:
            for ep in _entry_points(cmd_name):
                plugin = ep.load()
                if isinstance(plugin, click.Command):
                    return plugin
            return super().get_command(ctx, cmd_name)
        module_name, attribute, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):  # pragma: no cover - a wiring mistake
            raise TypeError(f"{module_name}.{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands from the table above, without importing them."""
        rows = [(name, short) for name, (_, _, short) in COMMANDS.items()]
        rows += [(name, "Wellpipe Cloud: run and operate the service.") for name in _plugins()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="wellpipe")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv for debug).")
def main(verbose: int) -> None:
    """Wellpipe: let AI assistants read your own wearable health data."""
    configure_logging(verbose)
