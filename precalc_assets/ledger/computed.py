"""Molecules computed on demand for lookups, per model: from a listing of their records."""

from __future__ import annotations

from collections.abc import Iterable

from precalc_assets import layout
from precalc_assets.stores.object_store import ObjectStore


def computed_counts(store: ObjectStore, model_ids: Iterable[str]) -> dict[str, int]:
    """Model -> molecules that lookups computed (`serving.compute_missing`), not precalculated."""
    return {
        model_id: sum(
            layout.computed_rows_of(info.key)
            for info in store.list(layout.computed_folder(model_id))
        )
        for model_id in model_ids
    }
