"""Which slice is a model's drift baseline: chosen in its spec, else pinned in storage
on first use, so later libraries never move it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from precalc_assets import layout
from precalc_assets.models.partition_files import code_version_of
from precalc_assets.models.spec import ModelSpec
from precalc_assets.stores.object_store import ObjectStore


def drift_baseline(
    store: ObjectStore, spec: ModelSpec, slices: list[str], chosen: str | None
) -> str | None:
    """The model's baseline slice: `checks.drift.baseline_slice`, else the first
    registered slice with validated predictions under the current code version, pinned
    on first use (re-pinned when the model's code version changes)."""
    if chosen:
        return chosen
    version = spec.code_version
    pin_key = layout.drift_baseline(spec.model_id)
    if store.exists(pin_key):
        pin = json.loads(store.get_bytes(pin_key))
        if pin.get("code_version") == version:
            return pin["slice"]
    for slice_key in slices:
        key = layout.validated(spec.model_id, slice_key)
        if (
            store.exists(key)
            and code_version_of(store.read_parquet(key, columns=["row"])) == version
        ):
            pin = {
                "slice": slice_key,
                "code_version": version,
                "pinned_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            store.put_bytes(pin_key, json.dumps(pin, indent=2).encode())
            return slice_key
    return None
