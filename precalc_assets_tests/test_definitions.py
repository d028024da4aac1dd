"""The code location loads, and its asset graph is the one other tools expect."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import pytest

from precalc_assets.definitions import build_definitions


def test_definitions_load_for_each_deployment(monkeypatch):
    monkeypatch.setenv("PRECALC_STORAGE_URL", "s3://bucket/prefix")
    monkeypatch.setenv("PRECALC_SERVING_URL", "dynamodb://table")
    for deployment in ("local", "aws"):
        defs = build_definitions(deployment)
        defs.resolve_all_job_defs()
        assert defs.resolve_job_def("precalculate").partitions_def is not None


def test_unknown_deployment_is_refused():
    with pytest.raises(ValueError, match="PRECALC_DEPLOYMENT='moon'"):
        build_definitions("moon")


def test_asset_graph_keys_and_edges():
    graph = build_definitions("local").resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == {
        "library_slices",
        "predictions",
        "validated_predictions",
        "published_predictions",
        "precalc_ledger",
    }
    parents = {
        key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys)
        for key in graph.get_all_asset_keys()
    }
    assert parents == {
        "library_slices": [],
        "predictions": ["library_slices"],
        "validated_predictions": ["predictions"],
        "published_predictions": ["validated_predictions"],
        "precalc_ledger": ["published_predictions"],
    }


def test_model_assets_are_partitioned_by_model_and_slice():
    graph = build_definitions("local").resolve_asset_graph()
    partitions = graph.get(dg.AssetKey("published_predictions")).partitions_def
    assert isinstance(partitions, dg.MultiPartitionsDefinition)
    assert [d.name for d in partitions.partitions_defs] == ["model", "slice"]


def test_module_exposes_lazy_definitions():
    import precalc_assets

    assert precalc_assets.dagster_defs is not None


def test_sensors_and_jobs_are_defined_and_start_running():
    defs = build_definitions("local")
    sensors = {s.name: s for s in defs.sensors}
    assert set(sensors) == {
        "library_files_sensor",
        "library_registered_sensor",
        "model_requests_sensor",
        "missing_partitions_sensor",
        "check_alerts_sensor",
        "ledger_after_runs_sensor",
        "recheck_after_failure_sensor",
    }
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors.values())
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    assert {
        "precalculate",
        "check_partitions",
        "refresh_ledger",
        "prepare_library",
        "register_library_job",
    } <= jobs
    ledger = defs.resolve_job_def("refresh_ledger")
    assert ledger.asset_layer.selected_asset_keys == {dg.AssetKey("precalc_ledger")}


def test_checks_are_partitioned_and_in_the_precalculate_job():
    defs = build_definitions("local")
    graph = defs.resolve_asset_graph()
    checks = {(key.asset_key.to_user_string(), key.name) for key in graph.asset_check_keys}
    assert checks == {
        ("validated_predictions", "completeness"),
        ("predictions", "output_sanity"),
        ("predictions", "reproducibility"),
        ("published_predictions", "prediction_drift"),
        ("published_predictions", "serving_readback"),
    }
    blocking = {s.name for check in defs.asset_checks for s in check.check_specs if s.blocking}
    assert blocking == {"completeness"}
    job = defs.resolve_job_def("precalculate")
    nodes = set(job.graph.node_names())
    assert {"validated_predictions_completeness", "published_predictions_prediction_drift"} <= nodes


@pytest.mark.parametrize(
    "chosen, expected", [(None, "system"), ("jemalloc", "jemalloc"), ("mimalloc", "mimalloc")]
)
def test_loading_the_code_location_gives_freed_arrow_memory_back(chosen, expected):
    """Every process that loads the definitions allocates Arrow buffers with the system
    allocator, which returns a freed slice's memory at once (a worker's peak no longer
    stays for the rest of its runs); a pool the user chose is kept."""
    code = (
        "import pyarrow as pa\nfrom precalc_assets.definitions import build_definitions\n"
        "build_definitions('local')\nprint(pa.default_memory_pool().backend_name)"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if chosen is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = chosen
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.split()[-1] == expected
