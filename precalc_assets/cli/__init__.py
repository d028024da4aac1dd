"""`precalc`: what Dagster's own CLI does not do — register inputs, run what is missing
(no daemon), report and look up predictions. One module per group of commands
(`inputs`, `runs`, `reports`, `lookup`, `demo`), imported only when one of its commands
runs: `precalc --help` and `precalc lookup` start in well under a second."""

from __future__ import annotations

import importlib
import os
import sys

import click

from precalc_assets.cli.commands import COMMANDS
from precalc_assets.cli.user_errors import user_errors


class _Precalc(click.Group):
    """Commands loaded on demand (`commands.COMMANDS`). Bad input anywhere in a command
    (an instance that cannot be opened included) ends with its message and exit code 1,
    not a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, function, _ = COMMANDS[name]
        command = getattr(importlib.import_module(f"precalc_assets.cli.{module}"), function)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short) for name, (_, _, short) in COMMANDS.items()])

    def invoke(self, ctx: click.Context):
        with user_errors():
            return super().invoke(ctx)


@click.group(cls=_Precalc, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="precalc_assets", prog_name="precalc")
def main() -> None:
    """Precalculate model predictions over a molecule library with Dagster."""
    working_directory_on_path()


def working_directory_on_path() -> None:
    """Put the working directory first on `sys.path`, as Dagster's code server does for
    the daemon and `dagster dev` (`-d`): a `python` model's module beside you imports the
    same under `precalc add-model`, `precalc run` and its worker processes (spawned
    children start from this `sys.path`) as under the daemon."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
