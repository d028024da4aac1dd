"""Arrow/Parquet conversion of prediction frames, and the serving `Precalculation` lists."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from precalc_assets.chem import canonicalize_rows
from precalc_assets.inputs.model_requests import resolve_spec
from precalc_assets.models.runners import run_model
from precalc_assets.models.schema import split_valid
from precalc_assets.models.spec import ModelError, ModelSpec, OutputColumn
from precalc_assets.models.tables import (
    item_size,
    lenient_to_arrow,
    outputs_as_lists,
    predictions_to_arrow,
)
from precalc_assets.stores.dynamodb import ITEM_SIZE_LIMIT, DynamoServingTable
from precalc_assets.stores.serving_table import ServingItem, utc_timestamp

SMILES = ["CCO", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "O"]

MIXED = ModelSpec(
    "mixed",
    "python",
    (
        OutputColumn("b", "float"),
        OutputColumn("v", "float", length=3),
        OutputColumn("a", "int"),
        OutputColumn("flag", "bool"),
        OutputColumn("label", "str"),
    ),
)


def predictions(model_id: str, n: int = len(SMILES)) -> pd.DataFrame:
    accepted, mols, _ = canonicalize_rows(list(enumerate(SMILES[:n])))
    keys = pd.DataFrame(
        {
            "row": [m.row for m in accepted],
            "inchikey": [m.inchikey for m in accepted],
            "smiles": [m.smiles for m in accepted],
        }
    )
    outputs = run_model(resolve_spec(model_id), [m.smiles for m in accepted], mols)
    return pd.concat([keys, outputs], axis=1)


def parquet_round_trip(table: pa.Table) -> pa.Table:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return pq.read_table(io.BytesIO(buffer.getvalue()))


def mixed_frame() -> pd.DataFrame:
    # outputs deliberately in another order than declared, plus an undeclared column
    return pd.DataFrame(
        {
            "label": ["x", "y"],
            "row": [4, 9],
            "a": [7, -2],
            "inchikey": ["AAAAAAAAAAAAAA-BBBBBBBBBB-N", "CCCCCCCCCCCCCC-DDDDDDDDDD-N"],
            "v": [np.array([0.5, 1.5, 2.5]), [3.0, 4.0, 5.0]],
            "smiles": ["C", "CC"],
            "b": [1.25, np.nan],
            "flag": [True, False],
            "debug": ["dropped", "dropped"],
        }
    )


def test_schema_is_keys_then_declared_outputs() -> None:
    table = predictions_to_arrow(mixed_frame(), MIXED)
    assert table.schema.names == ["row", "inchikey", "smiles", "b", "v", "a", "flag", "label"]
    assert table.schema.field("row").type == pa.int64()
    assert table.schema.field("b").type == pa.float64()
    assert table.schema.field("v").type == pa.list_(pa.float64(), 3)
    assert table.schema.field("a").type == pa.int64()
    assert table.schema.field("flag").type == pa.bool_()
    assert table.schema.field("label").type == pa.string()


def test_mixed_round_trip_through_parquet() -> None:
    back = parquet_round_trip(predictions_to_arrow(mixed_frame(), MIXED)).to_pylist()
    assert back == [
        {"row": 4, "inchikey": "AAAAAAAAAAAAAA-BBBBBBBBBB-N", "smiles": "C", "b": 1.25,
         "v": [0.5, 1.5, 2.5], "a": 7, "flag": True, "label": "x"},
        {"row": 9, "inchikey": "CCCCCCCCCCCCCC-DDDDDDDDDD-N", "smiles": "CC", "b": None,
         "v": [3.0, 4.0, 5.0], "a": -2, "flag": False, "label": "y"},
    ]  # fmt: skip


@pytest.mark.parametrize("n", [1, 2, len(SMILES)])
def test_morgan_2048_vector_round_trip(n: int) -> None:
    frame = predictions("morgan-fp2048", n)
    table = parquet_round_trip(predictions_to_arrow(frame, resolve_spec("morgan-fp2048")))
    assert table.schema.field("bits").type == pa.list_(pa.int64(), 2048)
    back = table.to_pandas()
    assert len(back) == n
    assert back["inchikey"].tolist() == frame["inchikey"].tolist()
    for original, restored in zip(frame["bits"], back["bits"], strict=True):
        assert len(restored) == 2048
        np.testing.assert_array_equal(np.asarray(restored), np.asarray(original))


@pytest.mark.parametrize("model_id", ["eos3b5e", "rdkit-physchem"])
def test_float_outputs_round_trip_exactly(model_id: str) -> None:
    frame = predictions(model_id)
    back = parquet_round_trip(predictions_to_arrow(frame, resolve_spec(model_id))).to_pandas()
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


@pytest.mark.parametrize("model_id", ["eos3b5e", "morgan-fp2048", "rdkit-physchem"])
def test_read_back_predictions_still_validate(model_id: str) -> None:
    """What `validated_predictions` reads is what `predictions` wrote."""
    spec = resolve_spec(model_id)
    back = parquet_round_trip(predictions_to_arrow(predictions(model_id), spec)).to_pandas()
    valid, quarantined = split_valid(back, spec)
    assert len(valid) == len(SMILES) and len(quarantined) == 0


@pytest.mark.parametrize("spec", [MIXED, resolve_spec("morgan-fp2048")], ids=["mixed", "morgan"])
def test_empty_frame_keeps_the_schema(spec: ModelSpec) -> None:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in ["row", "inchikey", "smiles"]})
    frame = pd.concat([frame, run_model(spec, [], [])], axis=1)
    table = predictions_to_arrow(frame, spec)
    assert table.num_rows == 0
    assert table.schema.names == ["row", "inchikey", "smiles", *spec.column_names]
    assert parquet_round_trip(table).schema == table.schema


def test_reason_columns_are_kept() -> None:
    frame = mixed_frame().assign(reason=[None, "model_failed"], detail=[None, "boom"])
    table = predictions_to_arrow(frame, MIXED)
    assert table.schema.names[-2:] == ["reason", "detail"]
    assert table.column("reason").to_pylist() == [None, "model_failed"]
    assert table.column("detail").to_pylist() == [None, "boom"]


@pytest.mark.parametrize(
    "bad", [[1.0, 2.0], [1.0, 2.0, 3.0, 4.0], None, 7.0, "abc", [[1.0, 2.0, 3.0]]]
)
@pytest.mark.parametrize("position", [0, 1, 2])
def test_a_bad_vector_cell_never_shifts_its_neighbours(bad: object, position: int) -> None:
    spec = ModelSpec("vec", "python", (OutputColumn("v", "float", length=3),))
    cells: list[object] = [[0.0, 1.0, 2.0], [10.0, 11.0, 12.0], [20.0, 21.0, 22.0]]
    expected: list[object] = [list(c) for c in cells]  # type: ignore[call-overload]
    cells[position] = bad
    expected[position] = None
    frame = pd.DataFrame(
        {"row": [0, 1, 2], "inchikey": list("ABC"), "smiles": list("CNO"), "v": cells}
    )
    table = parquet_round_trip(predictions_to_arrow(frame, spec))
    assert table.column("v").to_pylist() == expected


def test_a_bad_vector_is_quarantined_after_the_round_trip() -> None:
    spec = resolve_spec("morgan-fp2048")
    frame = predictions("morgan-fp2048", 4)
    frame["bits"] = [frame["bits"][0], frame["bits"][1][:2000], None, frame["bits"][3]]
    back = parquet_round_trip(predictions_to_arrow(frame, spec)).to_pandas()
    valid, quarantined = split_valid(back, spec)
    assert list(quarantined["row"]) == [1, 2]
    assert list(valid["row"]) == [0, 3]
    np.testing.assert_array_equal(np.asarray(valid["bits"].iloc[1]), frame["bits"][3])


def test_all_vector_cells_bad() -> None:
    spec = ModelSpec("vec", "python", (OutputColumn("v", "int", length=4),))
    frame = pd.DataFrame(
        {"row": [0, 1], "inchikey": ["A", "B"], "smiles": ["C", "N"], "v": [None, [1]]}
    )
    assert predictions_to_arrow(frame, spec).column("v").to_pylist() == [None, None]


def test_outputs_as_lists_flattens_in_declared_order() -> None:
    assert outputs_as_lists(mixed_frame(), MIXED)[0] == [1.25, 0.5, 1.5, 2.5, 7, True, "x"]
    second = outputs_as_lists(mixed_frame(), MIXED)[1]
    assert np.isnan(second[0]) and second[1:] == [3.0, 4.0, 5.0, -2, False, "y"]


def test_outputs_as_lists_of_read_back_rows_are_plain_python() -> None:
    """The serving table stores them as a JSON-like list (DynamoDB `L`)."""
    spec = resolve_spec("rdkit-physchem")
    frame = predictions("rdkit-physchem")
    back = parquet_round_trip(predictions_to_arrow(frame, spec)).to_pandas()
    lists = outputs_as_lists(back, spec)
    assert len(lists) == len(SMILES)
    assert lists[1] == [float(frame.loc[1, c]) for c in spec.column_names]
    json.dumps(lists)  # no numpy scalars left


def test_outputs_as_lists_morgan_is_2048_ints() -> None:
    spec = resolve_spec("morgan-fp2048")
    frame = predictions("morgan-fp2048", 2)
    back = parquet_round_trip(predictions_to_arrow(frame, spec)).to_pandas()
    lists = outputs_as_lists(back, spec)
    assert [len(x) for x in lists] == [2048, 2048]
    assert lists[0] == np.asarray(frame["bits"][0]).tolist()
    assert all(type(v) is int for v in lists[0])
    json.dumps(lists)


@pytest.mark.parametrize(
    ("dtype", "declared"),
    [("int64", "int"), ("float64", "float"), ("bool", "bool"), ("Int64", "int")],
)
def test_outputs_as_lists_of_many_columns_of_one_type_are_each_column_s_values(dtype, declared):
    """2,048 columns of one type are turned into rows at once: the same Python values, of
    the same types, as column by column (a nullable integer column's null stays pd.NA)."""
    spec = ModelSpec("wide", "command", tuple(OutputColumn(f"d{i}", declared) for i in range(40)))
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({c: rng.integers(0, 3, 6) for c in spec.column_names}).astype(dtype)
    if dtype == "Int64":
        frame.iloc[2, 3] = pd.NA

    def shown(rows: list[list]) -> list[list]:
        return [[(type(v), None if v is pd.NA else v) for v in row] for row in rows]

    columns = [frame[c].tolist() for c in spec.column_names]
    by_column = [list(row) for row in zip(*columns, strict=True)]
    assert shown(outputs_as_lists(frame, spec)) == shown(by_column)


def test_outputs_as_lists_of_nothing() -> None:
    assert outputs_as_lists(predictions("eos3b5e").iloc[0:0], resolve_spec("eos3b5e")) == []


def test_lenient_to_arrow_keeps_anything_as_text() -> None:
    frame = pd.DataFrame(
        {"row": [1], "v": [[1, 2]], "x": [np.nan], "reason": ["bad_vector"], "detail": ["v: x"]}
    )
    table = lenient_to_arrow(frame)
    assert table.schema.names == ["row", "v", "x", "reason", "detail"]
    # The reasons are text already: stored as they are, not quoted by `repr`.
    assert table.to_pylist() == [
        {"row": "1", "v": "[1, 2]", "x": "nan", "reason": "bad_vector", "detail": "v: x"}
    ]


def test_non_numeric_value_in_float_column_names_model_and_column() -> None:

    frame = pd.DataFrame({"row": [0], "inchikey": ["A"], "smiles": ["C"], "mol_weight": ["abc"]})
    with pytest.raises(ModelError, match="'eos3b5e': column 'mol_weight' holds values"):
        predictions_to_arrow(frame, resolve_spec("eos3b5e"))


# ------------------------------------------------------------------ vector precision


def test_float_vectors_keep_double_precision_through_parquet() -> None:
    """float32 elements turned 0.123456789 into 0.12345679104328156."""
    spec = ModelSpec("vec", "python", (OutputColumn("v", "float", length=3),))
    values = [0.123456789, 1 / 3, 1e-300]
    frame = pd.DataFrame({"row": [0], "inchikey": ["A"], "smiles": ["C"], "v": [values]})
    table = parquet_round_trip(predictions_to_arrow(frame, spec))
    assert table.schema.field("v").type.value_type == pa.float64()
    assert table.column("v").to_pylist() == [values]
    assert outputs_as_lists(table.to_pandas(), spec) == [values]  # what is served


def test_int_vectors_hold_any_int64_through_parquet() -> None:
    spec = ModelSpec("vec", "python", (OutputColumn("v", "int", length=3),))
    values = [2**40, -(2**62), 7]  # int32 cannot hold the first two
    frame = pd.DataFrame({"row": [0], "inchikey": ["A"], "smiles": ["C"], "v": [values]})
    table = parquet_round_trip(predictions_to_arrow(frame, spec))
    assert table.schema.field("v").type.value_type == pa.int64()
    assert table.column("v").to_pylist() == [values]


# ------------------------------------------------------------------ serving item size


def test_item_size_follows_dynamodb_item_layout() -> None:
    """Attribute names + values (DynamoDB's rules), with the worst case of each value:
    a 10,000-character SMILES (the most a library accepts), 64-character slice and run
    IDs, each number 21 bytes + 1 byte in a list (3 bytes for the list itself)."""
    spec = resolve_spec("rdkit-physchem")
    expected = (
        len("PK") + len("INPUTKEY#") + 27
        + len("SK") + len("MODELID#") + len("rdkit-physchem")
        + len("Smiles") + 10_000
        + len("Precalculation") + 3 + 8 * (21 + 1)
        + len("Timestamp") + len("2026-12-01T21:24:51.123Z")
        + len("Slice") + 64
        + len("RunId") + 64
        + len("CodeVersion") + len(spec.code_version)
    )  # fmt: skip
    assert item_size(spec).item_bytes == expected
    assert item_size(spec).output_values == 8
    assert ITEM_SIZE_LIMIT == 409_600


def test_item_size_counts_each_value_by_its_type() -> None:
    def size(*columns: OutputColumn) -> int:
        return item_size(ModelSpec("m", "python", columns)).item_bytes

    base = size()
    assert size(OutputColumn("x", "float")) - base == 22
    assert size(OutputColumn("x", "int", length=10)) - base == 220
    assert size(OutputColumn("x", "bool", length=10)) - base == 20
    assert size(OutputColumn("x", "str")) - base == 1  # its text is not bounded


def test_the_largest_item_of_the_widest_model_is_accepted_by_dynamodb(
    dynamodb_client, dynamodb_table_name
) -> None:
    """The bound is not lax: a real item at it (17-digit floats, the longest SMILES a
    library accepts) is written and read back through the DynamoDB API (moto)."""
    probe = ModelSpec("wide", "python", (OutputColumn("v", "float", length=1),))
    widest = item_size(probe).numbers_that_fit
    spec = ModelSpec("wide", "python", (OutputColumn("v", "float", length=widest),))
    assert item_size(spec).fits
    values = tuple(-0.1234567890123456 + i * 1e-12 for i in range(widest))
    item = ServingItem(
        inchikey="BSYNRYMUTXBXSQ-UHFFFAOYSA-N",
        model_id="wide",
        smiles="C" * 10_000,
        outputs=values,
        slice_key="x" * 64,
        run_id="r" * 64,
        code_version=spec.code_version,
        timestamp=utc_timestamp(),
    )
    table = DynamoServingTable(dynamodb_client, dynamodb_table_name)
    table.ensure_table()
    assert table.upsert([item]) == 1
    back = table.get_many("wide", [item.inchikey], consistent_read=True)[item.inchikey]
    assert back.outputs == values
