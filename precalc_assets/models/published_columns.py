"""The columns that name a model's published values: the document written beside the
serving table (`layout.served_columns`) when a partition is published, and read by
lookups to give values by name."""

from __future__ import annotations

import json
from collections.abc import Sequence

from precalc_assets import layout
from precalc_assets.models.spec import ModelError, OutputColumn, parse_columns
from precalc_assets.stores.errors import ObjectNotFound
from precalc_assets.stores.object_store import ObjectStore


def columns_document(model_id: str, code_version: str, columns: Sequence[OutputColumn]) -> bytes:
    """What `layout.served_columns` holds: written when a model's partition is published."""
    declared = [
        {k: v for k, v in vars(c).items() if v is not None and v is not False} for c in columns
    ]
    body = {"model_id": model_id, "code_version": code_version, "columns": declared}
    return json.dumps(body, indent=2).encode()


def served_columns(store: ObjectStore, model_id: str) -> tuple[OutputColumn, ...]:
    """The columns that name a model's published values; none before its first publish."""
    key = layout.served_columns(model_id)
    # Listed first: without a bucket-wide s3:ListBucket (the lookup Lambda's role has a
    # prefix-limited one), S3 answers a GET of a missing key with 403, not 404.
    if not any(info.key == key for info in store.list(key)):
        return ()
    try:
        document = json.loads(store.get_bytes(key))
    except ObjectNotFound:
        return ()
    except ValueError as exc:
        raise ModelError(
            f"{store.uri(key)} is not JSON ({exc}); publish a partition of {model_id!r} "
            "again to rewrite it"
        ) from exc
    return parse_columns(model_id, document.get("columns"), store.uri(key))
