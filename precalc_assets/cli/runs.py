"""`precalc run` and `status`: materialise what is missing, in this process, and report.

The model and slice IDs named are checked against storage first: Dagster (and the code
location) are imported only once they are known, so a typo fails in a moment, naming
the closest registered ID."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from precalc_assets import keys
from precalc_assets.batches import Batch
from precalc_assets.cli.progress import RunProgress
from precalc_assets.cli.user_errors import user_errors
from precalc_assets.deployment import Deployment, open_deployment
from precalc_assets.inputs.model_requests import load_model_spec
from precalc_assets.inputs.registered import (
    NotRegistered,
    check_named,
    stored_models,
    stored_slices,
)
from precalc_assets.ledger.summary import summarize
from precalc_assets.models.spec import ModelSpec
from precalc_assets.steps.sample import sample_predictions
from precalc_assets.steps.validate import Validation


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _count_option(
    flag: str, default: object, help: str, shown: bool | str = True
) -> Callable[..., Any]:
    """An option taking a whole number of at least 1."""
    return click.option(
        flag, type=click.IntRange(min=1), default=default, show_default=shown, help=help
    )


@click.command("run")
@click.option("--model", "models", multiple=True, help="Only this model (repeatable).")
@click.option("--slice", "slices", multiple=True, help="Only this slice (repeatable).")
@_count_option(
    "--partitions-per-run",
    keys.PARTITIONS_PER_RUN,
    "Pack up to this many model x slice partitions into one Dagster run.",
)
@_count_option(
    "--workers",
    available_cores,
    "Runs at once: this process and N - 1 worker processes.",
    shown="this machine's cores",
)
@_count_option(
    "--runs-per-worker",
    keys.RUNS_PER_WORKER,
    "Runs a worker executes before a fresh process takes its place (flat memory).",
)
@_count_option(
    "--sample",
    None,
    "Only compute and validate the first N molecules of the (first) slice for each model, "
    "print them, and publish nothing.",
    shown=False,
)
@click.option(
    "--dry-run", is_flag=True, help="List the partitions and runs it would launch; run nothing."
)
def run(
    models: tuple[str, ...],
    slices: tuple[str, ...],
    partitions_per_run: int = keys.PARTITIONS_PER_RUN,
    workers: int = 1,
    runs_per_worker: int = keys.RUNS_PER_WORKER,
    sample: int | None = None,
    dry_run: bool = False,
) -> None:
    """Materialise every missing, stale or failed model x slice partition, `--workers`
    runs at a time (the ledger says which)."""
    with user_errors():
        deployment = open_deployment()
        check_named(deployment.store, models, slices)
        if sample is not None:  # no Dagster run: storage is all it reads
            _print_samples(deployment, list(models), list(slices), sample)
            return
    from precalc_assets.definitions import build_definitions
    from precalc_assets.orchestration.instance import open_instance, registered
    from precalc_assets.orchestration.precalc_run import Scope, planned_runs, precalc_run

    instance = open_instance()
    with user_errors():
        scope = Scope(
            registered(instance, keys.MODEL, models),
            registered(instance, keys.SLICE, slices),
            partitions_per_run,
            workers,
            runs_per_worker,
        )
    if dry_run:
        with user_errors():
            plan, batches = planned_runs(instance, deployment, scope)
        click.echo(dry_run_report(plan, batches, scope.workers))
        return
    summary = precalc_run(build_definitions, instance, deployment, scope, _Terminal())
    print_report(scope.models, scope.slices)
    if summary.failures:  # each said above, in one line with its cause and its run
        click.echo(
            f"{len(summary.failures)} partition(s) failed (each above, with its cause and its "
            "run); fix the cause and run again",
            err=True,
        )
        sys.exit(1)


class _Terminal:
    """`precalc run` on the terminal: lines, warnings on stderr, a progress bar."""

    def say(self, line: str) -> None:
        click.echo(line)

    def warn(self, line: str) -> None:
        click.echo(line, err=True)

    def progress(self, molecules: dict[str, int], directory: Path) -> RunProgress:
        return RunProgress(molecules, directory, "precalculating")


@click.command("status")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def status(fmt: str) -> None:
    """Per model: slices done, rows published, rows rejected."""
    from precalc_assets.orchestration.instance import open_instance, registered

    inst = open_instance()
    models, slices = registered(inst, keys.MODEL), registered(inst, keys.SLICE)
    print_report(models, slices, fmt)


def print_report(models: list[str], slices: list[str], fmt: str = "table") -> None:
    from precalc_assets.orchestration.instance import open_instance
    from precalc_assets.orchestration.ledger_reads import build_ledger

    with user_errors():
        here = open_deployment()
        ledger = build_ledger(
            open_instance(), here.store, here.policy, here.table.url, models, slices
        )
        summaries = summarize(ledger)
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


SAMPLE_COLUMNS = 6  # of a wide model's outputs, shown in a sample's table


def _print_samples(here: Deployment, models: list[str], slices: list[str], count: int) -> None:
    """`--sample`: each model (all registered, or those named) over the first molecules
    of the first slice named (or registered)."""
    chosen = models or stored_models(here.store)
    slice_key = next(iter(slices or stored_slices(here.store)), None)
    if slice_key is None:
        raise NotRegistered(
            "no library is registered to sample; register one with `precalc add-library`"
        )
    for model_id in chosen:
        spec = load_model_spec(here.store, model_id, here.policy)
        found = sample_predictions(here.store, spec, slice_key, count)
        click.echo(sample_report(spec, slice_key, found))


def sample_report(spec: ModelSpec, slice_key: str, found: Validation) -> str:
    """A sample's rows as a table (a wide model's first outputs), then its failures."""
    names = spec.column_names
    shown = names[:SAMPLE_COLUMNS]
    header = ["inchikey", "smiles", *shown] + (
        [f"... {len(names) - len(shown)} more"] * (len(names) > len(shown))
    )
    lines = [
        f"{spec.model_id} on the first {len(found.valid) + len(found.quarantined)} molecules "
        f"of {slice_key} (nothing published):",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in found.valid[["inchikey", "smiles", *shown]].itertuples(index=False):
        cells = [str(value) for value in row] + [""] * (len(header) - len(row))
        lines.append("| " + " | ".join(cells) + " |")
    lines += [f"failed: {key}: {why}" for key, why in found.failures().items()]
    lines.append(f"{len(found.valid)} valid, {len(found.quarantined)} failed")
    return "\n".join(lines)


def dry_run_report(plan: dict[str, list[str]], batches: list[Batch], workers: int) -> str:
    """`precalc run --dry-run`: each run it would launch, its partitions, and the total."""
    partitions = sum(len(models) for models in plan.values())
    lines = [
        f"{partitions} partition(s) missing, stale or failed; {len(batches)} run(s) of up to "
        f"{max((b.size for b in batches), default=0)} partition(s), {workers} at a time "
        "(nothing run):"
    ]
    for batch in batches:
        first, last = batch.range
        lines.append(f"  run {first} .. {last}: {batch.size} partition(s)")
    return "\n".join(lines)
