"""A model's answers as its declared types, whatever carried them: CSV text (`command`)
or JSON (`http`, where the hub's server sends every value as one collapsed type, 3.0
for an integer 3).

An empty cell, `nan` or `null` is null: a hub model's "could not compute". A value that
is not of its column's type (3.5 in an integer column, text in a float column) is null
too, and its row gets the reason `wrong_type` with the value in the detail, so
validation quarantines exactly that row.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from precalc_assets.models.reasons import WRONG_TYPE
from precalc_assets.models.spec import DETAIL_COLUMN, REASON_COLUMN, ModelSpec, OutputColumn

NULL_WORDS = frozenset({"", "nan", "null", "none", "na", "n/a"})
TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1", "1.0"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0", "0.0"})
EXACT_INT = 2**53  # above it a float64 no longer holds every integer
SHOWN_VALUE_CHARS = 40
_TYPE_WORDS = {"float": "a number", "int": "an integer", "bool": "true or false", "str": "text"}
_WRONG = object()  # a value that is not of its column's type
# Text that Arrow's parser reads exactly as `float()` and `int()` do (correctly rounded;
# 18 digits always fit an int64); any other text is cast value by value.
PLAIN_NUMBER_TEXT = {
    "float": r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$",
    "int": r"^-?[0-9]{1,18}$",
}
_ARROW_TYPES = {"float": pa.float64(), "int": pa.int64()}


def _is_null(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and value.strip().lower() in NULL_WORDS


def _float(value: Any) -> Any:
    if isinstance(value, bool):
        return _WRONG
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    text = str(value).strip()
    if "_" in text:  # Python reads "1_000" as a number; a CSV does not mean one
        return _WRONG
    try:
        return float(text)
    except ValueError:
        return _WRONG


def _in_int64(value: int) -> Any:
    return value if -(2**63) <= value < 2**63 else _WRONG


def _int(value: Any) -> Any:
    if isinstance(value, bool):
        return _WRONG
    if isinstance(value, int | np.integer):
        return _in_int64(int(value))
    if not isinstance(value, float | np.floating):
        text = str(value).strip()
        if "_" in text:
            return _WRONG
        try:
            return _in_int64(int(text))
        except ValueError:
            value = _float(text)  # "3.0", "1e3"
            if value is _WRONG:
                return _WRONG
    if not math.isfinite(value) or not float(value).is_integer():
        return _WRONG
    return _in_int64(int(value))


def _bool(value: Any) -> Any:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    return False if word in FALSE_WORDS else _WRONG


_SCALARS = {"float": _float, "int": _int, "bool": _bool, "str": str}


def cast_value(value: Any, column: OutputColumn) -> Any:
    """One answered value as the column's type: None when null, `_WRONG` when it is not
    of the type. A vector column's value is a list (or its JSON text)."""
    if not column.length:
        if column.dtype == "str":  # text is text: only an empty cell or a JSON null is null
            missing = value is None or value is pd.NA or value == ""
            return (
                None if missing or (isinstance(value, float) and math.isnan(value)) else str(value)
            )
        return None if _is_null(value) else _SCALARS[column.dtype](value)
    if _is_null(value):
        return None
    items = value
    if isinstance(value, str):
        try:
            items = json.loads(value)
        except ValueError:
            return _WRONG
    if not isinstance(items, list | tuple | np.ndarray):
        return _WRONG
    cast = [None if _is_null(item) else _SCALARS[column.dtype](item) for item in items]
    return _WRONG if any(v is None or v is _WRONG for v in cast) else cast


def _numbers(values: pd.Series, column: OutputColumn) -> tuple[pd.Series, np.ndarray] | None:
    """The fast way for a numeric column whose values are all numbers or null (JSON):
    (typed values, wrong-type mask); None when some value needs a closer look."""
    kinds = values.map(type)
    if not kinds.isin((float, int, type(None))).all():
        return None
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    if column.dtype == "float":
        return numbers, np.zeros(len(values), dtype=bool)
    finite = numbers.dropna()
    if (finite.abs() >= EXACT_INT).any():
        return None  # large integers: exact, one by one
    whole = numbers.isna() | (np.isfinite(numbers) & (numbers == np.floor(numbers)))
    wrong = ~whole.to_numpy()
    return pd.Series(numbers.where(whole), index=values.index).astype("Int64"), wrong


def _at(values: Any, i: int) -> Any:
    """The `i`th answered value of a column (a Series, a list or an Arrow array)."""
    if isinstance(values, pd.Series):
        return values.iloc[i]
    if isinstance(values, pa.ChunkedArray | pa.Array):
        return values[i].as_py()
    return values[i]


def _as_series(values: Any, index: pd.Index) -> pd.Series:
    """An answered column as an object Series."""
    if isinstance(values, pd.Series):
        return values
    if isinstance(values, pa.ChunkedArray | pa.Array):
        values = values.to_pylist()
    return pd.Series(values, index=index, dtype=object)


