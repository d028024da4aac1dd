"""Sample: a model over the first molecules of a slice, computed and validated, with
nothing written anywhere (the hub's sample-only runs, to see a model's values first)."""

from __future__ import annotations

from precalc_assets.inputs.libraries import first_molecules
from precalc_assets.models.runners.base import Log, no_log
from precalc_assets.models.spec import ModelSpec
from precalc_assets.steps.compute import Molecules, computed_rows
from precalc_assets.steps.validate import Validation
from precalc_assets.stores.object_store import ObjectStore


def sample_predictions(
    store: ObjectStore, spec: ModelSpec, slice_key: str, count: int, log: Log = no_log
) -> Validation:
    """The model over the slice's first `count` molecules, validated; nothing stored."""
    found, _ = first_molecules(store, slice_key, count)
    molecules = Molecules(
        [m.inchikey for m in found], [m.smiles for m in found], [m.input_smiles for m in found]
    )
    return computed_rows(spec, molecules, f" on a sample of slice {slice_key!r}", log)
