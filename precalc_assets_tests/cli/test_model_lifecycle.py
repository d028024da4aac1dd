"""A model's lifecycle on the CLI: tried at `add-model`, sampled, planned, described,
imported from beside you, and removed with its library's precalculations."""

from __future__ import annotations

import contextlib
import json
import sys

import pytest
from click.testing import CliRunner
from rdkit import Chem
from rdkit.Chem import Descriptors

from precalc_assets import layout
from precalc_assets.cli import main
from precalc_assets.stores.errors import StoreError
from precalc_assets_tests.molecules import expected_molecules, nci_lines, write_library
from precalc_assets_tests.project import precalc


@pytest.mark.parametrize(
    ("request_", "says"),
    [
        (
            {"runner": "python", "callable": "precalc_assets_tests.faulty_models:weigth"},
            "has no attribute 'weigth'",
        ),
        (  # a script beside the spec, named relative to the working directory
            {"runner": "command", "command": ["python3", "predict.py", "{input}", "{output}"]},
            "predict.py",
        ),
        (
            {"runner": "python", "callable": "precalc_assets_tests.faulty_models:one_row_short"},
            None,  # fine on its few trial molecules: registered
        ),
    ],
)
def test_add_model_tries_a_model_without_examples_and_refuses_it_with_the_cause(
    local_project, tmp_path, monkeypatch, request_, says
):
    """A typo'd callable or a command that is not there fails at `add-model`, on a few
    library molecules, instead of in every run of every slice."""
    (tmp_path / "predict.py").write_text("raise SystemExit('not here')\n")
    monkeypatch.chdir(tmp_path)
    precalc("add-library", str(write_library(tmp_path / "lib.smi", nci_lines(30))))
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**request_, "columns": ["mol_weight"]}))
    result = precalc("add-model", "tried", "--spec", str(spec), ok=says is None)
    if says is None:
        assert "tried on 5 molecules: 5 answered" in result.output
        return
    assert result.exit_code == 1
    assert "tried on 5 molecules before registering it, the model failed" in result.output
    assert says in result.output and "Nothing was registered" in result.output
    assert not local_project.store().exists(layout.model_request("tried"))
    assert "tried" not in local_project.instance.get_dynamic_partitions("model")


def test_run_sample_prints_the_values_of_a_few_molecules_and_publishes_nothing(project, tmp_path):
    """The hub's sample-only runs: N molecules of a slice computed and validated, their
    values printed; no Dagster run, no file, no served item."""
    lines = nci_lines(30)
    precalc("add-library", str(write_library(tmp_path / "lib.smi", lines)), "--slice-size", "20")
    precalc("add-model", "eos3b5e")
    out = precalc("run", "--sample", "10", "--model", "eos3b5e").output
    rows = [line for line in out.splitlines() if line.startswith("| ") and "-N |" in line]
    assert len(rows) == 10 and "10 valid, 0 failed" in out
    first = expected_molecules([line.split()[0] for line in lines])
    key, smiles = next(iter(first.items()))
    weight = Descriptors.MolWt(Chem.MolFromSmiles(smiles))
    assert rows[0].startswith(f"| {key} | {smiles} | ") and str(weight) in rows[0]
    with contextlib.suppress(StoreError):  # DynamoDB: no table was even created
        assert project.serving().count("eos3b5e") == 0
    assert not list(project.store().list("predictions/"))
    assert not project.instance.get_run_records()


def test_run_dry_run_lists_the_runs_it_would_launch_and_runs_nothing(local_project, tmp_path):
    precalc(
        "add-library", str(write_library(tmp_path / "lib.smi", nci_lines(50))), "--slice-size", "10"
    )
    precalc("add-model", "eos3b5e")
    precalc("add-model", "rdkit-physchem")
    out = precalc("run", "--dry-run", "--workers", "2", "--partitions-per-run", "4").output
    # 10 partitions on 2 workers, up to 4 a run: equal rounds of both models x one slice.
    assert out.splitlines()[0].startswith("10 partition(s) missing, stale or failed; 5 run(s)")
    assert "  run eos3b5e|lib-0004 .. rdkit-physchem|lib-0004: 2 partition(s)" in out
    assert not local_project.instance.get_run_records()
    precalc("run", "--workers", "1", "--model", "eos3b5e")
    out = precalc("run", "--dry-run", "--model", "eos3b5e").output
    assert out.startswith("0 partition(s) missing, stale or failed; 0 run(s)")

    shown = precalc("info", "eos3b5e").output.splitlines()
    assert shown[0].startswith("model          eos3b5e: Molecular weight")
    assert shown[3].startswith("code version   eos3b5e-v1-")
    assert "drift baseline lib-0000" in shown  # the library's first slice, pinned
    assert shown[-1].startswith("ledger         5/5 slices done, 0 stale, 0 failed, 0 missing;")
    assert "(did you mean 'eos3b5e'?)" in precalc("info", "eos3b5f", ok=False).output


