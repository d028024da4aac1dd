"""`model_requests_sensor`: model requests dropped in `inputs/models/<id>.json`.

A new or changed request is validated, the model registered as a dynamic partition,
and runs requested for its missing, stale or failed slices, packed into ranged runs.
Identity is key + ETag, kept in the cursor, so files written in the same second,
overwritten or deleted are all seen correctly; the cursor only moves with the tick's
result, so a failed tick loses nothing. Bad files never stop a tick: each is skipped
with a message naming it and the fix, in the tick's log and in
`ledger/rejected_inputs.json`.
"""

from __future__ import annotations

import json

import dagster as dg

from precalc_assets import keys, layout
from precalc_assets.dagster_defs.history import build_ledger
from precalc_assets.dagster_defs.jobs import precalculate_job
from precalc_assets.dagster_defs.partitions import model_partitions
from precalc_assets.dagster_defs.resources import ObjectStorageResource
from precalc_assets.dagster_defs.sensors.run_requests import run_requests_for
from precalc_assets.dagster_defs.sensors.running import running_sensor
from precalc_assets.inputs.rejected import record_rejected_inputs
from precalc_assets.ledger.summary import work_to_do
from precalc_assets.models.catalog import check_request_size, parse_request
from precalc_assets.models.spec import ModelError


@running_sensor(
    30,
    "Registers model requests dropped in inputs/models/ and runs their missing slices.",
    job=precalculate_job,
)
def model_requests_sensor(
    context: dg.SensorEvaluationContext, storage: ObjectStorageResource
) -> dg.SensorResult:
    store = storage.open()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    listed = {
        info.key: info for info in store.list(layout.MODEL_REQUESTS) if info.key.endswith(".json")
    }
    current = {key: info.etag for key, info in listed.items()}
    changed = sorted(key for key, etag in current.items() if seen.get(key) != etag)
    instance = context.instance
    models = instance.get_dynamic_partitions(keys.MODEL)
    slices = instance.get_dynamic_partitions(keys.SLICE)
    new_models: list[str] = []
    rejected: dict[str, str] = {}
    run_requests: list[dg.RunRequest] = []
    for key in changed:
        model_id = layout.model_request_id(key)
        try:
            check_request_size(listed[key].size, store.uri(key))
            parse_request(model_id, store.get_bytes(key), store.uri(key))
        except ModelError as exc:
            context.log.warning(f"skipped {store.uri(key)}: {exc}")
            rejected[key] = str(exc)
            continue
        if model_id in models:
            plan = work_to_do(build_ledger(instance, store, [model_id], slices))
        else:
            new_models.append(model_id)
            plan = {slice_key: [model_id] for slice_key in slices}
        context.log.info(
            f"model {model_id!r} from {store.uri(key)}: {sum(map(len, plan.values()))} "
            "partition(s) to run"
        )
        run_requests += run_requests_for(
            plan, models + new_models, slices, f"{model_id}@{current[key]}"
        )
    record_rejected_inputs(store, rejected, cleared=set(changed) - set(rejected))
    return dg.SensorResult(
        run_requests=run_requests,
        cursor=json.dumps(current, sort_keys=True),
        dynamic_partitions_requests=(
            [model_partitions.build_add_request(new_models)] if new_models else []
        ),
    )
