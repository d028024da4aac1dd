"""The latest check evaluation of every (check, partition), read from the event log."""

from __future__ import annotations

import dagster as dg

from precalc_assets.quality.report import CheckResult


def latest_evaluations(
    instance: dg.DagsterInstance, limit: int = 10_000
) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """(check, partition) -> its latest evaluation, from the newest `limit` evaluations."""
    records = instance.event_log_storage.get_event_records(
        dg.EventRecordsFilter(dg.DagsterEventType.ASSET_CHECK_EVALUATION), limit=limit
    )
    latest: dict[tuple[str, str], dg.AssetCheckEvaluation] = {}
    for record in records:  # newest first
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        latest.setdefault((evaluation.check_name, evaluation.partition or ""), evaluation)
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
