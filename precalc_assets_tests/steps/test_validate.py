"""Validation as every publication path uses it (`steps.validate.validate_frame`): the
slice steps and a lookup's computed misses split rows the same way."""

from __future__ import annotations

import math

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from precalc_assets import layout
from precalc_assets.inputs.libraries import register_library
from precalc_assets.models.builtin import BUILTIN_SPECS
from precalc_assets.models.partition_files import code_version_of
from precalc_assets.models.reasons import BAD_VECTOR, NOT_FINITE, NOT_NULLABLE
from precalc_assets.models.schema import validated_whole
from precalc_assets.models.spec import ModelSpec, OutputColumn
from precalc_assets.models.tables import table_to_frame
from precalc_assets.steps.predict import compute_predictions
from precalc_assets.steps.validate import validate_frame, validate_predictions, validated_table
from precalc_assets.stores.local import LocalObjectStore
from precalc_assets_tests.molecules import nci_lines, write_library

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


@pytest.mark.parametrize("model", sorted(BUILTIN_SPECS))
def test_a_slice_whose_rows_all_pass_is_stored_as_pandera_would_store_it(tmp_path, model):
    """Every built-in over real NCI molecules: the validated file written from the Arrow
    table (no pandas, a vector checked as one block) equals, schema, values and
    metadata, the one the pandera path writes."""
    store = LocalObjectStore(tmp_path / "storage")
    register_library(store, write_library(tmp_path / "lib.smi", nci_lines(300)), slice_size=300)
    spec = BUILTIN_SPECS[model]
    compute_predictions(store, [spec], "lib-0000")
    result = validate_predictions(store, spec, "lib-0000")
    stored = store.read_parquet(layout.validated(model, "lib-0000"))
    predictions = store.read_parquet(layout.predictions(model, "lib-0000"))
    by_pandera = validated_table(validate_frame(table_to_frame(predictions), spec).valid, spec)
    store.write_parquet("by-pandera.parquet", by_pandera)  # compared as a reader sees them
    assert validated_whole(predictions, spec) is not None  # the whole-table path was taken
    assert stored.equals(store.read_parquet("by-pandera.parquet"), check_metadata=True)
    assert result.rows_in == result.rows_out == stored.num_rows > 250


def test_a_vector_the_block_check_refuses_goes_to_pandera_and_is_quarantined(tmp_path):
    """One fingerprint bit out of its declared [0, 1]: the whole-table path declines,
    and the row is quarantined with pandera's reason, as before."""
    store = LocalObjectStore(tmp_path / "storage")
    register_library(store, write_library(tmp_path / "lib.smi", nci_lines(50)), slice_size=50)
    spec = BUILTIN_SPECS["morgan-fp2048"]
    compute_predictions(store, [spec], "lib-0000")
    key = layout.predictions(spec.model_id, "lib-0000")
    table = store.read_parquet(key)
    bits = table.column("bits").to_pylist()
    bits[3][7] = 2
    table = table.set_column(
        table.column_names.index("bits"),
        "bits",
        pa.array(bits, type=table.schema.field("bits").type),
    )
    store.write_parquet(key, table)
    assert validated_whole(table, spec) is None
    result = validate_predictions(store, spec, "lib-0000")
    assert result.rejected == 1 and set(result.reasons) == {BAD_VECTOR}
    assert result.rows_out == table.num_rows - 1
