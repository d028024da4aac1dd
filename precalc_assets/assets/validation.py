"""`validated_predictions`: the model's pandera schema; failing rows quarantined."""

import dagster as dg

from precalc_assets.assets.predictions import MODEL_BACKFILL, predictions, specs_by_slice
from precalc_assets.metadata import step_metadata
from precalc_assets.partitions import model_slice_partitions
from precalc_assets.pipeline import validate_predictions
from precalc_assets.resources import ObjectStorageResource


@dg.asset(
    partitions_def=model_slice_partitions,
    deps=[predictions],
    group_name="precalculation",
    kinds={"pandera", "parquet"},
    backfill_policy=MODEL_BACKFILL,
    description=(
        "Predictions that pass the model's schema (validated/model=<m>/slice=<s>.parquet); "
        "failing rows with their failure cases go to rejected/predictions/, never to serving."
    ),
)
def validated_predictions(
    context: dg.AssetExecutionContext, storage: ObjectStorageResource
) -> dg.MaterializeResult:
    store = storage.open()
    results = []
    for slice_key, specs in specs_by_slice(context, store):
        for spec in specs:
            result = validate_predictions(store, spec, slice_key)
            if result.rejected:
                context.log.warning(
                    f"{spec.model_id}|{slice_key}: {result.rejected} rows quarantined: "
                    f"{result.reasons}"
                )
            results.append(result)
    return dg.MaterializeResult(metadata=step_metadata(results, "valid_rows", "quarantined_rows"))
