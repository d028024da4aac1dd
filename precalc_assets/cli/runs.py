"""`precalc run` and `status`: materialise what is missing, in this process, and report."""

from __future__ import annotations

import json
import os
import sys

import click

from precalc_assets import keys
from precalc_assets.cli.errors import user_errors
from precalc_assets.cli.progress import RunProgress
from precalc_assets.dagster_defs.active_runs import fail_dead_runs
from precalc_assets.dagster_defs.evaluations import partitions_needing_checks
from precalc_assets.dagster_defs.history import build_ledger
from precalc_assets.dagster_defs.instance import open_instance, opened, registered
from precalc_assets.dagster_defs.runs import materialize_ledger, run_missing
from precalc_assets.definitions import build_definitions
from precalc_assets.inputs.manifests import slice_rows
from precalc_assets.inputs.model_requests import refresh_cards
from precalc_assets.ledger.summary import plan_of, summarize, work_to_do


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@click.command("run")
@click.option("--model", "models", multiple=True, help="Only this model (repeatable).")
@click.option("--slice", "slices", multiple=True, help="Only this slice (repeatable).")
@click.option(
    "--partitions-per-run",
    type=click.IntRange(min=1),
    default=keys.PARTITIONS_PER_RUN,
    show_default=True,
    help="Pack up to this many model x slice partitions into one Dagster run.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=available_cores,
    show_default="this machine's cores",
    help="Runs at once, each worker in its own process (1: in this process).",
)
def run(
    models: tuple[str, ...],
    slices: tuple[str, ...],
    partitions_per_run: int = keys.PARTITIONS_PER_RUN,
    workers: int = 1,
) -> None:
    """Materialise every missing, stale or failed model x slice partition, `--workers`
    runs at a time (the ledger says which)."""
    inst = open_instance()
    with user_errors():
        chosen_models = registered(inst, keys.MODEL, models)
        chosen_slices = registered(inst, keys.SLICE, slices)
    for run_id in fail_dead_runs(inst):
        click.echo(f"run {run_id} was marked failed: its process is gone; redoing its work")
    with user_errors(), opened("storage", "models") as (store, policy):
        # Asks each hub model again (and builds a repository model's environment if it
        # is not built yet, with its progress on the terminal).
        asked = refresh_cards(store, chosen_models, policy, log=click.echo)
        for model_id, problem in asked.items():
            click.echo(f"model {model_id!r} could not be asked what it is: {problem}", err=True)
        plan = work_to_do(build_ledger(inst, store, policy, chosen_models, chosen_slices))
        rows = slice_rows(store, list(plan))
    todo = sum(len(m) for m in plan.values())
    click.echo(
        f"{todo} partition(s) missing, stale or failed of {len(chosen_models)} model(s) "
        f"x {len(chosen_slices)} slice(s)"
    )
    defs = build_definitions()
    with RunProgress(todo, rows, "precalculating") as progress:
        summary = run_missing(
            defs,
            inst,
            plan,
            echo=progress.echo,
            max_partitions_per_run=partitions_per_run,
            workers=workers,
            on_batch=lambda _, part: progress.partitions_ended(
                part.partitions_done, list(part.failures)
            ),
        )
    partitions = [keys.partition_id(m, s) for m in chosen_models for s in chosen_slices]
    unchecked = partitions_needing_checks(inst, partitions) - set(summary.failures)
    if unchecked:
        click.echo(f"{len(unchecked)} partition(s) published but not (fully) checked")
        checked = run_missing(
            defs,
            inst,
            plan_of(unchecked),
            echo=click.echo,
            max_partitions_per_run=partitions_per_run,
            job_name=keys.CHECK_PARTITIONS_JOB,
            workers=workers,
        )
        summary.failures |= checked.failures
        summary.left_to_others |= checked.left_to_others
    for key, why in sorted(summary.left_to_others.items()):
        click.echo(f"  {key}: left to another run ({why})")
    if (summary.partitions_done or unchecked) and not materialize_ledger(defs, inst):
        click.echo(f"the {keys.LEDGER} asset could not be materialised; see its run", err=True)
    print_report(chosen_models, chosen_slices)
    if summary.failures:
        click.echo(
            f"{len(summary.failures)} partition(s) failed; fix the cause and run again:", err=True
        )
        for key, error in summary.failures.items():
            click.echo(f"  {key}: {error}", err=True)
        sys.exit(1)


@click.command("status")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def status(fmt: str) -> None:
    """Per model: slices done, rows published, rows rejected."""
    inst = open_instance()
    models, slices = registered(inst, keys.MODEL), registered(inst, keys.SLICE)
    print_report(models, slices, fmt)


def print_report(models: list[str], slices: list[str], fmt: str = "table") -> None:
    with user_errors(), opened("storage", "models") as (store, policy):
        summaries = summarize(build_ledger(open_instance(), store, policy, models, slices))
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
