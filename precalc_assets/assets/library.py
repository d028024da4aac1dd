"""`library_slices`: each slice of a registered library file, canonicalised."""

import dagster as dg

from precalc_assets.metadata import step_metadata
from precalc_assets.partitions import slice_partitions
from precalc_assets.pipeline import StepResult, prepare_slice
from precalc_assets.resources import ObjectStorageResource


def library_slice_materialization(result: StepResult) -> dg.AssetMaterialization:
    """Recorded when another step had to prepare a slice itself, so history stays true."""
    return dg.AssetMaterialization(
        asset_key="library_slices",
        partition=result.slice_key,
        metadata=step_metadata([result], "molecules", "rejected_rows"),
    )


@dg.asset(
    partitions_def=slice_partitions,
    group_name="library",
    kinds={"rdkit", "parquet"},
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=4),
    description=(
        "Canonical SMILES + standard InChIKey of each row of one slice of a library file "
        "(library/<slice>.parquet); unparseable, empty and duplicate rows are rejected "
        "with a reason (rejected/library/<slice>.parquet)."
    ),
)
def library_slices(
    context: dg.AssetExecutionContext, storage: ObjectStorageResource
) -> dg.MaterializeResult:
    store = storage.open()
    results = [prepare_slice(store, key) for key in context.partition_keys]
    for result in results:
        context.log.info(
            f"slice {result.slice_key}: {result.rows_out:,} molecules, {result.rejected:,} "
            f"rejected {result.reasons or ''} in {result.seconds:.1f}s"
        )
    return dg.MaterializeResult(metadata=step_metadata(results, "molecules", "rejected_rows"))
