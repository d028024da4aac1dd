"""Output values as the two serving backends store them: JSON (SQLite) and DynamoDB
AttributeValues.

Outputs may be numbers (Python, numpy, ``Decimal``), strings, booleans, None (or pandas
NA) and lists of them. Both backends hold the same logical values because one number
rule, ``storable_float``, serves both: DynamoDB numbers lie in ``[1e-130, 1e126)`` in
magnitude and have no NaN/inf, so NaN, +/-inf and ``|x| >= 1e126`` are stored as NULL and
``|x| < 1e-130`` as 0.

Numbers read back from DynamoDB come back as ``int`` when their text has no ``.``/exponent
(DynamoDB normalises ``2.0`` to ``2``); cast by the model's declared column types.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from precalc_assets.stores.errors import StoreError

__all__ = [
    "MAX_STORABLE",
    "MIN_STORABLE",
    "attr_list",
    "from_attr",
    "json_text",
    "storable_float",
    "to_attr",
    "to_json",
]

# The magnitudes a number of the serving table can have (DynamoDB's range; SQLite keeps
# the same values): validation quarantines, or nulls, a float outside it.
MAX_STORABLE = 1e126
MIN_STORABLE = 1e-130

# Up to this many outputs, a row's JSON is made value by value (~2 us a row, against
# ~12 us for the one numpy pass that pays off on a wide row).
FEW_VALUES = 16

_NULL: dict[str, Any] = {"NULL": True}
_TRUE: dict[str, Any] = {"BOOL": True}
_FALSE: dict[str, Any] = {"BOOL": False}
_ZERO: dict[str, Any] = {"N": "0"}


def storable_float(v: float) -> float | None:
    """``v`` as both backends store it: None for NaN/inf/``|v| >= 1e126``, 0.0 for
    ``|v| < 1e-130``, else unchanged."""
    if not math.isfinite(v):
        return None
    a = abs(v)
    if a >= MAX_STORABLE:
        return None
    return 0.0 if a < MIN_STORABLE else v


def _builtin_scalar(v: Any) -> bool | int | float | None:
    """A numpy, ``Decimal`` or pandas-NA scalar as the builtin value it stands for."""
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, Decimal):
        return float(v) if v.is_finite() else None
    if isinstance(v, numbers.Real):
        return float(v)
    if type(v).__name__ in ("NAType", "NaTType"):
        return None
    raise StoreError(
        f"Cannot store output value {v!r} of type {type(v).__name__}: outputs must be "
        "numbers, strings, booleans, None or lists of them."
    )


def to_json(v: Any) -> Any:
    """Plain JSON value (JSON has no NaN: non-finite numbers become None, as on DynamoDB)."""
    t = type(v)
    if t is float:
        return storable_float(v)
    if t is int or t is str or t is bool or v is None:
        return v
    if isinstance(v, list | tuple | np.ndarray):
        return [to_json(x) for x in v]
    return to_json(_builtin_scalar(v))


def _stored_as_given(numbers: np.ndarray) -> bool:
    """Whether `storable_float` leaves every one of `numbers` as it is: finite, under
    1e126 in magnitude, and 0 (not -0) or at least 1e-130."""
    magnitude = np.abs(numbers)
    zero = magnitude == 0
    return bool(
        np.isfinite(numbers).all()
        and (magnitude < MAX_STORABLE).all()
        and ((magnitude >= MIN_STORABLE) | (zero & ~np.signbit(numbers))).all()
    )


def json_text(values: Sequence[Any]) -> str:
    """The JSON text of `values`, each as `to_json` makes it. A row of plain numbers
    that every rule leaves as they are (the usual one) is checked in one numpy pass and
    written by `json` directly; any other row goes value by value."""
    if len(values) > FEW_VALUES:  # a wide row (on a narrow one, numpy's set-up costs more)
        try:
            numbers = np.asarray(values, dtype=np.float64)
            if numbers.ndim == 1 and _stored_as_given(numbers):
                # Numbers, bools and numeric text pass as they are; a numpy integer or a
                # Decimal is a TypeError here, and goes value by value.
                return _dumps(values)
        except (TypeError, ValueError, OverflowError):
            pass
    return _dumps([to_json(v) for v in values])


def _dumps(values: Sequence[Any]) -> str:
    return json.dumps(values, allow_nan=False, separators=(",", ":"))


def to_attr(v: Any) -> dict[str, Any]:
    """AttributeValue straight from Python (no TypeSerializer/Decimal: this is the hot loop)."""
    t = type(v)
    if t is float:
        f = storable_float(v)
        if f is None:
            return _NULL
        return _ZERO if f == 0.0 else {"N": repr(f)}
    if t is int:
        return {"N": str(v)}
    if t is str:
        return {"S": v}
    if v is None:
        return _NULL
    if t is bool:
        return _TRUE if v else _FALSE
    if isinstance(v, list | tuple | np.ndarray):
        return {"L": [to_attr(x) for x in v]}
    return to_attr(_builtin_scalar(v))


def attr_list(values: Sequence[Any]) -> list[dict[str, Any]]:
    """An item's outputs as the elements of its `Precalculation` list."""
    return [to_attr(v) for v in values]


def from_attr(a: dict[str, Any]) -> Any:
    """Python value of an AttributeValue read back from DynamoDB."""
    if "N" in a:
        s = a["N"]
        return float(s) if ("." in s or "e" in s or "E" in s) else int(s)
    if "S" in a:
        return a["S"]
    if "NULL" in a:
        return None
    if "BOOL" in a:
        return bool(a["BOOL"])
    if "L" in a:
        return [from_attr(x) for x in a["L"]]
    if "M" in a:
        return {k: from_attr(x) for k, x in a["M"].items()}
    raise StoreError(f"Unexpected DynamoDB attribute value {a!r} in Precalculation.")
