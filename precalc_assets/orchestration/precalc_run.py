"""Everything `precalc run` does, in its order: fail the runs whose process is gone, ask
each hub model again, plan from the ledger, run what is missing, stale or failed, check
what is published but unchecked, and materialise the ledger. The CLI gives it a
terminal to speak to and prints the report."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import dagster as dg

from precalc_assets import keys
from precalc_assets.batches import Batch
from precalc_assets.deployment import Deployment
from precalc_assets.inputs.manifests import slice_rows
from precalc_assets.inputs.model_requests import refresh_cards
from precalc_assets.ledger.summary import other_target_lines, plan_of, work_to_do
from precalc_assets.orchestration.check_executions import partitions_needing_checks
from precalc_assets.orchestration.execution import (
    RunSummary,
    WorkerPool,
    batches_for,
    materialize_ledger,
    run_missing,
)
from precalc_assets.orchestration.ledger_reads import build_ledger
from precalc_assets.orchestration.progress import progress_directory
from precalc_assets.orchestration.run_processes import fail_dead_runs
from precalc_assets.stores.urls import history_target

Echo = Callable[[str], None]
Ended = Callable[[list[str], list[str]], None]  # partitions done; failed or left to others


class Progress(Protocol):
    """Where a run's lines go while a progress bar shows the molecules and partitions
    done; `directory` is where the runs tell their progress ("": nobody follows it)."""

    directory: str

    def echo(self, line: str) -> None: ...

    def partitions_ended(self, done: list[str], dropped: list[str]) -> None: ...


class Terminal(Protocol):
    """What `precalc run` says, and how it shows progress."""

    def say(self, line: str) -> None: ...

    def warn(self, line: str) -> None: ...

    def progress(
        self, molecules: dict[str, int], directory: Path
    ) -> AbstractContextManager[Progress]: ...


@dataclass(frozen=True)
class Scope:
    """What one `precalc run` works on, and how."""

    models: list[str]
    slices: list[str]
    partitions_per_run: int = keys.PARTITIONS_PER_RUN
    workers: int = 1
    runs_per_worker: int = keys.RUNS_PER_WORKER


def precalc_run(
    load_definitions: Callable[[], dg.Definitions],
    instance: dg.DagsterInstance,
    deployment: Deployment,
    scope: Scope,
    terminal: Terminal,
) -> RunSummary:
    """Run, then check, everything the ledger says is to do in `scope`. The worker
    processes start first, and load the code location while this process plans."""
    with WorkerPool(load_definitions, scope.workers - 1, scope.runs_per_worker) as pool:
        definitions = load_definitions()
        return _planned_and_run(definitions, instance, deployment, scope, terminal, pool)


def _planned_and_run(
    definitions: dg.Definitions,
    instance: dg.DagsterInstance,
    deployment: Deployment,
    scope: Scope,
    terminal: Terminal,
    pool: WorkerPool,
) -> RunSummary:
    store, policy = deployment.store, deployment.policy
    for run_id in fail_dead_runs(instance):
        terminal.say(f"run {run_id} was marked failed: its process is gone; redoing its work")
    # Asks each hub model again (and builds a repository model's environment if it is
    # not built yet, with its progress on the terminal).
    for model_id, problem in refresh_cards(store, scope.models, policy, terminal.say).items():
        terminal.warn(f"model {model_id!r} could not be asked what it is: {problem}")
    ledger = build_ledger(instance, store, policy, deployment.table.url, scope.models, scope.slices)
    for line in other_target_lines(ledger, history_target(store.url, deployment.table.url)):
        terminal.warn(line)
    plan = work_to_do(ledger)
    todo = sum(len(m) for m in plan.values())
    terminal.say(
        f"{todo} partition(s) missing, stale or failed of {len(scope.models)} model(s) "
        f"x {len(scope.slices)} slice(s)"
    )

    def run(
        plan: dict[str, list[str]],
        echo: Echo,
        job: str,
        ended: Ended | None = None,
        progress_dir: str = "",
    ):
        return run_missing(
            definitions,
            instance,
            plan,
            echo=echo,
            max_partitions_per_run=scope.partitions_per_run,
            job_name=job,
            on_batch=_batches_ended(ended),
            pool=pool,
            progress_dir=progress_dir,
        )

    rows = slice_rows(store, list(plan))
    molecules = {keys.partition_id(m, s): rows.get(s, 0) for s, ms in plan.items() for m in ms}
    directory = progress_directory(instance.root_directory)
    with terminal.progress(molecules, directory) as progress:
        job, ended = keys.PRECALCULATE_JOB, progress.partitions_ended
        summary = run(plan, progress.echo, job, ended, progress.directory)
    partitions = [keys.partition_id(m, s) for m in scope.models for s in scope.slices]
    unchecked = partitions_needing_checks(instance, partitions)  # failed but published too
    if unchecked:
        terminal.say(f"{len(unchecked)} partition(s) published but not (fully) checked")
        checked = run(plan_of(unchecked), terminal.say, keys.CHECK_PARTITIONS_JOB)
        summary.failures |= checked.failures
        summary.left_to_others |= checked.left_to_others
    for key, why in sorted(summary.left_to_others.items()):
        terminal.say(f"  {key}: left to another run ({why})")
    if (summary.partitions_done or unchecked) and not materialize_ledger(definitions, instance):
        terminal.warn(f"the {keys.LEDGER} asset could not be materialised; see its run")
    return summary


def _batches_ended(ended: Ended | None) -> Callable[[Batch, RunSummary], None] | None:
    if ended is None:
        return None
    return lambda _, part: ended(part.partitions_done, [*part.failures, *part.left_to_others])


def planned_runs(
    instance: dg.DagsterInstance, deployment: Deployment, scope: Scope
) -> tuple[dict[str, list[str]], list[Batch]]:
    """What `precalc run` would do in `scope`, and nothing else: the partitions to run
    (slice -> models) and the runs they would be packed into."""
    store, table_url = deployment.store, deployment.table.url
    ledger = build_ledger(instance, store, deployment.policy, table_url, scope.models, scope.slices)
    plan = work_to_do(ledger)
    models = instance.get_dynamic_partitions(keys.MODEL)
    slices = instance.get_dynamic_partitions(keys.SLICE)
    return plan, batches_for(plan, models, slices, scope.workers, scope.partitions_per_run)
