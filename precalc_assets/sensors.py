"""Sensors on object storage: new inputs are picked up on their own.

`model_requests_sensor` watches `inputs/models/<id>.json`: a new or changed request is
validated, the model registered as a dynamic partition, and runs requested for its
missing, stale or failed slices, packed into ranged runs. Identity is key + ETag, kept
in the cursor, so files written in the same second, overwritten or deleted are all
seen correctly; the cursor only moves with the tick's result, so a failed tick loses
nothing. Bad files never stop a tick: each is skipped with a message naming it and the
fix, in the tick's log and in `ledger/rejected_inputs.json`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dagster as dg
from dagster._core.events import DagsterEventType

from precalc_assets import layout
from precalc_assets.alerts import Alert, NotifierResource
from precalc_assets.batches import plan_batches
from precalc_assets.jobs import precalculate_job
from precalc_assets.ledger import build_ledger, work_to_do
from precalc_assets.library import LibraryError, library_format
from precalc_assets.models import ModelError, parse_request
from precalc_assets.partitions import model_partitions
from precalc_assets.registration import (
    LIBRARY_KEY_TAG,
    RegisterLibraryConfig,
    register_library_job,
)
from precalc_assets.resources import ObjectStorageResource
from precalc_assets.runner import RANGE_END, RANGE_START
from precalc_assets.stores import ObjectStore

PARTITIONS_PER_RUN = 8


def record_rejected_inputs(store: ObjectStore, rejected: dict[str, str], cleared: set[str]) -> None:
    """Keep the listing of rejected input files (key -> why) that `precalc ledger` shows."""
    key = layout.REJECTED_INPUTS_JSON
    current = json.loads(store.get_bytes(key)) if store.exists(key) else {}
    updated = {k: v for k, v in current.items() if k not in cleared} | rejected
    if updated != current:
        store.put_bytes(key, json.dumps(updated, indent=2, sort_keys=True).encode())


def load_rejected_inputs(store: ObjectStore) -> dict[str, str]:
    key = layout.REJECTED_INPUTS_JSON
    return json.loads(store.get_bytes(key)) if store.exists(key) else {}


def run_requests_for(
    plan: dict[str, list[str]],
    models: list[str],
    slices: list[str],
    run_key: str,
    versions: dict[str, str] | None = None,
) -> list[dg.RunRequest]:
    """Ranged `precalculate` run requests covering `plan`; the run key names the batch
    (and the models' code versions, when given), so a batch is never launched twice."""
    requests = []
    for batch in plan_batches(plan, models, slices, PARTITIONS_PER_RUN):
        start, end = batch.range
        key = f"{run_key}:{start}:{end}"
        if versions is not None:
            key += ":" + "+".join(sorted({versions[m] for m in batch.models}))
        requests.append(dg.RunRequest(run_key=key, tags={RANGE_START: start, RANGE_END: end}))
    return requests


@dg.sensor(
    job=precalculate_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Registers model requests dropped in inputs/models/ and runs their missing slices.",
)
def model_requests_sensor(
    context: dg.SensorEvaluationContext, storage: ObjectStorageResource
) -> dg.SensorResult:
    store = storage.open()
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    current = {
        info.key: info.etag
        for info in store.list(layout.MODEL_REQUESTS)
        if info.key.endswith(".json")
    }
    changed = sorted(key for key, etag in current.items() if seen.get(key) != etag)
    instance = context.instance
    models = instance.get_dynamic_partitions("model")
    slices = instance.get_dynamic_partitions("slice")
    new_models: list[str] = []
    rejected: dict[str, str] = {}
    run_requests: list[dg.RunRequest] = []
    for key in changed:
        model_id = key[len(layout.MODEL_REQUESTS) : -len(".json")]
        try:
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


@dg.sensor(
    job=register_library_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Finds new or changed files under inputs/library/ (key + ETag) and registers each "
        "in a run of register_library_job."
    ),
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
            tags={LIBRARY_KEY_TAG: key},
        )
        for key, etag in sorted(current.items())
        if seen.get(key) != etag and key not in rejected
    ]
    for request in requests:
        context.log.info(f"registering {store.uri(request.tags[LIBRARY_KEY_TAG])}")
    if rejected:
        record_rejected_inputs(store, rejected, cleared=set())
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(current, sort_keys=True))


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[register_library_job],
    request_job=precalculate_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a library file is registered, runs every model over its missing slices.",
)
def library_registered_sensor(context: dg.RunStatusSensorContext, storage: ObjectStorageResource):
    store = storage.open()
    config = context.dagster_run.run_config["ops"]["register_library_file"]["config"]
    instance = context.instance
    models = instance.get_dynamic_partitions("model")
    all_slices = instance.get_dynamic_partitions("slice")
    manifest_slices = registered_slices_of(store, config["key"], all_slices)
    plan = work_to_do(build_ledger(instance, store, models, manifest_slices))
    return run_requests_for(plan, models, all_slices, context.dagster_run.run_id)


