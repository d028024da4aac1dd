"""Runs in flight: which model x slice partitions they hold, which process runs them,
and failing those whose process is gone (killed, out of memory, machine lost). The
ledger reads a run whose process is gone as failed at once, from the same tags.

Every run records its process in its tags: `precalc run` when it starts a run, a run
launched by the daemon in its first step. A run still STARTED whose process this
machine can see is gone is marked failed, with the reason, so its partitions read
`failed` and the next `precalc run` or catch-up tick redoes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from precalc_assets import keys
from precalc_assets.ids import InvalidIdError
from precalc_assets.processes import HOST_TAG, ProcessId

PROCESS_GONE_TAG = "precalc/process_gone"

ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def process_tags() -> dict[str, str]:
    return ProcessId.current().tags()


def record_run_process(context: dg.OpExecutionContext | dg.AssetExecutionContext) -> None:
    """Tag the run with its process, unless `precalc run` already did at its start."""
    if HOST_TAG not in context.run.tags:
        context.instance.add_run_tags(context.run.run_id, process_tags())


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every unfinished run whose process is gone; their run ids."""
    failed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=ACTIVE)):
        owner = ProcessId.from_tags(run.tags)
        if owner is not None and owner.is_gone():
            instance.report_run_failed(
                run,
                message=(
                    f"run {run.run_id}: its {owner} is gone (killed or crashed) while the run "
                    "was in progress; its partitions are redone by the next `precalc run` or "
                    "catch-up tick"
                ),
            )
            instance.add_run_tags(run.run_id, {PROCESS_GONE_TAG: "true"})
            failed.append(run.run_id)
    return failed


def runs_failed_by_lost_processes(instance: dg.DagsterInstance) -> int:
    """How many runs were failed because their process was gone (a retry generation)."""
    return len(instance.get_run_ids(filters=dg.RunsFilter(tags={PROCESS_GONE_TAG: "true"})))


def partitions_of_run(tags: dict[str, str], models: list[str], slices: list[str]) -> set[str]:
    """The model x slice partitions a run targets, from its partition or range tags."""
    if keys.PARTITION_TAG in tags:
        return {tags[keys.PARTITION_TAG]}
    if keys.RANGE_START_TAG not in tags or keys.RANGE_END_TAG not in tags:
        return set()
    try:
        m0, s0 = keys.split_partition_id(tags[keys.RANGE_START_TAG])
        m1, s1 = keys.split_partition_id(tags[keys.RANGE_END_TAG])
    except InvalidIdError:  # a run launched by hand with other tags: not ours to count
        return set()
    if not ({m0, m1} <= set(models) and {s0, s1} <= set(slices)):
        return set()
    return {
        keys.partition_id(m, s)
        for m in models[models.index(m0) : models.index(m1) + 1]
        for s in slices[slices.index(s0) : slices.index(s1) + 1]
    }


def runs_in_flight(
    instance: dg.DagsterInstance, models: list[str], slices: list[str], job_name: str
) -> dict[str, dg.DagsterRun]:
    """Partition -> the unfinished run of `job_name` that targets it."""
    held: dict[str, dg.DagsterRun] = {}
    for run in instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=ACTIVE)):
        for partition in partitions_of_run(run.tags, models, slices):
            held.setdefault(partition, run)
    return held


@dataclass(frozen=True)
class DeadRun:
    """An unfinished run whose process this machine can tell is gone."""

    run_id: str
    process: ProcessId

    @property
    def reason(self) -> str:
        return f"process gone: run {self.run_id} lost its {self.process}"


def held_by_live_or_dead_runs(
    instance: dg.DagsterInstance, models: list[str], slices: list[str], job_name: str
) -> tuple[dict[str, dg.DagsterRun], dict[str, DeadRun]]:
    """(partition -> a live unfinished run of `job_name` that targets it, partition -> a
    dead one), read from the runs' own process tags, before anything marks them failed:
    what a dead run held is failed now, not in progress until the next `precalc run`."""
    live: dict[str, dg.DagsterRun] = {}
    dead: dict[str, DeadRun] = {}
    for run in instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=ACTIVE)):
        owner = ProcessId.from_tags(run.tags)
        lost = DeadRun(run.run_id, owner) if owner is not None and owner.is_gone() else None
        for partition in partitions_of_run(run.tags, models, slices):
            if lost is None:
                live.setdefault(partition, run)
            else:
                dead.setdefault(partition, lost)
    return live, {p: run for p, run in dead.items() if p not in live}
