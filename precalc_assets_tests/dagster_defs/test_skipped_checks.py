"""A check skipped because its asset failed never reads as that check's failure.

Dagster plans every check of a run when the run is created; a run that fails before a
check leaves it planned, and Dagster (the UI's check page and partition statuses, and
`AssetCheckExecutionRecord.resolve_status`) reads that execution as `EXECUTION_FAILED`.
The partitions of such a run that are still published are checked again, so the latest
execution of each check is a real evaluation: a pass shows as passed, a real failure
(here, items gone from the serving table) still as failed."""

from __future__ import annotations

import asyncio

import dagster as dg
from dagster._core.loader import LoadingContextForTest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionResolvedStatus

from precalc_assets import keys
from precalc_assets.dagster_defs.sensors.after_runs import recheck_after_failure_sensor
from precalc_assets.orchestration.check_executions import check_keys, partitions_needing_checks
from precalc_assets_tests.faulty_models import FAIL_SWITCH
from precalc_assets_tests.molecules import nci_lines, write_library

SPEC = {
    "runner": "python",
    "callable": "precalc_assets_tests.faulty_models:weight_or_crash",
    "columns": ["mol_weight"],
}
OK = AssetCheckExecutionResolvedStatus.SUCCEEDED


def latest_statuses(instance: dg.DagsterInstance, partition: str) -> dict[str, object]:
    """Check name -> the resolved status of its latest execution for `partition`, as the
    UI reads it."""
    context = LoadingContextForTest(instance)
    statuses = {}
    for key in check_keys():
        records = instance.event_log_storage.get_asset_check_execution_history(key, limit=50)
        latest = next(r for r in records if r.partition == partition)  # newest first
        statuses[key.name] = asyncio.run(latest.resolve_status(context))
    return statuses


def published_then_failed(project, tmp_path, monkeypatch) -> dg.DagsterRun:
    """weights|lib-0000 published and checked; then a run of it, and one of the never
    published weights|lib-0001, whose `predictions` step fails."""
    project.add_library(write_library(tmp_path / "l.smi", nci_lines(24)), "lib", slice_size=12)
    project.add_model("weights", SPEC)
    assert project.precalculate("weights", "lib-0000").success
    assert set(latest_statuses(project.instance, "weights|lib-0000").values()) == {OK}
    monkeypatch.setenv(FAIL_SWITCH, "1")
    assert not project.precalculate("weights", "lib-0001").success
    failed = project.precalculate("weights", "lib-0000")
    assert not failed.success
    monkeypatch.delenv(FAIL_SWITCH)
    return failed.dagster_run


def test_a_failed_runs_published_partitions_are_checked_again(local_project, tmp_path, monkeypatch):
    project = local_project
    failed = published_then_failed(project, tmp_path, monkeypatch)
    partition = "weights|lib-0000"
    # What Dagster makes of the checks the failed run never ran: each reads as failed.
    assert set(latest_statuses(project.instance, partition).values()) == {
        AssetCheckExecutionResolvedStatus.EXECUTION_FAILED
    }
    # A real failure meanwhile: a published item is gone from the serving table.
    gone = project.predictions_parquet("weights", "lib-0000")["inchikey"].iloc[:1].tolist()
    project.serving().delete("weights", gone)

    failure = project.instance.all_logs(failed.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    context = dg.build_run_status_sensor_context(
        sensor_name=recheck_after_failure_sensor.name,
        dagster_instance=project.instance,
        dagster_run=failed,
        dagster_event=failure[0].dagster_event,
    ).for_run_failure()
    (request,) = recheck_after_failure_sensor(context)  # the never-published partition: none
    assert request.tags[keys.COVERS_TAG] == partition
    assert request.run_key.startswith(f"recheck-{failed.run_id}:")
    check_job = project.defs.resolve_job_def(keys.CHECK_PARTITIONS_JOB)
    check_job.execute_in_process(instance=project.instance, tags=request.tags)

    statuses = latest_statuses(project.instance, partition)
    assert statuses.pop(keys.SERVING_READBACK) == AssetCheckExecutionResolvedStatus.FAILED
    assert set(statuses.values()) == {OK}  # the other four: evaluated again, passed


def test_precalc_run_checks_failed_partitions_that_are_still_published(
    local_project, tmp_path, monkeypatch
):
    project = local_project
    published_then_failed(project, tmp_path, monkeypatch)
    needing = partitions_needing_checks(project.instance, ["weights|lib-0000", "weights|lib-0001"])
    assert needing == {"weights|lib-0000"}  # what `precalc run` checks after its runs
