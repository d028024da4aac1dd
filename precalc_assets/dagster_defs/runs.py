"""Run what is missing, in-process: no daemon, one Dagster start-up for many runs.

Dagster's run start-up costs seconds in a fresh process; here every run shares one
process and one loaded code location, and each run covers a rectangle of up to N
model x slice partitions, so a slice is parsed once for all the models of the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from precalc_assets import keys
from precalc_assets.batches import plan_batches
from precalc_assets.dagster_defs.jobs import precalculate_job
from precalc_assets.dagster_defs.partitions import partition_key

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class RunSummary:
    runs: int = 0
    partitions_done: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)


def run_missing(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    plan: dict[str, list[str]],
    echo: Callable[[str], None] = print,
    max_partitions_per_run: int = keys.PARTITIONS_PER_RUN,
) -> RunSummary:
    """Run the missing partitions packed into model-range x slice-range runs; a run
    that fails is retried one partition per run, so one bad partition never holds back
    the others and each failure is reported with its own cause."""
    summary = RunSummary()
    precalculate = defs.resolve_job_def(precalculate_job.name)
    batches = plan_batches(
        plan,
        instance.get_dynamic_partitions(keys.MODEL),
        instance.get_dynamic_partitions(keys.SLICE),
        max_partitions_per_run,
    )
    for batch in batches:
        if batch.size == 1:
            _run_one(precalculate, instance, batch.partition_keys()[0], summary, echo)
            continue
        start, end = batch.range
        result = precalculate.execute_in_process(
            instance=instance,
            tags={keys.RANGE_START_TAG: start, keys.RANGE_END_TAG: end},
            raise_on_error=False,
            run_config=QUIET,
        )
        summary.runs += 1
        if result.success:
            summary.partitions_done += batch.partition_keys()
            echo(f"  {start} .. {end}: published {batch.size} partition(s)")
            continue
        echo(f"  {start} .. {end}: failed ({_first_error(result)}); one partition per run now")
        for key in batch.partition_keys():
            _run_one(precalculate, instance, key, summary, echo)
    return summary


def _run_one(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    key: str,
    summary: RunSummary,
    echo: Callable[[str], None],
) -> None:
    model_id, slice_key = keys.split_partition_id(key)
    result = job.execute_in_process(
        partition_key=partition_key(model_id, slice_key),
        instance=instance,
        raise_on_error=False,
        run_config=QUIET,
    )
    summary.runs += 1
    if result.success:
        summary.partitions_done.append(key)
        echo(f"  {key}: published")
    else:
        summary.failures[key] = _first_error(result)
        echo(f"  {key}: FAILED: {summary.failures[key]}")


def _first_error(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error.cause is not None and "dagster" in error.cls_name.lower():
                error = error.cause
            return error.message.strip().splitlines()[0] if error.message else error.cls_name
    return "run failed"
