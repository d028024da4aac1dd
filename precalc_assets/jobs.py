"""Jobs: `precalculate` (model x slice, all steps) and `prepare_library` (slices)."""

from __future__ import annotations

import dagster as dg

from precalc_assets.assets import MODEL_ASSETS, library_slices

precalculate_job = dg.define_asset_job(
    name="precalculate",
    selection=dg.AssetSelection.assets(*MODEL_ASSETS),
    description=(
        "Compute, validate and publish one model x slice partition, e.g. "
        '--tags \'{"dagster/partition": "eos3b5e|lib-0000"}\'. Prepares the slice if needed.'
    ),
)

prepare_library_job = dg.define_asset_job(
    name="prepare_library",
    selection=dg.AssetSelection.assets(library_slices),
    description="Canonicalise library slices (RDKit parse, canonical SMILES, InChIKey).",
)

JOBS = [precalculate_job, prepare_library_job]  # + register_library_job (registration.py)
