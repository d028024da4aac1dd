"""Library files dropped in `inputs/library/`: `library_files_sensor` finds new or
changed files (key + ETag) and registers each in a run of `register_library_job`;
`library_registered_sensor` then runs every model over the new slices."""

from __future__ import annotations

import json

import dagster as dg

from precalc_assets import keys, layout
from precalc_assets.dagster_defs.jobs import (
    RegisterLibraryConfig,
    precalculate_job,
    register_library_job,
)
from precalc_assets.dagster_defs.resources import (
    ModelPolicyResource,
    ObjectStorageResource,
    ServingTableResource,
)
from precalc_assets.dagster_defs.sensors.run_requests import run_requests_for
from precalc_assets.dagster_defs.sensors.running import running_sensor
from precalc_assets.inputs.library_files import LibraryError, library_format
from precalc_assets.inputs.manifests import slices_cut_from
from precalc_assets.inputs.rejected import record_rejected_inputs
from precalc_assets.ledger.summary import work_to_do
from precalc_assets.orchestration.ledger_reads import build_ledger


@running_sensor(
    30,
    "Finds new or changed files under inputs/library/ (key + ETag) and registers each "
    "in a run of register_library_job.",
    job=register_library_job,
)
def library_files_sensor(
    context: dg.SensorEvaluationContext, storage: ObjectStorageResource
) -> dg.SensorResult:
    store = storage.open()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    current: dict[str, str] = {}
    rejected: dict[str, str] = {}
    for info in store.list(layout.LIBRARY_INPUTS):
        current[info.key] = info.etag
        try:
            library_format(info.key)
        except LibraryError as exc:
            if seen.get(info.key) != info.etag:
                context.log.warning(f"skipped {store.uri(info.key)}: {exc}")
                rejected[info.key] = str(exc)
    requests = [
        dg.RunRequest(
            run_key=f"{key}@{etag}",
            run_config=dg.RunConfig(ops={"register_library_file": RegisterLibraryConfig(key=key)}),
            tags={keys.LIBRARY_FILE_TAG: key},
        )
        for key, etag in sorted(current.items())
        if seen.get(key) != etag and key not in rejected
    ]
    for request in requests:
        context.log.info(f"registering {store.uri(request.tags[keys.LIBRARY_FILE_TAG])}")
    # A file deleted since is no longer listed: its rejection goes with it.
    record_rejected_inputs(store, rejected, listed=(layout.LIBRARY_INPUTS, current))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(current, sort_keys=True))


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[register_library_job],
    request_job=precalculate_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a library file is registered, runs every model over its missing slices.",
)
def library_registered_sensor(
    context: dg.RunStatusSensorContext,
    storage: ObjectStorageResource,
    models: ModelPolicyResource,
    serving: ServingTableResource,
):
    store = storage.open()
    config = context.dagster_run.run_config["ops"]["register_library_file"]["config"]
    instance = context.instance
    model_ids = instance.get_dynamic_partitions(keys.MODEL)
    all_slices = instance.get_dynamic_partitions(keys.SLICE)
    manifest_slices = slices_cut_from(store, config["key"], all_slices)
    table_url = serving.open().url
    plan = work_to_do(
        build_ledger(instance, store, models.open(), table_url, model_ids, manifest_slices)
    )
    return run_requests_for(plan, model_ids, all_slices, context.dagster_run.run_id)
