"""The one lookup, over a real run's serving table, on both backends."""

from __future__ import annotations

import json

import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors

from precalc_assets import layout
from precalc_assets.deployment import open_deployment
from precalc_assets.serving.formats import json_body, to_csv
from precalc_assets.serving.lookup import (
    FOUND,
    INVALID,
    MISSING,
    LookupInputError,
    UnknownModelError,
    lookup,
)
from precalc_assets.stores.serving_table import ServingItem
from precalc_assets_tests.molecules import expected_molecules, nci_lines, write_library
from precalc_assets_tests.project import precalc

ABSENT = "AAAAAAAAAAAAAA-AAAAAAAAAA-N"
ADAMANTANES = "C1C2CC3CC1CC(C2)C3" * 100  # 300 ring closures: seconds of InChI


@pytest.fixture
def served(project, tmp_path):
    """60 real molecules precalculated for a scalar and a vector model; InChIKey -> SMILES."""
    lines = nci_lines(60)
    precalc("add-library", str(write_library(tmp_path / "lib.smi", lines)), "--slice-size", "30")
    precalc("add-model", "eos3b5e")
    precalc("add-model", "morgan-fp2048")
    precalc("run", "--workers", "1")
    return project, expected_molecules(lines)


def test_found_missing_and_invalid_rows_in_input_order_with_outputs_by_name(served):
    project, expected = served
    keys = list(expected)[:3]
    smiles = [expected[keys[0]], "C1CC", ""]
    serving = open_deployment()
    answer = lookup(serving.store, serving.table, ["eos3b5e"], [keys[1], ABSENT, keys[2]], smiles)
    (model,) = answer.models
    statuses = [(r.input, r.status) for r in model.rows]
    assert statuses == [
        (keys[1], FOUND),
        (ABSENT, MISSING),
        (keys[2], FOUND),
        (smiles[0], FOUND),
        ("C1CC", INVALID),
        ("", INVALID),
    ]
    for row in [model.rows[0], model.rows[2], model.rows[3]]:
        assert row.smiles == expected[row.key]
        weight = Descriptors.MolWt(Chem.MolFromSmiles(row.smiles))
        assert row.outputs == {"mol_weight": pytest.approx(weight)}
        assert row.values == [row.outputs["mol_weight"]]
    assert model.rows[3].key == keys[0]  # the SMILES was keyed by its InChIKey
    assert model.rows[4].reason == "SMILES rejected: unparseable"
    assert model.rows[5].reason == "SMILES rejected: empty"
    assert model.missing == [ABSENT]


def test_a_vector_model_and_several_models_in_one_lookup(served):
    project, expected = served
    key = next(iter(expected))
    serving = open_deployment()
    answer = lookup(serving.store, serving.table, ["eos3b5e", "morgan-fp2048"], [key, key])
    weights, bits = answer.models
    assert [r.status for r in weights.rows + bits.rows] == [FOUND] * 4
    fingerprint = bits.rows[0].outputs["bits"]
    assert len(fingerprint) == 2048 and set(fingerprint) <= {0, 1}
    assert sum(fingerprint) > 0
    body = json_body(answer)
    assert [m["model_id"] for m in body["results"]] == ["eos3b5e", "morgan-fp2048"]
    header = to_csv(answer).splitlines()[0].split(",")
    assert header[:7] == ["input", "key", "smiles", "model_id", "status", "reason", "mol_weight"]
    assert header[7:] == [f"bits_{i}" for i in range(2048)]


def test_more_keys_than_one_batch_read_all_come_back(served):
    """Ersilia's Lambda answered 500 above 100 keys; reads are chunked to 100 here."""
    project, expected = served
    keys = list(expected) * 4  # duplicates too: each input gets its row
    serving = open_deployment()
    (model,) = lookup(serving.store, serving.table, ["eos3b5e"], keys).models
    assert len(model.rows) == len(keys) > 200
    assert all(r.status == FOUND and r.smiles == expected[r.key] for r in model.rows)


def test_an_unknown_model_is_an_error_naming_the_registered_ones(served):
    serving = open_deployment()
    with pytest.raises(UnknownModelError, match="registered models: eos3b5e, morgan-fp2048"):
        lookup(serving.store, serving.table, ["eos3b5e-typo"], [ABSENT])
    with pytest.raises(UnknownModelError, match="invalid model ID 'EOS'"):
        lookup(serving.store, serving.table, ["EOS"], [ABSENT])


