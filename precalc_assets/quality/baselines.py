"""Which slice is a model's drift baseline for a library: chosen in its spec (a
reference library's slice, say), else the library's own first slice, pinned in storage
on first use. A new library is compared with itself, not with another library's
molecules: its first slice is its baseline, so it never alerts on every slice."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from precalc_assets import keys, layout
from precalc_assets.models.partition_files import code_version_of
from precalc_assets.models.spec import ModelSpec
from precalc_assets.stores.object_store import ObjectStore


def drift_baseline(
    store: ObjectStore, spec: ModelSpec, slice_key: str, slices: list[str], chosen: str | None
) -> str | None:
    """The baseline of `slice_key`: `checks.drift.baseline_slice`, else the first
    registered slice of the same library with validated predictions under the current
    code version, pinned on first use (re-pinned when the model's code version changes)."""
    if chosen:
        return chosen
    version = spec.code_version
    library = keys.library_of(slice_key)
    slices = [s for s in slices if keys.library_of(s) == library]
    pin_key = layout.drift_baseline(spec.model_id, library)
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
