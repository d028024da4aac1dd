"""Dagster's own CLI against the package, in subprocesses, as the README documents."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from precalc_assets_tests.molecules import expected_molecules, nci_lines, write_library

BIN = Path(sys.executable).parent


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=300,
    )


def test_definitions_validate():
    result = run("dagster", "definitions", "validate", "-m", "precalc_assets")
    assert result.returncode == 0, result.stderr[-2000:]


def test_job_execute_with_partition_tag_publishes_exactly_that_partition(local_project, tmp_path):
    path = write_library(tmp_path / "lib.smi", nci_lines(60))
    assert run("precalc", "add-library", str(path), "--slice-size", "30").returncode == 0
    assert run("precalc", "add-model", "eos3b5e").returncode == 0

    tags = json.dumps({"dagster/partition": "eos3b5e|lib-0001"})
    result = run(
        "dagster", "job", "execute", "-m", "precalc_assets", "-j", "precalculate", "--tags", tags
    )
    assert result.returncode == 0, result.stderr[-3000:]

    serving = local_project.serving()
    assert serving.count("eos3b5e") == len(expected_molecules(nci_lines(30, start=30)))
    served = serving.get_many("eos3b5e", list(expected_molecules(nci_lines(30))))
    assert served == {}  # slice 0000 was not asked for
    status = json.loads(run("precalc", "status", "--format", "json").stdout)
    published = len(expected_molecules(nci_lines(30, start=30)))
    assert status == [
        {
            "model": "eos3b5e",
            "slices_done": 1,
            "slices": 2,
            "rows_published": published,
            "rows_rejected": 30 - published,
        }
    ]


def test_asset_materialize_cli(local_project, tmp_path):
    path = write_library(tmp_path / "lib.smi", nci_lines(20))
    assert run("precalc", "add-library", str(path), "--slice-size", "20").returncode == 0
    assert run("precalc", "add-model", "eos3b5e").returncode == 0
    result = run(
        "dagster",
        "asset",
        "materialize",
        "-m",
        "precalc_assets",
        "--select",
        "predictions,validated_predictions,published_predictions",
        "--partition",
        "eos3b5e|lib-0000",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert local_project.serving().count("eos3b5e") == len(expected_molecules(nci_lines(20)))
