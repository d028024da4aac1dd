"""The pandera schema of a model's predictions, built from its declared columns.

Rows that fail are quarantined with a reason code (`models.reasons`) and their failed
checks as detail; only schema-level problems (a missing column) fail the whole
partition.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
import pyarrow.compute as pc

from precalc_assets.models.reasons import BAD_VECTOR, FAILED_CHECK, check_code, first_code
from precalc_assets.models.spec import DETAIL_COLUMN, REASON_COLUMN, ModelSpec, OutputColumn
from precalc_assets.models.tables import ARROW_TYPES, table_to_frame
from precalc_assets.stores.values import MAX_STORABLE, MIN_STORABLE

INCHIKEY_REGEX = r"^[A-Z]{14}-[A-Z]{10}-[A-Z]$"
PANDAS_DTYPES = {"float": float, "int": "int64", "bool": bool, "str": str}
# A nullable column's dtype, where numpy's cannot hold a null.
NULLABLE_DTYPES = {"int": "Int64", "bool": "boolean"}


SERVING_RANGE = f"0 or {MIN_STORABLE:g} <= |x| < {MAX_STORABLE:g}"


def unstorable(values: np.ndarray) -> np.ndarray:
    """Where a float the serving table cannot hold exactly is: |x| >= 1e126 (held as
    null) or 0 < |x| < 1e-130 (held as 0). NaN and +/-inf are judged elsewhere."""
    finite = np.where(np.isfinite(values), np.abs(values), 0.0)
    return (finite >= MAX_STORABLE) | ((finite > 0) & (finite < MIN_STORABLE))


def _serving_range_check() -> pa.Check:
    return pa.Check(
        lambda s: ~pd.Series(unstorable(s.to_numpy(dtype=float, na_value=np.nan)), index=s.index),
        name=f"in_serving_range({SERVING_RANGE})",
    )


def null_unstorable(frame: pd.DataFrame, spec: ModelSpec) -> tuple[pd.DataFrame, dict[str, int]]:
    """`frame` with each float of a nullable column that the serving table cannot hold
    made null (counted per column: never a silent null); a non-nullable column's such
    values are left for validation to quarantine as `out_of_range`."""
    nulled: dict[str, int] = {}
    frame = frame.copy()
    for column in spec.columns:
        if column.dtype != "float" or not column.nullable or column.name not in frame:
            continue
        if column.length:
            cells, count = [], 0
            for cell in frame[column.name]:
                values = None if cell is None else np.asarray(cell, dtype=float).copy()
                if values is not None and values.shape == (column.length,):
                    bad = unstorable(values)
                    count += int(bad.sum())
                    values[bad] = np.nan
                cells.append(values if values is not None else cell)
            frame[column.name] = pd.Series(cells, index=frame.index, dtype=object)
        else:
            values = pd.to_numeric(frame[column.name], errors="coerce").to_numpy(dtype=float)
            bad = unstorable(values)
            count = int(bad.sum())
            if count:
                frame[column.name] = frame[column.name].mask(bad)
        if count:
            nulled[column.name] = count
    return frame, nulled


def _vector_check(column: OutputColumn) -> pa.Check:
    """Element-wise check of a fixed-length vector cell (length, finiteness, range)."""

    def ok(cell: object) -> bool:
        try:
            values = np.asarray(cell, dtype=float)
        except (TypeError, ValueError):
            return False
        if values.shape != (column.length,):
            return False
        if not column.nullable and not np.isfinite(values).all():
            return False
        if column.dtype == "float" and unstorable(values).any():
            return False
        if column.min is not None and (values < column.min).any():
            return False
        return column.max is None or not (values > column.max).any()

    return pa.Check(
        lambda s: s.map(ok),
        name=f"vector_of_{column.length}_{column.dtype}",
        error=f"{column.name} must hold {column.length} {column.dtype} values"
        + (f" in [{column.min}, {column.max}]" if column.min is not None else ""),
    )


def _scalar_checks(column: OutputColumn) -> list[pa.Check]:
    checks: list[pa.Check] = []
    if column.dtype == "float":
        checks.append(
            pa.Check(lambda s: s.map(lambda v: v is None or not math.isinf(v)), name="finite")
        )
        checks.append(_serving_range_check())
    if column.min is not None:
        checks.append(pa.Check.ge(column.min))
    if column.max is not None:
        checks.append(pa.Check.le(column.max))
    return checks


def output_column_schema(column: OutputColumn) -> pa.Column:
    if column.length:
        return pa.Column(object, checks=[_vector_check(column)], nullable=False)
    dtype = PANDAS_DTYPES[column.dtype]
    if column.nullable:
        dtype = NULLABLE_DTYPES.get(column.dtype, dtype)
    return pa.Column(
        dtype,
        checks=_scalar_checks(column),
        nullable=column.nullable,
        coerce=True,
    )


def predictions_schema(spec: ModelSpec) -> pa.DataFrameSchema:
    """Keys + declared outputs; InChIKeys well-formed and unique, SMILES non-empty."""
    return _predictions_schema(spec.model_id, spec.columns)


@functools.lru_cache(maxsize=32)  # building a wide model's schema costs ~0.6 s a time
def _predictions_schema(model_id: str, outputs: tuple[OutputColumn, ...]) -> pa.DataFrameSchema:
    columns = {
        "row": pa.Column("int64", checks=pa.Check.ge(0), coerce=True),
        # A repeated InChIKey quarantines the repeats only: the first row stays valid.
        "inchikey": pa.Column(
            str,
            checks=pa.Check.str_matches(INCHIKEY_REGEX),
            unique=True,
            report_duplicates="exclude_first",
        ),
        "smiles": pa.Column(str, checks=pa.Check.str_length(min_value=1)),
    }
    for column in outputs:
        columns[column.name] = output_column_schema(column)
    return pa.DataFrameSchema(columns, strict="filter", name=f"predictions_{model_id}")


def _code(column: str, check: str, vectors: set[str]) -> str:
    code = check_code(check)
    return BAD_VECTOR if code == FAILED_CHECK and column in vectors else code


def _reasons_of(cases: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """Per failing row (index): its reason code and the failed checks as detail."""
    vectors = {c.name for c in spec.columns if c.length}
    named = cases.assign(
        code=[
            _code(str(column), str(check), vectors)
            for column, check in zip(cases["column"], cases["check"], strict=True)
        ],
        what=cases["column"].astype(str) + ": " + cases["check"].astype(str),
    )
    grouped = named.groupby("index")
    return pd.DataFrame(
        {
            REASON_COLUMN: grouped["code"].agg(lambda codes: first_code(set(codes))),
            DETAIL_COLUMN: grouped["what"].agg(lambda what: "; ".join(sorted(set(what)))),
        }
    )


def split_valid(frame: pd.DataFrame, spec: ModelSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(valid rows, quarantined rows with a `reason` code and a `detail` each).

    Rows the runner already marked (the model failed on the molecule, or answered a
    value of the wrong type) are quarantined as such, never validated. Raises
    pandera's SchemaErrors only for frame-level failures (e.g. a missing column), which
    no row-level quarantine can fix.
    """
    marked = _marked(frame)
    if marked.any():
        valid, quarantined = split_valid(frame[~marked], spec)
        return valid, pd.concat([frame[marked], quarantined]).sort_values("row")
    frame = frame.drop(columns=[REASON_COLUMN, DETAIL_COLUMN], errors="ignore")
    if passes_whole(frame, spec):
        return _as_validated(frame, spec), frame.iloc[0:0].assign(
            **{REASON_COLUMN: pd.Series(dtype=str), DETAIL_COLUMN: pd.Series(dtype=str)}
        )
    schema = predictions_schema(spec)
    try:
        return schema.validate(frame, lazy=True), frame.iloc[0:0].assign(
            **{REASON_COLUMN: pd.Series(dtype=str), DETAIL_COLUMN: pd.Series(dtype=str)}
        )
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        frame_level = cases[cases["index"].isna()]
        if len(frame_level):
            raise
        reasons = _reasons_of(cases, spec)
        bad = frame.index.isin(reasons.index)
        quarantined = frame[bad].copy()
        quarantined[REASON_COLUMN] = reasons[REASON_COLUMN].reindex(quarantined.index).values
        quarantined[DETAIL_COLUMN] = reasons[DETAIL_COLUMN].reindex(quarantined.index).values
        valid = schema.validate(frame[~bad], lazy=True) if (~bad).any() else frame[~bad]
        return valid, quarantined


