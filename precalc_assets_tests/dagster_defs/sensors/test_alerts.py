"""`check_alerts_sensor`: failed checks and runs become one notification each (JSONL,
a Slack-like webhook on loopback, SNS on moto), recoveries one more; ticks are safe to
repeat and a failed delivery is retried."""

from __future__ import annotations

import json
import uuid

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, DagsterEventType

from precalc_assets.alerts.delivery import AlertDeliveryError
from precalc_assets.alerts.slack import SLACK_WEBHOOK_ENV
from precalc_assets.alerts.sns import SNS_TOPIC_ENV
from precalc_assets.chem import fragment_smiles
from precalc_assets.dagster_defs.sensors.alerts import check_alerts_sensor
from precalc_assets.definitions import build_definitions
from precalc_assets_tests.alert_receivers import alerts_file, read_jsonl
from precalc_assets_tests.faulty_models import FAIL_SWITCH
from precalc_assets_tests.molecules import nci_lines, write_library
from precalc_assets_tests.project import precalc


def evaluation(
    partition: str,
    passed: bool,
    score: float,
    check="prediction_drift",
    severity="WARN",
    asset="published_predictions",
):
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(asset),
        check_name=check,
        passed=passed,
        severity=dg.AssetCheckSeverity(severity),
        metadata={"score": score, "threshold": 0.25},
        description=f"drifted share {score}",
        partition=partition,
    )


def report(instance: dg.DagsterInstance, evaluation: dg.AssetCheckEvaluation) -> None:
    """Store an evaluation as a run would (its own run id: Dagster keeps one execution
    per check, partition and run, so runless reports of one partition would collide)."""
    instance.report_dagster_event(
        DagsterEvent(
            event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION.value,
            event_specific_data=evaluation,
            job_name="precalculate",
        ),
        run_id=uuid.uuid4().hex,
    )


@dg.asset
def crashing_asset():
    raise RuntimeError("model server unreachable")


def tick(instance, cursor):
    defs = build_definitions("local")
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources=defs.resources
    ) as context:
        check_alerts_sensor(context)
        return context.cursor


def test_each_failure_notifies_once_and_a_recovery_once(
    local_project, tmp_path, webhook, sns_topic, monkeypatch
):
    monkeypatch.setenv(SLACK_WEBHOOK_ENV, webhook.url)
    monkeypatch.setenv(SNS_TOPIC_ENV, sns_topic.arn)
    instance = local_project.instance
    report(instance, evaluation("eos3b5e|frag-0000", False, 1.0))
    report(instance, evaluation("eos3b5e|nci-0001", True, 0.0))
    report(
        instance,
        evaluation(
            "eos3b5e|frag-0000",
            False,
            3.0,
            check="completeness",
            severity="ERROR",
            asset="validated_predictions",
        ),
    )
    assert not dg.materialize([crashing_asset], instance=instance, raise_on_error=False).success

    cursor = tick(instance, None)
    assert tick(instance, cursor) == cursor  # the same failures again: nothing new
    texts = webhook.texts()
    assert len(texts) == 3
    assert any("prediction_drift" in t and "eos3b5e|frag-0000" in t and "1" in t for t in texts)
    assert any("completeness" in t and "ERROR" in t for t in texts)
    assert any("model server unreachable" in t or "__ephemeral_asset_job__" in t for t in texts)
    assert len(sns_topic.received()) == 3
    lines = read_jsonl(alerts_file(tmp_path))
    assert sorted(line["kind"] for line in lines) == ["check_failed", "check_failed", "run_failed"]
    drift = next(line for line in lines if line["check"] == "prediction_drift")
    assert (drift["model"], drift["slice"], drift["score"], drift["threshold"]) == (
        "eos3b5e", "frag-0000", 1.0, 0.25,
    )  # fmt: skip

    # Still failing: no new alert. Passing again: one recovery, then silence.
    report(instance, evaluation("eos3b5e|frag-0000", False, 1.0))
    cursor = tick(instance, cursor)
    assert len(webhook.texts()) == 3
    report(instance, evaluation("eos3b5e|frag-0000", True, 0.0))
    report(instance, evaluation("eos3b5e|frag-0000", True, 0.0))
    cursor = tick(instance, cursor)
    assert len(webhook.texts()) == 4 and "recovered" in webhook.texts()[-1]
    assert read_jsonl(alerts_file(tmp_path))[-1]["kind"] == "check_recovered"
    assert json.loads(cursor)["failing"] == {
        "validated_predictions/completeness/eos3b5e|frag-0000": "ERROR"
    }


def test_a_failed_delivery_keeps_the_cursor_and_is_retried(
    local_project, tmp_path, webhook, monkeypatch
):
    monkeypatch.setenv(SLACK_WEBHOOK_ENV, webhook.url)
    instance = local_project.instance
    report(instance, evaluation("eos3b5e|frag-0000", False, 1.0))
    webhook.statuses = [404]
    with pytest.raises(AlertDeliveryError):
        tick(instance, None)
    cursor = tick(instance, None)  # the daemon retries from the old cursor
    assert json.loads(cursor)["checks"]["published_predictions:prediction_drift"]["after"] > 0
    assert len(webhook.texts()) == 2  # the refused one, then the delivered one
    assert len(read_jsonl(alerts_file(tmp_path))) == 1  # JSONL holds it once


