"""What each check reads of a partition, and when the drift check writes its report.

Partitions are materialised with the step functions the assets call (no Dagster run):
two slices of 500 NCI molecules, and 200 BRICS fragments of NCI as a slice that drifts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from precalc_assets import layout
from precalc_assets.chem import fragment_smiles
from precalc_assets.inputs.model_requests import load_model_spec
from precalc_assets.quality.evaluations import (
    evaluate_completeness,
    evaluate_drift,
    evaluate_output_sanity,
    evaluate_readback,
    evaluate_reproducibility,
)
from precalc_assets.steps.predict import compute_predictions
from precalc_assets.steps.publish import publish_predictions
from precalc_assets.steps.validate import validate_predictions
from precalc_assets.stores.local import LocalObjectStore
from precalc_assets_tests.molecules import nci_lines, write_library

SLICES = ["nci-0000", "nci-0001", "frag-0000"]


class RecordingStore(LocalObjectStore):
    """A local store that records each Parquet read: (key, columns)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: list[tuple[str, list[str] | None]] = []

    def read_parquet(self, key, columns=None):
        self.reads.append((key, None if columns is None else list(columns)))
        return super().read_parquet(key, columns)


@pytest.fixture
def materialise(local_project, tmp_path):
    """materialise(*models) -> (project, recording store): the models materialised on
    two slices of 500 NCI molecules and on 200 of their BRICS fragments, nci-0000 twice
    (so reproducibility compares)."""
    project = local_project
    project.add_library(write_library(tmp_path / "nci.smi", nci_lines(1000)), "nci", 500)
    fragments = fragment_smiles((line.split()[0] for line in nci_lines(1000)), 200, 10)
    project.add_library(write_library(tmp_path / "frag.smi", fragments), "frag", 500)
    store, serving = project.store(), project.serving()

    def run(*models: str):
        for model_id in models:
            project.add_model(model_id)
            spec = load_model_spec(store, model_id, project.policy())
            for slice_key in [SLICES[0], *SLICES]:
                compute_predictions(store, [spec], slice_key)
                validate_predictions(store, spec, slice_key)
                publish_predictions(store, serving, spec, slice_key, "run")
        return project, RecordingStore(store.root)

    return run


# The fragments are compared with NCI, the reference library (each library is its own
# baseline by default).
REFERENCE = {"baseline_slice": SLICES[0]}


def _spec(project, store, model_id: str, drift: dict | None = None):
    spec = load_model_spec(store, model_id, project.policy())
    return replace(spec, checks={"drift": {**REFERENCE, **(drift or {})}})


@pytest.mark.parametrize("model_id", ["eos3b5e", "morgan-fp2048"])
def test_each_check_reads_only_the_columns_it_uses(materialise, model_id: str) -> None:
    project, store = materialise(model_id)
    spec = _spec(project, store, model_id)
    outputs = spec.column_names

    def reads(evaluate) -> list[tuple[str, list[str] | None]]:
        store.reads.clear()
        assert evaluate().passed
        return list(store.reads)

    counted = reads(lambda: evaluate_completeness(store, spec, SLICES[1]))
    assert len(counted) == 4 and all(columns == [] for _, columns in counted)  # footers only
    assert reads(lambda: evaluate_output_sanity(store, spec, SLICES[1])) == [
        (layout.predictions(model_id, SLICES[1]), outputs)
    ]
    # First materialisation of nci-0001: nothing to compare, only the footer is read.
    assert reads(lambda: evaluate_reproducibility(store, spec, SLICES[1])) == [
        (layout.predictions(model_id, SLICES[1]), [])
    ]
    compared = reads(lambda: evaluate_reproducibility(store, spec, SLICES[0]))
    assert compared == [
        (layout.predictions(model_id, SLICES[0]), ["inchikey", *outputs]),
        (layout.previous_predictions(model_id, SLICES[0]), ["inchikey", *outputs]),
    ]
    drift = reads(lambda: evaluate_drift(store, spec, SLICES[1], SLICES))
    assert [key for key, _ in drift][-2:] == [
        layout.validated(model_id, SLICES[0]),  # the baseline
        layout.validated(model_id, SLICES[1]),
    ]
    assert all(columns in ([], ["row"], outputs) for _, columns in drift), drift
    readback = reads(lambda: evaluate_readback(store, project.serving(), spec, SLICES[1]))
    assert readback == [(layout.validated(model_id, SLICES[1]), ["inchikey", *outputs])]
    # Nothing of another slice but the baseline (and the pin's scan of the slices).
    assert all(SLICES[1] in key or SLICES[0] in key for key, _ in counted + drift)


