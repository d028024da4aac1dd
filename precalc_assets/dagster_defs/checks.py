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
per partition of its run, with that partition set. What each decides: `quality/`.

Cost (`benchmarks/checks_cost.py`): for a one-output model about 1 % of a partition's
compute. A check reads only the columns it uses; a check op loads each model's spec once,
and the drift check its baseline once, for all the partitions of its run; Evidently is
imported only when a drift report is written (by default for WARN/ERROR partitions only).
"""

from collections.abc import Callable, Iterator

import dagster as dg

from precalc_assets import keys
from precalc_assets.dagster_defs.assets import (
    predictions,
    published_predictions,
    validated_predictions,
)
from precalc_assets.dagster_defs.resources import (
    ModelPolicyResource,
    ObjectStorageResource,
    ServingTableResource,
)
from precalc_assets.inputs.model_requests import load_model_spec
from precalc_assets.models.spec import ModelError, ModelSpec
from precalc_assets.models.trust import ModelPolicy
from precalc_assets.orchestration.partitions import model_slice_partitions, split_partition_key
from precalc_assets.orchestration.run_processes import record_run_process
from precalc_assets.quality.drift.evidently_report import ReportWriter
from precalc_assets.quality.evaluations import (
    evaluate_completeness,
    evaluate_drift,
    evaluate_output_sanity,
    evaluate_readback,
    evaluate_reproducibility,
)
from precalc_assets.quality.outcome import ERROR, Outcome
from precalc_assets.stores.errors import StoreError
from precalc_assets.stores.object_store import ObjectStore

Evaluate = Callable[[ObjectStore, ModelSpec, str], Outcome]


def _figure_text(value: object) -> str:
    return (
        f"{value:,}"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else str(value)
    )


def _evaluation(
    asset_key: dg.AssetKey, name: str, partition: str, outcome: Outcome
) -> dg.AssetCheckEvaluation:
    # Dagster plots a check's numeric metadata as one series over all its partitions, so
    # only the score and threshold (on one scale for every model) stay numbers; the
    # other figures (features, rows: they differ by model) are shown as text.
    metadata = {
        "score": dg.MetadataValue.float(round(float(outcome.score), 6)),
        "threshold": dg.MetadataValue.float(float(outcome.threshold)),
        **({"details": dg.MetadataValue.md(outcome.table)} if outcome.table else {}),
        **{k: dg.MetadataValue.text(_figure_text(v)) for k, v in outcome.figures.items()},
        **{name: dg.MetadataValue.url(uri) for name, uri in outcome.links.items()},
    }
    return dg.AssetCheckEvaluation(
        asset_key=asset_key,
        check_name=name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity(outcome.severity),
        description=outcome.description,
        metadata=metadata,
        partition=partition,
        blocking=name == keys.COMPLETENESS,
    )


def evaluate_partitions(
    context: dg.AssetCheckExecutionContext,
    store: ObjectStore,
    policy: ModelPolicy,
    asset_key: dg.AssetKey,
    name: str,
    evaluate: Evaluate,
) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
    """One evaluation per partition of the run; a partition whose files or spec cannot
    be read fails its check with the reason (the others are still evaluated)."""
    record_run_process(context.op_execution_context)
    specs: dict[str, ModelSpec] = {}  # a run's partitions share few models: load each once
    for key in context.op_execution_context.partition_keys:
        model_id, slice_key = split_partition_key(key)
        partition = keys.partition_id(model_id, slice_key)
        try:
            if model_id not in specs:
                specs[model_id] = load_model_spec(store, model_id, policy)
            outcome = evaluate(store, specs[model_id], slice_key)
        except (StoreError, ModelError, ValueError) as exc:
            outcome = Outcome(False, ERROR, 1.0, 0.0, f"{partition}: {exc}")
        if not outcome.passed:
            context.log.warning(f"{name} {outcome.severity} on {partition}: {outcome.description}")
        yield _evaluation(asset_key, name, partition, outcome)
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
    def _check(
        context: dg.AssetCheckExecutionContext,
        storage: ObjectStorageResource,
        models: ModelPolicyResource,
    ):
        yield from evaluate_partitions(
            context, storage.open(), models.open(), asset.key, name, evaluate
        )

    return _check


completeness_check = partition_check(
    validated_predictions,
    keys.COMPLETENESS,
    "Every valid library row is validated or quarantined (blocks publication).",
    evaluate_completeness,
    blocking=True,
)

output_sanity_check = partition_check(
    predictions,
    keys.OUTPUT_SANITY,
    "Share of null/NaN (where not nullable) and out-of-range outputs per column.",
    evaluate_output_sanity,
)

reproducibility_check = partition_check(
    predictions,
    keys.REPRODUCIBILITY,
    "Materialised again under the same code version, predictions are unchanged.",
    evaluate_reproducibility,
)


@dg.asset_check(
    asset=published_predictions,
    name=keys.PREDICTION_DRIFT,
    partitions_def=model_slice_partitions,
    description="Evidently drift of this slice's predictions against the model's baseline slice.",
)
def prediction_drift_check(
    context: dg.AssetCheckExecutionContext,
    storage: ObjectStorageResource,
    models: ModelPolicyResource,
):
    slices = list(context.instance.get_dynamic_partitions(keys.SLICE))
    baselines: dict = {}  # the baseline slice's outputs, read once for the run's partitions
    # One report process for the run's partitions: Evidently imported once, and gone
    # with the op (its ~160 MB never stays in the worker).
    with ReportWriter() as reports:

        def evaluate(store: ObjectStore, spec: ModelSpec, slice_key: str) -> Outcome:
            return evaluate_drift(
                store, spec, slice_key, slices, baselines=baselines, reports=reports
            )

        yield from evaluate_partitions(
            context,
            storage.open(),
            models.open(),
            published_predictions.key,
            keys.PREDICTION_DRIFT,
            evaluate,
        )


@dg.asset_check(
    asset=published_predictions,
    name=keys.SERVING_READBACK,
    partitions_def=model_slice_partitions,
    description="A sample of items read back from the serving table equals the validated values.",
)
def serving_readback_check(
    context: dg.AssetCheckExecutionContext,
    storage: ObjectStorageResource,
    models: ModelPolicyResource,
    serving: ServingTableResource,
):
    table = serving.open()

    def evaluate(store: ObjectStore, spec: ModelSpec, slice_key: str) -> Outcome:
        return evaluate_readback(store, table, spec, slice_key)

    yield from evaluate_partitions(
        context,
        storage.open(),
        models.open(),
        published_predictions.key,
        keys.SERVING_READBACK,
        evaluate,
    )


CHECKS = [
    completeness_check,
    output_sanity_check,
    reproducibility_check,
    prediction_drift_check,
    serving_readback_check,
]
