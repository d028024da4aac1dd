"""What follows the end of a `precalculate` run under the daemon.

- `recheck_after_failure_sensor`: a run that failed before its checks left them planned
  and never evaluated, and Dagster reads such a check execution as failed
  (`EXECUTION_FAILED`: its run failed) on the check's page and in its partition
  statuses, although the check never ran and its last evaluation may have passed. The
  partitions of the failed run that are still published are checked again by the
  `check_partitions` job, so the latest execution of each check is an evaluation of
  what is served; a partition never published has nothing to check.
"""

from __future__ import annotations

import dagster as dg

from precalc_assets import keys
from precalc_assets.dagster_defs.jobs import check_partitions_job, precalculate_job
from precalc_assets.dagster_defs.sensors.run_requests import run_requests_for
from precalc_assets.ledger.summary import plan_of
from precalc_assets.orchestration.check_executions import partitions_needing_checks
from precalc_assets.orchestration.run_processes import partitions_of_run


@dg.run_failure_sensor(
    monitored_jobs=[precalculate_job],
    request_job=check_partitions_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description=(
        "After a failed precalculate run, checks again its partitions that are still "
        "published, so their checks do not read as failed when they only did not run."
    ),
)
def recheck_after_failure_sensor(context: dg.RunFailureSensorContext) -> list[dg.RunRequest]:
    instance, run = context.instance, context.dagster_run
    models = instance.get_dynamic_partitions(keys.MODEL)
    slices = instance.get_dynamic_partitions(keys.SLICE)
    targeted = sorted(partitions_of_run(run.tags, models, slices))
    unchecked = partitions_needing_checks(instance, targeted)
    if unchecked:
        context.log.info(f"{len(unchecked)} partition(s) of run {run.run_id} checked again")
    return run_requests_for(plan_of(unchecked), models, slices, f"recheck-{run.run_id}")
