"""`precalc`: what Dagster's own CLI does not do — register inputs, run what is
missing (in-process, no daemon), report and look up predictions."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path

import click
import dagster as dg

from precalc_assets.ids import InvalidIdError
from precalc_assets.library import DEFAULT_SLICE_SIZE, LibraryError
from precalc_assets.models import ModelError, builtin_ids
from precalc_assets.settings import Settings, ensure_dagster_home
from precalc_assets.stores import StoreError

USER_ERRORS = (LibraryError, ModelError, InvalidIdError, StoreError, ValueError, OSError)


@contextmanager
def user_errors():
    """Known bad input ends with its message and exit code 1, not a traceback."""
    try:
        yield
    except click.ClickException:
        raise
    except USER_ERRORS as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def opened(*names: str):
    """The deployment's resources, built the way Dagster builds them (EnvVar resolved)."""
    from precalc_assets.resources import resources_for

    settings = Settings.from_env()
    with dg.build_resources(resources_for(settings.deployment)) as resources:
        yield tuple(getattr(resources, name).open() for name in names)


def instance() -> dg.DagsterInstance:
    ensure_dagster_home(Settings.from_env())
    return dg.DagsterInstance.get()


@click.group()
def main() -> None:
    """Precalculate model predictions over a molecule library with Dagster."""


@main.command("add-library")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Library name (default: the file name without suffix).")
@click.option(
    "--slice-size", type=click.IntRange(min=1), default=DEFAULT_SLICE_SIZE, show_default=True
)
def add_library(path: Path, name: str | None, slice_size: int) -> None:
    """Copy a library file to storage, cut it into slices and register them."""
    from precalc_assets.registry import register_library

    with user_errors(), opened("storage") as (store,):
        manifest, new = register_library(store, path, name=name, slice_size=slice_size)
        keys = [s.key for s in manifest.slices]
        inst = instance()
        inst.add_dynamic_partitions(
            "slice", [k for k in keys if not inst.has_dynamic_partition("slice", k)]
        )
    state = "registered" if new else "already registered (unchanged)"
    click.echo(
        f"library {manifest.name!r} {state}: {manifest.rows:,} rows in {len(keys)} slices "
        f"of {manifest.slice_size:,} ({keys[0]} .. {keys[-1]}); "
        f"source {store.uri(manifest.source_key)}"
    )


@main.command("add-model")
@click.argument("model_id")
@click.option(
    "--spec",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='Model request JSON: {"runner": ..., "columns": [...]}.',
)
def add_model(model_id: str, spec: Path | None) -> None:
    """Register a model (a built-in ID, or any ID with --spec)."""
    from precalc_assets.registry import register_model

    with user_errors(), opened("storage") as (store,):
        model = register_model(store, model_id, spec)
        inst = instance()
        if not inst.has_dynamic_partition("model", model_id):
            inst.add_dynamic_partitions("model", [model_id])
    click.echo(
        f"model {model_id!r} registered: runner {model.runner}, columns "
        f"{', '.join(model.column_names)}; code version {model.code_version}"
    )


@main.command("models")
def list_models() -> None:
    """List the built-in models."""
    from precalc_assets.models import resolve_spec

    for model_id in builtin_ids():
        spec = resolve_spec(model_id)
        click.echo(f"{model_id:16} {spec.description}")


@main.command("run")
@click.option("--model", "models", multiple=True, help="Only this model (repeatable).")
@click.option("--slice", "slices", multiple=True, help="Only this slice (repeatable).")
@click.option(
    "--partitions-per-run",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Pack up to this many model x slice partitions into one Dagster run.",
)
def run(models: tuple[str, ...], slices: tuple[str, ...], partitions_per_run: int = 8) -> None:
    """Materialise every missing, stale or failed model x slice partition, in this
    process (the ledger says which)."""
    from precalc_assets.definitions import build_definitions
    from precalc_assets.ledger import build_ledger, work_to_do
    from precalc_assets.runner import NotRegistered, registered, run_missing

    inst = instance()
    try:
        chosen_models = registered(inst, "model", models)
        chosen_slices = registered(inst, "slice", slices)
    except NotRegistered as exc:
        raise click.ClickException(str(exc)) from None
    with user_errors(), opened("storage") as (store,):
        plan = work_to_do(build_ledger(inst, store, chosen_models, chosen_slices))
    todo = sum(len(m) for m in plan.values())
    click.echo(
        f"{todo} partition(s) missing, stale or failed of {len(chosen_models)} model(s) "
        f"x {len(chosen_slices)} slice(s)"
    )
    summary = run_missing(
        build_definitions(), inst, plan, echo=click.echo, max_partitions_per_run=partitions_per_run
    )
    _print_report(inst, chosen_models, chosen_slices)
    if summary.failures:
        click.echo(
            f"{len(summary.failures)} partition(s) failed; fix the cause and run again:", err=True
        )
        for key, error in summary.failures.items():
            click.echo(f"  {key}: {error}", err=True)
        sys.exit(1)


@main.command("status")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def status(fmt: str) -> None:
    """Per model: slices done, rows published, rows rejected."""
    from precalc_assets.runner import registered

    inst = instance()
    models, slices = registered(inst, "model"), registered(inst, "slice")
    _print_report(inst, models, slices, fmt)


