"""Input files that could not be registered, and why: `ledger/rejected_inputs.json`,
listed by `precalc ledger` so a user sees which file to fix."""

from __future__ import annotations

import json

from precalc_assets import layout
from precalc_assets.stores.object_store import ObjectStore


def load_rejected_inputs(store: ObjectStore) -> dict[str, str]:
    key = layout.REJECTED_INPUTS_JSON
    return json.loads(store.get_bytes(key)) if store.exists(key) else {}


def record_rejected_inputs(store: ObjectStore, rejected: dict[str, str], cleared: set[str]) -> None:
    """Add `rejected` (key -> why) and drop `cleared` keys; written only on a change."""
    current = load_rejected_inputs(store)
    updated = {k: v for k, v in current.items() if k not in cleared} | rejected
    if updated != current:
        store.put_bytes(
            layout.REJECTED_INPUTS_JSON, json.dumps(updated, indent=2, sort_keys=True).encode()
        )
