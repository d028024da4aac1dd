"""Sensors against real storage (local folder and S3 on moto), with build_sensor_context."""

from __future__ import annotations

import json

import dagster as dg
from click.testing import CliRunner

from precalc_assets import layout
from precalc_assets.cli import main
from precalc_assets.dagster_defs.sensors.catch_up import missing_partitions_sensor
from precalc_assets.dagster_defs.sensors.library_files import (
    library_files_sensor,
    library_registered_sensor,
)
from precalc_assets.inputs.rejected import load_rejected_inputs
from precalc_assets_tests.dagster_defs.sensors.ticks import tick
from precalc_assets_tests.model_server import ModelServer
from precalc_assets_tests.molecules import expected_molecules, nci_lines, write_library
from precalc_assets_tests.store_data import seed_objects


def test_model_request_registers_and_runs_missing_slices(project, tmp_path):
    lines = nci_lines(60)
    project.add_library(write_library(tmp_path / "lib.smi", lines), "lib", slice_size=20)
    store = project.store()
    store.put_bytes(layout.model_request("eos3b5e"), b"{}")
    store.put_bytes("inputs/models/broken.json", b"{not json")
    store.put_bytes("inputs/models/Bad|Id.json", b"{}")
    store.put_bytes("inputs/models/robot.json", json.dumps({"runner": "teleport"}).encode())

    result = tick(project)
    (add,) = result.dynamic_partitions_requests
    assert list(add.partition_keys) == ["eos3b5e"]
    rejected = load_rejected_inputs(store)
    assert set(rejected) == {
        "inputs/models/broken.json",
        "inputs/models/Bad|Id.json",
        "inputs/models/robot.json",
    }
    assert "not valid JSON" in rejected["inputs/models/broken.json"]
    assert "'|'" in rejected["inputs/models/Bad|Id.json"]
    assert "runner 'teleport'" in rejected["inputs/models/robot.json"]
    ledger = json.loads(
        CliRunner().invoke(main, ["ledger", "--format", "json"], catch_exceptions=False).output
    )
    assert ledger["rejected_inputs"] == rejected
    assert [r.tags["dagster/asset_partition_range_start"] for r in result.run_requests] == [
        "eos3b5e|lib-0000"
    ]

    # What the daemon does with the result: add the partition, launch the runs.
    project.instance.add_dynamic_partitions("model", list(add.partition_keys))
    job = project.defs.resolve_job_def("precalculate")
    for request in result.run_requests:
        assert job.execute_in_process(instance=project.instance, tags=request.tags).success
    assert project.serving().count("eos3b5e") == len(expected_molecules(lines))

    # Nothing new: the next tick requests nothing, re-uploading the same bytes neither.
    again = tick(project, result.cursor)
    assert again.run_requests == [] and again.dynamic_partitions_requests == []
    store.put_bytes(layout.model_request("eos3b5e"), b"{}")
    assert tick(project, again.cursor).run_requests == []


def test_fixed_request_clears_its_rejection_and_changed_spec_reruns(local_project, tmp_path):
    local_project.add_library(write_library(tmp_path / "lib.smi", nci_lines(20)), "lib", 20)
    store = local_project.store()
    key = "inputs/models/weights.json"
    store.put_bytes(key, b"{not json")
    first = tick(local_project)
    assert key in load_rejected_inputs(store) and first.run_requests == []

    # A model that runs code is the deployment's to declare; storage only names it.
    spec = {
        "runner": "python",
        "callable": "precalc_assets_tests.faulty_models:weight_or_crash",
        "columns": ["mol_weight"],
    }
    local_project.policy().declare("weights", spec)
    store.put_bytes(key, b"{}")
    second = tick(local_project, first.cursor)
    assert key not in load_rejected_inputs(store)
    assert len(second.run_requests) == 1
    local_project.instance.add_dynamic_partitions("model", ["weights"])
    job = local_project.defs.resolve_job_def("precalculate")
    assert job.execute_in_process(
        instance=local_project.instance, tags=second.run_requests[0].tags
    ).success

    # A changed spec (new code version) makes the slice stale: the sensor asks for it again.
    local_project.policy().declare("weights", {**spec, "version": "2"})
    store.put_bytes(key, b'{"checks": {}}')
    third = tick(local_project, second.cursor)
    assert third.dynamic_partitions_requests == []
    assert [r.tags["dagster/asset_partition_range_start"] for r in third.run_requests] == [
        "weights|lib-0000"
    ]


