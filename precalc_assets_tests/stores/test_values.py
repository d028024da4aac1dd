"""Output values as the serving backends store them."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from precalc_assets.stores.values import FEW_VALUES, json_text, to_attr, to_json


def test_attribute_values_are_built_directly() -> None:
    """The hot path emits AttributeValue dicts without TypeSerializer/Decimal."""
    assert to_attr(0.1) == {"N": "0.1"}
    assert to_attr(float("nan")) == {"NULL": True}
    assert to_attr([1, "a", None]) == {"L": [{"N": "1"}, {"S": "a"}, {"NULL": True}]}
    assert math.isclose(float(to_attr(np.float64(1 / 3))["N"]), 1 / 3)


ROWS = [
    [1, 2, 3],
    [0.1, -2.5, 1e125, 1e-130, 0.0, 7],
    [2**63 + 1, 10**200, 1.5],  # exact integers, one beyond any float
    [True, False, 2],
    [-0.0, 1.0],
    [1e126, 2.0],
    [1e-131, 2.0],
    [math.nan, 1.0],
    [math.inf],
    [None, 1],
    [np.int64(3), np.float64(0.25)],
    [Decimal("1.5"), 2],
    [pd.NA, 3],
    ["3", "abc", 1.0],
    [[1.0, 2.0], 3],
    [],
]


@pytest.mark.parametrize("wide", [False, True], ids=["narrow", "wide"])
@pytest.mark.parametrize("row", ROWS, ids=range(len(ROWS)))
def test_the_json_of_a_row_is_each_value_s_own(row, wide):
    """A row's JSON text, however it is written (a narrow row value by value, a wide one
    checked in one numpy pass), equals its values one by one."""
    if wide:
        row = row * (FEW_VALUES + 1) + [2.5] * (FEW_VALUES + 1)
    expected = json.dumps([to_json(v) for v in row], allow_nan=False, separators=(",", ":"))
    assert json_text(row) == expected
    assert json_text(tuple(row)) == expected