def _number_texts(
    values: Any, column: OutputColumn, index: pd.Index
) -> tuple[pd.Series, np.ndarray] | None:
    """The fast way for a numeric column answered as text (CSV): plain numbers parsed by
    Arrow in one pass, any other cell (empty, `nan`, `3.0` in an integer column, a word)
    by `cast_value`; None when some value is not text."""
    if isinstance(values, pa.ChunkedArray | pa.Array):
        text = values
    else:
        try:
            text = pa.array(_as_series(values, index).to_numpy(dtype=object), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None
    if pa.types.is_null(text.type):
        text = text.cast(pa.string())
    if not pa.types.is_string(text.type):  # bytes are not text
        return None
    nullable_int = {pa.int64(): pd.Int64Dtype()}.get if column.dtype == "int" else None
    if column.dtype == "int" and _all_digits(text):
        typed = pd.Series(pc.cast(text, pa.int64()).to_pandas(types_mapper=nullable_int))
        return typed.set_axis(index), np.zeros(len(typed), dtype=bool)
    missing = text.is_null().to_numpy(zero_copy_only=False)
    text = pc.utf8_trim_whitespace(text)
    plain = pc.match_substring_regex(text, PLAIN_NUMBER_TEXT[column.dtype])
    plain = pc.fill_null(plain, False).to_numpy(zero_copy_only=False)
    numbers = pc.cast(pc.if_else(plain, text, None), _ARROW_TYPES[column.dtype])
    typed = pd.Series(numbers.to_pandas(types_mapper=nullable_int), index=index)
    wrong = np.zeros(len(typed), dtype=bool)
    for i in np.flatnonzero(~plain & ~missing):
        value = cast_value(_at(values, i), column)
        wrong[i] = value is _WRONG
        if value is not None and value is not _WRONG:
            typed.iloc[i] = value
    return typed, wrong


def _all_digits(text: pa.ChunkedArray | pa.Array) -> bool:
    """Whether every cell is 1 to 18 ASCII digits and nothing else (a count column's
    usual answer): Arrow reads those as `int()` does, and 7x faster to tell than by
    `PLAIN_NUMBER_TEXT`."""
    if len(text) == 0 or text.null_count:
        return False
    return bool(pc.all(pc.ascii_is_decimal(text)).as_py()) and (
        pc.max(pc.binary_length(text)).as_py() <= 18
    )


def cast_column(
    values: Any, column: OutputColumn, index: pd.Index | None = None
) -> tuple[pd.Series, np.ndarray]:
    """(the values as the column's type, a mask of the rows whose value was wrong).
    `values`: a Series, or a list or Arrow array with `index`."""
    index = values.index if isinstance(values, pd.Series) else index
    if index is None:
        index = pd.RangeIndex(len(values))
    if column.dtype in ("float", "int") and not column.length:
        # Text (CSV) first: Arrow refuses a column with a number in it at that value.
        fast = _number_texts(values, column, index)
        if fast is None:
            fast = _numbers(_as_series(values, index), column)
        if fast is not None:
            return fast
    values = _as_series(values, index)
    cast = [cast_value(v, column) for v in values]
    wrong = np.array([v is _WRONG for v in cast], dtype=bool)
    clean = [None if v is _WRONG else v for v in cast]
    if column.length:
        return pd.Series(clean, index=values.index, dtype=object), wrong
    dtype = {"float": float, "int": "Int64", "bool": "boolean", "str": object}[column.dtype]
    return pd.Series(clean, index=values.index, dtype=dtype), wrong


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 3] + "..."


def cast_outputs(answer: pd.DataFrame | Mapping[str, Any], spec: ModelSpec) -> pd.DataFrame:
    """The model's answer (its declared columns, and `reason`/`detail` where it failed
    on a molecule: a DataFrame, or columns as lists or Arrow arrays) with every value as
    its declared type; a row holding a value of another type gets `wrong_type`, naming
    the column and the value."""
    if isinstance(answer, pd.DataFrame):
        index = answer.index
    else:
        index = pd.RangeIndex(len(next(iter(answer.values()))) if answer else 0)
    none = pd.Series(None, index=index, dtype=object)
    reasons = _as_series(answer.get(REASON_COLUMN, none), index).astype(object).copy()
    details = _as_series(answer.get(DETAIL_COLUMN, none), index).astype(object).copy()
    data: dict[str, pd.Series] = {}
    unmarked = reasons.isna().to_numpy()  # rows with no reason yet: the first one stays
    for column in spec.columns:
        values = answer[column.name]
        data[column.name], wrong = cast_column(values, column, index)
        for i in np.flatnonzero(wrong & unmarked):
            shown = _shown(_at(values, i))
            reasons.iloc[i] = WRONG_TYPE
            details.iloc[i] = f"{column.name}: {shown} is not {_TYPE_WORDS[column.dtype]}"
            unmarked[i] = False
    data[REASON_COLUMN], data[DETAIL_COLUMN] = reasons, details
    return pd.DataFrame(data, index=index)


def cast_records(
    records: Iterable[Mapping[str, Any]], columns: tuple[OutputColumn, ...]
) -> tuple[dict[str, Any], ...]:
    """Example outputs by column name, as the columns' types (a wrong value kept as
    answered, so comparing it with the model's answer shows the difference)."""
    result = []
    for record in records:
        row = {}
        for column in columns:
            if column.name in record:
                value = cast_value(record[column.name], column)
                row[column.name] = record[column.name] if value is _WRONG else value
        result.append(row)
    return tuple(result)