def library_tick(project, cursor=None) -> dg.SensorResult:
    return tick(project, cursor, library_files_sensor)


def register(project, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    job = project.defs.resolve_job_def("register_library_job")
    return job.execute_in_process(
        run_config=request.run_config, instance=project.instance, raise_on_error=False
    )


def test_dropped_library_file_is_registered_then_every_model_runs(project, tmp_path):
    project.add_model("eos3b5e")
    lines = ["smiles"] + [line.split()[0] for line in nci_lines(45)]
    store = project.store()
    store.put_bytes("inputs/library/drop.csv", "\n".join(lines).encode())
    store.put_bytes("inputs/library/notes.pdf", b"%PDF")
    store.put_bytes("inputs/library/empty.csv", b"name,weight\naspirin,180\n")

    first = library_tick(project)
    keys = sorted(
        r.run_config["ops"]["register_library_file"]["config"]["key"] for r in first.run_requests
    )
    assert keys == ["inputs/library/drop.csv", "inputs/library/empty.csv"]
    assert (
        "unsupported library file type" in load_rejected_inputs(store)["inputs/library/notes.pdf"]
    )

    results = {
        r.run_config["ops"]["register_library_file"]["config"]["key"]: register(project, r)
        for r in first.run_requests
    }
    assert not results["inputs/library/empty.csv"].success
    assert "no SMILES column" in load_rejected_inputs(store)["inputs/library/empty.csv"]
    registered = results["inputs/library/drop.csv"]
    assert registered.success
    assert project.instance.get_dynamic_partitions("slice") == ["drop-0000"]

    with dg.build_run_status_sensor_context(
        sensor_name="library_registered_sensor",
        dagster_instance=project.instance,
        dagster_run=registered.dagster_run,
        dagster_event=registered.get_run_success_event(),
        resources=project.defs.resources,
    ) as context:
        requests = library_registered_sensor(context)
    job = project.defs.resolve_job_def("precalculate")
    for request in requests:
        assert job.execute_in_process(instance=project.instance, tags=request.tags).success
    served = project.serving().count("eos3b5e")
    assert served == len(expected_molecules(lines[1:]))
    ledger = json.loads(
        CliRunner().invoke(main, ["ledger", "--format", "json"], catch_exceptions=False).output
    )
    (model,) = ledger["models"]
    assert model["model"] == "eos3b5e" and model["complete"] and model["done"] == ["drop-0000"]
    assert model["rows_published"] == served
    assert set(ledger["rejected_inputs"]) == {
        "inputs/library/notes.pdf",
        "inputs/library/empty.csv",
    }

    # The same file again: no run. A changed file: a new library version.
    store.put_bytes("inputs/library/drop.csv", "\n".join(lines).encode())
    second = library_tick(project, first.cursor)
    assert second.run_requests == []
    store.put_bytes("inputs/library/drop.csv", "\n".join(lines + ["CCCCCC"]).encode())
    third = library_tick(project, second.cursor)
    assert len(third.run_requests) == 1
    assert register(project, third.run_requests[0]).success
    slices = project.instance.get_dynamic_partitions("slice")
    assert len(slices) == 2 and slices[0] == "drop-0000" and slices[1].endswith("-0000")


def catch_up_tick(project) -> dg.SensorResult:

    return tick(project, None, missing_partitions_sensor)


def test_catch_up_requests_what_no_run_covers(local_project, tmp_path):
    from dagster._core.test_utils import create_run_for_test

    local_project.add_library(write_library(tmp_path / "l.smi", nci_lines(40)), "lib", 10)
    local_project.add_model("eos3b5e")
    assert local_project.precalculate("eos3b5e", "lib-0000").success
    # A running run already covers lib-0001..lib-0002: only lib-0003 is requested.
    create_run_for_test(
        local_project.instance,
        job_name="precalculate",
        status=dg.DagsterRunStatus.STARTED,
        tags={
            "dagster/asset_partition_range_start": "eos3b5e|lib-0001",
            "dagster/asset_partition_range_end": "eos3b5e|lib-0002",
        },
    )
    (request,) = catch_up_tick(local_project).run_requests
    assert request.tags["dagster/asset_partition_range_start"] == "eos3b5e|lib-0003"
    assert request.tags["dagster/asset_partition_range_end"] == "eos3b5e|lib-0003"
    assert request.run_key.startswith("catch-up-0:eos3b5e|lib-0003:eos3b5e|lib-0003:eos3b5e-v1-")


def test_library_cursor_survives_many_files_deletion_and_reupload(project):
    store = project.store()
    names = [f"inputs/library/f{i:04d}.csv" for i in range(1100)]
    seed_objects(store, names)
    first = library_tick(project)
    assert len(first.run_requests) == 1100  # all seen across the 1,000-key page boundary
    assert library_tick(project, first.cursor).run_requests == []

    store.delete(names[5])
    after_delete = library_tick(project, first.cursor)
    assert after_delete.run_requests == []
    store.put_bytes(names[5], b"x")  # back again after deletion: a file to register again
    again = library_tick(project, after_delete.cursor)
    assert [r.tags["precalc/library_file"] for r in again.run_requests] == [names[5]]


def test_unreadable_requests_are_rejected_and_the_tick_goes_on(local_project, tmp_path):
    """Non-UTF-8, 100k-deep and oversized request files crashed every tick before."""
    local_project.add_library(write_library(tmp_path / "lib.smi", nci_lines(20)), "lib", 20)
    store = local_project.store()
    store.put_bytes("inputs/models/utf16.json", "{}".encode("utf-16"))
    store.put_bytes("inputs/models/deep.json", b"[" * 100_000 + b"]" * 100_000)
    store.put_bytes("inputs/models/huge.json", b" " * (2 << 20) + b"{}")
    store.put_bytes(layout.model_request("eos3b5e"), b"{}")
    result = tick(local_project)
    (add,) = result.dynamic_partitions_requests
    assert list(add.partition_keys) == ["eos3b5e"] and len(result.run_requests) == 1
    rejected = load_rejected_inputs(store)
    assert "not UTF-8" in rejected["inputs/models/utf16.json"]
    assert "nested more than" in rejected["inputs/models/deep.json"]
    assert "bytes, more than the limit" in rejected["inputs/models/huge.json"]


def test_a_served_model_dropped_in_storage_is_asked_then_run(project, tmp_path):
    """The sensor asks the model what it is (columns, examples) before it registers it;
    a model server that does not answer yet is tried again on the next tick."""
    project.add_library(write_library(tmp_path / "lib.smi", nci_lines(30)), "lib", 30)
    store = project.store()
    key = layout.model_request("served")
    with ModelServer() as server:
        url = server.url
    store.put_bytes(key, json.dumps({"runner": "http", "url": url, "ready_timeout_s": 1}).encode())
    first = tick(project)  # the server is gone: nothing registered, asked again later
    assert first.run_requests == [] and "no model server answered" in load_rejected_inputs(
        store
    ).get(key, "")
    port = int(url.rsplit(":", 1)[1])
    with ModelServer(port=port):
        second = tick(project, first.cursor)
    assert len(second.run_requests) == 1 and key not in load_rejected_inputs(store)
    card = json.loads(store.get_bytes(layout.model_card("served")))
    assert card["card"]["columns"] == [{"name": "mol_weight", "dtype": "float"}]
    assert tick(project, second.cursor).run_requests == []  # committed: not asked again
