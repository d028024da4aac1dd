"""Output values as the serving backends store them."""

from __future__ import annotations

import math

import numpy as np

from precalc_assets.stores.values import to_attr


def test_attribute_values_are_built_directly() -> None:
    """The hot path emits AttributeValue dicts without TypeSerializer/Decimal."""
    assert to_attr(0.1) == {"N": "0.1"}
    assert to_attr(float("nan")) == {"NULL": True}
    assert to_attr([1, "a", None]) == {"L": [{"N": "1"}, {"S": "a"}, {"NULL": True}]}
    assert math.isclose(float(to_attr(np.float64(1 / 3))["N"]), 1 / 3)
