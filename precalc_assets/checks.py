"""Asset checks on every model x slice partition, each reading that partition's files only.

- `completeness` (validated_predictions, blocking): every valid library row is validated
  or quarantined; a failure stops `published_predictions` in the same run.
- `output_sanity` (predictions): forbidden null/NaN and out-of-range shares per column.
- `reproducibility` (predictions): a re-run under the same code version predicts the same.
- `prediction_drift` (published_predictions): Evidently drift against the model's
  baseline slice, scores as a table, the HTML report in storage.
- `serving_readback` (published_predictions): sampled items read back equal the values.

Runs cover a range of partitions (`precalc run`, the sensors), and Dagster ties a
check result to a single partition, so each check yields one `AssetCheckEvaluation`
per partition of its run, with that partition set. Settings per model: `quality.py`.
"""

import json
import random
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from precalc_assets import layout
from precalc_assets.assets import predictions, published_predictions, validated_predictions
from precalc_assets.models import ModelError, ModelSpec
from precalc_assets.partitions import model_slice_partitions, split_partition_key
from precalc_assets.pipeline import code_version_of, read_upstream
from precalc_assets.quality import (
    ERROR,
    WARN,
    Outcome,
    check_settings,
    completeness,
    output_sanity,
    reproducibility,
    serving_readback,
)
from precalc_assets.registry import load_model_spec
from precalc_assets.resources import ObjectStorageResource, ServingTableResource
from precalc_assets.stores import ObjectNotFound, ObjectStore, ServingTable, StoreError

Evaluate = Callable[[ObjectStore, ModelSpec, str], tuple[Outcome, dict]]


def _rows(store: ObjectStore, key: str) -> int:
    try:
        return store.read_parquet(key, columns=["row"]).num_rows
    except ObjectNotFound:
        return 0


def _evaluation(
    asset_key: dg.AssetKey, name: str, partition: str, outcome: Outcome, extra: dict
) -> dg.AssetCheckEvaluation:
    metadata = {
        "score": dg.MetadataValue.float(round(float(outcome.score), 6)),
        "threshold": dg.MetadataValue.float(float(outcome.threshold)),
        **({"details": dg.MetadataValue.md(outcome.table)} if outcome.table else {}),
        **{k: v for k, v in outcome.figures.items() if isinstance(v, int | float | str)},
        **extra,
    }
    return dg.AssetCheckEvaluation(
        asset_key=asset_key,
        check_name=name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity(outcome.severity),
        description=outcome.description,
        metadata=metadata,
        partition=partition,
        blocking=name == "completeness",
    )


def evaluate_partitions(
    context: dg.AssetCheckExecutionContext,
    store: ObjectStore,
    asset_key: dg.AssetKey,
    name: str,
    evaluate: Evaluate,
) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
    """One evaluation per partition of the run; a partition whose files or spec cannot
    be read fails its check with the reason (the others are still evaluated)."""
    for key in context.op_execution_context.partition_keys:
        model_id, slice_key = split_partition_key(key)
        partition = f"{model_id}|{slice_key}"
        try:
            outcome, extra = evaluate(store, load_model_spec(store, model_id), slice_key)
        except (StoreError, ModelError, ValueError) as exc:
            outcome, extra = Outcome(False, ERROR, 1.0, 0.0, f"{partition}: {exc}"), {}
        if not outcome.passed:
            context.log.warning(f"{name} {outcome.severity} on {partition}: {outcome.description}")
        yield _evaluation(asset_key, name, partition, outcome, extra)
    # The check op's (empty) output; after a failed blocking evaluation Dagster fails the
    # step here, so downstream assets of the run (publication) are not materialised.
    yield dg.Output(None)


def partition_check(
    asset: dg.AssetsDefinition, name: str, description: str, evaluate: Evaluate, **kwargs
) -> dg.AssetChecksDefinition:
    """A check of `asset` per model x slice partition that only needs object storage."""

    @dg.asset_check(
        asset=asset,
        name=name,
        partitions_def=model_slice_partitions,
        description=description,
        **kwargs,
    )
    def _check(context: dg.AssetCheckExecutionContext, storage: ObjectStorageResource):
        yield from evaluate_partitions(context, storage.open(), asset.key, name, evaluate)

    return _check


def _completeness(store: ObjectStore, spec: ModelSpec, slice_key: str) -> tuple[Outcome, dict]:
    m = spec.model_id
    outcome = completeness(
        library_rows=_rows(store, layout.library_slice(slice_key)),
        predicted=_rows(store, layout.predictions(m, slice_key)),
        valid=_rows(store, layout.validated(m, slice_key)),
        quarantined=_rows(store, layout.quarantined(m, slice_key)),
    )
    return outcome, {}


