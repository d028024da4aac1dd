"""The notification layer: JSONL default, a Slack webhook (a real HTTP receiver on
loopback), SNS (moto's server, read back through an SQS queue subscribed to the topic, as
a real consumer would), the resource's delivery rules, and the Dagster+ alert policies."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
import yaml

from precalc_assets.alerts.alert import Alert
from precalc_assets.alerts.delivery import AlertDeliveryError
from precalc_assets.alerts.jsonl import JsonlNotifier
from precalc_assets.alerts.slack import SLACK_WEBHOOK_ENV, SlackNotifier
from precalc_assets.alerts.sns import SNS_TOPIC_ENV, SnsNotifier
from precalc_assets.dagster_defs.resources import NotifierResource, notifier_resource_for
from precalc_assets_tests.alert_receivers import (
    SECRET_PATH,
    alerts_file,
    closed_port_url,
    read_jsonl,
)
from precalc_assets_tests.store_data import unique_name

REPO_ROOT = Path(__file__).resolve().parents[2]

# The checks and assets of the project (where each check sits is decided elsewhere).
CHECKS = [
    "completeness",
    "output_sanity",
    "prediction_drift",
    "reproducibility",
    "serving_readback",
]
ASSETS = ["validated_predictions", "published_predictions", "predictions", "library_slices"]
ASSET_CHECK_EVENTS = {
    "ASSET_CHECK_SEVERITY_WARN",
    "ASSET_CHECK_SEVERITY_ERROR",
    "ASSET_CHECK_EXECUTION_FAILURE",
    "ASSET_CHECK_PASSED",
}
# Event types and notification services of the Dagster+ alert policies YAML reference.
DAGSTER_PLUS_EVENTS = ASSET_CHECK_EVENTS | {
    "JOB_FAILURE",
    "JOB_SUCCESS",
    "JOB_LONG_RUNNING",
    "ASSET_MATERIALIZATION_SUCCESS",
    "ASSET_MATERIALIZATION_FAILURE",
    "TICK_FAILURE",
}
NOTIFICATION_SERVICES = {"email", "email_owners", "slack", "microsoft_teams", "pagerduty"}


def drift_failure(event_id: int = 101, slice_: str = "frag-0000") -> Alert:
    return Alert(
        kind="check_failed",
        severity="WARN",
        asset="published_predictions",
        check="prediction_drift",
        partition=f"eos3b5e|{slice_}",
        score=1.0,
        threshold=0.25,
        message="drifted share 1.00 > 0.25",
        run_id="abc123def4567890",
        timestamp="2026-01-02T03:04:05+00:00",
        event_id=event_id,
    )


def completeness_error(event_id: int = 102) -> Alert:
    return Alert(
        kind="check_failed",
        severity="ERROR",
        asset="validated_predictions",
        check="completeness",
        partition="morgan2048|frag-0003",
        score=9990.0,
        threshold=10000.0,
        run_id="ffee0011",
        event_id=event_id,
    )


def drift_recovered(event_id: int = 201) -> Alert:
    return Alert(
        kind="check_recovered",
        severity="INFO",
        asset="published_predictions",
        check="prediction_drift",
        partition="eos3b5e|frag-0000",
        score=0.02,
        threshold=0.25,
        run_id="0123456789",
        event_id=event_id,
    )


# --- Alert ---------------------------------------------------------------------------------


def test_alert_text_names_model_slice_check_score_threshold():
    assert drift_failure().text() == (
        "[WARN] prediction_drift failed on published_predictions eos3b5e|frag-0000: "
        "drifted share 1.00 > 0.25 (run abc123de)"
    )
    assert completeness_error().text() == (
        "[ERROR] completeness failed on validated_predictions morgan2048|frag-0003: "
        "score 9990 vs threshold 10000 (run ffee0011)"
    )
    recovered = drift_recovered().text()
    assert recovered.startswith("[INFO] prediction_drift recovered on published_predictions")
    assert "eos3b5e|frag-0000" in recovered and "score 0.02 <= threshold 0.25" in recovered
    run = Alert("run_failed", "ERROR", "", partition="eos3b5e|frag-0001", run_id="9f8e7d6c5b4a")
    assert run.text() == "[ERROR] run 9f8e7d6c failed on eos3b5e|frag-0001"
    assert (run.model, run.slice, run.check) == ("eos3b5e", "frag-0001", "")


def test_alert_validates_and_round_trips():
    with pytest.raises(ValueError, match="kind"):
        Alert("check_exploded", "WARN", "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="severity"):
        Alert("check_failed", "FATAL", "x")  # type: ignore[arg-type]
    alert = drift_failure()
    assert Alert.from_dict(json.loads(json.dumps(alert.to_dict()))) == alert
    assert alert.dedup_key() == drift_failure().dedup_key()
    assert alert.dedup_key() != drift_failure(event_id=999).dedup_key()
    long = Alert("check_failed", "WARN", "a" * 200, check="c" * 50, partition="m|s")
    assert len(long.subject()) == 100 and "\n" not in long.subject()


# --- JSONL ---------------------------------------------------------------------------------


def test_jsonl_appends_batches_as_lines(tmp_path):
    path = tmp_path / "deep" / "er" / "alerts.jsonl"
    notifier = JsonlNotifier(path)
    notifier.send([drift_failure(), completeness_error()])
    notifier.send([drift_recovered()])
    records = read_jsonl(path)
    assert [r["kind"] for r in records] == ["check_failed", "check_failed", "check_recovered"]
    first = records[0]
    assert (first["model"], first["slice"], first["check"]) == (
        "eos3b5e",
        "frag-0000",
        "prediction_drift",
    )
    assert (first["score"], first["threshold"], first["event_id"]) == (1.0, 0.25, 101)
    assert first["text"] == drift_failure().text()
    assert first["dedup_key"] == drift_failure().dedup_key()


def test_jsonl_is_idempotent_and_survives_a_torn_line(tmp_path):
    path = tmp_path / "alerts.jsonl"
    notifier = JsonlNotifier(path)
    assert notifier.append([drift_failure(), drift_failure()]) == [drift_failure()]
    assert notifier.append([drift_failure()]) == []
    with path.open("a") as f:
        f.write('{"kind": "check_fai')  # a crash mid-write by some other writer
    assert notifier.append([completeness_error()]) == [completeness_error()]
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["check"] == "completeness"


def test_notify_default_writes_jsonl_under_precalc_home_and_logs(tmp_path, caplog):
    counts = NotifierResource().notify([drift_failure(), drift_recovered()])
    assert counts == {"jsonl": 2, "log": 2}
    assert [r["check"] for r in read_jsonl(alerts_file(tmp_path))] == ["prediction_drift"] * 2
    # The Dagster log (default: dagster's logger) got each alert's line.
    logged = [r.getMessage() for r in caplog.records]
    assert any("prediction_drift failed" in m for m in logged)
    assert any("prediction_drift recovered" in m for m in logged)
    # Same alerts again (a retried tick): the local record keeps one line each.
    assert NotifierResource().notify([drift_failure()])["jsonl"] == 0
    assert len(read_jsonl(alerts_file(tmp_path))) == 2


def test_notify_logs_at_the_alerts_severity(tmp_path):
    class Recorder:
        def __init__(self) -> None:
            self.lines: list[tuple[str, str]] = []

        def info(self, msg: str) -> None:
            self.lines.append(("info", msg))

        def warning(self, msg: str) -> None:
            self.lines.append(("warning", msg))

        def error(self, msg: str) -> None:
            self.lines.append(("error", msg))

    log = Recorder()
    NotifierResource().notify([drift_failure(), completeness_error(), drift_recovered()], log=log)
    assert [level for level, _ in log.lines] == ["warning", "error", "info"]
    assert NotifierResource().notify([]) == {}


# --- Slack webhook -------------------------------------------------------------------------


def test_slack_posts_one_message_per_alert(webhook):
    SlackNotifier(webhook.url).send([drift_failure(), completeness_error()])
    assert len(webhook.requests) == 2
    assert all(r["path"] == SECRET_PATH for r in webhook.requests)
    assert all(r["headers"]["Content-Type"] == "application/json" for r in webhook.requests)
    drift, completeness = webhook.texts()
    for part in ("eos3b5e", "frag-0000", "prediction_drift", "1.00", "0.25"):
        assert part in drift
    for part in ("morgan2048", "frag-0003", "completeness", "9990", "10000"):
        assert part in completeness


def test_slack_retries_5xx_and_429_then_succeeds(webhook):
    webhook.statuses = [500, 429, 503]
    SlackNotifier(webhook.url, retries=3, backoff=0).send([drift_failure()])
    assert len(webhook.requests) == 4
    assert len(set(webhook.texts())) == 1


def test_slack_failure_after_retries_names_host_not_secret(webhook):
    webhook.statuses = [500] * 10
    notifier = SlackNotifier(webhook.url, retries=2, backoff=0)
    with pytest.raises(AlertDeliveryError) as caught:
        notifier.send([drift_failure()])
    message = str(caught.value)
    assert "127.0.0.1" in message and "HTTP 500" in message and "3 attempts" in message
    assert "SECRET" not in message and "SECRET" not in repr(notifier)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert len(webhook.requests) == 3


def test_slack_client_error_is_not_retried(webhook):
    webhook.statuses = [404]
    with pytest.raises(AlertDeliveryError, match=f"HTTP 404.*{SLACK_WEBHOOK_ENV}") as caught:
        SlackNotifier(webhook.url, retries=3, backoff=0).send([drift_failure()])
    assert "SECRET" not in str(caught.value)
    assert len(webhook.requests) == 1


def test_slack_unreachable_names_host_not_secret():
    with pytest.raises(AlertDeliveryError, match="127.0.0.1.*no answer") as caught:
        SlackNotifier(closed_port_url(), retries=1, backoff=0).send([drift_failure()])
    assert "SECRET" not in str(caught.value)


def test_slack_rejects_a_malformed_url_without_echoing_it():
    with pytest.raises(ValueError, match=SLACK_WEBHOOK_ENV) as caught:
        SlackNotifier("hooks.slack.com/services/T0SECRET/B0SECRET/xoxSECRETTOKEN")
    assert "SECRET" not in str(caught.value)


# --- SNS on moto ---------------------------------------------------------------------------


def test_sns_publishes_one_message_per_alert(sns_topic):
    SnsNotifier(sns_topic.arn).send([drift_failure(), drift_recovered()])
    envelopes = sns_topic.received()
    assert len(envelopes) == 2
    by_kind = {json.loads(e["Message"])["kind"]: e for e in envelopes}
    failed = by_kind["check_failed"]
    assert failed["Subject"] == drift_failure().subject()
    assert len(failed["Subject"]) <= 100
    body = json.loads(failed["Message"])
    assert (body["model"], body["slice"], body["check"]) == (
        "eos3b5e",
        "frag-0000",
        "prediction_drift",
    )
    assert (body["score"], body["threshold"], body["text"]) == (1.0, 0.25, drift_failure().text())
    attributes = {k: v["Value"] for k, v in failed["MessageAttributes"].items()}
    assert attributes == {
        "severity": "WARN",
        "kind": "check_failed",
        "model": "eos3b5e",
        "check": "prediction_drift",
    }
    assert by_kind["check_recovered"]["MessageAttributes"]["severity"]["Value"] == "INFO"


def test_sns_run_failure_has_no_empty_attributes(sns_topic):
    SnsNotifier(sns_topic.arn).send([Alert("run_failed", "ERROR", "", run_id="r1", event_id=7)])
    (envelope,) = sns_topic.received()
    assert set(envelope["MessageAttributes"]) == {"severity", "kind"}


def test_sns_missing_topic_is_a_clear_error(aws_env):
    arn = f"arn:aws:sns:us-east-1:123456789012:{unique_name('missing')}"
    with pytest.raises(AlertDeliveryError, match=f"SNS publish to {arn} failed"):
        SnsNotifier(arn).send([drift_failure()])
    with pytest.raises(ValueError, match=SNS_TOPIC_ENV):
        SnsNotifier("my-topic")


# --- the resource: every sink, failures after all were tried -------------------------------


def test_notify_sends_to_every_configured_sink(tmp_path, webhook, sns_topic):
    notifier = NotifierResource(slack_webhook_url=webhook.url, sns_topic_arn=sns_topic.arn)
    alerts = [drift_failure(), completeness_error()]
    assert notifier.notify(alerts) == {"jsonl": 2, "log": 2, "slack": 2, "sns": 2}
    assert len(webhook.requests) == 2
    assert len(sns_topic.received()) == 2
    assert len(read_jsonl(alerts_file(tmp_path))) == 2


def test_a_failing_sink_does_not_stop_the_others(tmp_path, webhook, sns_topic):
    webhook.statuses = [500] * 10
    notifier = NotifierResource(
        slack_webhook_url=webhook.url, sns_topic_arn=sns_topic.arn, slack_retries=1, slack_backoff=0
    )
    with pytest.raises(AlertDeliveryError, match=r"\['slack'\]") as caught:
        notifier.notify([drift_failure()])
    assert set(caught.value.failures) == {"slack"}
    assert "SECRET" not in str(caught.value)
    assert len(sns_topic.received()) == 1
    assert len(read_jsonl(alerts_file(tmp_path))) == 1

    # The retry (next tick, cursor unmoved) reaches Slack; the local record stays single.
    webhook.statuses = []
    notifier.notify([drift_failure()])
    assert webhook.texts()[-1] == drift_failure().text()
    assert len(read_jsonl(alerts_file(tmp_path))) == 1


def test_a_failing_sns_does_not_stop_slack(tmp_path, webhook, aws_env):
    missing = f"arn:aws:sns:us-east-1:123456789012:{unique_name('missing')}"
    notifier = NotifierResource(slack_webhook_url=webhook.url, sns_topic_arn=missing)
    with pytest.raises(AlertDeliveryError) as caught:
        notifier.notify([drift_failure(), completeness_error()])
    assert set(caught.value.failures) == {"sns"}
    assert len(webhook.requests) == 2


def test_a_malformed_sink_setting_does_not_stop_the_others(tmp_path, sns_topic):
    notifier = NotifierResource(slack_webhook_url="not-a-url", sns_topic_arn=sns_topic.arn)
    with pytest.raises(AlertDeliveryError, match=SLACK_WEBHOOK_ENV) as caught:
        notifier.notify([drift_failure()])
    assert set(caught.value.failures) == {"slack"}
    assert len(sns_topic.received()) == 1


def test_a_failing_jsonl_does_not_stop_slack(tmp_path, webhook):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    notifier = NotifierResource(
        alerts_path=str(blocker / "alerts.jsonl"), slack_webhook_url=webhook.url
    )
    with pytest.raises(AlertDeliveryError) as caught:
        notifier.notify([drift_failure()])
    assert set(caught.value.failures) == {"jsonl"}
    assert len(webhook.requests) == 1


# --- optional env vars -----------------------------------------------------------------------


@pytest.mark.parametrize("deployment", ["local", "aws"])
def test_notifier_resource_for_without_env_vars(deployment, monkeypatch, tmp_path):
    monkeypatch.delenv(SLACK_WEBHOOK_ENV, raising=False)
    monkeypatch.delenv(SNS_TOPIC_ENV, raising=False)
    resource = notifier_resource_for(deployment)
    with dg.build_resources({"notifier": resource}) as built:
        notifier = built.notifier
        assert notifier.slack_webhook_url is None and notifier.sns_topic_arn is None
        assert notifier.sinks() == {}
        assert notifier.resolved_alerts_path() == alerts_file(tmp_path)


@pytest.mark.parametrize("deployment", ["local", "aws"])
def test_notifier_resource_for_with_env_vars(deployment, monkeypatch):
    monkeypatch.setenv(SLACK_WEBHOOK_ENV, "https://hooks.example.invalid" + SECRET_PATH)
    monkeypatch.setenv(SNS_TOPIC_ENV, "arn:aws:sns:eu-west-1:123456789012:precalc-alerts")
    resource = notifier_resource_for(deployment)
    # Passed as EnvVar: the definitions (and the UI) carry the variable's name, not the secret.
    assert isinstance(resource.slack_webhook_url, dg.EnvVar)
    assert resource.slack_webhook_url.env_var_name == SLACK_WEBHOOK_ENV
    with dg.build_resources({"notifier": resource}) as built:
        notifier = built.notifier
        assert notifier.slack_webhook_url.endswith("xoxSECRETTOKEN")
        assert set(notifier.sinks()) == {"slack", "sns"}
    with pytest.raises(ValueError, match="PRECALC_DEPLOYMENT"):
        notifier_resource_for("mars")


# --- Dagster+ alert policies ---------------------------------------------------------------


def test_alert_policies_yaml_targets_the_check_failures():
    document = yaml.safe_load((REPO_ROOT / "alert_policies.yaml").read_text())
    assert set(document) == {"alert_policies"}
    policies = document["alert_policies"]
    names = [p["name"] for p in policies]
    assert len(names) == len(set(names))
    for policy in policies:
        assert {"name", "event_types", "notification_service"} <= set(policy)
        assert policy.get("enabled", True) is True
        assert set(policy["event_types"]) <= DAGSTER_PLUS_EVENTS, policy["name"]
        assert len(policy["notification_service"]) == 1
        assert set(policy["notification_service"]) <= NOTIFICATION_SERVICES

    by_events = {frozenset(p["event_types"]): p for p in policies}
    checks = by_events[
        frozenset(
            {
                "ASSET_CHECK_SEVERITY_WARN",
                "ASSET_CHECK_SEVERITY_ERROR",
                "ASSET_CHECK_EXECUTION_FAILURE",
            }
        )
    ]
    keys = [t["asset_key_target"]["asset_key"] for t in checks["alert_targets"]]
    assert all(len(key) == 1 and key[0] in ASSETS for key in keys)
    assert {"validated_predictions", "published_predictions"} <= {key[0] for key in keys}
    assert all(check in checks["description"] for check in CHECKS)
    assert frozenset({"JOB_FAILURE"}) in by_events
    # One category per policy (Dagster+ rejects mixing asset, job and tick events).
    for events in by_events:
        categories = {e.split("_")[0] for e in events}
        assert len(categories) == 1, events