def registered_slices_of(store: ObjectStore, key: str, registered: list[str]) -> list[str]:
    """The registered slices cut from the library file at `key`."""
    from precalc_assets.registry import load_manifest

    names = {s.rpartition("-")[0] for s in registered}
    slices: list[str] = []
    for name in sorted(names):
        manifest = load_manifest(store, name)
        if manifest is not None and manifest.source_key == key:
            slices += [s.key for s in manifest.slices if s.key in registered]
    return slices


SENSORS = [model_requests_sensor, library_files_sensor, library_registered_sensor]


ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def pending_partitions(
    instance: dg.DagsterInstance, models: list[str], slices: list[str]
) -> set[str]:
    """Partitions targeted by `precalculate` runs that have not finished yet."""
    pending: set[str] = set()
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=precalculate_job.name, statuses=ACTIVE))
    for run in runs:
        tags = run.tags
        if "dagster/partition" in tags:
            pending.add(tags["dagster/partition"])
        elif RANGE_START in tags and RANGE_END in tags:
            (m0, s0), (m1, s1) = (tags[RANGE_START].split("|"), tags[RANGE_END].split("|"))
            if {m0, m1} <= set(models) and {s0, s1} <= set(slices):
                for m in models[models.index(m0) : models.index(m1) + 1]:
                    for s in slices[slices.index(s0) : slices.index(s1) + 1]:
                        pending.add(f"{m}|{s}")
    return pending


@dg.sensor(
    job=precalculate_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Catch-up: asks the ledger for missing, stale or failed-before-this-version "
        "partitions that no run is working on, and requests them (ranged runs)."
    ),
)
def missing_partitions_sensor(
    context: dg.SensorEvaluationContext, storage: ObjectStorageResource
) -> dg.SensorResult:
    store = storage.open()
    instance = context.instance
    models = instance.get_dynamic_partitions("model")
    slices = instance.get_dynamic_partitions("slice")
    rows = build_ledger(instance, store, models, slices)
    pending = pending_partitions(instance, models, slices)
    plan: dict[str, list[str]] = {}
    versions = {}
    for row in rows:
        key = f"{row.model}|{row.slice}"
        # A failed partition is retried once per code version (its run_key), not forever.
        if row.status in ("missing", "stale", "failed") and key not in pending:
            plan.setdefault(row.slice, []).append(row.model)
            versions[row.model] = row.current_code_version
    requests = run_requests_for(plan, models, slices, "catch-up", versions)
    if requests:
        context.log.info(f"{len(requests)} run(s) requested for missing work")
    return dg.SensorResult(run_requests=requests)


SENSORS = [*SENSORS, missing_partitions_sensor]


ALERT_BATCH = 500


def _metadata_number(metadata: dict, name: str) -> float | None:
    value = metadata.get(name)
    return float(value.value) if value is not None and value.value is not None else None