completeness_check = partition_check(
    validated_predictions,
    "completeness",
    "Every valid library row is validated or quarantined (blocks publication).",
    _completeness,
    blocking=True,
)


def _output_sanity(store: ObjectStore, spec: ModelSpec, slice_key: str) -> tuple[Outcome, dict]:
    frame = read_upstream(store, layout.predictions(spec.model_id, slice_key), "predictions")
    return output_sanity(frame, spec, check_settings(spec).sanity), {}


output_sanity_check = partition_check(
    predictions,
    "output_sanity",
    "Share of null/NaN (where not nullable) and out-of-range outputs per column.",
    _output_sanity,
)


def _reproducibility(store: ObjectStore, spec: ModelSpec, slice_key: str) -> tuple[Outcome, dict]:
    settings = check_settings(spec).reproducibility
    current = store.read_parquet(layout.predictions(spec.model_id, slice_key))
    previous_key = layout.previous_predictions(spec.model_id, slice_key)
    previous = store.read_parquet(previous_key) if store.exists(previous_key) else None
    if previous is None or code_version_of(previous) != code_version_of(current):
        why = (
            "first materialisation"
            if previous is None
            else "the previous one was under another code version"
        )
        return Outcome(True, settings.severity, 0.0, 0.0, f"{why}: nothing to compare"), {}
    outcome = reproducibility(previous.to_pandas(), current.to_pandas(), spec, settings)
    return outcome, {"previous": dg.MetadataValue.path(store.uri(previous_key))}


reproducibility_check = partition_check(
    predictions,
    "reproducibility",
    "Materialised again under the same code version, predictions are unchanged.",
    _reproducibility,
)


