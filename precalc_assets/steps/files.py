"""Reading the steps' Parquet files, and stamping them with the code version that
wrote them (so checks compare like with like)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from precalc_assets import layout
from precalc_assets.models.spec import ModelSpec
from precalc_assets.stores.errors import ObjectNotFound, StoreError
from precalc_assets.stores.object_store import ObjectStore


def with_code_version(table: pa.Table, spec: ModelSpec) -> pa.Table:
    """Stamp the file with the code version that wrote it (checks compare like with like)."""
    metadata = dict(table.schema.metadata or {})
    metadata[layout.CODE_VERSION_KEY] = spec.code_version.encode()
    return table.replace_schema_metadata(metadata)


def code_version_of(table: pa.Table) -> str:
    return (table.schema.metadata or {}).get(layout.CODE_VERSION_KEY, b"").decode()


def read_library_slice(store: ObjectStore, slice_key: str) -> pa.Table | None:
    try:
        return store.read_parquet(
            layout.library_slice(slice_key), columns=["row", "inchikey", "smiles"]
        )
    except ObjectNotFound:
        return None


def read_upstream(store: ObjectStore, key: str, asset: str) -> pd.DataFrame:
    try:
        return store.read_parquet(key).to_pandas()
    except ObjectNotFound:
        raise StoreError(
            f"no {asset} at {store.uri(key)}: materialise `{asset}` for this partition first "
            "(the `precalculate` job runs every step)"
        ) from None
