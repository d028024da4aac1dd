"""`published_predictions`: validated rows upserted into the serving table."""

import dagster as dg

from precalc_assets import keys
from precalc_assets.dagster_defs.assets.model_slices import model_slice_asset, specs_by_slice
from precalc_assets.dagster_defs.assets.validation import validated_predictions
from precalc_assets.dagster_defs.metadata import record_partitions
from precalc_assets.dagster_defs.resources import (
    ModelPolicyResource,
    ObjectStorageResource,
    ServingTableResource,
)
from precalc_assets.orchestration.progress import ProgressFile
from precalc_assets.steps.publish import publish_predictions


@model_slice_asset(
    keys.PUBLISHED_PREDICTIONS,
    validated_predictions,
    {"dynamodb", "sqlite"},
    "Validated predictions in the serving table (PK=INPUTKEY#<InChIKey>, "
    "SK=MODELID#<model>), written as idempotent upserts and read back to verify.",
    pool=keys.SERVING_POOL,
)
def published_predictions(
    context: dg.AssetExecutionContext,
    storage: ObjectStorageResource,
    models: ModelPolicyResource,
    serving: ServingTableResource,
) -> dg.MaterializeResult:
    store = storage.open()
    table = serving.open()
    progress = ProgressFile.from_tags(context.run.tags, context.run.run_id)
    results = []
    for slice_key, specs in specs_by_slice(context, store, models.open()):
        for spec in specs:
            results.append(publish_predictions(store, table, spec, slice_key, context.run.run_id))
            progress.published(keys.partition_id(spec.model_id, slice_key))
    record_partitions(context, results, keys.ITEMS_PUBLISHED, keys.NOT_PUBLISHED)
    return dg.MaterializeResult()
