"""Partial hits: misses computed by the model's runner, served, recorded, then replaced by
the pipeline's own values when a library holding them is precalculated."""

from __future__ import annotations

import json

import pytest
from rdkit import Chem
from rdkit.Chem import Descriptors

from precalc_assets import layout
from precalc_assets.deployment import open_deployment
from precalc_assets.serving.compute_missing import NO_STRUCTURE, compute_missing
from precalc_assets.serving.lookup import COMPUTED, FOUND, INVALID, MISSING, lookup
from precalc_assets.steps.compute import COMPUTED_SLICE
from precalc_assets_tests.molecules import expected_molecules, nci_lines, write_library
from precalc_assets_tests.project import precalc


def smiles_of(expected: dict[str, str]) -> list[str]:
    return list(expected.values())


def test_fifty_stored_and_fifty_new_give_fifty_computed_then_a_hundred_found(project, tmp_path):
    """The issue's acceptance, through `precalc lookup --compute-missing`."""
    stored = expected_molecules(nci_lines(55))
    new = {k: s for k, s in expected_molecules(nci_lines(70, start=100)).items() if k not in stored}
    stored_smiles, new_smiles = smiles_of(stored)[:50], smiles_of(new)[:50]
    assert len(stored_smiles) == len(new_smiles) == 50
    library = write_library(tmp_path / "lib.csv", ["smiles", *stored_smiles])
    precalc("add-library", str(library), "--slice-size", "25")
    precalc("add-model", "eos3b5e")
    precalc("run", "--workers", "1")
    request = [arg for s in stored_smiles + new_smiles for arg in ("--smiles", s)]

    first = json.loads(
        precalc("lookup", "--model", "eos3b5e", *request, "--compute-missing").output
    )
    statuses = [r["status"] for r in first["output"]]
    assert statuses == [FOUND] * 50 + [COMPUTED] * 50
    for row in first["output"]:
        weight = Descriptors.MolWt(Chem.MolFromSmiles(row["smiles"]))
        assert row["outputs"]["mol_weight"] == pytest.approx(weight)
    assert first["missing"] == []

    again = json.loads(precalc("lookup", "--model", "eos3b5e", *request).output)
    assert [r["status"] for r in again["output"]] == [FOUND] * 100
    assert [r["value"] for r in again["output"]] == [r["value"] for r in first["output"]]

    serving = open_deployment()
    items = serving.table.get_many("eos3b5e", list(new)[:50])
    assert {i.slice_key for i in items.values()} == {COMPUTED_SLICE}
    assert all(i.run_id.startswith("lookup-") for i in items.values())
    (record,) = list(serving.store.list(layout.computed_folder("eos3b5e")))
    assert record.key.endswith("-n50.parquet")
    assert sorted(serving.store.read_parquet(record.key).column("inchikey").to_pylist()) == sorted(
        list(new)[:50]
    )
    assert "| 50 |" in precalc("ledger").output  # computed for lookups, per model


def test_a_library_holding_computed_molecules_publishes_over_them(local_project, tmp_path):
    """Precalculated, validated and checked values win over the ones computed on demand."""
    precalc("add-model", "eos3b5e")
    lines = nci_lines(10)
    expected = expected_molecules(lines)
    precalc("lookup", "--model", "eos3b5e", *[f"--smiles={s}" for s in expected.values()],
            "--compute-missing")  # fmt: skip
    serving = open_deployment()
    assert {i.slice_key for i in serving.table.get_many("eos3b5e", list(expected)).values()} == {
        COMPUTED_SLICE
    }
    precalc("add-library", str(write_library(tmp_path / "lib.smi", lines)), "--slice-size", "5")
    precalc("run", "--workers", "1")
    items = serving.table.get_many("eos3b5e", list(expected))
    assert len(items) == len(expected)
    assert {i.slice_key for i in items.values()} == {"lib-0000", "lib-0001"}
    ledger = {row.slice: row.rows_published for row in local_project.ledger(["eos3b5e"])}
    assert sum(ledger.values()) == len(expected)


def test_misses_looked_up_by_key_stay_missing_with_the_reason(local_project):
    precalc("add-model", "eos3b5e")
    serving = open_deployment()
    key = "LFQSCWFLJHTTHZ-UHFFFAOYSA-N"
    answer = lookup(serving.store, serving.table, ["eos3b5e"], [key])
    compute_missing(serving.store, serving.table, answer, serving.policy)
    (row,) = answer.rows
    assert (row.status, row.reason) == (MISSING, NO_STRUCTURE)
    assert list(serving.store.list(layout.computed_folder("eos3b5e"))) == []


def test_outputs_that_fail_validation_are_invalid_and_never_served(local_project):
    """A model's out-of-range output is quarantined as in the pipeline, not served."""
    local_project.add_model(
        "noisy",
        {
            "runner": "python",
            "callable": "precalc_assets_tests.faulty_models:negative_weight",
            "columns": [{"name": "weight", "dtype": "float", "min": 0.0}],
        },
    )
    serving = open_deployment()
    answer = lookup(serving.store, serving.table, ["noisy"], smiles=["CCO", "CCCC"])
    compute_missing(serving.store, serving.table, answer, serving.policy)
    assert [r.status for r in answer.rows] == [INVALID, INVALID]
    assert all("failed validation" in r.reason for r in answer.rows)
    assert serving.table.get_many("noisy", [r.key for r in answer.rows]) == {}
