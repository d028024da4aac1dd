"""Hub models end to end, as a user runs them: a served model (the stand-in server on
loopback, answering as the hub's own server does) and model repositories in the hub's
template layout, each in its own environment, through `precalc add-model` and
`precalc run`."""

from __future__ import annotations

import ast
import json
import math
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from rdkit import Chem
from rdkit.Chem import Descriptors

from precalc_assets import layout
from precalc_assets.chem import identify
from precalc_assets.cli import main
from precalc_assets_tests.model_repo import (
    DESCRIPTORS,
    GASTEIGER,
    descriptor_cell,
    make_descriptor_repo,
    make_model_repo,
    own_python,
)
from precalc_assets_tests.model_server import ModelServer
from precalc_assets_tests.molecules import expected_molecules, nci_lines, write_library
from precalc_assets_tests.project import Project

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
    out = add_model(tmp_path, "eos3b5e-repo", own_python(repo))
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
            add_model(tmp_path, "weights", own_python(repo))
        precalc("run")
    served = local_project.serving().get_many("weights", list(expected))
    assert set(served) == set(expected) - bromine
    quarantined = []
    for slice_key in ("library-0000", "library-0001"):
        key = layout.quarantined("weights", slice_key)
        quarantined += local_project.store().read_parquet(key).to_pylist()
    assert {ast.literal_eval(row["inchikey"]) for row in quarantined} == bromine
    # The reason is a code; its detail the model's own error line (the last line of its
    # stderr, or of the traceback in the hub server's 500 body), not our message.
    error = "ValueError: cannot handle a molecule containing 'Br'"
    assert {(row["reason"], row["detail"]) for row in quarantined} == {("model_failed", error)}
    by_reason = [
        local_project.latest_metadata("validated_predictions", f"weights|library-000{i}")
        for i in (0, 1)
    ]
    counts = [m["quarantined_rows"] for m in by_reason]
    assert sum(counts) == len(bromine)
    for metadata, count in zip(by_reason, counts, strict=True):
        table = metadata["quarantined_rows_by_reason"]
        assert table.startswith("| reason | rows | e.g. |")
        assert f"| model_failed | {count} | {error} |" in table


def test_a_model_that_cannot_reproduce_its_examples_is_refused(local_project, tmp_path):
    with ModelServer(fail_on="Br") as server:  # one of its examples holds a bromine
        out = add_model(tmp_path, "weights", {"runner": "http", "url": server.url}, ok=False)
    assert "does not reproduce its own examples: 1 difference(s) over 5" in out
    assert "| `OC(=O)c1ccccc1Br` | mol_weight | 201.01" in out
    assert not local_project.store().exists(layout.model_request("weights"))
    repo = make_model_repo(tmp_path / "eos3b5e", broken_examples=True)
    out = add_model(tmp_path, "broken", own_python(repo), ok=False)
    assert "does not reproduce its own examples: 5 difference(s)" in out
    assert "broken" not in local_project.policy().declared


