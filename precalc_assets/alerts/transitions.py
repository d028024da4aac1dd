"""When to alert: when a model x library's check starts failing or changes severity,
once when all of its partitions pass again, and never while it stays in the same state
(no alert stuck on forever, no alert per partition: a new library of 200 slices that
drifts is one message per model, not 200)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from precalc_assets import keys
from precalc_assets.alerts.alert import Alert

SEVERITY_RANK = {"WARN": 1, "ERROR": 2}
WORST_SHOWN = 3  # partitions named in a model x library's alert


@dataclass(frozen=True)
class CheckEvaluation:
    """One check evaluation, as the alert sensor read it from the event log."""

    asset: str
    check: str
    partition: str
    passed: bool
    severity: str
    score: float | None
    threshold: float | None
    message: str
    run_id: str
    timestamp: str
    event_id: int | None

    @property
    def failing_key(self) -> str:
        return f"{self.asset}/{self.check}/{self.partition}"


Group = tuple[str, str, str, str]  # asset, check, model, library


def group_of(asset: str, check: str, partition: str) -> Group:
    """The model x library (x asset, check) a partition's alerts are grouped by."""
    model, _, slice_key = partition.rpartition(keys.SEPARATOR)
    return asset, check, model, keys.library_of(slice_key)


def _failing_in(failing: Mapping[str, str], group: Group) -> dict[str, str]:
    """partition -> severity of the group's failing partitions."""
    found = {}
    for key, severity in failing.items():
        asset, check, partition = key.split("/", 2)
        if group_of(asset, check, partition) == group:
            found[partition] = severity
    return found


def _worst(failing: Mapping[str, str]) -> str:
    return max(failing.values(), key=SEVERITY_RANK.__getitem__, default="")


def check_alerts_for(results: Sequence[CheckEvaluation], failing: dict[str, str]) -> list[Alert]:
    """The alerts `results` (in event order) call for, one per model x library x check
    whose state changed; `failing` (each failing partition's severity, the alert
    sensor's state) is updated."""
    groups: dict[Group, list[CheckEvaluation]] = {}
    for result in results:
        groups.setdefault(group_of(result.asset, result.check, result.partition), []).append(result)
    before = {group: _worst(_failing_in(failing, group)) for group in groups}
    for result in results:
        if result.passed:
            failing.pop(result.failing_key, None)
        else:
            failing[result.failing_key] = result.severity
    alerts = []
    for group, seen in groups.items():
        now = _failing_in(failing, group)
        severity = _worst(now)
        if severity and severity != before[group]:
            alerts.append(_failed(group, seen, now, severity))
        elif before[group] and not severity:
            alerts.append(_recovered(group, seen[-1]))
    return alerts


def _failed(group: Group, seen: list[CheckEvaluation], now: dict[str, str], severity: str) -> Alert:
    """The group's failure: its worst result of this batch, and every failing partition
    (this batch's worst first)."""
    asset, check, model, library = group
    failed = [r for r in seen if not r.passed and r.partition in now]
    ranked = sorted(
        failed, key=lambda r: (-SEVERITY_RANK[r.severity], -(r.score or 0.0), r.partition)
    )
    worst = ranked[0] if ranked else seen[-1]
    named = [r.partition for r in ranked]
    partitions = tuple(named + sorted(p for p in now if p not in named))
    message = worst.message
    if len(partitions) > 1:
        shown = ", ".join(
            f"{r.partition} ({r.score:.4g})" if r.score is not None else r.partition
            for r in ranked[:WORST_SHOWN]
        )
        message = f"{len(partitions)} partitions failing; worst: {shown}; {worst.message}"
    return Alert(
        kind="check_failed",
        severity=severity,  # type: ignore[arg-type]
        asset=asset,
        check=check,
        partition=worst.partition if len(partitions) == 1 else "",
        model=model,
        slice=worst.partition.rpartition(keys.SEPARATOR)[2] if len(partitions) == 1 else "",
        score=worst.score,
        threshold=worst.threshold,
        message=message,
        run_id=worst.run_id,
        timestamp=worst.timestamp,
        event_id=worst.event_id,
        library=library,
        partitions=partitions,
    )


def _recovered(group: Group, last: CheckEvaluation) -> Alert:
    asset, check, model, library = group
    return Alert(
        kind="check_recovered",
        severity="INFO",
        asset=asset,
        check=check,
        model=model,
        threshold=last.threshold,
        message=f"every partition of {model} x library {library} passes again",
        run_id=last.run_id,
        timestamp=last.timestamp,
        event_id=last.event_id,
        library=library,
    )
