"""Hub repositories with conflicting pins, each in the environment precalc builds for it
from the repository, in one `precalc run`: real environments from the package index
(numpy 1.26 + RDKit 2022.09 against RDKit 2024.09 + numpy 2), a real library of 3,000
NCI molecules, and every served value compared with the repository's own `run.sh` run
by hand in its own environment."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

from precalc_assets import layout
from precalc_assets.chem import identify
from precalc_assets.models.environments import COMPLETE
from precalc_assets_tests.model_repo import (
    DESCRIPTORS,
    THIS_PYTHON,
    make_descriptor_repo,
    read_environ,
)
from precalc_assets_tests.molecules import nci_lines, write_library
from precalc_assets_tests.project import precalc

OLD = [("numpy", "1.26.4"), ("rdkit", "2022.9.5")]  # eos3b5e's pins
NEW = [("rdkit", "2024.9.5"), ("numpy", "2.2.3")]  # eos5axz's pins
ROWS = 3_000
COLUMNS = [name.lower() for name, _ in DESCRIPTORS]
KINDS = dict(zip(COLUMNS, [kind for _, kind in DESCRIPTORS], strict=True))
OURS = {
    "AWS_ACCESS_KEY_ID": "AKIADEPLOYMENTKEY000",
    "AWS_SECRET_ACCESS_KEY": "the/deployment's/secret",
}


@pytest.fixture(scope="session")
def shared_envs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of environments for the session's workers: each set of pins built once."""
    return tmp_path_factory.getbasetemp().parent / "precalc-envs"


def own_run(repo: Path, python: str, texts: list[str], work: Path) -> dict[str, dict]:
    """The repository's `run.sh` run by hand in its own environment, as its author
    would: `PATH=<env>/bin:...`, nothing of ours. SMILES text -> its outputs."""
    work.mkdir()
    with (work / "in.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["smiles"], *([t] for t in texts)])
    framework = repo / "model" / "framework"
    subprocess.run(
        ["bash", str(framework / "run.sh"), str(framework), "in.csv", "out.csv"],
        cwd=work,
        env={"PATH": f"{Path(python).parent}:/usr/bin:/bin", "HOME": str(work)},
        check=True,
    )
    with (work / "out.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return dict(zip(texts, rows, strict=True))


def as_served(cell: str, kind: str) -> float | int | None:
    if cell == "":
        return None
    return int(cell) if kind == "integer" else float(cell)


def test_two_repositories_with_conflicting_pins_in_one_run(
    local_project, tmp_path, monkeypatch, shared_envs
):
    for name, value in OURS.items():  # a deployment's credentials, as on ECS or a laptop
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PRECALC_ENVS_DIR", str(shared_envs))
    repos = {
        # The current template: metadata.yml and install.yml.
        "eos-old": make_descriptor_repo(tmp_path / "eos-old", install="yml", pins=OLD),
        # An older repository: metadata.json, its pins only in its Dockerfile.
        "eos-new": make_descriptor_repo(
            tmp_path / "eos-new", card="json", install="dockerfile", pins=NEW
        ),
        # Another repository with the old one's pins: it shares that environment.
        "eos-twin": make_descriptor_repo(tmp_path / "eos-twin", install="yml", pins=OLD),
    }
    lines = nci_lines(ROWS)
    precalc("add-library", str(write_library(tmp_path / "nci.smi", lines)), "--slice-size", "1000")
    for model_id, repo in repos.items():
        spec = tmp_path / f"{model_id}.json"
        spec.write_text(json.dumps({"runner": "command", "repo": str(repo)}))
        out = precalc("add-model", model_id, "--spec", str(spec)).output
        assert "reproduced its 5 example(s)" in out, out
    out = precalc("run").output
    assert "9 partition(s) missing, stale or failed of 3 model(s) x 3 slice(s)" in out

    # Each model ran with its own environment's interpreter, which holds its own pins.
    seen = {model_id: read_environ(repo) for model_id, repo in repos.items()}
    pythons = {model_id: s["executable"] for model_id, s in seen.items()}
    assert pythons["eos-old"] == pythons["eos-twin"] != pythons["eos-new"]
    for model_id, pins in (("eos-old", OLD), ("eos-new", NEW)):
        environment = Path(pythons[model_id]).parent.parent
        assert environment.parent == shared_envs
        frozen = json.loads((environment / COMPLETE).read_text())["pip_freeze"]
        assert {f"{name}=={version}" for name, version in pins} <= set(frozen)
        # ... and nothing of ours: no credentials, no RDBASE, none of our settings.
        environ = seen[model_id]["environ"]
        assert not [n for n in environ if n.startswith(("AWS_", "PRECALC_", "DAGSTER_"))]
        assert "PYTHONPATH" not in environ
        # Its own RDKit sets RDBASE to its own data files when imported; never to ours.
        assert environ.get("RDBASE", str(environment)).startswith(str(environment))

    # The UI says which interpreter each ran with.
    table = local_project.latest_metadata("predictions", "eos-new|nci-0000")["model_interpreters"]
    assert f"| eos-new | `{pythons['eos-new']} (Python {THIS_PYTHON})` |" in table

    # Every served value equals the repository's own run.sh in its own environment,
    # given the library's own text.
    texts: dict[str, str] = {}
    for line in lines:
        key = identify(line.split()[0])[2]
        if key and key not in texts:
            texts[key] = line.split()[0]
    serving = local_project.serving()
    store = local_project.store()
    for model_id, repo in repos.items():
        served = serving.get_many(model_id, list(texts))
        quarantined = [
            row
            for slice_key in ("nci-0000", "nci-0001", "nci-0002")
            if store.exists(layout.quarantined(model_id, slice_key))
            for row in store.read_parquet(layout.quarantined(model_id, slice_key)).to_pylist()
        ]
        # What the model's own RDKit cannot read is its own failure, with its own words.
        assert len(served) + len(quarantined) == len(texts)
        for row in quarantined:
            assert row["reason"] == "model_failed"
            assert row["detail"].startswith("ValueError: RDKit cannot read the SMILES")
        own = own_run(
            repo, pythons[model_id], [texts[k] for k in served], tmp_path / f"own-{model_id}"
        )
        for key, item in served.items():
            expected = own[texts[key]]
            values = dict(zip(COLUMNS, item.outputs, strict=True))
            for column in COLUMNS:
                assert values[column] == as_served(expected[column], KINDS[column]), (
                    model_id,
                    texts[key],
                    column,
                )
            assert all(type(values[c]) is int for c in COLUMNS if KINDS[c] == "integer")
        nulls = sum(v is None for item in served.values() for v in item.outputs)
        assert nulls > 0  # metal complexes: their Gasteiger charges are empty
