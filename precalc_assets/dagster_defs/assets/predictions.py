"""`predictions`: a model over a slice, written as Parquet in object storage."""

from collections import defaultdict
from collections.abc import Iterator

import dagster as dg

from precalc_assets import keys
from precalc_assets.dagster_defs.assets.library import library_slice_materialization, library_slices
from precalc_assets.dagster_defs.metadata import REJECTED, ROWS, step_metadata
from precalc_assets.dagster_defs.partitions import model_slice_partitions, split_partition_key
from precalc_assets.dagster_defs.resources import ObjectStorageResource
from precalc_assets.inputs.model_requests import load_model_spec
from precalc_assets.models.spec import ModelSpec
from precalc_assets.steps.predict import compute_predictions
from precalc_assets.stores.object_store import ObjectStore

MODEL_BACKFILL = dg.BackfillPolicy.multi_run(max_partitions_per_run=keys.PARTITIONS_PER_RUN)


def partitions_by_slice(context: dg.AssetExecutionContext) -> dict[str, list[str]]:
    """Slice -> models of this run; accepts the string form of keys too."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for key in context.partition_keys:
        model_id, slice_key = split_partition_key(key)
        grouped[slice_key].append(model_id)
    return dict(grouped)


def specs_by_slice(
    context: dg.AssetExecutionContext, store: ObjectStore
) -> Iterator[tuple[str, list[ModelSpec]]]:
    """(slice, model specs) for the partitions of this run, specs read from storage."""
    for slice_key, model_ids in partitions_by_slice(context).items():
        yield slice_key, [load_model_spec(store, m) for m in model_ids]


@dg.asset(
    name=keys.PREDICTIONS,
    partitions_def=model_slice_partitions,
    deps=[library_slices],
    group_name="precalculation",
    kinds={"rdkit", "parquet"},
    backfill_policy=MODEL_BACKFILL,
    description=(
        "A model's outputs for every molecule of a slice: "
        "predictions/model=<m>/slice=<s>.parquet (keys first, declared columns in order)."
    ),
)
def predictions(
    context: dg.AssetExecutionContext, storage: ObjectStorageResource
) -> dg.MaterializeResult:
    store = storage.open()
    results = []
    for slice_key, specs in specs_by_slice(context, store):
        slice_results, prepared = compute_predictions(store, specs, slice_key)
        if prepared is not None:
            # The slice was canonicalised in this step, on the same parse as the models:
            # record it as a materialisation of `library_slices`, so history stays true.
            context.log.info(f"slice {slice_key} was not prepared yet: prepared it here")
            context.log_event(library_slice_materialization(prepared))
        results += slice_results
    return dg.MaterializeResult(metadata=step_metadata(results, ROWS, REJECTED))