def test_the_storage_is_named_by_the_cli_message_only(local_project):
    """`str()` is for a trusted local user (`precalc lookup`); `public` for the HTTP faces."""
    precalc("add-model", "eos3b5e")
    serving = open_deployment()
    with pytest.raises(UnknownModelError) as raised:
        lookup(serving.store, serving.table, ["nope"], [ABSENT])
    assert f"not registered in {serving.store.url} (no inputs/models/nope.json)" in str(
        raised.value
    )
    assert raised.value.public == (
        "model 'nope': not registered; registered models: eos3b5e. Check the model ID, "
        "or register the model with `precalc add-model`"
    )


def test_each_distinct_smiles_of_a_request_is_identified_once(local_project, identified):
    """A request repeating a costly SMILES pays for it once (and a too complex one costs
    nothing: it is refused on its parse)."""
    precalc("add-model", "eos3b5e")
    serving = open_deployment()
    smiles = [ADAMANTANES, "OCC", f" {ADAMANTANES}\t", "OCC", ADAMANTANES, "CCO"]
    (model,) = lookup(serving.store, serving.table, ["eos3b5e"], [], smiles).models
    assert sorted(identified) == sorted([ADAMANTANES, "OCC", "CCO"])
    assert [r.status for r in model.rows] == [INVALID, MISSING, INVALID, MISSING, INVALID, MISSING]
    assert [r.input for r in model.rows] == smiles
    assert model.rows[1].key == model.rows[3].key == model.rows[5].key
    assert model.rows[0].reason.startswith("SMILES rejected: too_complex (1,000 heavy atoms")


@pytest.mark.parametrize(
    "key", ["NOPE", "lfqscwflj" + "httHZ-UHFFFAOYSA-N", "LFQSCWFLJHTTHZ-UHFFFAOYSA", 42]
)
def test_a_malformed_key_is_an_error_naming_its_position(local_project, key):
    precalc("add-model", "eos3b5e")
    serving = open_deployment()
    with pytest.raises(LookupInputError, match=r"input 1: .* is not an InChIKey"):
        lookup(serving.store, serving.table, ["eos3b5e"], [ABSENT, key])


def test_values_published_under_other_columns_keep_their_flat_values(local_project):
    """An item the columns document does not describe is still served, unnamed."""
    precalc("add-model", "eos3b5e")
    serving = open_deployment()
    serving.table.ensure_table()
    item = ServingItem(ABSENT, "eos3b5e", "C", (1.0, 2.0), "lib-0000", "r", "v", "t")
    serving.table.upsert([item])
    serving.store.put_bytes(
        layout.served_columns("eos3b5e"),
        json.dumps({"columns": [{"name": "mol_weight"}]}).encode(),
    )
    (row,) = lookup(serving.store, serving.table, ["eos3b5e"], [ABSENT]).rows
    assert (row.status, row.values, row.outputs) == (FOUND, [1.0, 2.0], None)
    assert "value_0,value_1" in to_csv(lookup(serving.store, serving.table, ["eos3b5e"], [ABSENT]))


def test_precalc_lookup_reads_keys_and_smiles_from_a_file_and_writes_csv(served, tmp_path):
    project, expected = served
    keys = list(expected)[:2]
    (tmp_path / "by_key.csv").write_text("InChIKey\n" + "\n".join([*keys, ABSENT]) + "\n")
    (tmp_path / "by_smiles.csv").write_text("id,SMILES\n1,CCO\n2,C1CC\n")
    out = tmp_path / "out.csv"
    result = precalc(
        "lookup", "--model", "eos3b5e", "--input", str(tmp_path / "by_key.csv"),
        "--format", "csv", "-o", str(out),
    )  # fmt: skip
    assert "3 row(s) written" in result.output and "2 found, 1 missing" in result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "input,key,smiles,model_id,status,reason,mol_weight"
    assert [line.split(",")[4] for line in lines[1:]] == ["found", "found", "missing"]
    body = json.loads(
        precalc("lookup", "--model", "eos3b5e", "--input", str(tmp_path / "by_smiles.csv")).output
    )
    assert [r["status"] for r in body["output"]] == ["missing", "invalid"]
    bad = tmp_path / "bad.csv"
    bad.write_text("name\nx\n")
    result = precalc("lookup", "--model", "eos3b5e", "--input", str(bad), ok=False)
    assert result.exit_code == 1 and "no smiles, input, key or inchikey column" in result.output
