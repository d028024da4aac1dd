"""Jobs: `precalculate` (model x slice, all steps) and `prepare_library` (slices)."""

from __future__ import annotations

import dagster as dg

from precalc_assets.assets import MODEL_ASSETS, library_slices
from precalc_assets.partitions import model_slice_partitions, slice_partitions

precalculate_job = dg.define_asset_job(
    name="precalculate",
    selection=dg.AssetSelection.assets(*MODEL_ASSETS),
    partitions_def=model_slice_partitions,
    description=(
        "Compute, validate and publish one model x slice partition, e.g. "
        "--tags '{\"dagster/partition\": \"eos3b5e|lib-0000\"}'. Prepares the slice if needed."
    ),
)

prepare_library_job = dg.define_asset_job(
    name="prepare_library",
    selection=dg.AssetSelection.assets(library_slices),
    partitions_def=slice_partitions,
    description="Canonicalise library slices (RDKit parse, canonical SMILES, InChIKey).",
)

JOBS = [precalculate_job, prepare_library_job]
