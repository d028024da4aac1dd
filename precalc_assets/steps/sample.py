"""Sample: a model over the first molecules of a slice, computed and validated, with
nothing written anywhere (the hub's sample-only runs, to see a model's values first)."""

from __future__ import annotations

from precalc_assets import layout
from precalc_assets.chem import identify
from precalc_assets.models.runners.base import Log, no_log
from precalc_assets.models.spec import ModelSpec
from precalc_assets.steps.compute import Molecules, computed_rows
from precalc_assets.steps.validate import Validation
from precalc_assets.stores.object_store import ObjectStore


def first_molecules(store: ObjectStore, slice_key: str, count: int) -> Molecules:
    """The slice's first `count` rows that identify (its raw rows, as registered)."""
    raw = store.read_parquet(layout.raw_slice(slice_key), ["input"])
    inchikeys: list[str] = []
    smiles: list[str] = []
    texts: list[str] = []
    for text in raw.column("input").to_pylist():
        _, canonical, inchikey, reason = identify(text)
        if reason or inchikey in inchikeys:
            continue
        inchikeys.append(inchikey)
        smiles.append(canonical)
        texts.append(text.strip())
        if len(inchikeys) == count:
            break
    return Molecules(inchikeys, smiles, texts)


def sample_predictions(
    store: ObjectStore, spec: ModelSpec, slice_key: str, count: int, log: Log = no_log
) -> Validation:
    """The model over the slice's first `count` molecules, validated; nothing stored."""
    molecules = first_molecules(store, slice_key, count)
    return computed_rows(spec, molecules, f" on a sample of slice {slice_key!r}", log)
