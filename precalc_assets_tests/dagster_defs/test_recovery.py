"""Nothing lost, nothing stuck: a `precalc run` killed with SIGKILL at any point is
recovered by the next one (its run marked failed, its partitions redone, its checks
evaluated), and concurrent `precalc run`s share the work instead of repeating it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from precalc_assets import keys
from precalc_assets.dagster_defs.evaluations import check_keys, latest_evaluations
from precalc_assets_tests.helpers import nci_lines, write_library

MODELS = ("eos3b5e", "rdkit-physchem")
# 2-hydroxypyridine and 2-pyridone share one InChIKey, in different slices: the item
# must come from the first one's slice whatever happens to the runs.
LINES = ["Oc1ccccn1", *nci_lines(140), "O=c1cccc[nH]1", *nci_lines(150, start=140)]
SLICE_SIZE = 100  # 3 slices x 2 models = 6 partitions


def precalc(home: Path, *args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "PRECALC_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    command = [sys.executable, "-m", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **popen)  # fmt: skip


def finished(process: subprocess.Popen, timeout: float = 300) -> str:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out
    assert "database is locked" not in out
    return out


def prepared_home(home: Path, tmp_path: Path) -> Path:
    library = write_library(tmp_path / "lib.smi", LINES)
    finished(precalc(home, "precalc_assets.cli", "add-library", str(library),
                     "--name", "lib", "--slice-size", str(SLICE_SIZE)))  # fmt: skip
    for model_id in MODELS:
        finished(precalc(home, "precalc_assets.cli", "add-model", model_id))
    return home


def served(home: Path) -> set[tuple]:
    with sqlite3.connect(home / "serving.db") as con:
        return set(con.execute("SELECT pk, sk, smiles, precalculation, slice FROM serving"))


def instance_of(home: Path, monkeypatch) -> dg.DagsterInstance:
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    return dg.DagsterInstance.get()


@pytest.fixture(scope="module")
def clean_serving(tmp_path_factory) -> set[tuple]:
    """What one uninterrupted run serves."""
    tmp = tmp_path_factory.mktemp("clean")
    home = prepared_home(tmp / "home", tmp)
    finished(precalc(home, "precalc_assets.cli", "run"))
    return served(home)


@pytest.mark.parametrize("point", ["prepare", "publish", "checks"])
def test_a_killed_run_is_recovered_by_the_next(point, tmp_path, clean_serving, monkeypatch):
    home = prepared_home(tmp_path / "home", tmp_path)
    marker = tmp_path / "stalled.pid"
    stalled = precalc(home, "precalc_assets_tests.stalling_run", point, str(marker), "run")
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert stalled.poll() is None, stalled.communicate()[0]
        assert time.monotonic() < deadline, f"never reached {point}"
        time.sleep(0.2)
    os.kill(stalled.pid, signal.SIGKILL)  # mid-run: no cleanup of any kind
    stalled.wait()

    instance = instance_of(home, monkeypatch)
    (killed,) = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    ledger = json.loads(finished(precalc(home, "precalc_assets.cli", "ledger", "--format", "json")))
    held = [s for m in ledger["models"] for s in m["in_progress"]]
    if point == "checks":  # published already: what is missing are check evaluations
        assert all(m["complete"] for m in ledger["models"]) and not held
    else:
        assert held, "the killed run's partitions read in_progress while its run looks alive"

    out = finished(precalc(home, "precalc_assets.cli", "run"))
    assert f"run {killed.run_id} was marked failed: its process is gone" in out
    assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE

    assert served(home) == clean_serving  # same keys, values and source slices
    ledger = json.loads(finished(precalc(home, "precalc_assets.cli", "ledger", "--format", "json")))
    for model in ledger["models"]:
        assert model["complete"], model
        assert model["in_progress"] == [] and model["missing"] == [] and model["failed"] == []
    partitions = {keys.partition_id(m, f"lib-{i:04d}") for m in MODELS for i in range(3)}
    evaluated = latest_evaluations(instance)
    for key in check_keys():
        assert {p for (c, p) in evaluated if c == key.name} == partitions, key.name


def test_a_run_still_in_progress_shows_its_run_and_age(tmp_path, monkeypatch):
    home = prepared_home(tmp_path / "home", tmp_path)
    marker = tmp_path / "stalled.pid"
    stalled = precalc(home, "precalc_assets_tests.stalling_run", "publish", str(marker), "run")
    try:
        while not marker.exists():
            assert stalled.poll() is None, stalled.communicate()[0]
            time.sleep(0.2)
        table = finished(precalc(home, "precalc_assets.cli", "ledger"))
        (run,) = instance_of(home, monkeypatch).get_runs(
            filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
        )
        assert f"in run {run.run_id} (since " in table and " s)" in table
        # A second `precalc run` leaves what the live one holds alone: no second run.
        second = finished(precalc(home, "precalc_assets.cli", "run"))
        assert ": published" not in second and "marked failed" not in second
        assert len(instance_of(home, monkeypatch).get_runs()) == 1
    finally:
        stalled.kill()
        stalled.wait()


def test_concurrent_runs_materialise_each_partition_once(tmp_path, clean_serving, monkeypatch):
    home = prepared_home(tmp_path / "home", tmp_path)
    runs = [
        precalc(home, "precalc_assets.cli", "run", "--partitions-per-run", "2") for _ in range(2)
    ]
    outputs = [finished(run) for run in runs]
    instance = instance_of(home, monkeypatch)
    records = instance.fetch_materializations(
        dg.AssetKey(keys.PUBLISHED_PREDICTIONS), limit=100
    ).records
    per_partition = sorted(r.partition_key for r in records)
    assert per_partition == sorted(
        keys.partition_id(m, f"lib-{i:04d}") for m in MODELS for i in range(3)
    ), outputs
    assert served(home) == clean_serving
