"""`library_slices`: each slice of a registered library file, canonicalised."""

import dagster as dg

from precalc_assets import keys
from precalc_assets.dagster_defs.metadata import record_partitions, step_metadata
from precalc_assets.dagster_defs.resources import ObjectStorageResource
from precalc_assets.orchestration.partitions import slice_partitions
from precalc_assets.orchestration.run_processes import record_run_process
from precalc_assets.steps.prepare import prepare_slice
from precalc_assets.steps.results import StepResult


def library_slice_materialization(result: StepResult) -> dg.AssetMaterialization:
    """Recorded when another step had to prepare a slice itself, so history stays true."""
    return dg.AssetMaterialization(
        asset_key=keys.LIBRARY_SLICES,
        partition=result.slice_key,
        metadata=step_metadata(result, keys.MOLECULES, keys.REJECTED_ROWS),
    )


@dg.asset(
    name=keys.LIBRARY_SLICES,
    partitions_def=slice_partitions,
    group_name="library",
    kinds={"rdkit", "parquet"},
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=keys.SLICES_PER_RUN),
    description=(
        "Canonical SMILES + standard InChIKey of each row of one slice of a library file "
        "(library/<slice>.parquet); unparseable, empty and duplicate rows are rejected "
        "with a reason (rejected/library/<slice>.parquet)."
    ),
)
def library_slices(
    context: dg.AssetExecutionContext, storage: ObjectStorageResource
) -> dg.MaterializeResult:
    record_run_process(context)
    store = storage.open()
    results = [prepare_slice(store, key) for key in context.partition_keys]
    for result in results:
        context.log.info(
            f"slice {result.slice_key}: {result.rows_out:,} molecules, {result.rejected:,} "
            f"rejected {result.reasons or ''} in {result.seconds:.1f}s"
        )
    record_partitions(context, results, keys.MOLECULES, keys.REJECTED_ROWS)
    return dg.MaterializeResult()
