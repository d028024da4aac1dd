"""`check_alerts_sensor`: failed check evaluations and failed runs become notifications,
with a cursor over each check's executions and the run-failure events (when to alert:
`alerts.transitions`). Works on every Dagster storage, the default SQLite one included."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from precalc_assets import keys
from precalc_assets.alerts.alert import Alert
from precalc_assets.alerts.delivery import AlertLog
from precalc_assets.alerts.transitions import CheckEvaluation, check_alerts_for
from precalc_assets.dagster_defs.resources import NotifierResource
from precalc_assets.dagster_defs.sensors.run_requests import run_span
from precalc_assets.dagster_defs.sensors.running import running_sensor
from precalc_assets.orchestration.check_executions import (
    PLANNED,
    check_keys,
    evaluation_of,
    executions_after,
    metadata_number,
)
from precalc_assets.orchestration.run_failures import run_failure_cause

ALERT_BATCH = 500


def check_result(evaluation: dg.AssetCheckEvaluation, record) -> CheckEvaluation:
    return CheckEvaluation(
        asset=evaluation.asset_key.to_user_string(),
        check=evaluation.check_name,
        partition=evaluation.partition or "",
        passed=evaluation.passed,
        severity=evaluation.severity.value,
        score=metadata_number(evaluation.metadata, "score"),
        threshold=metadata_number(evaluation.metadata, "threshold"),
        message=evaluation.description or "",
        run_id=record.run_id,
        timestamp=_iso(record.create_timestamp),
        event_id=record.id,
    )


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def check_alerts(
    instance: dg.DagsterInstance, state: dict, failing: dict[str, str]
) -> tuple[list[Alert], dict]:
    """Alerts from the check executions recorded since `state`, and the state after them.

    Per check, `after` is the id up to which every execution is handled and `seen` the
    handled ids above it: an execution still planned by a live run is left for a later
    tick (its evaluation replaces it under the same id), one whose run ended without
    an evaluation is skipped.
    """
    results: list[CheckEvaluation] = []
    new_state: dict = {}
    active: dict[str, bool] = {}

    def run_is_active(run_id: str) -> bool:
        if run_id not in active:
            run = instance.get_run_by_id(run_id)
            active[run_id] = run is not None and not run.is_finished
        return active[run_id]

    for key in check_keys():
        name = key.to_user_string()
        previous = state.get(name) or {}
        after, seen = int(previous.get("after", 0)), set(previous.get("seen", []))
        records = executions_after(instance, key, after)
        handled: set[int] = set()
        for record in records:
            if record.id not in seen:
                if record.status.value == PLANNED and run_is_active(record.run_id):
                    continue
                evaluation = evaluation_of(record)
                if evaluation is not None:
                    results.append(check_result(evaluation, record))
            handled.add(record.id)
        for record in records:  # the watermark moves up to the first unhandled id
            if record.id not in handled:
                break
            after = record.id
        new_state[name] = {"after": after, "seen": sorted(i for i in handled if i > after)}
    return check_alerts_for(results, failing), new_state


def run_alert(instance: dg.DagsterInstance, record: dg.EventLogRecord) -> Alert:
    """A failed run: its partitions, its model and slice where it had one of each, and
    its first failed step's own error in one line."""
    run = instance.get_run_by_id(record.run_id)
    tags = run.tags if run else {}
    partition = tags.get(keys.PARTITION_TAG, "")
    span = run_span(tags)
    first, _, last = span.partition(" .. ")
    model, slice_key = _one_each(first, last or first)
    cause = run_failure_cause(instance, record.run_id)
    message = cause or record.event_log_entry.message or "run failed"
    return Alert(
        kind="run_failed",
        severity="ERROR",
        asset=run.job_name if run else "",
        partition=partition,
        model=model,
        slice=slice_key,
        message=f"{message} (partitions {span})" if span else message,
        run_id=record.run_id,
        timestamp=_iso(record.timestamp),
        event_id=record.storage_id,
    )


def _one_each(first: str, last: str) -> tuple[str, str]:
    """(model, slice) of a run's span, each "" where the span has several."""
    (m1, _, s1), (m2, _, s2) = first.partition(keys.SEPARATOR), last.partition(keys.SEPARATOR)
    return (m1 if m1 == m2 else ""), (s1 if s1 == s2 else "")


@running_sensor(
    30,
    "Turns failed check evaluations (WARN, ERROR) and failed runs into notifications "
    "(alerts.jsonl + log; Slack/SNS when configured): one when a check starts failing, "
    "one when it recovers. Cursor over check executions and run failures.",
)
def check_alerts_sensor(
    context: dg.SensorEvaluationContext, notifier: NotifierResource
) -> dg.SkipReason:
    said, cursor = alerts_tick(context.instance, context.cursor, notifier, context.log)
    if cursor != (context.cursor or ""):
        context.update_cursor(cursor)
    return dg.SkipReason(said)


def alerts_tick(
    instance: dg.DagsterInstance,
    cursor: str | None,
    notifier: NotifierResource,
    log: AlertLog | None,
) -> tuple[str, str]:
    """One tick: what it says, and the cursor after it. With no `log` the alerts go to
    every sink but the log: the caller prints what the tick says, so a terminal shows
    each alert once."""
    state = json.loads(cursor) if cursor else {}
    checks = state.get("checks") if isinstance(state.get("checks"), dict) else {}
    after_run = state.get("runs", 0)
    failing: dict[str, str] = state.get("failing", {})
    try:
        alerts, checks = check_alerts(instance, checks, failing)
    except Exception as exc:  # e.g. a storage without the asset-check tables
        why = (
            f"cannot read check executions from this instance ({type(exc).__name__}: {exc}); "
            "if Dagster says a migration is needed, run `dagster instance migrate`"
        )
        if state.get("error") == why:  # said once, not every 30 s
            return why, cursor or ""
        if log is not None:
            log.error(why)
        return why, json.dumps({**state, "error": why})
    runs = instance.fetch_run_status_changes(
        dg.RunStatusChangeRecordsFilter(
            dg.DagsterEventType.RUN_FAILURE, after_storage_id=after_run
        ),
        limit=ALERT_BATCH,
        ascending=True,
    ).records
    alerts += [run_alert(instance, r) for r in runs]
    sent = notifier.notify(alerts, log=log, logged=log is not None) if alerts else {}
    # Only after every sink took them: a failed delivery fails the tick, nothing is lost.
    cursor = json.dumps(
        {
            "checks": checks,
            "runs": runs[-1].storage_id if runs else after_run,
            "failing": failing,
        }
    )
    if not alerts:
        return "no new check failure, recovery or failed run", cursor
    shown = "\n".join(a.text() for a in alerts[:20])
    more = f"\n... and {len(alerts) - 20} more" if len(alerts) > 20 else ""
    return f"{len(alerts)} alert(s) sent to {sorted(sent)}:\n{shown}{more}", cursor


def alerts_once(
    instance: dg.DagsterInstance, resources: dict[str, Any], cursor: str | None
) -> tuple[str, str]:
    """One tick of `check_alerts_sensor` outside the daemon, for `precalc alerts`: (what
    it said, new cursor). The CLI prints what it said, so the log is not a sink here."""
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        return alerts_tick(instance, cursor, context.resources.notifier, log=None)
