"""Model requests in object storage (`inputs/models/<id>.json`): registered, then read."""

from __future__ import annotations

from pathlib import Path

from precalc_assets import layout
from precalc_assets.ids import ID_PATTERN
from precalc_assets.models.catalog import check_request_size, parse_request
from precalc_assets.models.spec import ModelError, ModelSpec
from precalc_assets.stores.errors import ObjectNotFound
from precalc_assets.stores.object_store import ObjectStore


def register_model(store: ObjectStore, model_id: str, spec_path: Path | None = None) -> ModelSpec:
    """Validate a model request and store it at `inputs/models/<id>.json`."""
    if spec_path:
        check_request_size(spec_path.stat().st_size, str(spec_path))  # before reading it
    payload = spec_path.read_bytes() if spec_path else b"{}"
    spec = parse_request(model_id, payload, str(spec_path or f"model {model_id!r}"))
    store.put_bytes(layout.model_request(model_id), payload if spec_path else b"{}\n")
    return spec


def load_model_spec(store: ObjectStore, model_id: str) -> ModelSpec:
    key = layout.model_request(model_id)
    try:
        payload = store.get_bytes(key)
    except ObjectNotFound:
        raise ModelError(
            f"model {model_id!r} is not registered in {store.url} (no {key}); register it "
            f"with `precalc add-model {model_id}`"
        ) from None
    return parse_request(model_id, payload, store.uri(key))


def registered_model_ids(store: ObjectStore) -> list[str]:
    """The valid model IDs that have a request in storage (`inputs/models/<id>.json`)."""
    found = (layout.model_request_id(info.key) for info in store.list(layout.MODEL_REQUESTS))
    return sorted(m for m in found if m is not None and ID_PATTERN.fullmatch(m))
