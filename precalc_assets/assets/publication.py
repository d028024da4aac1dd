"""`published_predictions`: validated rows upserted into the serving table."""

import dagster as dg

from precalc_assets.assets.predictions import MODEL_BACKFILL, specs_by_slice
from precalc_assets.assets.validation import validated_predictions
from precalc_assets.metadata import step_metadata
from precalc_assets.partitions import model_slice_partitions
from precalc_assets.pipeline import publish_predictions
from precalc_assets.resources import ObjectStorageResource, ServingTableResource


@dg.asset(
    partitions_def=model_slice_partitions,
    deps=[validated_predictions],
    group_name="precalculation",
    kinds={"dynamodb", "sqlite"},
    backfill_policy=MODEL_BACKFILL,
    description=(
        "Validated predictions in the serving table (PK=INPUTKEY#<InChIKey>, "
        "SK=MODELID#<model>), written as idempotent upserts and read back to verify."
    ),
)
def published_predictions(
    context: dg.AssetExecutionContext,
    storage: ObjectStorageResource,
    serving: ServingTableResource,
) -> dg.MaterializeResult:
    store = storage.open()
    table = serving.open()
    results = []
    for slice_key, specs in specs_by_slice(context, store):
        for spec in specs:
            results.append(publish_predictions(store, table, spec, slice_key, context.run.run_id))
    metadata = step_metadata(results, "items_published", "not_published")
    metadata["serving_table"] = dg.MetadataValue.text(table.url)
    return dg.MaterializeResult(metadata=metadata)