def test_drift_report_only_for_failing_partitions_by_default(materialise) -> None:
    project, store = materialise("eos3b5e")
    spec = _spec(project, store, "eos3b5e")
    report = layout.drift_report("eos3b5e", SLICES[2])
    passed = evaluate_drift(store, spec, SLICES[1], SLICES)
    assert passed.passed and passed.links == {}
    assert not store.exists(layout.drift_report("eos3b5e", SLICES[1]))
    warned = evaluate_drift(store, spec, SLICES[2], SLICES)
    assert not warned.passed and warned.severity == "WARN"
    assert warned.links == {"report": store.uri(report)}
    assert b"<html" in store.get_bytes(report)[:500].lower()

    always = _spec(project, store, "eos3b5e", {"report": "always"})
    on_demand = evaluate_drift(store, always, SLICES[1], SLICES)
    assert on_demand.passed and set(on_demand.links) == {"report"}
    assert store.exists(layout.drift_report("eos3b5e", SLICES[1]))
    # Same verdict, whether or not a report was written.
    assert (on_demand.description, on_demand.table) == (passed.description, passed.table)

    never = _spec(project, store, "eos3b5e", {"report": "never"})
    quiet = evaluate_drift(store, never, SLICES[2], SLICES)
    assert not quiet.passed and quiet.links == {} and quiet.table == warned.table
    # The report of an earlier evaluation would contradict this one: it is gone.
    assert not store.exists(report)
    assert evaluate_drift(store, spec, SLICES[1], SLICES).links == {}
    assert not store.exists(layout.drift_report("eos3b5e", SLICES[1]))


def test_a_run_reads_the_drift_baseline_once(materialise) -> None:
    project, store = materialise("morgan-fp2048")
    spec = _spec(project, store, "morgan-fp2048")
    baseline = layout.validated("morgan-fp2048", SLICES[0])
    baselines: dict = {}
    store.reads.clear()
    first = evaluate_drift(store, spec, SLICES[1], SLICES, baselines=baselines)
    second = evaluate_drift(store, spec, SLICES[2], SLICES, baselines=baselines)
    assert first.passed and not second.passed
    read = [key for key, columns in store.reads if columns == spec.column_names]
    assert read.count(baseline) == 1 and len(read) == 3  # the baseline, then each slice
    # Without the cache, the same verdicts.
    assert evaluate_drift(store, spec, SLICES[2], SLICES).table == second.table


def test_passing_checks_never_import_evidently(materialise, tmp_path: Path) -> None:
    """A fresh process evaluates every check of a passing partition without importing
    Evidently (~3.5 s) or `scipy.stats` (~1 s); a failing partition's report is written
    (and linked) by a process of its own, so this one never holds Evidently's ~160 MB."""
    project, store = materialise("eos3b5e")
    script = tmp_path / "checks.py"
    script.write_text(
        f"""
import dataclasses, json, sys
from precalc_assets.inputs.model_requests import load_model_spec
from precalc_assets.models.trust import ModelPolicy
from precalc_assets.quality import evaluations as e
from precalc_assets.stores.factory import open_object_store, open_serving_table
store = open_object_store({store.url!r})
serving = open_serving_table({project.serving().url!r})
spec = load_model_spec(store, "eos3b5e", ModelPolicy.load(None, ()))
spec = dataclasses.replace(spec, checks={{"drift": {REFERENCE!r}}})
slices = {json.dumps(SLICES)}
outcomes = [
    e.evaluate_completeness(store, spec, "nci-0001"),
    e.evaluate_output_sanity(store, spec, "nci-0001"),
    e.evaluate_reproducibility(store, spec, "nci-0000"),
    e.evaluate_drift(store, spec, "nci-0001", slices),
    e.evaluate_readback(store, serving, spec, "nci-0001"),
]
print(json.dumps([o.passed for o in outcomes]))
print("evidently" in sys.modules, "scipy.stats" in sys.modules)
print(json.dumps(e.evaluate_drift(store, spec, "frag-0000", slices).links))
print("evidently" in sys.modules)
"""
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    passed, before, links, after = done.stdout.splitlines()
    assert json.loads(passed) == [True] * 5 and [before, after] == ["False False", "False"]
    assert "<html" in store.get_bytes(layout.drift_report("eos3b5e", "frag-0000")).decode()[:2000]
    assert json.loads(links)["report"].endswith("frag-0000.html"), links


def test_each_library_is_its_own_drift_baseline_by_default(materialise) -> None:
    """A new library of another chemical space is compared with its own first slice, not
    with the first library's: it does not WARN on every slice."""
    project, store = materialise("eos3b5e")
    spec = load_model_spec(store, "eos3b5e", project.policy())
    own = evaluate_drift(store, spec, "frag-0000", SLICES)
    assert own.passed and own.description == "this slice is its library's drift baseline"
    assert evaluate_drift(store, spec, "nci-0001", SLICES).figures["baseline_slice"] == "nci-0000"
    assert store.exists(layout.drift_baseline("eos3b5e", "frag"))
    against_nci = evaluate_drift(store, _spec(project, store, "eos3b5e"), "frag-0000", SLICES)
    assert not against_nci.passed  # the reference library's choice: it drifts
