"""Run what is missing, in-process: no daemon, one Dagster start-up for many runs.

Dagster's run start-up costs seconds in a fresh process; here every run shares one
process and one loaded code location, and each run covers a rectangle of up to N
model x slice partitions, so a slice is parsed once for all the models of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import dagster as dg

from precalc_assets.batches import plan_batches
from precalc_assets.partitions import partition_key

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


class NotRegistered(ValueError):
    """A model or slice named on the command line that was never registered."""


@dataclass
class RunSummary:
    runs: int = 0
    partitions_done: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)


def registered(
    instance: dg.DagsterInstance, dimension: str, chosen: Iterable[str] = ()
) -> list[str]:
    keys = instance.get_dynamic_partitions(dimension)
    chosen = list(chosen)
    unknown = [c for c in chosen if c not in keys]
    if unknown:
        what = "precalc add-model" if dimension == "model" else "precalc add-library"
        raise NotRegistered(f"not registered {dimension}(s): {unknown}; register with `{what}`")
    return [k for k in keys if not chosen or k in chosen]


def run_missing(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    plan: dict[str, list[str]],
    echo: Callable[[str], None] = print,
    max_partitions_per_run: int = 8,
) -> RunSummary:
    """Run the missing partitions packed into model-range x slice-range runs; a run
    that fails is retried one partition per run, so one bad partition never holds back
    the others and each failure is reported with its own cause."""
    summary = RunSummary()
    precalculate = defs.resolve_job_def("precalculate")
    batches = plan_batches(
        plan,
        instance.get_dynamic_partitions("model"),
        instance.get_dynamic_partitions("slice"),
        max_partitions_per_run,
    )
    for batch in batches:
        if batch.size == 1:
            _run_one(precalculate, instance, batch.partition_keys()[0], summary, echo)
            continue
        start, end = batch.range
        result = precalculate.execute_in_process(
            instance=instance,
            tags={RANGE_START: start, RANGE_END: end},
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
    model_id, slice_key = key.split("|")
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
