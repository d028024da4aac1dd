"""`precalc example-repo`: an example model repository to try the `command` runner with,
offline (a real one comes from `git clone https://github.com/ersilia-os/<id>`)."""

from __future__ import annotations

from pathlib import Path

import click

from precalc_assets.cli.user_errors import user_errors
from precalc_assets.models.example_repo import write_example_repo


@click.command("example-repo")
@click.argument("folder", type=click.Path(path_type=Path))
def example_repo(folder: Path) -> None:
    """Write a molecular-weight model in the hub's template layout to FOLDER (new or
    empty; its name is the model's ID), then register it with
    `precalc add-model ID --spec` and `{"runner": "command", "repo": FOLDER}`."""
    with user_errors():
        path = write_example_repo(folder)
    click.echo(
        f"example repository written to {path}: metadata.yml, install.yml, "
        "model/framework/{run.sh, code/main.py, columns/run_columns.csv, examples/}"
    )