def drift_baseline(
    store: ObjectStore, spec: ModelSpec, slices: list[str], chosen: str | None
) -> str | None:
    """The model's baseline slice: `checks.drift.baseline_slice`, else the first
    registered slice with validated predictions under the current code version, pinned
    in storage on first use so later libraries never move it (re-pinned when the model's
    code version changes)."""
    version = spec.code_version
    pin_key = layout.drift_baseline(spec.model_id)
    if chosen:
        return chosen
    if store.exists(pin_key):
        pin = json.loads(store.get_bytes(pin_key))
        if pin.get("code_version") == version:
            return pin["slice"]
    for slice_key in slices:
        key = layout.validated(spec.model_id, slice_key)
        if (
            store.exists(key)
            and code_version_of(store.read_parquet(key, columns=["row"])) == version
        ):
            pin = {
                "slice": slice_key,
                "code_version": version,
                "pinned_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            store.put_bytes(pin_key, json.dumps(pin, indent=2).encode())
            return slice_key
    return None


def measure_partition_drift(
    store: ObjectStore, spec: ModelSpec, slice_key: str, slices: list[str]
) -> tuple[Outcome, dict]:
    from precalc_assets.drift import measure_drift  # imports Evidently (~3 s): only here

    settings = check_settings(spec)
    policy = settings.drift
    baseline = drift_baseline(store, spec, slices, settings.baseline_slice)
    pinned = {"baseline_slice": baseline or ""}
    if baseline is None or baseline == slice_key:
        why = "this slice is the model's drift baseline" if baseline else "no baseline yet"
        return Outcome(True, WARN, 0.0, policy.warn_share, why), pinned
    reference = store.read_parquet(layout.validated(spec.model_id, baseline))
    if code_version_of(reference) != spec.code_version:
        why = f"baseline {baseline} has no predictions under the current code version yet"
        return Outcome(True, WARN, 0.0, policy.warn_share, why), pinned
    current = read_upstream(
        store, layout.validated(spec.model_id, slice_key), "validated_predictions"
    )
    report_key = layout.drift_report(spec.model_id, slice_key)
    with tempfile.TemporaryDirectory(prefix="precalc-drift-") as tmp:
        html = Path(tmp) / "report.html"
        result = measure_drift(
            list(spec.columns), reference.to_pandas(), current, policy, html_path=html
        )
        store.put_file(report_key, html)
    severity = result.severity if result.severity != "PASS" else WARN
    outcome = Outcome(
        passed=result.severity == "PASS",
        severity=severity,
        score=result.drifted_share,
        threshold=policy.warn_share,
        description=result.summary(),
        table=result.markdown(),
    )
    return outcome, pinned | {
        "drifted_features": len(result.drifted_features),
        "features": len(result.features),
        "report": dg.MetadataValue.url(store.uri(report_key)),
    }


@dg.asset_check(
    asset=published_predictions,
    name="prediction_drift",
    partitions_def=model_slice_partitions,
    description="Evidently drift of this slice's predictions against the model's baseline slice.",
)
def prediction_drift_check(context: dg.AssetCheckExecutionContext, storage: ObjectStorageResource):
    slices = list(context.instance.get_dynamic_partitions("slice"))

    def evaluate(store: ObjectStore, spec: ModelSpec, slice_key: str) -> tuple[Outcome, dict]:
        return measure_partition_drift(store, spec, slice_key, slices)

    yield from evaluate_partitions(
        context, storage.open(), published_predictions.key, "prediction_drift", evaluate
    )


def readback_sample(
    store: ObjectStore, table: ServingTable, spec: ModelSpec, slice_key: str
) -> tuple[Outcome, dict]:
    settings = check_settings(spec).readback
    validated = read_upstream(
        store, layout.validated(spec.model_id, slice_key), "validated_predictions"
    )
    rows = random.Random(f"{spec.model_id}|{slice_key}").sample(
        range(len(validated)), min(settings.sample, len(validated))
    )
    sample = validated.iloc[sorted(rows)]
    served = table.get_many(spec.model_id, list(sample["inchikey"]))  # the sample only
    # Items an earlier slice of the same library serves are that slice's to check.
    mine = sample[
        [served.get(k, {}).get("slice_key", slice_key) == slice_key for k in sample["inchikey"]]
    ]
    outputs = {k: served[k]["outputs"] for k in mine["inchikey"] if k in served}
    return serving_readback(mine, outputs, spec, settings.rtol), {
        "serving_table": dg.MetadataValue.text(table.url)
    }


@dg.asset_check(
    asset=published_predictions,
    name="serving_readback",
    partitions_def=model_slice_partitions,
    description="A sample of items read back from the serving table equals the validated values.",
)
def serving_readback_check(
    context: dg.AssetCheckExecutionContext,
    storage: ObjectStorageResource,
    serving: ServingTableResource,
):
    table = serving.open()

    def evaluate(store: ObjectStore, spec: ModelSpec, slice_key: str) -> tuple[Outcome, dict]:
        return readback_sample(store, table, spec, slice_key)

    yield from evaluate_partitions(
        context, storage.open(), published_predictions.key, "serving_readback", evaluate
    )


CHECKS = [
    completeness_check,
    output_sanity_check,
    reproducibility_check,
    prediction_drift_check,
    serving_readback_check,
]


def latest_evaluations(
    instance: dg.DagsterInstance, limit: int = 10_000
) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """(check, partition) -> its latest evaluation, from the newest `limit` evaluations."""
    from dagster._core.events import DagsterEventType

    records = instance.event_log_storage.get_event_records(
        dg.EventRecordsFilter(DagsterEventType.ASSET_CHECK_EVALUATION), limit=limit
    )
    latest: dict[tuple[str, str], dg.AssetCheckEvaluation] = {}
    for record in records:  # newest first
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        latest.setdefault((evaluation.check_name, evaluation.partition or ""), evaluation)
    return latest


def checks_markdown(latest: dict[tuple[str, str], dg.AssetCheckEvaluation]) -> str:
    """Per model and check: partitions passed / WARN / ERROR, then each failure."""
    counts: dict[tuple[str, str], list[int]] = {}
    failures = []
    for (check, partition), evaluation in sorted(latest.items()):
        model = partition.split("|")[0]
        row = counts.setdefault((model, check), [0, 0, 0])
        if evaluation.passed:
            row[0] += 1
            continue
        row[1 if evaluation.severity == dg.AssetCheckSeverity.WARN else 2] += 1
        score = evaluation.metadata.get("score")
        threshold = evaluation.metadata.get("threshold")
        failures.append(
            f"| {partition} | {check} | {evaluation.severity.value} | "
            f"{score.value if score else ''} | {threshold.value if threshold else ''} |"
        )
    lines = ["| model | check | passed | WARN | ERROR |", "|---|---|---:|---:|---:|"]
    lines += [f"| {m} | {c} | {p} | {w} | {e} |" for (m, c), (p, w, e) in sorted(counts.items())]
    if failures:
        lines += [
            "",
            "| partition | check | severity | score | threshold |",
            "|---|---|---|---:|---:|",
        ]
        lines += failures
    return "\n".join(lines)
