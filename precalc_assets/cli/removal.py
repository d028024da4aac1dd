"""`precalc remove-model` and `remove-library`: a model's or a library's precalculations
out of serving, storage and Dagster's partitions, after showing what goes."""

from __future__ import annotations

import click

from precalc_assets import keys
from precalc_assets.cli.user_errors import user_errors
from precalc_assets.deployment import Deployment, open_deployment
from precalc_assets.ids import not_registered
from precalc_assets.inputs.manifests import library_manifests
from precalc_assets.inputs.registered import (
    NotRegistered,
    check_named,
    stored_models,
    stored_slices,
)
from precalc_assets.steps.remove import Removal, carry_out, library_removal, model_removal

_YES = click.option("--yes", is_flag=True, help="Remove without asking.")


@click.command("remove-model")
@click.argument("model_id")
@_YES
def remove_model(model_id: str, yes: bool) -> None:
    """Remove a model: its served items, its files in storage and its partition key."""
    with user_errors():
        here = open_deployment()
        check_named(here.store, [model_id])
        removal = model_removal(here.store, here.table, model_id, stored_slices(here.store))
    _confirm_and_remove(here, removal, keys.MODEL, yes)


@click.command("remove-library")
@click.argument("name")
@_YES
def remove_library(name: str, yes: bool) -> None:
    """Remove a library: the items its slices serve for every model, their files, its
    slices' partition keys and its source file."""
    with user_errors():
        here = open_deployment()
        manifests = {m.name: m for m in library_manifests(here.store)}
        if name not in manifests:
            raise NotRegistered(
                not_registered("library", [name], sorted(manifests), "precalc add-library")
            )
        models = stored_models(here.store)
        removal = library_removal(here.store, here.table, manifests[name], models)
    _confirm_and_remove(here, removal, keys.SLICE, yes)


def _confirm_and_remove(here: Deployment, removal: Removal, dimension: str, yes: bool) -> None:
    click.echo(f"to remove: {removal.summary()}")
    if not yes:
        click.confirm("Remove it? This cannot be undone", abort=True)
    from precalc_assets.orchestration.instance import open_instance, remove_partitions

    with user_errors():
        instance = open_instance()
        carry_out(
            here.store,
            here.table,
            removal,
            then=lambda: remove_partitions(instance, dimension, removal.partitions),
        )
    click.echo(f"removed {removal.summary()}")
