"""Predictions flattened into comparable features: one per scalar output; a vector
output's per-row mean plus its most variable dimensions (chosen from the baseline)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from precalc_assets.models.spec import OutputColumn
from precalc_assets.quality.drift.policy import CATEGORICAL, NUMERIC, DriftPolicy


def _is_binary(column: OutputColumn) -> bool:
    return column.dtype == "bool" or (column.dtype == "int" and column.min == 0 and column.max == 1)


def _scalar_kind(column: OutputColumn) -> str:
    if column.dtype in ("bool", "str") or _is_binary(column):
        return CATEGORICAL
    return NUMERIC


def _vector_rows(
    column: OutputColumn, values: pd.Series, chunk: int = 1000
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (first row, float matrix) chunks of a vector column; a null row is all NaN.

    Chunks keep memory flat: a whole 10k x 2048 slice as float64 would be ~160 MB.
    """
    length = column.length or 0
    items = list(values)
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        if all(isinstance(v, np.ndarray) and v.shape == (length,) for v in part):
            # Every row a whole vector (what `frames.to_frame` gives): one copy, not a
            # conversion per row. The same values as the loop below.
            yield start, np.array(part, dtype=float).reshape(len(part), length)
            continue
        block = np.full((len(part), length), np.nan)
        for i, value in enumerate(part):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            row = np.asarray(value, dtype=float)
            if row.shape != (length,):
                raise ValueError(
                    f"output column {column.name!r}: row {start + i} holds {row.size} values, "
                    f"the model declares length {length}; re-run validation for this slice"
                )
            block[i] = row
        yield start, block


def select_vector_dims(
    columns: Sequence[OutputColumn], reference: pd.DataFrame, policy: DriftPolicy
) -> dict[str, list[int]]:
    """Which dimensions of each vector output are compared: the `policy.vector_dims` with
    the largest variance in the reference (ties to the lower index), in index order.

    Chosen from the baseline, so they are the same for every slice compared with it.
    Why not evenly spaced: most Morgan bits are set in < 1 % of molecules, and a rare
    bit barely moves even between unrelated chemical spaces (measured: 1 of 32 evenly
    spaced bits drifted for BRICS fragments, against 20 of the 32 most variable bits).
    """
    dims: dict[str, list[int]] = {}
    for column in columns:
        if column.length is None or column.name not in reference.columns:
            continue
        count = np.zeros(column.length)
        total = np.zeros(column.length)
        squares = np.zeros(column.length)
        shift: np.ndarray | None = None
        for _, block in _vector_rows(column, reference[column.name]):
            if shift is None:  # shifted sums keep E[x^2] - E[x]^2 accurate for large values
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    shift = np.nan_to_num(np.nanmean(block, axis=0))
            block = block - shift
            count += (~np.isnan(block)).sum(axis=0)
            total += np.nansum(block, axis=0)
            squares += np.nansum(block * block, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
            # No values at all: -1 sorts after every real variance.
            variance = np.nan_to_num(squares / count - mean * mean, nan=-1.0)
        order = np.argsort(-variance, kind="stable")  # stable: ties keep the lower index
        dims[column.name] = sorted(int(i) for i in order[: policy.vector_dims])
    return dims


def drift_features(
    columns: Sequence[OutputColumn],
    frame: pd.DataFrame,
    policy: DriftPolicy,
    dims: Mapping[str, Sequence[int]] | None = None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Flatten predictions into comparable features: (frame, {feature: kind}).

    Scalars map one to one (float/int numeric; bool/str and 0/1 ints categorical).
    A vector becomes `<col>.mean` (numeric: e.g. fingerprint bit density) plus the
    dimensions `dims[col]` as `<col>[i]` (categorical when binary); pass the reference's
    `select_vector_dims` for both sides (default: chosen from `frame` itself). Nulls and
    infinities become NaN; they are dropped per feature when drift is measured, so one
    sparse output does not throw away the rows of the others.
    """
    if dims is None:
        dims = select_vector_dims(columns, frame, policy)
    data: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    numbers = _number_features(columns, frame)
    for column in columns:
        if column.name not in frame.columns:
            raise ValueError(
                f"predictions have no column {column.name!r} (columns: {list(frame.columns)}); "
                "the model's declared outputs and its stored predictions disagree"
            )
        values = frame[column.name]
        if column.length is None:
            data[column.name] = numbers.get(column.name)
            if data[column.name] is None:
                data[column.name] = _scalar_feature(column, values)
            kinds[column.name] = _scalar_kind(column)
            continue
        indices = list(dims[column.name])
        means = np.full(len(frame), np.nan)
        picked = np.full((len(frame), len(indices)), np.nan)
        for start, block in _vector_rows(column, values):
            with warnings.catch_warnings():  # a null row's mean is NaN, as wanted
                warnings.simplefilter("ignore", RuntimeWarning)
                means[start : start + len(block)] = np.nanmean(block, axis=1)
            picked[start : start + len(block)] = block[:, indices]
        data[f"{column.name}.mean"] = means
        kinds[f"{column.name}.mean"] = NUMERIC
        kind = CATEGORICAL if _is_binary(column) else NUMERIC
        for j, index in enumerate(indices):
            name = f"{column.name}[{index}]"
            data[name] = _categories(picked[:, j]) if kind == CATEGORICAL else picked[:, j]
            kinds[name] = kind
    return pd.DataFrame(data, index=range(len(frame))), kinds


def _number_features(columns: Sequence[OutputColumn], frame: pd.DataFrame) -> dict[str, Any]:
    """The numeric scalar features of columns already held as numbers, converted in one
    pass (a wide model's 2,048 columns): as `_scalar_feature` converts each."""
    dtypes = frame.dtypes
    names = [
        c.name
        for c in columns
        if c.length is None
        and _scalar_kind(c) == NUMERIC
        and c.name in dtypes
        and dtypes[c.name].kind in "iuf"
    ]
    if not names:
        return {}
    matrix = frame[names].to_numpy(dtype=float)
    matrix[np.isinf(matrix)] = np.nan
    return {name: matrix[:, j] for j, name in enumerate(names)}


def _categories(values: np.ndarray) -> np.ndarray:
    """0/1 floats as integer categories (object array, NaN for null), so 1.0 == 1."""
    out = np.full(len(values), np.nan, dtype=object)
    present = ~np.isnan(values)
    out[present] = values[present].astype(np.int64)
    return out


def _scalar_feature(column: OutputColumn, values: pd.Series) -> np.ndarray:
    if _scalar_kind(column) == NUMERIC:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return np.where(np.isinf(numbers), np.nan, numbers)
    if column.dtype in ("int", "float"):
        return _categories(pd.to_numeric(values, errors="coerce").astype(float).to_numpy())
    out = values.astype(object).to_numpy(copy=True)
    out[pd.isna(values).to_numpy()] = np.nan
    return out


def feature_sources(
    columns: Sequence[OutputColumn], dims: Mapping[str, Sequence[int]]
) -> dict[str, str]:
    """{feature: output column it comes from}, in `drift_features`' naming."""
    sources: dict[str, str] = {}
    for column in columns:
        if column.length is None:
            sources[column.name] = column.name
            continue
        sources[f"{column.name}.mean"] = column.name
        for index in dims[column.name]:
            sources[f"{column.name}[{index}]"] = column.name
    return sources
