"""A model's answers as its declared types: CSV text and JSON values alike; an empty
output is null, a value of another type is its row's `wrong_type`."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from precalc_assets.models.casting import cast_outputs, cast_records, cast_value
from precalc_assets.models.reasons import MODEL_FAILED, WRONG_TYPE
from precalc_assets.models.spec import DETAIL_COLUMN, REASON_COLUMN, ModelSpec
from precalc_assets.models.spec import OutputColumn as Col

WRONG = "wrong"


@pytest.mark.parametrize(
    ("cell", "dtype", "length", "value"),
    [
        ("1.25", "float", None, 1.25),
        (" 2 ", "float", None, 2.0),
        ("", "float", None, None),
        ("nan", "float", None, None),
        ("NaN", "float", None, None),
        ("null", "float", None, None),
        ("abc", "float", None, WRONG),
        ("1_000", "float", None, WRONG),
        (True, "float", None, WRONG),
        (2, "float", None, 2.0),
        ("3", "int", None, 3),
        ("3.0", "int", None, 3),
        (3.0, "int", None, 3),  # the hub's server sends an integer 3 as 3.0
        ("1e3", "int", None, 1000),
        ("3.5", "int", None, WRONG),
        (3.5, "int", None, WRONG),
        ("nan", "int", None, None),
        (None, "int", None, None),
        ("12345678901234567890", "int", None, WRONG),  # beyond int64
        ("1234567890123456789", "int", None, 1234567890123456789),
        ("True", "bool", None, True),
        ("0", "bool", None, False),
        ("maybe", "bool", None, WRONG),
        (" a b ", "str", None, " a b "),
        ("nan", "str", None, "nan"),  # text is text
        ("", "str", None, None),
        ("[1, 0, 1]", "int", 3, [1, 0, 1]),
        ([1.0, 0.0, 1.0], "int", 3, [1, 0, 1]),
        ("[1, 0, x]", "int", 3, WRONG),
        ("1", "int", 3, WRONG),
        ("", "int", 3, None),
    ],
)
def test_a_value_is_cast_by_the_declared_dtype(cell, dtype, length, value):
    cast = cast_value(cell, Col("c", dtype, length=length))
    if value == WRONG:
        assert cast is not None and not isinstance(cast, int | float | str | list | bool)
    else:
        assert cast == value and type(cast) is type(value)


SPEC = ModelSpec(
    "m",
    "http",
    (Col("weight"), Col("atoms", "int", nullable=True), Col("name", "str", nullable=True)),
)


def test_json_answers_become_typed_columns_and_a_wrong_value_marks_its_row():
    frame = pd.DataFrame(
        {
            "weight": pd.Series([46.07, None, 78.1, 1.0], dtype=object),
            "atoms": pd.Series([3.0, 6.0, 3.5, None], dtype=object),
            "name": pd.Series(["a", None, "c", ""], dtype=object),
            REASON_COLUMN: pd.Series([None, None, None, MODEL_FAILED], dtype=object),
            DETAIL_COLUMN: pd.Series([None, None, None, "boom"], dtype=object),
        }
    )
    cast = cast_outputs(frame, SPEC)
    assert cast["weight"].dtype == np.float64 and math.isnan(cast["weight"][1])
    assert str(cast["atoms"].dtype) == "Int64"
    assert cast["atoms"].tolist()[:2] == [3, 6] and cast["atoms"].isna().tolist()[2:] == [True] * 2
    assert cast["name"].tolist() == ["a", None, "c", None]
    assert cast[REASON_COLUMN].tolist() == [None, None, WRONG_TYPE, MODEL_FAILED]
    assert cast[DETAIL_COLUMN][2] == "atoms: 3.5 is not an integer"
    assert cast[DETAIL_COLUMN][3] == "boom"  # the model's own failure is kept


def test_large_integers_stay_exact():
    big = 2**62 + 1
    atoms = pd.Series([big, None], dtype=object)  # as JSON gives them
    frame = pd.DataFrame({"weight": [1.0, 2.0], "atoms": atoms, "name": ["a", "b"]})
    cast = cast_outputs(frame, SPEC)
    assert cast["atoms"][0] == big and cast[REASON_COLUMN].isna().all()


def test_example_records_are_cast_by_column_and_keep_a_wrong_value_as_answered():
    columns = (Col("weight"), Col("atoms", "int"))
    records = [{"weight": "46.07", "atoms": "3.0", "extra": 1}, {"weight": "", "atoms": "x"}]
    assert cast_records(records, columns) == (
        {"weight": 46.07, "atoms": 3},
        {"weight": None, "atoms": "x"},
    )


# CSV cells as a `command` model writes them: plain numbers (read by Arrow in one pass)
# and every other form (read value by value), side by side in one column.
TEXT_CELLS = [
    "3", "-0", "007", " 42 ", "+3", "3.0", "1e3", "2.5", "-1.5E-7", ".5", "5.", "+1.25",
    "1e400", "-1e-320", "4.9e-324", "0.1", "1.7976931348623159e308", "123456789012345678",
    "9223372036854775807", "9223372036854775808", "-9223372036854775809", "1_000", "inf",
    "-Infinity", "nan", "NaN", "", "  ", "null", "None", "N/A", "abc", "0x1A", "1,5", None,
]  # fmt: skip


@pytest.mark.parametrize("dtype", ["float", "int"])
def test_a_text_column_is_cast_as_each_value_is(dtype):
    """The one-pass reading of a text column gives exactly what `cast_value` gives each
    cell: the same numbers (bit for bit), nulls and wrong-type rows."""
    column = Col("x", dtype)
    rng = np.random.default_rng(7)
    cells = (
        TEXT_CELLS
        + [repr(v) for v in rng.normal(0, 1e6, 300)]
        + [str(v) for v in rng.integers(-(2**62), 2**62, 300)]
    )
    frame = pd.DataFrame({"x": pd.Series(cells, dtype=object)})
    cast = cast_outputs(frame, ModelSpec("m", "command", (column,)))
    for cell, got, reason in zip(cells, cast["x"], cast[REASON_COLUMN], strict=True):
        expected = cast_value(cell, column)
        wrong = expected is not None and not isinstance(expected, int | float)
        assert (reason == WRONG_TYPE) == wrong, cell
        if wrong or expected is None:
            assert pd.isna(got), cell
        else:
            assert type(got) in (int, float, np.int64, np.float64), cell
            assert got == expected or (math.isnan(got) and math.isnan(expected)), cell
            assert math.copysign(1, got) == math.copysign(1, expected), cell


@pytest.mark.parametrize(
    "cells",
    [
        ["0", "7", "007", "123456789012345678", "18"],  # digits only: read by Arrow at once
        ["0", "7", "-3", "12"],  # a sign: the cell-by-cell reading
        ["0", "7", "1234567890123456789", "12"],  # 19 digits
        ["0", " 7", "12"],
        ["0", "7", ""],
    ],
)
def test_a_count_column_is_cast_as_each_value_is(cells):
    """A column of plain digits (a fingerprint's counts), as Arrow text from a file, gives
    the integers `int()` gives, whichever way it is read."""
    column = Col("x", "int", nullable=True)
    text = pa.chunked_array([pa.array(cells[:2]), pa.array(cells[2:])])
    cast = cast_outputs(
        {"x": text, REASON_COLUMN: [None] * len(cells)}, ModelSpec("m", "command", (column,))
    )
    assert str(cast["x"].dtype) == "Int64"
    assert [None if pd.isna(v) else v for v in cast["x"]] == [cast_value(c, column) for c in cells]
    assert cast[REASON_COLUMN].isna().all()
