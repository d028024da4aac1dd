"""The `check_partitions` job over one partition: a job of checks only has no partitions
definition of its own (Dagster infers it from selected assets), so its one partition is
given as the run's `dagster/partition` tag."""

from __future__ import annotations

import dagster as dg

from precalc_assets import keys
from precalc_assets.orchestration.check_executions import check_keys
from precalc_assets.orchestration.execution import run_missing
from precalc_assets_tests.molecules import nci_lines, write_library


def test_checks_of_one_partition_run_through_the_check_only_job(local_project, tmp_path):
    project = local_project
    project.add_library(write_library(tmp_path / "l.smi", nci_lines(40)), "lib", slice_size=20)
    project.add_model("eos3b5e")
    for slice_key in ("lib-0000", "lib-0001"):
        assert project.precalculate("eos3b5e", slice_key).success

    summary = run_missing(
        project.defs,
        project.instance,
        {"lib-0001": ["eos3b5e"]},
        job_name=keys.CHECK_PARTITIONS_JOB,
    )
    assert summary.failures == {} and summary.partitions_done == ["eos3b5e|lib-0001"]
    (run,) = project.instance.get_runs(dg.RunsFilter(job_name=keys.CHECK_PARTITIONS_JOB))
    assert run.tags[keys.PARTITION_TAG] == "eos3b5e|lib-0001"
    events = project.instance.all_logs(
        run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    )
    evaluations = [e.dagster_event.event_specific_data for e in events]
    evaluated = {(evaluation.check_name, evaluation.partition) for evaluation in evaluations}
    assert evaluated == {(key.name, "eos3b5e|lib-0001") for key in check_keys()}
