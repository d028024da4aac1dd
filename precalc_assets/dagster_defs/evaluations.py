"""Check evaluations read through the instance's asset-check API (the executions
table), which every storage serves: Dagster's default run-sharded SQLite, the
consolidated one and Postgres."""

from __future__ import annotations

import dagster as dg

from precalc_assets.dagster_defs.checks import CHECKS
from precalc_assets.quality.report import CheckResult

PAGE = 500
PLANNED = "PLANNED"  # an execution whose evaluation has not been recorded (yet)


def check_keys() -> list[dg.AssetCheckKey]:
    return [key for check in CHECKS for key in check.check_keys]


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


def metadata_number(metadata: dict, name: str) -> float | None:
    value = metadata.get(name)
    return float(value.value) if value is not None and value.value is not None else None
