"""Hub models end to end, as a user runs them: a served model (the stand-in server on
loopback) and a model repository in the hub's template layout, through `precalc
add-model` and `precalc run`, on both backends."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from rdkit import Chem
from rdkit.Chem import Descriptors

from precalc_assets import layout
from precalc_assets.cli import main
from precalc_assets_tests.helpers import Project, expected_molecules, nci_lines, write_library
from precalc_assets_tests.model_repo import make_model_repo
from precalc_assets_tests.model_server import ModelServer

LIBRARY_ROWS = 3_000


def precalc(*args: str, ok: bool = True):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def add_library(tmp_path: Path, rows: int = LIBRARY_ROWS, slice_size: int = 250) -> list[str]:
    lines = nci_lines(rows)
    path = write_library(tmp_path / "library.smi", lines)
    precalc("add-library", str(path), "--slice-size", str(slice_size))
    return lines


def add_model(tmp_path: Path, model_id: str, request: dict, ok: bool = True) -> str:
    spec = tmp_path / f"{model_id}.json"
    spec.write_text(json.dumps(request))
    return precalc("add-model", model_id, "--spec", str(spec), ok=ok).output


def assert_served_with_molwt(project: Project, model_id: str, lines: list[str]) -> None:
    """Every valid unique InChIKey is served with RDKit's MolWt of its canonical SMILES."""
    expected = expected_molecules(lines)
    served = project.serving().get_many(model_id, list(expected))
    assert set(served) == set(expected)
    for key, smiles in expected.items():
        weight = Descriptors.MolWt(Chem.MolFromSmiles(smiles))
        assert math.isclose(served[key].outputs[0], weight, rel_tol=1e-9), (key, smiles)


def test_a_served_model_with_columns_from_the_server_under_rate_limits(project, tmp_path):
    lines = add_library(tmp_path)
    with ModelServer(every_nth_429=7, retry_after="0.2") as server:
        out = add_model(tmp_path, "eos3b5e-http", {"runner": "http", "url": server.url})
        assert "reproduced its 5 example(s)" in out and "columns mol_weight" in out
        out = precalc("run").output
        assert "12 partition(s) missing" in out
        assert server.requests >= 14  # 12 slices and the examples: 429s were answered
    assert_served_with_molwt(project, "eos3b5e-http", lines)
    card = json.loads(project.store().get_bytes(layout.model_card("eos3b5e-http")))
    assert card["card"]["identifier"] == "eos3b5e" and card["examples"]["severity"] == "ok"


def test_a_model_repository_in_the_template_layout(project, tmp_path):
    lines = add_library(tmp_path, slice_size=1_000)
    repo = make_model_repo(tmp_path / "eos3b5e")
    out = add_model(tmp_path, "eos3b5e-repo", {"runner": "command", "repo": str(repo)})
    assert "reproduced its 5 example(s)" in out and "declared in the deployment" in out
    assert json.loads(project.store().get_bytes(layout.model_request("eos3b5e-repo"))) == {}
    precalc("run")
    assert_served_with_molwt(project, "eos3b5e-repo", lines)


@pytest.mark.parametrize("runner", ["http", "command"])
def test_a_model_failing_on_bromine_costs_exactly_those_molecules(local_project, tmp_path, runner):
    lines = add_library(tmp_path, rows=600, slice_size=300)
    expected = expected_molecules(lines)
    bromine = {k for k, s in expected.items() if "Br" in s}
    assert 0 < len(bromine) < len(expected) // 10
    with ModelServer(fail_on="Br", examples=False) as server:  # its Br example would fail
        if runner == "http":
            add_model(tmp_path, "weights", {"runner": "http", "url": server.url})
        else:
            repo = make_model_repo(tmp_path / "eos3b5e", fail_on="Br")
            add_model(tmp_path, "weights", {"runner": "command", "repo": str(repo)})
        precalc("run")
    served = local_project.serving().get_many("weights", list(expected))
    assert set(served) == set(expected) - bromine
    quarantined = []
    for slice_key in ("library-0000", "library-0001"):
        key = layout.quarantined("weights", slice_key)
        quarantined += local_project.store().read_parquet(key).to_pylist()
    assert {ast.literal_eval(row["inchikey"]) for row in quarantined} == bromine
    assert all(row["failure"].startswith("model_failed: ") for row in quarantined)


def test_a_model_that_cannot_reproduce_its_examples_is_refused(local_project, tmp_path):
    with ModelServer(fail_on="Br") as server:  # one of its examples holds a bromine
        out = add_model(tmp_path, "weights", {"runner": "http", "url": server.url}, ok=False)
    assert "does not reproduce its own examples: 1 difference(s) over 5" in out
    assert "| `OC(=O)c1ccccc1Br` | mol_weight | 201.01" in out
    assert not local_project.store().exists(layout.model_request("weights"))
    repo = make_model_repo(tmp_path / "eos3b5e", broken_examples=True)
    out = add_model(tmp_path, "broken", {"runner": "command", "repo": str(repo)}, ok=False)
    assert "does not reproduce its own examples: 5 difference(s)" in out
    assert "broken" not in local_project.policy().declared


def test_a_variable_model_that_differs_from_its_examples_is_only_warned(local_project, tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e", broken_examples=True, consistency="Variable")
    out = add_model(tmp_path, "varies", {"runner": "command", "repo": str(repo)})
    assert "its outputs are Variable: a warning" in out
    card = json.loads(local_project.store().get_bytes(layout.model_card("varies")))
    assert card["examples"]["severity"] == "warn"


def test_a_model_changed_behind_the_same_url_makes_its_partitions_stale(local_project, tmp_path):
    lines = add_library(tmp_path, rows=200, slice_size=100)
    with ModelServer() as server:
        add_model(tmp_path, "served", {"runner": "http", "url": server.url})
        precalc("run")
        assert {r.status for r in local_project.ledger()} == {"done"}
        server.examples = False  # the model behind the URL is not the one registered
        out = precalc("run").output
        assert "2 partition(s) missing, stale or failed" in out
    assert {r.status for r in local_project.ledger()} == {"done"}
    assert_served_with_molwt(local_project, "served", lines)


@pytest.mark.parametrize("runner", ["http", "command"])
def test_each_runner_through_a_dagster_run(project, tmp_path, runner):
    lines = nci_lines(120)
    project.add_library(write_library(tmp_path / "lib.smi", lines), "lib", slice_size=120)
    with ModelServer() as server:
        if runner == "http":
            project.add_model("hub", {"runner": "http", "url": server.url, "batch_size": 50})
        else:
            repo = make_model_repo(tmp_path / "eos3b5e")
            project.add_model("hub", {"runner": "command", "repo": str(repo), "batch_size": 50})
        result = project.precalculate("hub", "lib-0000")
    assert result.success
    assert_served_with_molwt(project, "hub", lines)
    metadata = project.latest_metadata("predictions", "hub|lib-0000")
    assert "reproduced its 5 example(s)" in metadata["model_examples"]
    messages = [e.user_message for e in project.instance.all_logs(result.run_id)]
    assert any("3/3 batches, 120/120 molecules" in m and "molecules/s" in m for m in messages)


def test_precalc_models_lists_the_declared_models(local_project, tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e")
    add_model(tmp_path, "eos3b5e-repo", {"runner": "command", "repo": str(repo)})
    out = precalc("models").output
    assert "eos3b5e " in out and "rdkit-physchem" in out
    assert f"eos3b5e-repo     declared in {local_project.home / 'home' / 'models.json'}" in out
    assert f"command {repo}" in out
