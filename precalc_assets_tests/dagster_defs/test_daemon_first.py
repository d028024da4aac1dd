"""`dagster-daemon` started first on an empty DAGSTER_HOME (Dagster's own default
storage, no dagster.yaml of ours): dropping a library and a model request into storage
is enough, `precalc` then reads the same history, and a failing check is alerted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from precalc_assets.chem import fragment_smiles
from precalc_assets.stores.local import LocalObjectStore
from precalc_assets_tests.molecules import nci_lines, write_library

BIN = Path(sys.executable).parent


def test_daemon_first_then_precalc_sees_everything_and_alerts(tmp_path):
    home = tmp_path / "home"
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PRECALC_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-m", "precalc_assets"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: killed whole below
    )
    try:
        store = LocalObjectStore(home / "storage")
        smiles = [line.split()[0] for line in nci_lines(200)]
        store.put_file("inputs/library/nci.smi", write_library(tmp_path / "nci.smi", smiles))
        fragments = fragment_smiles(smiles, 100, max_heavy_atoms=10)
        store.put_file("inputs/library/frag.smi", write_library(tmp_path / "f.smi", fragments))
        reference = {"checks": {"drift": {"baseline_slice": "nci-0000"}}}  # frag drifts from it
        store.put_bytes("inputs/models/eos3b5e.json", json.dumps(reference).encode())

        alerts = home / "alerts.jsonl"
        deadline = time.monotonic() + 420
        model = {}
        while time.monotonic() < deadline:
            time.sleep(3)
            ledger = subprocess.run(
                [str(BIN / "precalc"), "ledger", "--format", "json"],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if ledger.returncode == 0:
                models = {m["model"]: m for m in json.loads(ledger.stdout)["models"]}
                model = models.get("eos3b5e", {})
            if model.get("complete") and model.get("slices") == 2 and alerts.exists():
                break
        assert model.get("complete") and model["slices"] == 2, model
        assert model["rows_published"] + model["rows_rejected"] == 200 + len(fragments)
        lines = [json.loads(line) for line in alerts.read_text().splitlines()]
        assert any(a["kind"] == "check_failed" and a["check"] == "prediction_drift" for a in lines)
        assert not (home / "dagster" / "dagster.yaml").exists()  # the daemon's config kept
    finally:
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait()
