"""What follows the end of a `precalculate` run under the daemon.

- `ledger_after_runs_sensor`: the `precalc_ledger` asset is written again after runs
  ended (succeeded or failed), as `precalc run` does after its own runs; one ledger run
  per tick at most, and none while one is still waiting to start (it will read the
  history as it is when it starts).
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
from precalc_assets.dagster_defs.jobs import check_partitions_job, ledger_job, precalculate_job
from precalc_assets.dagster_defs.sensors.run_requests import run_requests_for
from precalc_assets.dagster_defs.sensors.running import running_sensor
from precalc_assets.ledger.summary import plan_of
from precalc_assets.orchestration.check_executions import partitions_needing_checks
from precalc_assets.orchestration.run_processes import partitions_of_run, runs_in_flight

ENDED = (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE)
WAITING = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
]
PAGE = 500  # run ends read per query


def runs_ended_since(instance: dg.DagsterInstance, after: int | None) -> tuple[int | None, bool]:
    """(storage id of the newest run end after `after`, or `after` when none ended; whether a
    `precalculate` run is among them). The job is read from each event: the storages
    do not all filter run status changes by job name (SQLite ignores it)."""
    newest, precalculated = after, False
    for event_type in ENDED:
        since = after
        while True:
            records = instance.fetch_run_status_changes(
                dg.RunStatusChangeRecordsFilter(event_type=event_type, after_storage_id=since),
                limit=PAGE,
                ascending=True,
            ).records
            for record in records:
                precalculated |= record.event_log_entry.job_name == keys.PRECALCULATE_JOB
                since = record.storage_id
            newest = max(newest or 0, since or 0) or None
            if len(records) < PAGE:
                break
    return newest, precalculated


@running_sensor(
    30,
    f"Writes the ledger ({keys.LEDGER}) again after precalculate runs ended: one ledger run "
    "per tick at most, none while one waits to start.",
    job=ledger_job,
)
def ledger_after_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    after = int(context.cursor) if context.cursor else None
    newest, precalculated = runs_ended_since(context.instance, after)
    cursor = str(newest) if newest is not None else None
    if not precalculated:
        return dg.SensorResult(
            skip_reason="no precalculate run ended since the last tick", cursor=cursor
        )
    waiting = context.instance.get_run_ids(
        dg.RunsFilter(job_name=keys.LEDGER_JOB, statuses=WAITING), limit=1
    )
    if waiting:
        return dg.SensorResult(
            skip_reason=f"ledger run {waiting[0]} is waiting to start: it will read these runs",
            cursor=cursor,
        )
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"ledger-after-{newest}")], cursor=cursor
    )


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
    # A partition another run is redoing (`precalc run` retries a failed ranged run one
    # partition per run) is checked by that run.
    redoing = runs_in_flight(instance, models, slices, keys.PRECALCULATE_JOB)
    unchecked = partitions_needing_checks(instance, targeted) - set(redoing)
    if unchecked:
        context.log.info(f"{len(unchecked)} partition(s) of run {run.run_id} checked again")
    return run_requests_for(plan_of(unchecked), models, slices, f"recheck-{run.run_id}")