def test_alerts_are_one_per_model_and_library_naming_the_worst_partitions(
    local_project, tmp_path, webhook, monkeypatch
):
    """A new library whose slices all drift is one message per model, not one per
    slice; it is said again only when its severity changes, and once when all pass."""
    monkeypatch.setenv(SLACK_WEBHOOK_ENV, webhook.url)
    instance = local_project.instance
    for i in range(1, 10):
        report(instance, evaluation(f"eos3b5e|new-{i:04d}", False, 0.3 + i / 100))
    report(instance, evaluation("morgan-fp2048|new-0002", False, 0.5))
    report(instance, evaluation("eos3b5e|old-0003", False, 0.4))
    cursor = tick(instance, None)
    lines = read_jsonl(alerts_file(tmp_path))
    assert len(lines) == len(webhook.texts()) == 3
    many = next(line for line in lines if line["library"] == "new" and line["model"] == "eos3b5e")
    assert len(many["partitions"]) == 9 and many["partitions"][0] == "eos3b5e|new-0009"
    assert many["message"].startswith(
        "9 partitions failing; worst: eos3b5e|new-0009 (0.39), eos3b5e|new-0008 (0.38)"
    )
    assert "eos3b5e x library new (9 partitions)" in webhook.texts()[0] + webhook.texts()[1]

    report(instance, evaluation("eos3b5e|new-0010", False, 0.9))  # the same state: silence
    cursor = tick(instance, cursor)
    assert len(read_jsonl(alerts_file(tmp_path))) == 3
    report(instance, evaluation("eos3b5e|new-0004", False, 0.95, severity="ERROR"))
    cursor = tick(instance, cursor)
    (worse,) = read_jsonl(alerts_file(tmp_path))[3:]
    assert (worse["severity"], len(worse["partitions"])) == ("ERROR", 10)

    for i in range(1, 11):
        report(instance, evaluation(f"eos3b5e|new-{i:04d}", True, 0.1))
    tick(instance, cursor)
    (recovered,) = read_jsonl(alerts_file(tmp_path))[4:]
    assert recovered["kind"] == "check_recovered" and recovered["library"] == "new"


def test_a_run_failure_alert_names_its_model_slice_and_cause(local_project, tmp_path):
    local_project.add_library(write_library(tmp_path / "l.smi", nci_lines(20)), "lib", 20)
    crashy = {"runner": "python", "callable": "precalc_assets_tests.faulty_models:weight_or_crash"}
    local_project.add_model("crashy", {**crashy, "columns": ["mol_weight"]})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(FAIL_SWITCH, "1")
        assert not local_project.precalculate("crashy", "lib-0000").success
    tick(local_project.instance, None)
    (alert,) = [a for a in read_jsonl(alerts_file(tmp_path)) if a["kind"] == "run_failed"]
    assert (alert["model"], alert["slice"], alert["partition"]) == (
        "crashy",
        "lib-0000",
        "crashy|lib-0000",
    )
    assert "crashed halfway through the slice" in alert["message"]


def test_a_new_library_of_10_slices_for_3_models_is_one_drift_message_per_model(
    local_project, tmp_path
):
    """Compared with a reference library, every slice of a new library of fragments
    drifts for every model: one message per model and library, not one per slice (by
    default a library is its own baseline: `quality/test_evaluations.py`)."""
    precalc("add-library", str(write_library(tmp_path / "nci.smi", nci_lines(40))))
    spec = tmp_path / "checks.json"
    spec.write_text(json.dumps({"checks": {"drift": {"baseline_slice": "nci-0000"}}}))
    models = ("eos3b5e", "morgan-fp2048", "rdkit-physchem")
    for model_id in models:
        precalc("add-model", model_id, "--spec", str(spec))
    precalc("run", "--workers", "1", "--partitions-per-run", "30")
    precalc("alerts")
    fragments = fragment_smiles((line.split()[0] for line in nci_lines(600)), 100, 10)
    new = write_library(tmp_path / "frag.smi", fragments)
    precalc("add-library", str(new), "--slice-size", "10")  # 10 slices
    precalc("run", "--workers", "1", "--partitions-per-run", "30")
    precalc("alerts")
    drift = [a for a in read_jsonl(alerts_file(tmp_path)) if a["check"] == "prediction_drift"]
    assert sorted((a["model"], a["library"]) for a in drift) == [(m, "frag") for m in models]
    # More slices drifted than messages were sent: each message counts its own.
    assert sum(len(a["partitions"]) for a in drift) > len(drift), drift
    results = json.loads(precalc("checks", "--format", "json").output)
    failing = {
        r["partition"] for r in results if r["check"] == "prediction_drift" and not r["passed"]
    }
    assert failing == {p for a in drift for p in a["partitions"]}


def test_precalc_alerts_prints_each_alert_once(local_project, tmp_path):
    """`precalc alerts` prints its own summary: the log sink's line, a second copy of
    each alert on the terminal, is left out there (the JSONL file still gets it)."""
    report(local_project.instance, evaluation("eos3b5e|frag-0000", False, 1.0))
    out = precalc("alerts").output
    (line,) = [line for line in out.splitlines() if "prediction_drift" in line]
    assert line.startswith("[WARN] prediction_drift failed on published_predictions eos3b5e|")
    assert "WARNING" not in out and out.startswith("1 alert(s) sent to ['jsonl']:"), out
    assert [a["partition"] for a in read_jsonl(alerts_file(tmp_path))] == ["eos3b5e|frag-0000"]