def _marked(frame: pd.DataFrame) -> pd.Series:
    """Rows whose `reason` a runner set (runners that can fail per molecule)."""
    if REASON_COLUMN not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[REASON_COLUMN].map(lambda v: isinstance(v, str) and bool(v))


def passes_whole(frame: pd.DataFrame, spec: ModelSpec) -> bool:
    """Whether every row passes the schema, decided a whole block of numbers at a time:
    the usual frame of a wide model (2,048 number columns), which pandera checks column
    by column at ~1 ms each. False whenever it cannot tell (a vector, bool or text
    output, a column not of its stored type, a value near the edge of exactness), and
    then pandera decides, and names each failing row's reason."""
    names = ["row", "inchikey", "smiles", *spec.column_names]
    if any(name not in frame.columns for name in names) or len(frame) == 0:
        return False
    if any(c.length or c.dtype not in ("float", "int") for c in spec.columns):
        return False
    return _keys_pass(frame) and all(
        _numbers_pass(frame, [c for c in spec.columns if c.dtype == dtype], dtype)
        for dtype in ("float", "int")
    )


def _keys_pass(frame: pd.DataFrame) -> bool:
    if frame["row"].dtype != np.int64 or (frame["row"].to_numpy() < 0).any():
        return False
    for name in ("inchikey", "smiles"):
        if frame[name].dtype != object or not frame[name].map(type).eq(str).all():
            return False
    keys = pd.Series(frame["inchikey"].to_numpy(), dtype=object)
    return bool(
        keys.is_unique
        and keys.str.match(INCHIKEY_REGEX).all()
        and (frame["smiles"].str.len() >= 1).all()
    )


