"""`validated_predictions`: the model's pandera schema; failing rows quarantined."""

import dagster as dg

from precalc_assets import keys
from precalc_assets.dagster_defs.assets.model_slices import model_slice_asset, specs_by_slice
from precalc_assets.dagster_defs.assets.predictions import predictions
from precalc_assets.dagster_defs.metadata import record_partitions
from precalc_assets.dagster_defs.resources import ModelPolicyResource, ObjectStorageResource
from precalc_assets.steps.validate import validate_predictions


@model_slice_asset(
    keys.VALIDATED_PREDICTIONS,
    predictions,
    {"pandera", "parquet"},
    "Predictions that pass the model's schema (validated/model=<m>/slice=<s>.parquet); "
    "failing rows with their failure cases go to rejected/predictions/, never to serving.",
)
def validated_predictions(
    context: dg.AssetExecutionContext,
    storage: ObjectStorageResource,
    models: ModelPolicyResource,
) -> dg.MaterializeResult:
    store = storage.open()
    results = []
    for slice_key, specs in specs_by_slice(context, store, models.open()):
        for spec in specs:
            result = validate_predictions(store, spec, slice_key)
            if result.rejected:
                context.log.warning(
                    f"{keys.partition_id(spec.model_id, slice_key)}: {result.rejected} rows "
                    "quarantined: "
                    f"{result.reasons}"
                )
            if result.nulled:
                context.log.warning(
                    f"{keys.partition_id(spec.model_id, slice_key)}: values beyond the "
                    f"serving table's number range made null: {result.nulled}"
                )
            results.append(result)
    record_partitions(context, results, keys.VALID_ROWS, keys.QUARANTINED_ROWS)
    return dg.MaterializeResult()
