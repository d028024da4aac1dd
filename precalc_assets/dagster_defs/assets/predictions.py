"""`predictions`: a model over a slice, written as Parquet in object storage."""

import dagster as dg

from precalc_assets import keys
from precalc_assets.dagster_defs.active_runs import record_run_process
from precalc_assets.dagster_defs.assets.library import library_slice_materialization, library_slices
from precalc_assets.dagster_defs.assets.model_slices import model_slice_asset, specs_by_slice
from precalc_assets.dagster_defs.metadata import REJECTED, ROWS, step_metadata
from precalc_assets.dagster_defs.resources import ObjectStorageResource
from precalc_assets.steps.predict import compute_predictions


@model_slice_asset(
    keys.PREDICTIONS,
    library_slices,
    {"rdkit", "parquet"},
    "A model's outputs for every molecule of a slice: "
    "predictions/model=<m>/slice=<s>.parquet (keys first, declared columns in order).",
)
def predictions(
    context: dg.AssetExecutionContext, storage: ObjectStorageResource
) -> dg.MaterializeResult:
    record_run_process(context)
    store = storage.open()
    results = []
    for slice_key, specs in specs_by_slice(context, store):
        slice_results, prepared = compute_predictions(store, specs, slice_key)
        if prepared is not None:
            # The slice was canonicalised in this step, on the same parse as the models:
            # record it as a materialisation of `library_slices`, so history stays true.
            context.log.info(
                f"slice {slice_key} was not prepared, or its file could not be read: "
                "prepared it here"
            )
            context.log_event(library_slice_materialization(prepared))
        results += slice_results
    return dg.MaterializeResult(metadata=step_metadata(results, ROWS, REJECTED))
