"""The pandera schema of a model's predictions: quarantine bad rows, keep the rest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from precalc_assets.chem import canonicalize_rows
from precalc_assets.inputs.model_requests import resolve_spec
from precalc_assets.models.catalog import spec_from_request
from precalc_assets.models.runners import run_model
from precalc_assets.models.schema import passes_whole, predictions_schema, split_valid
from precalc_assets.models.spec import ModelSpec, OutputColumn
from precalc_assets.steps.validate import validated_table

SMILES = [
    "CCO",
    "c1ccccc1",
    "CC(=O)O",
    "CCN",
    "CC(=O)Oc1ccccc1C(=O)O",
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "OCC(O)CO",
]


def keys_frame(n: int) -> pd.DataFrame:
    accepted, _, _ = canonicalize_rows(list(enumerate(SMILES[:n])))
    return pd.DataFrame(
        {
            "row": [m.row for m in accepted],
            "inchikey": [m.inchikey for m in accepted],
            "smiles": [m.smiles for m in accepted],
        }
    )


def predictions(model_id: str, n: int = len(SMILES)) -> pd.DataFrame:
    """Keys + the real outputs of a built-in model: a frame that must be valid."""
    frame = keys_frame(n)
    spec = resolve_spec(model_id)
    accepted, mols, _ = canonicalize_rows(list(enumerate(SMILES[:n])))
    outputs = run_model(spec, [m.smiles for m in accepted], mols)
    return pd.concat([frame, outputs], axis=1)


def assert_partition(frame: pd.DataFrame, valid: pd.DataFrame, quarantined: pd.DataFrame) -> None:
    """Every row ends up in exactly one of the two outputs."""
    assert len(valid) + len(quarantined) == len(frame)
    assert set(valid.index).isdisjoint(quarantined.index)
    assert set(valid.index) | set(quarantined.index) == set(frame.index)


def failures(quarantined: pd.DataFrame) -> dict[int, str]:
    return dict(zip(quarantined["row"], quarantined["detail"], strict=True))


EOS = resolve_spec("eos3b5e")
MORGAN = resolve_spec("morgan-fp2048")


@pytest.mark.parametrize("model_id", ["eos3b5e", "morgan-fp2048", "rdkit-physchem"])
@pytest.mark.parametrize("n", [1, 2, len(SMILES)])
def test_valid_builtin_outputs_pass_untouched(model_id: str, n: int) -> None:
    frame = predictions(model_id, n)
    valid, quarantined = split_valid(frame, resolve_spec(model_id))
    assert len(quarantined) == 0
    assert {"reason", "detail"} <= set(quarantined.columns)
    assert len(valid) == n
    assert list(valid.columns) == list(frame.columns)
    for column in frame.columns:
        assert [np.asarray(v).tolist() for v in valid[column]] == [
            np.asarray(v).tolist() for v in frame[column]
        ]


@pytest.mark.parametrize("bad_row", [0, 3, len(SMILES) - 1])
def test_nan_in_a_non_nullable_float_quarantines_exactly_that_row(bad_row: int) -> None:
    frame = predictions("eos3b5e")
    frame.loc[bad_row, "mol_weight"] = np.nan
    valid, quarantined = split_valid(frame, EOS)
    assert_partition(frame, valid, quarantined)
    assert list(quarantined.index) == [bad_row]
    assert quarantined["reason"].tolist() == ["not_nullable"]
    assert quarantined["detail"].tolist() == ["mol_weight: not_nullable"]
    assert not valid["mol_weight"].isna().any()


def test_nan_in_a_single_row_frame() -> None:
    frame = predictions("eos3b5e", 1).assign(mol_weight=[np.nan])
    valid, quarantined = split_valid(frame, EOS)
    assert len(valid) == 0 and len(quarantined) == 1
    assert quarantined["detail"].iloc[0].startswith("mol_weight")


def test_nan_in_one_physchem_column_names_that_column() -> None:
    spec = resolve_spec("rdkit-physchem")
    frame = predictions("rdkit-physchem")
    frame.loc[2, "tpsa"] = np.nan
    valid, quarantined = split_valid(frame, spec)
    assert failures(quarantined) == {2: "tpsa: not_nullable"}
    assert len(valid) == len(frame) - 1


def test_nullable_column_accepts_nan_but_still_checks_range() -> None:
    spec = spec_from_request(
        "m",
        {"runner": "python", "columns": [{"name": "p", "nullable": True, "min": 0, "max": 1}]},
        "s",
    )
    frame = keys_frame(4).assign(p=[np.nan, 0.5, 1.5, None])
    valid, quarantined = split_valid(frame, spec)
    assert_partition(frame, valid, quarantined)
    assert list(quarantined["row"]) == [2]
    assert quarantined["reason"].tolist() == ["out_of_range"]
    assert "p: less_than_or_equal_to(1)" in quarantined["detail"].iloc[0]


@pytest.mark.parametrize(
    ("value", "says", "code"),
    [
        (-1.0, "greater_than_or_equal_to(0.0)", "out_of_range"),
        (np.inf, "finite", "not_finite"),
        (-np.inf, "finite", "not_finite"),
    ],
)
def test_out_of_range_values_are_quarantined(value: float, says: str, code: str) -> None:
    frame = predictions("eos3b5e")
    frame.loc[1, "mol_weight"] = value
    valid, quarantined = split_valid(frame, EOS)
    assert_partition(frame, valid, quarantined)
    assert list(quarantined["row"]) == [1]
    assert quarantined["detail"].iloc[0].startswith("mol_weight: ")
    assert says in quarantined["detail"].iloc[0]
    assert quarantined["reason"].tolist() == [code]


def test_int_column_with_a_missing_value() -> None:
    spec = spec_from_request(
        "m", {"runner": "python", "columns": [{"name": "n", "dtype": "int"}]}, "s"
    )
    frame = keys_frame(3).assign(n=[1, np.nan, 3])
    valid, quarantined = split_valid(frame, spec)
    assert list(quarantined["row"]) == [1]
    assert valid["n"].tolist() == [1, 3]
    assert str(valid["n"].dtype) == "int64"


@pytest.mark.parametrize(
    "cell",
    [
        np.zeros(2047, dtype=np.uint8),  # too short
        np.zeros(2049, dtype=np.uint8),  # too long
        np.full(2048, 2),  # out of [0, 1]
        np.full(2048, -1),
        np.array([np.nan] * 2048),
        np.zeros((2, 1024)),  # right size, wrong shape
        "0101",
        None,
    ],
)
def test_bad_vectors_are_quarantined(cell: object) -> None:
    frame = predictions("morgan-fp2048", 3)
    frame["bits"] = [frame["bits"][0], cell, frame["bits"][2]]
    valid, quarantined = split_valid(frame, MORGAN)
    assert_partition(frame, valid, quarantined)
    assert list(quarantined["row"]) == [1]
    assert quarantined["detail"].iloc[0].startswith("bits: ")
    assert quarantined["reason"].tolist() == ["not_nullable" if cell is None else "bad_vector"]
    assert list(valid["row"]) == [0, 2]


@pytest.mark.parametrize(
    "key",
    [
        "not-an-inchikey",
        "lfqscwfljhtthz-uhfffaoysa-n",  # lower case
        "LFQSCWFLJHTTHZ-UHFFFAOYSA",  # truncated
        "LFQSCWFLJHTTHZ-UHFFFAOYSA-N ",
        "",
    ],
)
def test_malformed_inchikey_is_quarantined(key: str) -> None:
    frame = predictions("eos3b5e")
    frame.loc[4, "inchikey"] = key
    valid, quarantined = split_valid(frame, EOS)
    assert_partition(frame, valid, quarantined)
    assert list(quarantined["row"]) == [4]
    assert quarantined["detail"].iloc[0].startswith("inchikey: str_matches")
    assert quarantined["reason"].tolist() == ["bad_inchikey"]


def test_duplicate_inchikey_keeps_the_first_row() -> None:
    frame = predictions("eos3b5e")
    frame.loc[5, "inchikey"] = frame.loc[1, "inchikey"]
    frame.loc[6, "inchikey"] = frame.loc[1, "inchikey"]
    valid, quarantined = split_valid(frame, EOS)
    assert_partition(frame, valid, quarantined)
    assert failures(quarantined) == {
        5: "inchikey: field_uniqueness",
        6: "inchikey: field_uniqueness",
    }
    assert set(quarantined["reason"]) == {"duplicate_inchikey"}
    assert 1 in set(valid["row"])
    assert valid["inchikey"].is_unique


def test_empty_smiles_and_negative_row_are_quarantined() -> None:
    frame = predictions("eos3b5e")
    frame.loc[0, "smiles"] = ""
    frame.loc[2, "row"] = -1
    valid, quarantined = split_valid(frame, EOS)
    assert_partition(frame, valid, quarantined)
    assert list(quarantined.index) == [0, 2]
    assert quarantined["detail"].iloc[0].startswith("smiles: ")
    assert quarantined["detail"].iloc[1].startswith("row: ")
    assert quarantined["reason"].tolist() == ["empty_smiles", "out_of_range"]


def test_several_failures_of_one_row_are_all_named() -> None:
    frame = predictions("eos3b5e")
    frame.loc[3, "mol_weight"] = np.nan
    frame.loc[3, "inchikey"] = "bad"
    valid, quarantined = split_valid(frame, EOS)
    assert list(quarantined["row"]) == [3]
    parts = quarantined["detail"].iloc[0].split("; ")
    assert parts == sorted(parts)
    assert {p.split(":")[0] for p in parts} == {"inchikey", "mol_weight"}
    assert quarantined["reason"].tolist() == ["not_nullable"]  # the most telling code


@pytest.mark.parametrize("n", [1, 2, len(SMILES)])
def test_all_rows_bad(n: int) -> None:
    frame = predictions("eos3b5e", n).assign(mol_weight=-5.0)
    valid, quarantined = split_valid(frame, EOS)
    assert len(valid) == 0
    assert list(quarantined["row"]) == list(range(n))


def test_quarantine_keeps_the_original_values_and_index() -> None:
    frame = predictions("eos3b5e")
    frame.index = range(100, 100 + len(frame))
    frame.loc[102, "mol_weight"] = -3.5
    valid, quarantined = split_valid(frame, EOS)
    assert list(quarantined.index) == [102]
    assert quarantined.loc[102, "mol_weight"] == -3.5
    assert quarantined.loc[102, "smiles"] == frame.loc[102, "smiles"]
    assert_partition(frame, valid, quarantined)


def test_extra_columns_are_dropped_from_valid_rows() -> None:
    frame = predictions("eos3b5e").assign(debug="x")
    valid, quarantined = split_valid(frame, EOS)
    assert "debug" not in valid.columns
    assert len(quarantined) == 0


@pytest.mark.parametrize("column", ["mol_weight", "inchikey", "smiles", "row"])
def test_a_missing_column_fails_the_whole_frame(column: str) -> None:
    frame = predictions("eos3b5e").drop(columns=[column])
    with pytest.raises(pa.errors.SchemaErrors) as info:
        split_valid(frame, EOS)
    assert column in set(info.value.failure_cases["failure_case"].astype(str))


def test_a_missing_vector_column_fails_the_whole_frame() -> None:
    spec = ModelSpec("two", "python", (*MORGAN.columns, *EOS.columns), options={"callable": "m:f"})
    frame = predictions("eos3b5e")
    with pytest.raises(pa.errors.SchemaErrors):
        split_valid(frame, spec)


# --- a wide frame of numbers, screened whole ----------------------------------------------


def wide_spec(n: int = 300) -> ModelSpec:
    """Counts (nullable ints, one with bounds), a non-nullable int and nullable floats."""
    columns = [OutputColumn(f"dim_{i:04d}", "int", nullable=True) for i in range(n)]
    columns[0] = OutputColumn("dim_0000", "int", nullable=True, min=0, max=50)
    columns += [OutputColumn("heavy", "int"), OutputColumn("logp", "float", nullable=True)]
    return ModelSpec("wide", "command", tuple(columns))


def wide_frame(spec: ModelSpec, rows: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    data = {c.name: rng.integers(0, 20, rows) for c in spec.columns if c.dtype == "int"}
    data["dim_0007"] = pd.array([None, *range(1, rows)], dtype="Int64")  # an empty cell
    data["logp"] = np.append(rng.normal(0, 2, rows - 1), np.nan)
    return pd.concat([keys_frame(rows), pd.DataFrame(data)], axis=1)


def test_a_wide_frame_that_passes_is_returned_as_pandera_returns_it() -> None:
    spec = wide_spec()
    frame = wide_frame(spec)
    assert passes_whole(frame, spec)  # decided without pandera
    valid, quarantined = split_valid(frame, spec)
    assert len(quarantined) == 0
    by_pandera = predictions_schema(spec).validate(frame, lazy=True)
    pd.testing.assert_frame_equal(valid, by_pandera, check_dtype=False)
    assert validated_table(valid, spec).equals(validated_table(by_pandera, spec))  # as stored


@pytest.mark.parametrize(
    ("column", "value", "code"),
    [
        ("dim_0000", 51, "out_of_range"),  # above its max
        ("dim_0000", -1, "out_of_range"),
        ("heavy", None, "wrong_type"),  # a non-nullable column: pandera cannot coerce it
        ("logp", np.inf, "not_finite"),
        ("logp", 1e130, "out_of_range"),
        ("row", -1, "out_of_range"),
        ("inchikey", "not-a-key", "bad_inchikey"),
        ("smiles", "", "empty_smiles"),
    ],
)
def test_a_wide_frame_with_a_bad_cell_is_left_to_pandera(column, value, code) -> None:
    spec = wide_spec()
    frame = wide_frame(spec)
    if value is None:
        frame[column] = frame[column].astype("Int64")
    frame.loc[2, column] = value
    assert not passes_whole(frame, spec)
    valid, quarantined = split_valid(frame, spec)
    assert quarantined.index.tolist() == [2] and len(valid) == len(frame) - 1
    assert quarantined["reason"].tolist() == [code]
