"""Jobs: `precalculate` (model x slice, every step), `check_partitions` (checks only),
`refresh_ledger` (the ledger), `prepare_library` (slices), and `register_library_job`,
which cuts a library file found in storage into slices in a run, never inside a sensor
tick (the file may be large).

Dagster reads the op's config annotation at runtime, so this module does not use
`from __future__ import annotations`.
"""

import dagster as dg

from precalc_assets import keys
from precalc_assets.chem import DEFAULT_MAX_SMILES_LENGTH
from precalc_assets.dagster_defs.assets import MODEL_ASSETS, library_slices, precalc_ledger
from precalc_assets.dagster_defs.checks import CHECKS
from precalc_assets.dagster_defs.resources import ObjectStorageResource
from precalc_assets.inputs.libraries import register_stored_library
from precalc_assets.inputs.library_files import DEFAULT_SLICE_SIZE, LibraryError
from precalc_assets.inputs.rejected import record_rejected_inputs
from precalc_assets.orchestration.run_processes import record_run_process

precalculate_job = dg.define_asset_job(
    name=keys.PRECALCULATE_JOB,
    selection=dg.AssetSelection.assets(*MODEL_ASSETS),
    description=(
        "Compute, validate and publish one model x slice partition, e.g. "
        '--tags \'{"dagster/partition": "eos3b5e|lib-0000"}\'. Prepares the slice if needed.'
    ),
)

# Checks only: Dagster infers a job's partitions definition from its selected assets, so
# this job has none. Its partitions come as run tags (`dagster/partition`, or the range
# tags), never as `execute_in_process(partition_key=...)`, which it refuses.
check_partitions_job = dg.define_asset_job(
    name=keys.CHECK_PARTITIONS_JOB,
    selection=dg.AssetSelection.checks(*CHECKS),
    description=(
        "Evaluate every check of model x slice partitions already materialised, e.g. after a "
        'run was killed during its checks: --tags \'{"dagster/partition": "eos3b5e|lib-0000"}\' '
        "(or the range tags)."
    ),
)

# The ledger alone: what `ledger_after_runs_sensor` requests after the daemon's runs.
ledger_job = dg.define_asset_job(
    name=keys.LEDGER_JOB,
    selection=dg.AssetSelection.assets(precalc_ledger),
    description="Write the ledger again from the materialisation history (precalc_ledger).",
)

prepare_library_job = dg.define_asset_job(
    name="prepare_library",
    selection=dg.AssetSelection.assets(library_slices),
    description="Canonicalise library slices (RDKit parse, canonical SMILES, InChIKey).",
)


class RegisterLibraryConfig(dg.Config):
    key: str
    slice_size: int = DEFAULT_SLICE_SIZE
    max_smiles_length: int = DEFAULT_MAX_SMILES_LENGTH


@dg.op(tags={"kind": "registration"})
def register_library_file(
    context: dg.OpExecutionContext, config: RegisterLibraryConfig, storage: ObjectStorageResource
) -> list[str]:
    record_run_process(context)
    store = storage.open()
    try:
        manifest = register_stored_library(
            store, config.key, config.slice_size, config.max_smiles_length
        )
    except LibraryError as exc:
        record_rejected_inputs(store, {config.key: str(exc)}, cleared=set())
        raise dg.Failure(
            description=f"{store.uri(config.key)} was not registered: {exc}",
            metadata={"file": store.uri(config.key)},
        ) from exc
    record_rejected_inputs(store, {}, cleared={config.key})
    slice_keys = [s.key for s in manifest.slices]
    new = [k for k in slice_keys if not context.instance.has_dynamic_partition(keys.SLICE, k)]
    if new:
        context.instance.add_dynamic_partitions(keys.SLICE, new)
    context.add_output_metadata(
        {"library": manifest.name, "slices": len(slice_keys), "new_slices": len(new)}
    )
    context.log.info(
        f"library {manifest.name!r} from {store.uri(config.key)}: {len(slice_keys)} slices"
    )
    return slice_keys


@dg.job(description="Cut a library file found under inputs/library/ into registered slices.")
def register_library_job() -> None:
    register_library_file()


JOBS = [
    precalculate_job,
    check_partitions_job,
    ledger_job,
    prepare_library_job,
    register_library_job,
]