_STORED_DTYPES = {"float": ("float64",), "int": ("int64", "Int64")}


def _numbers_pass(frame: pd.DataFrame, columns: list[OutputColumn], dtype: str) -> bool:
    if not columns:
        return True
    block = frame[[c.name for c in columns]]
    if not block.dtypes.astype(str).isin(_STORED_DTYPES[dtype]).all():
        return False
    values = block.to_numpy(dtype=float, na_value=np.nan)
    if dtype == "int" and (np.abs(values) > 2**53).any():  # NaN compares False
        return False  # as floats, no longer every integer: pandera compares exactly
    missing = np.isnan(values)
    nullable = np.array([c.nullable for c in columns])
    if (missing & ~nullable).any():
        return False
    if dtype == "float" and (np.isinf(values).any() or unstorable(values).any()):
        return False
    return not outside_bounds(values, columns).any()


def outside_bounds(values: np.ndarray, columns: Sequence[OutputColumn]) -> np.ndarray:
    """Where a value of a (rows x `columns`) block is below its column's declared `min`
    or above its `max` (NaN is never outside)."""
    low = np.array([-np.inf if c.min is None else c.min for c in columns], dtype=float)
    high = np.array([np.inf if c.max is None else c.max for c in columns], dtype=float)
    return (values < low) | (values > high)


def validated_whole(table: pyarrow.Table, spec: ModelSpec) -> pyarrow.Table | None:
    """A predictions table as validation stores it when every row passes, judged on its
    Arrow columns: a vector output (10,000 x 2,048 values) is checked as one numpy block,
    not cell by cell in pandas. None whenever that cannot be decided here (a row the
    runner marked, a null or NaN in a vector, any value `passes_whole` or the vector
    checks would refuse); then `split_valid` decides, with each row's reason."""
    if REASON_COLUMN in table.column_names and _any_marked(table.column(REASON_COLUMN)):
        return None
    names = ["row", "inchikey", "smiles", *spec.column_names]
    if any(name not in table.column_names for name in names) or table.num_rows == 0:
        return None
    vectors = [c for c in spec.columns if c.length]
    if not all(_vector_passes(table.column(c.name), c) for c in vectors):
        return None
    scalars = dataclasses.replace(spec, columns=tuple(c for c in spec.columns if not c.length))
    plain = table.select([n for n in names if n not in {c.name for c in vectors}])
    if not passes_whole(table_to_frame(plain), scalars):
        return None
    return table.select(names).replace_schema_metadata(None)


def _any_marked(reasons: pyarrow.ChunkedArray) -> bool:
    return bool(pc.any(pc.greater(pc.utf8_length(reasons), 0)).as_py())


def _vector_passes(cells: pyarrow.ChunkedArray, column: OutputColumn) -> bool:
    """`_vector_check` over a whole column: every cell `length` non-null values of the
    column's type, finite and storable, within its bounds."""
    want = pyarrow.list_(ARROW_TYPES[column.dtype], column.length)
    if cells.type != want or cells.null_count or column.dtype not in ("float", "int"):
        return False
    flat = pc.list_flatten(cells)
    if flat.null_count:
        return False
    values = flat.to_numpy()
    if values.size == 0:
        return True
    if column.dtype == "float" and not (np.isfinite(values).all() and not unstorable(values).any()):
        return False
    low, high = values.min(), values.max()
    return (column.min is None or low >= column.min) and (column.max is None or high <= column.max)


def _as_validated(frame: pd.DataFrame, spec: ModelSpec) -> pd.DataFrame:
    """The schema's columns of a frame that passed, in its order: pandera's valid rows
    with the same values. An integer column is left as it was read (int64 when it holds
    no null, where pandera makes a nullable one Int64): stored, both are the same
    Parquet column, and converting 2,048 of them costs a second."""
    wanted = {"row", "inchikey", "smiles", *spec.column_names}
    return frame[[name for name in frame.columns if name in wanted]]
