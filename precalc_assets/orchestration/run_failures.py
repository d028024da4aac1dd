"""Why a run failed, in one line: the first failed step's own error (the model's, the
store's), not Dagster's wrapping of it, for the terminal and for run-failure alerts."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg


def first_error_line(events: Iterable[dg.DagsterEvent]) -> str:
    """The first step failure's innermost non-Dagster error, its first line."""
    for event in events:
        if event.is_step_failure and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error.cause is not None and "dagster" in error.cls_name.lower():
                error = error.cause
            if not error.message:
                return error.cls_name
            first = error.message.strip().splitlines()[0]
            # "precalc_assets.models.spec.ModelError: ..." -> "ModelError: ..."
            qualified, found, rest = first.partition(f".{error.cls_name}: ")
            return f"{error.cls_name}: {rest}" if found and " " not in qualified else first
    return ""


def run_failure_cause(instance: dg.DagsterInstance, run_id: str) -> str:
    """A finished run's first step failure, in one line ("" when no step failed)."""
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    return first_error_line(r.dagster_event for r in records if r.dagster_event is not None)