def test_a_python_model_beside_you_imports_in_add_model_run_and_its_workers(
    local_project, tmp_path, monkeypatch
):
    """The working directory is on `sys.path` as under the daemon (Dagster's `-d`), in
    this process and in the spawned workers of `precalc run --workers 2`."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "my_scores.py").write_text(
        "from rdkit import Chem\nfrom rdkit.Chem import Descriptors\n\n"
        "def weight(smiles):\n"
        "    return {'mol_weight': [Descriptors.MolWt(Chem.MolFromSmiles(s)) for s in smiles]}\n"
    )
    spec = tmp_path / "mine.json"
    spec.write_text(
        json.dumps({"runner": "python", "callable": "my_scores:weight", "columns": ["mol_weight"]})
    )
    monkeypatch.chdir(tmp_path)
    lines = nci_lines(40)
    precalc("add-library", str(write_library(tmp_path / "lib.smi", lines)), "--slice-size", "20")
    assert "5 answered" in precalc("add-model", "mine", "--spec", str(spec)).output
    out = precalc("run", "--workers", "2").output
    assert "2/2" in out, out
    assert local_project.serving().count("mine") == len(expected_molecules(lines))


def test_remove_library_and_remove_model_take_out_what_they_count(local_project, tmp_path):
    """Outdated precalculations removed: served items, files and partition keys, after a
    confirmation and a count; what stays is untouched. (Deleting items from DynamoDB:
    `stores/test_serving_table.py`.)"""
    project = local_project
    lines = nci_lines(50)
    precalc("add-library", str(write_library(tmp_path / "a.smi", lines[:30])), "--slice-size", "20")
    precalc("add-library", str(write_library(tmp_path / "b.smi", lines[30:])), "--slice-size", "20")
    precalc("add-model", "eos3b5e")
    precalc("add-model", "rdkit-physchem")
    precalc("run", "--workers", "1")
    table, store = project.serving(), project.store()
    in_a = len(expected_molecules(lines[:30]))
    in_b = len(expected_molecules(lines)) - in_a

    kept = CliRunner().invoke(main, ["remove-library", "b"], input="n\n")
    assert kept.exit_code == 1 and "Aborted" in kept.output
    assert f"to remove: library 'b': {2 * in_b} served item(s)" in kept.output
    assert table.count("eos3b5e") == in_a + in_b  # nothing went

    out = precalc("remove-library", "b", "--yes").output
    assert f"removed library 'b': {2 * in_b} served item(s)" in out
    assert table.count("eos3b5e") == table.count("rdkit-physchem") == in_a
    assert project.instance.get_dynamic_partitions("slice") == ["a-0000", "a-0001"]
    assert not list(store.list("library/raw/b-")) and not store.exists("inputs/library/b.smi")

    out = precalc("remove-model", "rdkit-physchem", "--yes").output
    assert f"removed model 'rdkit-physchem': {in_a} served item(s)" in out
    assert table.count("rdkit-physchem") == 0 and table.count("eos3b5e") == in_a
    assert not list(store.list("predictions/model=rdkit-physchem/"))
    assert not store.exists("inputs/models/rdkit-physchem.json")
    assert project.instance.get_dynamic_partitions("model") == ["eos3b5e"]
    assert "0 partition(s) missing" in precalc("run", "--workers", "1").output
    again = precalc("remove-model", "rdkit-physchem", "--yes", ok=False).output
    assert "not registered model(s): 'rdkit-physchem'" in again
