"""Asset checks through real Dagster runs: drift WARN on a different chemical space,
completeness blocking publication, reproducibility catching a non-deterministic model,
serving read-back catching a wrong served value."""

from __future__ import annotations

import dagster as dg
import pytest

from precalc_assets import layout
from precalc_assets.chem import fragment_smiles
from precalc_assets.inputs.model_requests import load_model_spec
from precalc_assets.orchestration.check_executions import latest_evaluations
from precalc_assets.quality.evaluations import evaluate_readback
from precalc_assets.stores.serving_table import ServingItem
from precalc_assets_tests.molecules import nci_lines, write_library

RANDOM_WEIGHT = "precalc_assets_tests.faulty_models:noisy_weight"


def evaluations(instance: dg.DagsterInstance, check: str) -> dict[str, dg.AssetCheckEvaluation]:
    """Partition -> latest evaluation of `check`."""
    return {p: e for (name, p), e in latest_evaluations(instance).items() if name == check}


@pytest.fixture
def drift_project(local_project, tmp_path):
    project = local_project
    # Slices of 1,000 (the demo's size): the drift threshold is set for slices this big.
    project.add_library(write_library(tmp_path / "nci.smi", nci_lines(3000)), "nci", 1000)
    fragments = fragment_smiles((line.split()[0] for line in nci_lines(4999)), 1000, 10)
    project.add_library(write_library(tmp_path / "frag.smi", fragments), "frag", 1000)
    project.add_model("eos3b5e", {"checks": {"drift": {"baseline_slice": "nci-0000"}}})
    return project


def test_drifted_slice_warns_and_same_distribution_passes(drift_project):
    project = drift_project
    for slice_key in ("nci-0000", "nci-0001", "nci-0002", "frag-0000"):
        assert project.precalculate("eos3b5e", slice_key).success
    drift = evaluations(project.instance, "prediction_drift")
    assert drift["eos3b5e|nci-0000"].passed  # the baseline: the reference library's slice
    assert drift["eos3b5e|nci-0000"].description == "this slice is its library's drift baseline"
    assert drift["eos3b5e|nci-0001"].passed and drift["eos3b5e|nci-0002"].passed
    frag = drift["eos3b5e|frag-0000"]
    assert not frag.passed and frag.severity == dg.AssetCheckSeverity.WARN
    assert frag.metadata["score"].value == 1.0 and frag.metadata["threshold"].value == 0.25
    assert "| mol_weight |" in frag.metadata["details"].value
    report = frag.metadata["report"].value
    assert report.endswith(layout.drift_report("eos3b5e", "frag-0000"))
    assert b"<html" in project.store().get_bytes(layout.drift_report("eos3b5e", "frag-0000"))[:500]
    # Every partition's other checks passed, each for its own partition.
    for check in ("completeness", "output_sanity", "reproducibility", "serving_readback"):
        results = evaluations(project.instance, check)
        assert set(results) == set(drift) and all(e.passed for e in results.values()), check


def test_completeness_blocks_publication_of_missing_validated_rows(
    local_project, tmp_path, monkeypatch
):
    project = local_project
    project.add_library(write_library(tmp_path / "lib.smi", nci_lines(50)), "lib", 50)
    project.add_model("eos3b5e")
    import precalc_assets.dagster_defs.assets.validation as validation

    real = validation.validate_predictions

    def losing_rows(store, spec, slice_key):
        result = real(store, spec, slice_key)
        key = layout.validated(spec.model_id, slice_key)
        table = store.read_parquet(key)
        store.write_parquet(key, table.slice(0, table.num_rows - 5))  # 5 rows vanish
        return result

    monkeypatch.setattr(validation, "validate_predictions", losing_rows)
    result = project.precalculate("eos3b5e", "lib-0000")
    assert not result.success
    check = evaluations(project.instance, "completeness")["eos3b5e|lib-0000"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["score"].value == 5.0
    assert "| unaccounted for | 5 |" in check.metadata["details"].value
    published = project.instance.fetch_materializations(
        dg.AssetKey("published_predictions"), limit=1
    ).records
    assert published == [] and project.serving().count("eos3b5e") == 0


def test_reproducibility_fails_for_a_non_deterministic_model(local_project, tmp_path):
    project = local_project
    project.add_library(write_library(tmp_path / "lib.smi", nci_lines(40)), "lib", 40)
    project.add_model("eos3b5e")
    project.add_model(
        "noisy", {"runner": "python", "callable": RANDOM_WEIGHT, "columns": ["mol_weight"]}
    )
    for model_id in ("eos3b5e", "noisy"):
        assert project.precalculate(model_id, "lib-0000").success
        first = evaluations(project.instance, "reproducibility")[f"{model_id}|lib-0000"]
        assert first.passed and "nothing to compare" in first.description
        assert project.precalculate(model_id, "lib-0000").success
    again = evaluations(project.instance, "reproducibility")
    assert again["eos3b5e|lib-0000"].passed
    # Figures that differ by model are text (Dagster would plot numbers as one series).
    assert int(again["eos3b5e|lib-0000"].metadata["compared"].value.replace(",", "")) > 30
    noisy = again["noisy|lib-0000"]
    assert not noisy.passed and noisy.severity == dg.AssetCheckSeverity.ERROR
    assert "not deterministic" in noisy.description


def test_serving_readback_catches_a_wrong_served_value(local_project, tmp_path):
    project = local_project
    project.add_library(write_library(tmp_path / "lib.smi", nci_lines(30)), "lib", 30)
    project.add_model("eos3b5e")
    assert project.precalculate("eos3b5e", "lib-0000").success
    store, table = project.store(), project.serving()
    spec = load_model_spec(store, "eos3b5e", project.policy())
    outcome = evaluate_readback(store, table, spec, "lib-0000")
    assert outcome.passed
    validated = store.read_parquet(layout.validated("eos3b5e", "lib-0000")).to_pandas()
    key, smiles = validated["inchikey"][3], validated["smiles"][3]
    table.upsert([ServingItem(key, "eos3b5e", smiles, (1.0,), "lib-0000", "r", "cv", "t")])
    outcome = evaluate_readback(store, table, spec, "lib-0000")
    assert not outcome.passed and key in outcome.description
