"""`ledger_after_runs_sensor`, tick by tick over real runs: the ledger is written again
after precalculate runs end (succeeded or failed), one ledger run per tick however many
ended, and none while a ledger run still waits to start."""

from __future__ import annotations

import dagster as dg

from precalc_assets import keys
from precalc_assets.dagster_defs.sensors.after_runs import ledger_after_runs_sensor
from precalc_assets_tests.faulty_models import FAIL_SWITCH
from precalc_assets_tests.molecules import nci_lines, write_library

SPEC = {
    "runner": "python",
    "callable": "precalc_assets_tests.faulty_models:weight_or_crash",
    "columns": ["mol_weight"],
}


def tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    return ledger_after_runs_sensor(dg.build_sensor_context(instance=instance, cursor=cursor))


def test_the_ledger_is_refreshed_once_per_tick_after_runs_end(local_project, tmp_path, monkeypatch):
    project, instance = local_project, local_project.instance
    project.add_library(write_library(tmp_path / "l.smi", nci_lines(12)), "lib", slice_size=12)
    project.add_model("weights", SPEC)
    first = tick(instance, None)
    assert not first.run_requests and first.cursor is None  # no run ended yet

    assert project.precalculate("weights", "lib-0000").success
    after_success = tick(instance, None)
    (request,) = after_success.run_requests
    ledger_job = project.defs.resolve_job_def(keys.LEDGER_JOB)
    assert ledger_job.execute_in_process(instance=instance, tags=request.tags).success
    assert instance.get_latest_materialization_event(dg.AssetKey(keys.LEDGER)) is not None
    assert not tick(instance, after_success.cursor).run_requests  # nothing ended since

    monkeypatch.setenv(FAIL_SWITCH, "1")
    for _ in range(2):
        assert not project.precalculate("weights", "lib-0000").success
    after_failures = tick(instance, after_success.cursor)
    (again,) = after_failures.run_requests  # one ledger run for both failed runs
    assert again.run_key != request.run_key
    assert int(after_failures.cursor) > int(after_success.cursor)

    # A ledger run waiting to start reads the history when it starts: no second one.
    instance.create_run_for_job(ledger_job)  # created, not started yet
    assert not project.precalculate("weights", "lib-0000").success
    while_queued = tick(instance, after_failures.cursor)
    assert not while_queued.run_requests
    assert int(while_queued.cursor) > int(after_failures.cursor)
