"""Validation as every publication path uses it (`steps.validate.validate_frame`): the
slice steps and a lookup's computed misses split rows the same way."""

from __future__ import annotations

import math

import pandas as pd
import pyarrow.parquet as pq

from precalc_assets.models.partition_files import code_version_of
from precalc_assets.models.reasons import NOT_FINITE, NOT_NULLABLE
from precalc_assets.models.spec import ModelSpec, OutputColumn
from precalc_assets.steps.validate import validate_frame, validated_table

SPEC = ModelSpec(
    "m",
    "python",
    (OutputColumn("weight", "float"), OutputColumn("charge", "float", nullable=True)),
)


def ikey(i: int) -> str:
    """A standard-looking InChIKey (14 letters, 10 letters, 1 letter) per row."""
    return f"{'A' * 13}{chr(65 + i)}-UHFFFAOYSA-N"


def frame(weights: list[float], charges: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row": range(len(weights)),
            "inchikey": [ikey(i) for i in range(len(weights))],
            "smiles": ["C"] * len(weights),
            "weight": weights,
            "charge": charges,
        }
    )


def test_rows_split_by_the_schema_with_each_refused_row_s_reason():
    validation = validate_frame(frame([16.0, math.nan, math.inf], [0.1, 0.2, 0.3]), SPEC)
    assert validation.valid["inchikey"].tolist() == [ikey(0)]
    failures = validation.failures()
    assert set(failures) == {ikey(1), ikey(2)}
    assert failures[ikey(1)].startswith(f"{NOT_NULLABLE}: ")
    assert failures[ikey(2)].startswith(f"{NOT_FINITE}: ")


def test_a_float_serving_cannot_hold_is_nulled_in_a_nullable_column_and_counted():
    validation = validate_frame(frame([16.0, 17.0], [1e300, 0.5]), SPEC)
    assert len(validation.valid) == 2 and validation.failures() == {}
    assert validation.nulled == {"charge": 1}
    assert pd.isna(validation.valid["charge"].iloc[0])


def test_the_validated_table_carries_the_code_version(tmp_path):
    table = validated_table(validate_frame(frame([16.0], [0.1]), SPEC).valid, SPEC)
    pq.write_table(table, tmp_path / "v.parquet")
    assert code_version_of(pq.read_table(tmp_path / "v.parquet")) == SPEC.code_version
