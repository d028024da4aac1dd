"""Why a predictions row is quarantined: a fixed vocabulary of reason codes.

Each quarantined row has one code (`reason`) and a free-text `detail`: counts and the
UI's tables group by the code; the detail says what exactly, e.g. the model's own last
error line (`model_failed`) or the failed checks (`<column>: <check>`).
"""

from __future__ import annotations

from precalc_assets.chem import REJECT_DUPLICATE

MODEL_FAILED = "model_failed"  # the model failed on the molecule; detail: its own error line
WRONG_TYPE = "wrong_type"  # a value not of its column's type (3.5 in an integer column)
NOT_NULLABLE = "not_nullable"  # null, NaN or empty where the column is not nullable
NOT_FINITE = "not_finite"  # +/-inf in a float column
OUT_OF_RANGE = "out_of_range"  # outside the column's declared [min, max]
BAD_VECTOR = "bad_vector"  # a vector of the wrong length, or with a bad element
BAD_INCHIKEY = "bad_inchikey"  # not a standard InChIKey
DUPLICATE_INCHIKEY = REJECT_DUPLICATE  # repeats an earlier row's InChIKey
EMPTY_SMILES = "empty_smiles"
FAILED_CHECK = "failed_check"  # any other check of the schema
# The codes, most telling first: a row failing several checks gets the first.
CODES = (
    MODEL_FAILED,
    WRONG_TYPE,
    NOT_NULLABLE,
    NOT_FINITE,
    OUT_OF_RANGE,
    BAD_VECTOR,
    BAD_INCHIKEY,
    DUPLICATE_INCHIKEY,
    EMPTY_SMILES,
    FAILED_CHECK,
)
# pandera's check names (their start) -> the code they mean.
_CHECK_CODES = (
    ("not_nullable", NOT_NULLABLE),
    ("coerce_dtype", WRONG_TYPE),
    ("dtype", WRONG_TYPE),
    ("finite", NOT_FINITE),
    ("greater_than", OUT_OF_RANGE),
    ("less_than", OUT_OF_RANGE),
    ("in_range", OUT_OF_RANGE),
    ("in_serving_range", OUT_OF_RANGE),
    ("vector_of_", BAD_VECTOR),
    ("field_uniqueness", DUPLICATE_INCHIKEY),
    ("str_matches", BAD_INCHIKEY),
    ("str_length", EMPTY_SMILES),
)


def check_code(check: str) -> str:
    """The code of a failed pandera check, by its name."""
    return next((code for prefix, code in _CHECK_CODES if check.startswith(prefix)), FAILED_CHECK)


def first_code(codes: set[str]) -> str:
    """The most telling of a row's codes."""
    return min(codes, key=CODES.index)
