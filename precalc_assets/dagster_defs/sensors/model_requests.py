"""`model_requests_sensor`: model requests dropped in `inputs/models/<id>.json`.

A new or changed request is validated, the model registered as a dynamic partition,
and runs requested for its missing, stale or failed slices, packed into ranged runs.
Identity is key + ETag, kept in the cursor, so files written in the same second,
overwritten or deleted are all seen correctly; the cursor only moves with the tick's
result, so a failed tick loses nothing. Bad files never stop a tick: each is skipped
with a message naming it and the fix, in the tick's log and in
`ledger/rejected_inputs.json`. A request is read through the deployment's trust
policy (a request naming code to run is refused), and a served model or repository is
asked what it is and run on its examples; one that cannot be reached yet is tried again
on the next tick.
"""

from __future__ import annotations

import json

import dagster as dg

from precalc_assets import keys, layout
from precalc_assets.dagster_defs.jobs import precalculate_job
from precalc_assets.dagster_defs.resources import (
    ModelPolicyResource,
    ObjectStorageResource,
    ServingTableResource,
)
from precalc_assets.dagster_defs.sensors.run_requests import run_requests_for
from precalc_assets.dagster_defs.sensors.running import running_sensor
from precalc_assets.inputs.model_requests import (
    Probe,
    describe_model,
    record_card,
    requested,
    sensor_request,
)
from precalc_assets.inputs.rejected import record_rejected_inputs
from precalc_assets.ledger.summary import work_to_do
from precalc_assets.models.spec import ModelError
from precalc_assets.models.trust import ModelPolicy
from precalc_assets.orchestration.ledger_reads import build_ledger
from precalc_assets.orchestration.partitions import model_partitions
from precalc_assets.stores.object_store import ObjectStore


@running_sensor(
    30,
    "Registers model requests dropped in inputs/models/ and runs their missing slices.",
    job=precalculate_job,
)
def model_requests_sensor(
    context: dg.SensorEvaluationContext,
    storage: ObjectStorageResource,
    models: ModelPolicyResource,
    serving: ServingTableResource,
) -> dg.SensorResult:
    store = storage.open()
    policy = models.open()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    listed = {
        info.key: info for info in store.list(layout.MODEL_REQUESTS) if info.key.endswith(".json")
    }
    current = {key: info.etag for key, info in listed.items()}
    changed = sorted(key for key, etag in current.items() if seen.get(key) != etag)
    instance = context.instance
    model_ids = instance.get_dynamic_partitions(keys.MODEL)
    slices = instance.get_dynamic_partitions(keys.SLICE)
    new_models: list[str] = []
    rejected: dict[str, str] = {}
    retry: set[str] = set()  # the model could not be asked: try again next tick
    run_requests: list[dg.RunRequest] = []
    for key in changed:
        probe = _described(context, store, policy, key, rejected, retry)
        if probe is None:
            continue
        model_id = probe.spec.model_id
        record_card(store, probe)
        if model_id in model_ids:
            table_url = serving.open().url
            plan = work_to_do(build_ledger(instance, store, policy, table_url, [model_id], slices))
        else:
            new_models.append(model_id)
            plan = {slice_key: [model_id] for slice_key in slices}
        context.log.info(
            f"model {model_id!r} from {store.uri(key)}: {sum(map(len, plan.values()))} "
            "partition(s) to run"
        )
        run_requests += run_requests_for(
            plan, model_ids + new_models, slices, f"{model_id}@{current[key]}"
        )
    record_rejected_inputs(
        store,
        rejected,
        cleared=set(changed) - set(rejected),
        listed=(layout.MODEL_REQUESTS, listed),  # a deleted request's rejection goes too
    )
    committed = {key: etag for key, etag in current.items() if key not in retry}
    committed.update({key: seen[key] for key in retry if key in seen})
    return dg.SensorResult(
        run_requests=run_requests,
        cursor=json.dumps(committed, sort_keys=True),
        dynamic_partitions_requests=(
            [model_partitions.build_add_request(new_models)] if new_models else []
        ),
    )


def _described(
    context: dg.SensorEvaluationContext,
    store: ObjectStore,
    policy: ModelPolicy,
    key: str,
    rejected: dict[str, str],
    retry: set[str],
) -> Probe | None:
    """The model request `key` read and its model asked what it is; None when refused,
    with the reason in `rejected` (and `key` in `retry` when the model could not be
    asked yet: a bad file is skipped until it changes)."""
    model_id = layout.model_request_id(key)
    try:
        request, source = requested(store, model_id, policy)
    except ModelError as exc:
        context.log.warning(f"skipped {store.uri(key)}: {exc}")
        rejected[key] = str(exc)
        return None
    try:
        # A repository model's examples run in its own environment, which may still
        # have to be built: never in a tick; its first run checks them before it
        # computes anything.
        return describe_model(
            model_id,
            sensor_request(request),
            source,
            context.log.info,
            run_examples=request.get("runner") != "command",
        )
    except ModelError as exc:
        context.log.warning(f"{store.uri(key)}: {exc} (tried again next tick)")
        rejected[key] = str(exc)
        retry.add(key)
        return None