def check_alert(record: dg.EventLogRecord, failing: dict[str, str]) -> Alert | None:
    """An alert when a check starts failing (or changes severity), one when it passes
    again; nothing while it stays in the same state (no alert stuck on forever)."""
    evaluation = record.event_log_entry.dagster_event.event_specific_data
    asset = evaluation.asset_key.to_user_string()
    where = f"{asset}/{evaluation.check_name}/{evaluation.partition or ''}"
    common = dict(
        asset=asset,
        check=evaluation.check_name,
        partition=evaluation.partition or "",
        score=_metadata_number(evaluation.metadata, "score"),
        threshold=_metadata_number(evaluation.metadata, "threshold"),
        message=evaluation.description or "",
        run_id=record.run_id,
        timestamp=datetime.fromtimestamp(record.timestamp, UTC).isoformat(timespec="seconds"),
        event_id=record.storage_id,
    )
    severity = evaluation.severity.value
    if not evaluation.passed:
        if failing.get(where) == severity:
            return None
        failing[where] = severity
        return Alert(kind="check_failed", severity=severity, **common)
    if failing.pop(where, None) is not None:
        return Alert(kind="check_recovered", severity="INFO", **common)
    return None


def run_alert(instance: dg.DagsterInstance, record: dg.EventLogRecord) -> Alert:
    run = instance.get_run_by_id(record.run_id)
    tags = run.tags if run else {}
    partition = tags.get("dagster/partition", "")
    span = f"{tags[RANGE_START]} .. {tags[RANGE_END]}" if RANGE_START in tags else partition
    message = record.event_log_entry.message or "run failed"
    return Alert(
        kind="run_failed",
        severity="ERROR",
        asset=run.job_name if run else "",
        partition=partition,
        message=f"{message} (partitions {span})" if span else message,
        run_id=record.run_id,
        timestamp=datetime.fromtimestamp(record.timestamp, UTC).isoformat(timespec="seconds"),
        event_id=record.storage_id,
    )


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Turns failed check evaluations (WARN, ERROR) and failed runs into notifications "
        "(alerts.jsonl + log; Slack/SNS when configured): one when a check starts failing, "
        "one when it recovers. Cursor over the event log."
    ),
)
def check_alerts_sensor(
    context: dg.SensorEvaluationContext, notifier: NotifierResource
) -> dg.SkipReason:
    state = json.loads(context.cursor) if context.cursor else {}
    after_check, after_run = state.get("checks", 0), state.get("runs", 0)
    failing: dict[str, str] = state.get("failing", {})
    storage = context.instance.event_log_storage
    records = storage.get_event_records(
        dg.EventRecordsFilter(DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=after_check),
        limit=ALERT_BATCH,
        ascending=True,
    )
    alerts = [a for r in records if (a := check_alert(r, failing)) is not None]
    runs = context.instance.fetch_run_status_changes(
        dg.RunStatusChangeRecordsFilter(DagsterEventType.RUN_FAILURE, after_storage_id=after_run),
        limit=ALERT_BATCH,
        ascending=True,
    ).records
    alerts += [run_alert(context.instance, r) for r in runs]
    sent = notifier.notify(alerts, log=context.log) if alerts else {}
    # Only after every sink took them: a failed delivery fails the tick, nothing is lost.
    context.update_cursor(
        json.dumps(
            {
                "checks": records[-1].storage_id if records else after_check,
                "runs": runs[-1].storage_id if runs else after_run,
                "failing": failing,
            }
        )
    )
    if not alerts:
        return dg.SkipReason("no new check failure, recovery or failed run")
    shown = "\n".join(a.text() for a in alerts[:20])
    more = f"\n... and {len(alerts) - 20} more" if len(alerts) > 20 else ""
    return dg.SkipReason(f"{len(alerts)} alert(s) sent to {sorted(sent)}:\n{shown}{more}")


SENSORS = [*SENSORS, check_alerts_sensor]
