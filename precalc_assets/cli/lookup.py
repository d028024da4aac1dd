"""`precalc lookup`: predictions read from the serving table."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from precalc_assets.cli.errors import user_errors
from precalc_assets.dagster_defs.instance import opened


@click.command("lookup")
@click.option("--model", "model_id", required=True)
@click.option("--key", "keys", multiple=True, required=True, help="InChIKey (repeatable).")
def lookup(model_id: str, keys: tuple[str, ...]) -> None:
    """Read predictions from the serving table; prints JSON (null for a missing key)."""
    with user_errors(), opened("serving") as (table,):
        found = table.get_many(model_id, list(keys))
    rows = {k: asdict(found[k]) if k in found else None for k in keys}
    click.echo(json.dumps(rows, indent=2, default=str))
