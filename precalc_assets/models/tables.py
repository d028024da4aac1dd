"""Arrow <-> pandas conversions of prediction frames, vector columns included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from precalc_assets.models.spec import ModelError, ModelSpec, OutputColumn

ARROW_TYPES = {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(), "str": pa.string()}
VECTOR_TYPES = {"float": pa.float32(), "int": pa.int32(), "bool": pa.bool_(), "str": pa.string()}


def _vector_array(values: pd.Series, column: OutputColumn) -> pa.Array:
    """A cell that is not exactly `length` values (None, a scalar, a wrong-length list)
    becomes null, so validation quarantines that row; concatenating it as it is would
    shift values into the neighbouring rows' vectors."""
    element = VECTOR_TYPES[column.dtype]
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
    if "failure" in frame.columns:
        arrays["failure"] = pa.array(frame["failure"].astype(str).tolist(), type=pa.string())
    return pa.table(arrays)


def lenient_to_arrow(frame: pd.DataFrame) -> pa.Table:
    """For quarantined rows, whose values may not fit the declared types at all."""
    return pa.table({c: pa.array(frame[c].map(repr).tolist()) for c in frame.columns})


def outputs_as_lists(frame: pd.DataFrame, spec: ModelSpec) -> list[list]:
    """Per row, the outputs flattened in declared column order (`Precalculation`)."""
    columns = []
    for column in spec.columns:
        values = frame[column.name]
        if column.length:
            columns.append([np.asarray(v).tolist() for v in values])
        else:
            columns.append([[v] for v in values.tolist()])
    return [sum(parts, []) for parts in zip(*columns, strict=True)] if columns else []
