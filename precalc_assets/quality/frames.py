"""Reading only what a check needs from one partition's Parquet files.

A check reads the columns it uses (the keys it matches on and the model's outputs, never
`smiles` or `row` unless it needs them), and converts a vector output to pandas as views
of one matrix rather than one array per row, which costs a second per 10,000 rows of a
2,048-bit fingerprint when pyarrow does it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from precalc_assets.models.partition_files import PARTITION_FILES, read_partition_file
from precalc_assets.models.spec import ModelSpec
from precalc_assets.stores.errors import StoreError
from precalc_assets.stores.object_store import ObjectStore


def output_columns(spec: ModelSpec, *keys: str) -> list[str]:
    """`keys` (e.g. "inchikey"), then the model's declared outputs."""
    return [*keys, *spec.column_names]


def read_table(
    store: ObjectStore, asset: str, model_id: str, slice_key: str, columns: Sequence[str]
) -> pa.Table:
    """Some columns of a partition's `predictions` or `validated_predictions` file.

    A missing or unreadable file raises the same `StoreError` as reading it whole
    (`models.partition_files.read_partition_file`: it names the command that rebuilds
    it). A column the file lacks is left out, as a whole read would, so the check that
    needs it reports it as it always did.
    """
    key = PARTITION_FILES[asset](model_id, slice_key)
    try:
        return store.read_parquet(key, columns=list(columns))
    except StoreError:
        read_partition_file(store, asset, model_id, slice_key)  # raises it with the fix
        raise


def to_frame(table: pa.Table) -> pd.DataFrame:
    """`table.to_pandas()`, but a fixed-size list column becomes a column of row views of
    one numpy matrix (None for a null row), as fast as a scalar column. The other
    columns are converted in one call (one block of each type, not 2,048 columns)."""
    vectors = {
        name: cells
        for name, column in zip(table.column_names, table.columns, strict=True)
        if pa.types.is_fixed_size_list(column.type) and (cells := _vector_cells(column)) is not None
    }
    frame = table.drop_columns(list(vectors)).to_pandas(ignore_metadata=True)
    frame.index = pd.RangeIndex(table.num_rows)
    for name, cells in vectors.items():
        frame[name] = cells
    return frame[table.column_names]


def _vector_cells(column: pa.ChunkedArray) -> pd.Series | None:
    """Row views of the column's values as one (rows x length) array; None (fall back to
    pyarrow's conversion) when an element inside a vector is null."""
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    length = array.type.list_size
    values = array.values.slice(array.offset * length, len(array) * length)
    if values.null_count:
        return None
    matrix = values.to_numpy(zero_copy_only=False).reshape(len(array), length)
    cells = np.empty(len(array), dtype=object)
    for i, row in enumerate(matrix):
        cells[i] = row
    if array.null_count:
        cells[array.is_null().to_numpy(zero_copy_only=False)] = None
    return pd.Series(cells, dtype=object)