def _print_report(
    inst: dg.DagsterInstance, models: list[str], slices: list[str], fmt: str = "table"
) -> None:
    from precalc_assets.ledger import build_ledger, summarize

    with user_errors(), opened("storage") as (store,):
        summaries = summarize(build_ledger(inst, store, models, slices))
    rows = [
        {
            "model": s.model,
            "slices_done": len(s.done),
            "slices": s.slices,
            "rows_published": s.rows_published,
            "rows_rejected": s.rows_rejected,
        }
        for s in summaries
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'model':18} {'slices done':>12} {'rows published':>15} {'rows rejected':>14}")
    for row in rows:
        done = f"{row['slices_done']}/{row['slices']}"
        click.echo(
            f"{row['model']:18} {done:>12} {row['rows_published']:>15,} {row['rows_rejected']:>14,}"
        )


@main.command("ledger")
@click.option("--model", "models", multiple=True, help="Only this model (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
def ledger(models: tuple[str, ...], fmt: str) -> None:
    """What is done, stale, failed or missing, per model (from materialisation history)."""
    import csv

    from precalc_assets.ledger import build_ledger, summarize, summary_markdown
    from precalc_assets.runner import NotRegistered, registered

    inst = instance()
    try:
        chosen = registered(inst, "model", models)
    except NotRegistered as exc:
        raise click.ClickException(str(exc)) from None
    from precalc_assets.sensors import load_rejected_inputs

    with user_errors(), opened("storage") as (store,):
        rows = build_ledger(inst, store, chosen)
        rejected = load_rejected_inputs(store)
    summaries = summarize(rows)
    if fmt == "json":
        payload = {"models": [s.to_dict() for s in summaries], "rejected_inputs": rejected}
        click.echo(json.dumps(payload, indent=2))
    elif fmt == "csv":
        writer = csv.DictWriter(
            sys.stdout, fieldnames=list(rows[0].__dict__) if rows else ["model"]
        )
        writer.writeheader()
        for row in rows:
            writer.writerow(row.__dict__)
    else:
        click.echo(summary_markdown(summaries))
        for key, why in rejected.items():
            click.echo(f"rejected input {store.uri(key)}: {why}")


@main.command("lookup")
@click.option("--model", "model_id", required=True)
@click.option("--key", "keys", multiple=True, required=True, help="InChIKey (repeatable).")
def lookup(model_id: str, keys: tuple[str, ...]) -> None:
    """Read predictions from the serving table; prints JSON (null for a missing key)."""
    with user_errors(), opened("serving") as (table,):
        found = table.get_many(model_id, list(keys))
    click.echo(json.dumps({k: found.get(k) for k in keys}, indent=2, default=str))


@main.command("checks")
def checks() -> None:
    """The latest check result of every model x slice: counts per check, then failures."""
    from precalc_assets.checks import checks_markdown, latest_evaluations

    latest = latest_evaluations(instance())
    click.echo(checks_markdown(latest) if latest else "no check has run yet")


@main.command("alerts")
def alerts() -> None:
    """Send notifications for new check failures and failed runs now, and print them:
    what `check_alerts_sensor` does every 30 s under the daemon, for setups without one.
    Its cursor is $PRECALC_HOME/alerts.cursor.json (the daemon keeps its own)."""
    from precalc_assets.definitions import build_definitions
    from precalc_assets.sensors import check_alerts_sensor

    inst = instance()
    defs = build_definitions()
    cursor_file = Settings.from_env().home / "alerts.cursor.json"
    cursor = cursor_file.read_text() if cursor_file.exists() else None
    with (
        user_errors(),
        dg.build_sensor_context(instance=inst, cursor=cursor, resources=defs.resources) as context,
    ):
        result = check_alerts_sensor(context)
        cursor_file.write_text(context.cursor or "")
    click.echo(result.skip_message)


@main.command("demo")
@click.option("--slice-size", type=click.IntRange(min=1), default=1000, show_default=True)
def demo(slice_size: int) -> None:
    """Register RDKit's NCI sample (4,999 real molecules), a library of a different
    chemical space (small BRICS fragments of the same molecules) and the built-in models; run
    everything missing, then show the checks and the alerts they raised."""
    import rdkit

    from precalc_assets.chem import fragment_smiles

    library = Path(rdkit.__file__).parent / "Data" / "NCI" / "first_5K.smi"
    fragments = Settings.from_env().home / "demo" / "fragments.smi"
    if not fragments.exists():
        fragments.parent.mkdir(parents=True, exist_ok=True)
        smiles = (line.split()[0] for line in library.read_text().splitlines() if line.strip())
        small = fragment_smiles(smiles, slice_size, max_heavy_atoms=10)  # fragment-like
        fragments.write_text("".join(f"{s}\n" for s in small))
    ctx = click.get_current_context()
    ctx.invoke(add_library, path=library, name="nci-first5k", slice_size=slice_size)
    ctx.invoke(add_library, path=fragments, name="fragments", slice_size=slice_size)
    for model_id in builtin_ids():
        ctx.invoke(add_model, model_id=model_id, spec=None)
    ctx.invoke(run, models=(), slices=())
    click.echo("\nChecks (latest result per model x slice):")
    ctx.invoke(checks)
    click.echo(f"\nAlerts (also in {Settings.from_env().home / 'alerts.jsonl'}):")
    ctx.invoke(alerts)