def test_a_variable_model_that_differs_from_its_examples_is_only_warned(local_project, tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e", broken_examples=True, consistency="Variable")
    out = add_model(tmp_path, "varies", own_python(repo))
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
            project.add_model("hub", own_python(repo, batch_size=50))
        result = project.precalculate("hub", "lib-0000")
    assert result.success
    assert_served_with_molwt(project, "hub", lines)
    metadata = project.latest_metadata("predictions", "hub|lib-0000")
    assert "reproduced its 5 example(s)" in metadata["model_examples"]
    messages = [e.user_message for e in project.instance.all_logs(result.run_id)]
    assert any("3/3 batches, 120/120 molecules" in m and "molecules/s" in m for m in messages)


def test_precalc_models_lists_the_declared_models(local_project, tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e")
    add_model(tmp_path, "eos3b5e-repo", own_python(repo))
    out = precalc("models").output
    assert "eos3b5e " in out and "rdkit-physchem" in out
    assert f"eos3b5e-repo     declared in {local_project.home / 'home' / 'models.json'}" in out
    assert f"command {repo}" in out


# -- wide models, as the hub's server and repositories give them ---------------------------


def library_texts(lines: list[str]) -> dict[str, str]:
    """InChIKey -> the library's own text of its first row: what a hub model is given."""
    texts: dict[str, str] = {}
    for key, line in zip(expected_keys(lines), lines, strict=True):
        if key and key not in texts:
            texts[key] = line.split()[0]
    return texts


def expected_keys(lines: list[str]) -> list[str]:
    return [identify(line.split()[0] if line.strip() else "")[2] for line in lines]


def gasteiger_nan(smiles: str) -> bool:
    """Whether RDKit's Gasteiger charges of the molecule are NaN (a metal complex)."""
    return math.isnan(Descriptors.MaxPartialCharge(Chem.MolFromSmiles(smiles)))


def code_version_in(output: str) -> str:
    return output.rsplit("code version ", 1)[1].split()[0]


def assert_served_like_the_repository(project: Project, model_id: str, lines: list[str]) -> None:
    """Every molecule served with its 50 values, computed from the library's own text:
    integer columns as integers, and only the two Gasteiger columns null, for exactly
    the molecules whose charges are NaN."""
    expected = library_texts(lines)
    served = project.serving().get_many(model_id, list(expected))
    assert set(served) == set(expected)
    metals = {key for key, smiles in expected.items() if gasteiger_nan(smiles)}
    assert 0 < len(metals) < len(expected) // 5
    for key, smiles in expected.items():
        mol = Chem.MolFromSmiles(smiles)  # as the model read it: not our canonical SMILES
        values = dict(zip([n.lower() for n, _ in DESCRIPTORS], served[key].outputs, strict=True))
        nulls = {name for name, value in values.items() if value is None}
        assert nulls == (set(GASTEIGER) if key in metals else set()), smiles
        for name, kind in DESCRIPTORS:
            value = values[name.lower()]
            if kind == "integer":
                assert type(value) is int and value == getattr(Descriptors, name)(mol)
            elif value is not None:
                assert value == float(descriptor_cell(mol, name, kind)), (smiles, name)


def test_a_wide_model_served_and_run_from_its_repository_is_one_model(local_project, tmp_path):
    lines = add_library(tmp_path, rows=600, slice_size=300)
    repo = make_descriptor_repo(tmp_path / "eos-desc", install=None)
    run_columns = repo / "model" / "framework" / "columns" / "run_columns.csv"
    with ModelServer(repo=repo, python=sys.executable) as server:
        # Over http, without the repository's run_columns.csv: one collapsed type.
        out = add_model(tmp_path, "collapsed", {"runner": "http", "url": server.url})
        assert "answers its 50 columns as one type (Float), so they are stored as float" in out
        request = {"runner": "http", "url": server.url, "run_columns": str(run_columns)}
        out = add_model(tmp_path, "eos-desc", request)
        assert "declared in the deployment" in out  # it names a file of this machine
        served_version = code_version_in(out)
        precalc("run", "--model", "eos-desc")
    assert_served_like_the_repository(local_project, "eos-desc", lines)
    spec = local_project.policy().declared["eos-desc"]
    assert spec["run_columns"] == str(run_columns)
    # The same model from its repository: the same schema and code version, nothing to redo.
    out = add_model(tmp_path, "eos-desc", own_python(repo))
    assert code_version_in(out) == served_version
    assert "0 partition(s) missing" in precalc("run", "--model", "eos-desc").output
    assert {r.status for r in local_project.ledger(["eos-desc"])} == {"done"}
    assert_served_like_the_repository(local_project, "eos-desc", lines)


def test_a_repository_that_cannot_be_built_is_refused_naming_the_entry(local_project, tmp_path):
    repo = make_model_repo(tmp_path / "eos3b5e", install="yml", pins=[("six", "1.99.99")])
    out = add_model(tmp_path, "eos3b5e", {"runner": "command", "repo": str(repo)}, ok=False)
    assert "model 'eos3b5e': pip install failed for " in out and "install.yml entry 1" in out
    assert "No matching distribution found for six==1.99.99" in out
    assert "Check that the package and version exist on the package index" in out
    envs = local_project.home / "home" / "envs"
    assert [p.name for p in envs.iterdir() if not p.name.startswith(".")] == []
    assert "eos3b5e" not in local_project.policy().declared
    assert not local_project.store().exists(layout.model_request("eos3b5e"))
    (repo / "install.yml").write_text(
        'python: "3.12"\ncommands:\n  - ["conda", "rdkit", "2022.9.5", "conda-forge"]\n'
    )
    out = add_model(tmp_path, "eos3b5e", {"runner": "command", "repo": str(repo)}, ok=False)
    assert "install.yml entry 1" in out and "precalc builds pip environments only" in out
    assert '"python": "/opt/envs/eos3b5e/bin/python"' in out


def test_build_envs_builds_each_declared_repositorys_environment_once(local_project, tmp_path):
    first = make_model_repo(tmp_path / "first", install="yml", pins=[("six", "1.16.0")])
    second = make_model_repo(tmp_path / "second", install="dockerfile", pins=[("six", "1.16.0")])
    models_file = local_project.home / "home" / "models.json"
    models_file.write_text(
        json.dumps(
            {
                "first": {"runner": "command", "repo": str(first)},
                "second": {"runner": "command", "repo": str(second)},
                "own": own_python(first),
                "served": {"runner": "http", "url": "http://127.0.0.1:9"},
            }
        )
    )
    out = precalc("build-envs").output
    assert "model 'first': [1/1] pip install six==1.16.0" in out
    assert "model 'second': using environment" not in out  # the same pins: built once
    assert out.count("pip install six==1.16.0") == 1
    summary = out[out.index("environments of 3 repository model(s)") :]
    assert f"own     its own: {sys.executable}" in summary
    envs = sorted(p for p in (local_project.home / "home" / "envs").iterdir() if p.name[0] != ".")
    assert len(envs) == 1 and str(envs[0]) in summary
    again = precalc("build-envs").output
    assert "pip install" not in again and str(envs[0]) in again
    refused = precalc("build-envs", "--model", "nope", ok=False)
    assert (
        refused.exit_code == 1 and "not declared in" in refused.output and "nope" in refused.output
    )
