"""`precalc add-library`, `add-model` and `models`: register inputs in storage."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from precalc_assets import keys
from precalc_assets.chem import DEFAULT_MAX_SMILES_LENGTH, MAX_SMILES_LENGTH_CEILING
from precalc_assets.cli.user_errors import user_errors
from precalc_assets.deployment import open_policy, open_storage
from precalc_assets.inputs.libraries import register_library
from precalc_assets.inputs.library_files import DEFAULT_SLICE_SIZE
from precalc_assets.inputs.model_requests import register_model, resolve_spec
from precalc_assets.models.catalog import builtin_ids
from precalc_assets.models.spec import ModelSpec
from precalc_assets.models.trust import must_be_declared
from precalc_assets.orchestration.instance import add_partitions, open_instance


@click.command("add-library")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Library name (default: the file name without suffix).")
@click.option(
    "--slice-size", type=click.IntRange(min=1), default=DEFAULT_SLICE_SIZE, show_default=True
)
@click.option(
    "--max-smiles-length",
    type=click.IntRange(min=1, max=MAX_SMILES_LENGTH_CEILING),
    default=DEFAULT_MAX_SMILES_LENGTH,
    show_default=True,
    help="Rows with a longer SMILES are rejected as too_long, unparsed.",
)
def add_library(path: Path, name: str | None, slice_size: int, max_smiles_length: int) -> None:
    """Copy a library file to storage, cut it into slices and register them."""
    with user_errors():
        store = open_storage()
        manifest, new = register_library(
            store, path, name=name, slice_size=slice_size, max_smiles_length=max_smiles_length
        )
        slice_keys = [s.key for s in manifest.slices]
        add_partitions(open_instance(), keys.SLICE, slice_keys)
    state = "registered" if new else "already registered (unchanged)"
    click.echo(
        f"library {manifest.name!r} {state}: {manifest.rows:,} rows in {len(slice_keys)} "
        f"slices of {manifest.slice_size:,} ({slice_keys[0]} .. {slice_keys[-1]}); "
        f"source {store.uri(manifest.source_key)}"
    )


@click.command("add-model")
@click.argument("model_id")
@click.option(
    "--spec",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='Model request JSON: {"runner": "http", "url": ...}, {"runner": "command", '
    '"repo": ...}, {"runner": "python", "callable": ...}; with "columns" and "checks".',
)
def add_model(model_id: str, spec: Path | None) -> None:
    """Register a model: a built-in ID, or any ID with --spec. A served model or a
    repository is asked for its columns and run on its own examples first; a model
    that runs code here (python, command) is declared in this machine's models file."""
    with user_errors():
        store, policy = open_storage(), open_policy()
        probe = register_model(store, model_id, policy, spec, log=click.echo)
        add_partitions(open_instance(), keys.MODEL, [model_id])
    model = probe.spec
    if probe.card is not None:
        click.echo(f"model {model_id!r} described by {probe.card.source}")
    if probe.examples is not None:
        click.echo(probe.examples.summary())
    if model_id in policy.declared or must_be_declared({"runner": model.runner, **model.options}):
        click.echo(f"declared in the deployment's models file {policy.models_file}")
    click.echo(
        f"model {model_id!r} registered: runner {model.runner}, columns "
        f"{columns_summary(model)}; code version {model.code_version}"
    )


SHOWN_COLUMNS = 8  # a hub model has hundreds: the first few, the last, and the counts


def columns_summary(model: ModelSpec) -> str:
    """The model's columns in a line: names (a few of many), types, nullable ones."""
    names = model.column_names
    if len(names) > SHOWN_COLUMNS:
        shown = f"{len(names)} ({', '.join(names[:3])}, ..., {names[-1]})"
    else:
        shown = ", ".join(names)
    if len(names) == 1:
        return shown
    types = Counter(c.dtype for c in model.columns)
    nullable = sum(c.nullable for c in model.columns)
    which = "all" if nullable == len(names) else f"{nullable:,}"
    return f"{shown}: {', '.join(f'{n:,} {dtype}' for dtype, n in types.items())}" + (
        f", {which} nullable" if nullable else ""
    )


@click.command("models")
def list_models() -> None:
    """List the built-in models and those the deployment declares (its models file)."""
    for model_id in builtin_ids():
        spec = resolve_spec(model_id)
        click.echo(f"{model_id:16} {spec.description}")
    with user_errors():
        policy = open_policy()
        for model_id, request in sorted(policy.declared.items()):
            runner = request.get("runner", "?")
            what = request.get("repo") or request.get("callable") or request.get("command")
            click.echo(f"{model_id:16} declared in {policy.models_file}: {runner} {what or ''}")
