"""`missing_partitions_sensor`, the catch-up: partitions the ledger says are missing,
stale or failed, and that no queued or running run covers, are requested. It closes the
gap when a model and a library land in the same moment, and after a daemon restart."""

from __future__ import annotations

import dagster as dg

from precalc_assets import keys
from precalc_assets.dagster_defs.jobs import precalculate_job
from precalc_assets.dagster_defs.resources import (
    ModelPolicyResource,
    ObjectStorageResource,
    ServingTableResource,
)
from precalc_assets.dagster_defs.sensors.run_requests import run_requests_for
from precalc_assets.dagster_defs.sensors.running import running_sensor
from precalc_assets.ledger.rows import TO_DO
from precalc_assets.orchestration.ledger_reads import build_ledger
from precalc_assets.orchestration.run_processes import (
    fail_dead_runs,
    runs_failed_by_lost_processes,
    runs_in_flight,
)


@running_sensor(
    60,
    "Catch-up: asks the ledger for missing, stale or failed-before-this-version "
    "partitions that no run is working on, and requests them (ranged runs).",
    job=precalculate_job,
)
def missing_partitions_sensor(
    context: dg.SensorEvaluationContext,
    storage: ObjectStorageResource,
    models: ModelPolicyResource,
    serving: ServingTableResource,
) -> dg.SensorResult:
    store = storage.open()
    instance = context.instance
    for run_id in fail_dead_runs(instance):
        context.log.warning(f"run {run_id} was marked failed: its process is gone")
    model_ids = instance.get_dynamic_partitions(keys.MODEL)
    slices = instance.get_dynamic_partitions(keys.SLICE)
    rows = build_ledger(instance, store, models.open(), serving.open().url, model_ids, slices)
    pending = runs_in_flight(instance, model_ids, slices, precalculate_job.name)
    plan: dict[str, list[str]] = {}
    versions = {}
    for row in rows:
        key = keys.partition_id(row.model, row.slice)
        if row.status in TO_DO and key not in pending:
            plan.setdefault(row.slice, []).append(row.model)
            versions[row.model] = row.current_code_version
    # A failed partition is retried once per code version; a run lost with its process
    # starts a new generation of keys, so what it held is retried too.
    generation = runs_failed_by_lost_processes(instance)
    requests = run_requests_for(plan, model_ids, slices, f"catch-up-{generation}", versions)
    if requests:
        context.log.info(f"{len(requests)} run(s) requested for missing work")
    return dg.SensorResult(run_requests=requests)
