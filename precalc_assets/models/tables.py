"""Arrow <-> pandas conversions of prediction frames, vector columns included, and the
serving values (and their worst-case item size) built from the declared columns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from precalc_assets.chem import MAX_SMILES_LENGTH_CEILING
from precalc_assets.models.spec import (
    DETAIL_COLUMN,
    REASON_COLUMN,
    ModelError,
    ModelSpec,
    OutputColumn,
)
from precalc_assets.stores.dynamodb import (
    ITEM_SIZE_LIMIT,
    item_size_bound,
    list_element_size_bound,
)
from precalc_assets.stores.serving_table import ServingItem, utc_timestamp

# The Arrow type of a scalar output, and of a vector output's elements (float32 would
# turn 0.123456789 into 0.12345679104328156, and int32 would overflow for large ints).
ARROW_TYPES = {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(), "str": pa.string()}
# One value of each dtype, to size an item: every number counts at its maximum size,
# and a str output counts as empty (its text has no declared bound).
_SIZING_VALUES = {"float": 0.5, "int": 1, "bool": True, "str": ""}
_LONGEST_ID = "x" * 64  # ids.ID_PATTERN: 64 characters at most
_INCHIKEY_LENGTH = 27  # a standard InChIKey: 14 + 1 + 10 + 1 + 1 characters


def _vector_array(values: pd.Series, column: OutputColumn) -> pa.Array:
    """A cell that is not exactly `length` values (None, a scalar, a wrong-length list)
    becomes null, so validation quarantines that row; concatenating it as it is would
    shift values into the neighbouring rows' vectors."""
    element = ARROW_TYPES[column.dtype]
    list_type = pa.list_(element, column.length)
    cells = [None if v is None else np.asarray(v) for v in values]
    ok = [c is not None and c.shape == (column.length,) for c in cells]
    if not any(ok):
        return pa.nulls(len(cells), type=list_type)
    template = cells[ok.index(True)]
    flat = np.concatenate([c if good else template for c, good in zip(cells, ok, strict=True)])
    mask = None if all(ok) else pa.array([not good for good in ok])
    return pa.FixedSizeListArray.from_arrays(pa.array(flat, type=element), column.length, mask=mask)


def predictions_to_arrow(frame: pd.DataFrame, spec: ModelSpec) -> pa.Table:
    """Keys first, then the declared outputs in their declared order and types."""
    arrays = {
        "row": pa.array(frame["row"].to_numpy(dtype=np.int64)),
        "inchikey": pa.array(frame["inchikey"].astype(str).tolist(), type=pa.string()),
        "smiles": pa.array(frame["smiles"].astype(str).tolist(), type=pa.string()),
    }
    for column in spec.columns:
        if column.length:
            arrays[column.name] = _vector_array(frame[column.name], column)
        else:
            try:
                arrays[column.name] = pa.array(
                    frame[column.name], type=ARROW_TYPES[column.dtype], from_pandas=True
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
                raise ModelError(
                    f"model {spec.model_id!r}: column {column.name!r} holds values that are "
                    f"not {column.dtype} ({exc}); fix the model or its declared dtype"
                ) from exc
    for name in (REASON_COLUMN, DETAIL_COLUMN):  # null where the model answered
        if name in frame.columns:
            texts = [v if isinstance(v, str) else None for v in frame[name]]
            arrays[name] = pa.array(texts, type=pa.string())
    return pa.table(arrays)


def lenient_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """For quarantined rows, whose values may not fit the declared types at all: each
    value as its `repr`, the `reason` and `detail` as the text they are."""
    texts = (REASON_COLUMN, DETAIL_COLUMN)
    return pa.table(
        {
            c: pa.array(
                [(v if isinstance(v, str) else None) if c in texts else repr(v) for v in frame[c]]
            )
            for c in frame.columns
        }
    )


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """A predictions or validated table as pandas, an integer column holding nulls as
    pandas' nullable `Int64` (exact), not as floats."""
    nullable_ints = {
        name: pd.Int64Dtype()
        for name, column in zip(table.column_names, table.columns, strict=True)
        if pa.types.is_integer(column.type) and column.null_count
    }
    if not nullable_ints:
        return table.to_pandas()
    frame = table.drop_columns(list(nullable_ints)).to_pandas()
    for name in nullable_ints:
        frame[name] = table.column(name).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    return frame[table.column_names]


def outputs_as_lists(frame: pd.DataFrame, spec: ModelSpec) -> list[list]:
    """Per row, the outputs flattened in declared column order (`Precalculation`)."""
    names = spec.column_names
    if names and not any(c.length for c in spec.columns):
        dtypes = set(frame[names].dtypes)
        if len(dtypes) == 1 and next(iter(dtypes)).kind in "biuf":
            # One numpy type (a wide model's 2,048 counts): its rows as Python values
            # at once, the values `Series.tolist` gives column by column.
            return frame[names].to_numpy().tolist()
    columns = [
        [np.asarray(v).tolist() for v in frame[c.name]] if c.length else frame[c.name].tolist()
        for c in spec.columns
    ]
    if not columns:
        return []
    rows = zip(*columns, strict=True)
    vectors = [bool(c.length) for c in spec.columns]
    if not any(vectors):
        return [list(row) for row in rows]
    flat = []
    for row in rows:
        values: list = []
        for is_vector, value in zip(vectors, row, strict=True):
            if is_vector:
                values.extend(value)
            else:
                values.append(value)
        flat.append(values)
    return flat


@dataclass(frozen=True)
class ItemSize:
    """The largest serving item a model can publish, against DynamoDB's limit."""

    item_bytes: int  # the largest item, attribute names included
    output_values: int  # elements of its `Precalculation` list
    numbers_that_fit: int  # numeric output values an item has room for, in all

    @property
    def fits(self) -> bool:
        return self.item_bytes <= ITEM_SIZE_LIMIT


def item_size(spec: ModelSpec) -> ItemSize:
    """The largest item the model can publish, conservatively: the longest SMILES any
    library accepts, 64-character slice and run IDs, every number at DynamoDB's maximum
    number size. A `str` output's text has no declared bound and is not counted.
    """
    item = ServingItem(
        inchikey="X" * _INCHIKEY_LENGTH,
        model_id=spec.model_id,
        smiles="C" * MAX_SMILES_LENGTH_CEILING,
        outputs=(),
        slice_key=_LONGEST_ID,
        run_id=_LONGEST_ID,
        code_version=spec.code_version,
        timestamp=utc_timestamp(),
    )
    base = item_size_bound(item)
    outputs = sum(
        c.width() * list_element_size_bound(_SIZING_VALUES[c.dtype]) for c in spec.columns
    )
    per_number = list_element_size_bound(_SIZING_VALUES["float"])
    return ItemSize(
        item_bytes=base + outputs,
        output_values=sum(c.width() for c in spec.columns),
        numbers_that_fit=max(0, ITEM_SIZE_LIMIT - base) // per_number,
    )
