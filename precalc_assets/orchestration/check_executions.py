"""Check evaluations read through the instance's asset-check API (the executions
table), which every storage serves: Dagster's default run-sharded SQLite, the
consolidated one and Postgres."""

from __future__ import annotations

import dagster as dg

from precalc_assets import keys
from precalc_assets.quality.report import CheckResult

PAGE = 500
PLANNED = "PLANNED"  # an execution whose evaluation has not been recorded (yet)


def check_keys() -> list[dg.AssetCheckKey]:
    return [
        dg.AssetCheckKey(dg.AssetKey(asset), name)
        for asset, names in keys.CHECKS_OF.items()
        for name in names
    ]


def executions_after(instance: dg.DagsterInstance, key: dg.AssetCheckKey, after: int) -> list:
    """The check's execution records with an id above `after`, oldest first."""
    records: list = []
    cursor = None
    while True:
        page = instance.event_log_storage.get_asset_check_execution_history(
            key, limit=PAGE, cursor=cursor
        )
        records += [r for r in page if r.id > after]
        if len(page) < PAGE or page[-1].id <= after:
            return sorted(records, key=lambda r: r.id)
        cursor = page[-1].id


def evaluation_of(record) -> dg.AssetCheckEvaluation | None:
    """The evaluation an execution record holds, or None (planned, or the check raised)."""
    event = record.event
    if event is None or event.dagster_event is None:
        return None
    if event.dagster_event.event_type != dg.DagsterEventType.ASSET_CHECK_EVALUATION:
        return None
    return event.dagster_event.event_specific_data


def latest_evaluations(
    instance: dg.DagsterInstance, limit: int = 10_000
) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """(check, partition) -> its latest evaluation, from each check's newest `limit`."""
    latest: dict[tuple[str, str], dg.AssetCheckEvaluation] = {}
    for key in check_keys():
        cursor, read = None, 0
        while read < limit:
            page = instance.event_log_storage.get_asset_check_execution_history(
                key, limit=min(PAGE, limit - read), cursor=cursor
            )
            for record in page:  # newest first
                evaluation = evaluation_of(record)
                if evaluation is not None:
                    latest.setdefault(
                        (evaluation.check_name, evaluation.partition or ""), evaluation
                    )
            read += len(page)
            if len(page) < PAGE:
                break
            cursor = page[-1].id
    return latest


def latest_check_results(instance: dg.DagsterInstance) -> list[CheckResult]:
    """The latest evaluations as plain results, for reports."""
    return [
        CheckResult(
            check=check,
            partition=partition,
            passed=evaluation.passed,
            severity=evaluation.severity.value,
            score=metadata_number(evaluation.metadata, "score"),
            threshold=metadata_number(evaluation.metadata, "threshold"),
        )
        for (check, partition), evaluation in latest_evaluations(instance).items()
    ]


def partitions_needing_checks(instance: dg.DagsterInstance, partitions: list[str]) -> set[str]:
    """Published partitions that a check has not evaluated since, or whose check was
    planned by a run that ended without evaluating it (a killed run, or one that failed
    before its checks: Dagster reads that execution as failed, `EXECUTION_FAILED`, though
    the check never ran). A partition never published has nothing to check."""
    needing: set[str] = set()
    step = keys.PARTITIONS_PER_QUERY
    for start in range(0, len(partitions), step):
        needing |= _needing_checks(instance, partitions[start : start + step])
    return needing


def _needing_checks(instance: dg.DagsterInstance, partitions: list[str]) -> set[str]:
    storage = instance.event_log_storage
    infos = storage.get_asset_check_partition_info(check_keys(), partition_keys=partitions)
    evaluated = {(info.check_key, info.partition_key) for info in infos}
    finished: dict[str, bool] = {}

    def run_finished(run_id: str) -> bool:
        if run_id not in finished:
            run = instance.get_run_by_id(run_id)
            finished[run_id] = run is None or run.is_finished
        return finished[run_id]

    needing = set()
    for info in infos:
        planned_only = info.latest_execution_status.value == PLANNED
        materialized = info.latest_materialization_storage_id or 0
        stale = info.latest_check_event_storage_id < materialized  # asset re-materialised since
        if stale or (planned_only and run_finished(info.latest_planned_run_id)):
            needing.add(info.partition_key)
    published = storage.get_latest_storage_id_by_partition(
        dg.AssetKey(keys.PUBLISHED_PREDICTIONS),
        dg.DagsterEventType.ASSET_MATERIALIZATION,
        partitions=set(partitions),
    )
    for partition in published:  # published, but some check has no execution at all
        if any((key, partition) not in evaluated for key in check_keys()):
            needing.add(partition)
    return needing & set(partitions) & set(published)


def metadata_number(metadata: dict, name: str) -> float | None:
    value = metadata.get(name)
    return float(value.value) if value is not None and value.value is not None else None
