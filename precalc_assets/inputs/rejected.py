"""Input files that could not be registered, and why: `ledger/rejected_inputs.json`,
listed by `precalc ledger` so a user sees which file to fix."""

from __future__ import annotations

import json
from collections.abc import Collection

from precalc_assets import layout
from precalc_assets.stores.object_store import ObjectStore


def load_rejected_inputs(store: ObjectStore) -> dict[str, str]:
    key = layout.REJECTED_INPUTS_JSON
    return json.loads(store.get_bytes(key)) if store.exists(key) else {}


def record_rejected_inputs(
    store: ObjectStore,
    rejected: dict[str, str],
    cleared: Collection[str] = (),
    *,
    listed: tuple[str, Collection[str]] | None = None,
) -> None:
    """Add `rejected` (key -> why) and drop `cleared` keys; written only on a change.

    `listed` is (prefix, the keys a listing of it just found): the entries under the
    prefix whose file is no longer there are dropped too, so a deleted file's rejection
    does not stay listed forever."""
    current = load_rejected_inputs(store)
    dropped = set(cleared)
    if listed is not None:
        prefix, present = listed
        dropped |= {k for k in current if k.startswith(prefix) and k not in present}
    updated = {k: v for k, v in current.items() if k not in dropped} | rejected
    if updated != current:
        store.put_bytes(
            layout.REJECTED_INPUTS_JSON, json.dumps(updated, indent=2, sort_keys=True).encode()
        )
