"""When to alert: when a check starts failing or changes severity, once when it passes
again, and never while it stays in the same state (no alert stuck on forever)."""

from __future__ import annotations

from precalc_assets.alerts.alert import AlertKind, Severity


def check_transition(
    failing: dict[str, str], where: str, passed: bool, severity: str
) -> tuple[AlertKind, Severity] | None:
    """(kind, severity) of the alert a check's new result calls for, or None.

    `failing` maps each failing (asset, check, partition) to its severity; it is the
    alert sensor's state, updated here.
    """
    if not passed:
        if failing.get(where) == severity:
            return None
        failing[where] = severity
        return "check_failed", severity  # type: ignore[return-value]
    if failing.pop(where, None) is not None:
        return "check_recovered", "INFO"
    return None
