"""`precalc lookup`: predictions read from the serving table."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from precalc_assets import layout
from precalc_assets.cli.errors import user_errors
from precalc_assets.ids import InvalidIdError, validate_id
from precalc_assets.models.spec import ModelError
from precalc_assets.settings import Settings, store_urls
from precalc_assets.stores.factory import open_object_store, open_serving_table


@click.command("lookup")
@click.option("--model", "model_id", required=True)
@click.option("--key", "keys", multiple=True, required=True, help="InChIKey (repeatable).")
def lookup(model_id: str, keys: tuple[str, ...]) -> None:
    """Read predictions from the serving table; prints JSON (null for a missing key).

    The model must be registered (a request in `inputs/models/`): a mistyped model ID
    is an error, not a page of nulls.
    """
    with user_errors():
        # The stores straight from their URLs: no Dagster, no RDKit, a fast start.
        storage_url, serving_url = store_urls(Settings.from_env())
        store, table = open_object_store(storage_url), open_serving_table(serving_url)
        registered = layout.registered_model_ids(i.key for i in store.list(layout.MODEL_REQUESTS))
        if model_id not in registered:
            try:
                validate_id(model_id, "model ID")
                why = f"not registered in {store.url} (no {layout.model_request(model_id)})"
            except InvalidIdError as exc:
                why = str(exc)
            raise ModelError(
                f"model {model_id!r}: {why}; registered models: "
                f"{', '.join(registered) or 'none'}. Check --model, or register the model "
                "with `precalc add-model`"
            )
        found = table.get_many(model_id, list(keys))
    rows = {k: asdict(found[k]) if k in found else None for k in keys}
    click.echo(json.dumps(rows, indent=2, default=str))
