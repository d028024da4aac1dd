"""`precalc`: what Dagster's own CLI does not do — register inputs, run what is missing
(in-process, no daemon), report and look up predictions. One module per group of
commands: `inputs`, `runs`, `reports`, `lookup`, `demo`."""

from __future__ import annotations

import click

from precalc_assets.cli.demo import demo
from precalc_assets.cli.errors import user_errors
from precalc_assets.cli.inputs import add_library, add_model, list_models
from precalc_assets.cli.lookup import lookup
from precalc_assets.cli.reports import alerts, checks, ledger
from precalc_assets.cli.runs import run, status


class _Precalc(click.Group):
    """Bad input anywhere in a command (an instance that cannot be opened included)
    ends with its message and exit code 1, not a traceback."""

    def invoke(self, ctx: click.Context):
        with user_errors():
            return super().invoke(ctx)


@click.group(cls=_Precalc)
def main() -> None:
    """Precalculate model predictions over a molecule library with Dagster."""


for command in (add_library, add_model, list_models, run, status, ledger, lookup, checks, alerts):
    main.add_command(command)
main.add_command(demo)
