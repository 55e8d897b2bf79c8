"""The root command group: ``tracline`` and where each subcommand is defined."""

from __future__ import annotations

import importlib

import click

from tracline._version import __version__
from tracline.cli import COMMANDS


class LazyGroup(click.Group):
    """A group whose subcommands' modules load on first use (``COMMANDS``: name -> (module,
    one-line help)), so a command does not pay for the imports of every other one, and
    ``tracline --help`` for none of them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(COMMANDS[cmd_name][0])
        command = super().get_command(ctx, cmd_name)
        if command is not None and cmd_name in COMMANDS:
            command.short_help = COMMANDS[cmd_name][1]  # the one `tracline --help` shows
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help``, from ``COMMANDS`` (no command module imported)."""
        rows = [(name, COMMANDS[name][1] if name in COMMANDS else
                 self.commands[name].get_short_help_str())
                for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(name="tracline", cls=LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tracline")
def app() -> None:
    """Observed lineage, content hashes, GPU cost and approvals for ML runs.

    Every command takes --json (JSON on standard output, errors included). Output piped or
    redirected is plain text: no colours, nothing wrapped or cut.
    """
