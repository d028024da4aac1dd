"""`check_alerts_sensor`: failed check evaluations and failed runs become notifications,
with a cursor over the event log (when to alert: `alerts.decisions`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from precalc_assets import keys
from precalc_assets.alerts.alert import Alert
from precalc_assets.alerts.decisions import check_transition
from precalc_assets.dagster_defs.evaluations import metadata_number
from precalc_assets.dagster_defs.resources import NotifierResource
from precalc_assets.dagster_defs.sensors.run_requests import run_span
from precalc_assets.dagster_defs.sensors.running import running_sensor

ALERT_BATCH = 500


def check_alert(record: dg.EventLogRecord, failing: dict[str, str]) -> Alert | None:
    """An alert when a check starts failing (or changes severity), one when it passes
    again; nothing while it stays in the same state (no alert stuck on forever)."""
    evaluation = record.event_log_entry.dagster_event.event_specific_data
    asset = evaluation.asset_key.to_user_string()
    where = f"{asset}/{evaluation.check_name}/{evaluation.partition or ''}"
    transition = check_transition(failing, where, evaluation.passed, evaluation.severity.value)
    if transition is None:
        return None
    kind, severity = transition
    return Alert(
        kind=kind,
        severity=severity,
        asset=asset,
        check=evaluation.check_name,
        partition=evaluation.partition or "",
        score=metadata_number(evaluation.metadata, "score"),
        threshold=metadata_number(evaluation.metadata, "threshold"),
        message=evaluation.description or "",
        run_id=record.run_id,
        timestamp=datetime.fromtimestamp(record.timestamp, UTC).isoformat(timespec="seconds"),
        event_id=record.storage_id,
    )


def run_alert(instance: dg.DagsterInstance, record: dg.EventLogRecord) -> Alert:
    run = instance.get_run_by_id(record.run_id)
    tags = run.tags if run else {}
    partition = tags.get(keys.PARTITION_TAG, "")
    span = run_span(tags)
    message = record.event_log_entry.message or "run failed"
    return Alert(
        kind="run_failed",
        severity="ERROR",
        asset=run.job_name if run else "",
        partition=partition,
        message=f"{message} (partitions {span})" if span else message,
        run_id=record.run_id,
        timestamp=datetime.fromtimestamp(record.timestamp, UTC).isoformat(timespec="seconds"),
        event_id=record.storage_id,
    )


@running_sensor(
    30,
    "Turns failed check evaluations (WARN, ERROR) and failed runs into notifications "
    "(alerts.jsonl + log; Slack/SNS when configured): one when a check starts failing, "
    "one when it recovers. Cursor over the event log.",
)
def check_alerts_sensor(
    context: dg.SensorEvaluationContext, notifier: NotifierResource
) -> dg.SkipReason:
    state = json.loads(context.cursor) if context.cursor else {}
    after_check, after_run = state.get("checks", 0), state.get("runs", 0)
    failing: dict[str, str] = state.get("failing", {})
    storage = context.instance.event_log_storage
    records = storage.get_event_records(
        dg.EventRecordsFilter(dg.DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=after_check),
        limit=ALERT_BATCH,
        ascending=True,
    )
    alerts = [a for r in records if (a := check_alert(r, failing)) is not None]
    runs = context.instance.fetch_run_status_changes(
        dg.RunStatusChangeRecordsFilter(
            dg.DagsterEventType.RUN_FAILURE, after_storage_id=after_run
        ),
        limit=ALERT_BATCH,
        ascending=True,
    ).records
    alerts += [run_alert(context.instance, r) for r in runs]
    sent = notifier.notify(alerts, log=context.log) if alerts else {}
    # Only after every sink took them: a failed delivery fails the tick, nothing is lost.
    context.update_cursor(
        json.dumps(
            {
                "checks": records[-1].storage_id if records else after_check,
                "runs": runs[-1].storage_id if runs else after_run,
                "failing": failing,
            }
        )
    )
    if not alerts:
        return dg.SkipReason("no new check failure, recovery or failed run")
    shown = "\n".join(a.text() for a in alerts[:20])
    more = f"\n... and {len(alerts) - 20} more" if len(alerts) > 20 else ""
    return dg.SkipReason(f"{len(alerts)} alert(s) sent to {sorted(sent)}:\n{shown}{more}")


def alerts_once(
    instance: dg.DagsterInstance, resources: dict[str, Any], cursor: str | None
) -> tuple[str, str]:
    """One tick of `check_alerts_sensor` outside the daemon: (what it said, new cursor)."""
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        result = check_alerts_sensor(context)
        return result.skip_message or "", context.cursor or ""
