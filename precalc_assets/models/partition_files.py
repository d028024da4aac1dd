"""Reading the steps' Parquet files, and stamping them with the code version that
wrote them (so checks compare like with like)."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa

from precalc_assets import keys, layout
from precalc_assets.models.spec import INPUT_COLUMN, KEY_COLUMNS, ModelSpec
from precalc_assets.models.tables import table_to_frame
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
    """The prepared slice, or None when it must be prepared (again): missing, or
    unreadable (a truncated or damaged file), since it can be rebuilt from its raw slice."""
    try:
        return store.read_parquet(
            layout.library_slice(slice_key), columns=[*KEY_COLUMNS, INPUT_COLUMN]
        )
    except StoreError:  # ObjectNotFound included
        return None


def rebuild_command(model_id: str, slice_key: str) -> str:
    """The command that recomputes, validates and publishes one model x slice partition."""
    tags = json.dumps({keys.PARTITION_TAG: keys.partition_id(model_id, slice_key)})
    return f"dagster job execute -m precalc_assets -j {keys.PRECALCULATE_JOB} --tags '{tags}'"


PARTITION_FILES = {
    keys.PREDICTIONS: layout.predictions,
    keys.VALIDATED_PREDICTIONS: layout.validated,
}


def read_partition_file(
    store: ObjectStore, asset: str, model_id: str, slice_key: str
) -> pd.DataFrame:
    """The `predictions` or `validated_predictions` file of one model x slice partition."""
    return table_to_frame(read_partition_table(store, asset, model_id, slice_key))


def read_partition_table(store: ObjectStore, asset: str, model_id: str, slice_key: str) -> pa.Table:
    """The same file, as the Arrow table it is stored as."""
    key = PARTITION_FILES[asset](model_id, slice_key)
    return read_upstream_table(store, key, asset, model_id=model_id, slice_key=slice_key)


def read_upstream_table(
    store: ObjectStore,
    key: str,
    asset: str,
    *,
    model_id: str | None = None,
    slice_key: str | None = None,
) -> pa.Table:
    """A step's input file; when it is missing or unreadable, the error says how to make
    it again: the exact command when the partition (`model_id`, `slice_key`) is given."""
    if model_id is not None and slice_key is not None:
        how = f"`{rebuild_command(model_id, slice_key)}`"
    else:
        how = f"the `{keys.PRECALCULATE_JOB}` job for this partition"
    try:
        return store.read_parquet(key)
    except ObjectNotFound:
        raise StoreError(
            f"no {asset} at {store.uri(key)}: materialise `{asset}` for this partition "
            f"first, e.g. with {how} (it runs every step)"
        ) from None
    except StoreError as exc:
        raise StoreError(
            f"the {asset} file {store.uri(key)} cannot be read: {exc} Rebuild it with {how} "
            "(it recomputes the partition's predictions, validated predictions and "
            "serving items)"
        ) from exc
