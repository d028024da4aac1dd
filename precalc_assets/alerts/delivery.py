"""Delivering alerts to every sink: all are tried, then a failure of any is raised.

Raised inside the alert sensor, `AlertDeliveryError` fails the tick, so the cursor stays
where it was and the next tick retries the same alerts: nothing is lost. The JSONL sink
skips what it already holds; a remote sink (Slack, SNS) that had succeeded may then get
an alert a second time. That is the chosen trade-off: at-least-once for remote sinks on
the rare partial failure, never a lost alert.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from precalc_assets.alerts.alert import Alert


class AlertDeliveryError(RuntimeError):
    """One or more sinks failed; raised after every sink was tried (see module docstring)."""

    def __init__(self, message: str, failures: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.failures: dict[str, str] = dict(failures or {})


class Notifier(Protocol):
    def send(self, alerts: Sequence[Alert]) -> None: ...


class JsonlSink(Protocol):
    def append(self, alerts: Sequence[Alert]) -> list[Alert]: ...


class AlertLog(Protocol):
    """What `deliver` needs of a logger: `context.log`, or a `logging.Logger`."""

    def info(self, msg: str, /) -> Any: ...
    def warning(self, msg: str, /) -> Any: ...
    def error(self, msg: str, /) -> Any: ...


def _log_alerts(log: AlertLog, alerts: Iterable[Alert]) -> None:
    for alert in alerts:
        if alert.severity == "ERROR":
            log.error(alert.text())
        elif alert.severity == "WARN":
            log.warning(alert.text())
        else:
            log.info(alert.text())


def deliver(
    alerts: Sequence[Alert],
    jsonl: JsonlSink,
    remote: Mapping[str, Callable[[], Notifier]],
    log: AlertLog | None,
) -> dict[str, int]:
    """Send `alerts` to the JSONL file, the log and every remote sink; how many each took.

    A remote sink is built inside its own try (a malformed URL/ARN fails here, not
    silently). Every sink is tried even if one fails; then `AlertDeliveryError` names the
    failed ones. `jsonl` counts only alerts new to the file (it is idempotent). With no
    `log` (`precalc alerts`, which prints the alerts itself) the log is not a sink, so a
    terminal shows each alert once.
    """
    alerts = list(alerts)
    if not alerts:
        return {}
    counts: dict[str, int] = {}
    failures: dict[str, str] = {}
    try:
        counts["jsonl"] = len(jsonl.append(alerts))
    except Exception as exc:  # a full disk must not keep Slack/SNS from hearing
        failures["jsonl"] = f"{type(exc).__name__}: {exc}"
    if log is not None:
        _log_alerts(log, alerts)
        counts["log"] = len(alerts)
    for name, build in remote.items():
        try:
            build().send(alerts)
            counts[name] = len(alerts)
        except Exception as exc:
            known = isinstance(exc, AlertDeliveryError)
            failures[name] = str(exc) if known else f"{type(exc).__name__}: {exc}"
    if failures:
        summary = "; ".join(f"{name}: {why}" for name, why in failures.items())
        for name, why in failures.items():
            if log is not None:
                log.error(f"alert delivery to {name} failed: {why}")
        raise AlertDeliveryError(
            f"{len(alerts)} alert(s) not delivered to {sorted(failures)} ({summary}); "
            f"delivered: {counts}. Failing so the alerts are retried on the next tick.",
            failures=failures,
        )
    return counts
