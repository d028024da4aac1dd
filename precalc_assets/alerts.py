"""Notifications for failed asset checks and failed runs (the layer `check_alerts_sensor` calls).

An `Alert` is one failure (or one recovery) taken from one event of the event log. Sinks:

- `JsonlNotifier`: `$PRECALC_HOME/alerts.jsonl`, the default and always-on sink. It is
  idempotent: an alert whose `dedup_key` is already in the file is not written again, so
  the local record holds each alert exactly once, even across retried ticks.
- the Dagster log of the caller (`context.log`), also always on;
- `SlackNotifier`: a Slack incoming webhook (the URL is a secret: errors name its host only);
- `SnsNotifier`: an SNS topic, through boto3's default chain.

Delivery (`NotifierResource.notify`): every sink is tried, in that order; if any failed,
`AlertDeliveryError` is raised afterwards, naming the failed sinks. Raised inside the
sensor, it fails the tick, so the cursor stays where it was and the next tick retries the
same alerts: nothing is lost. The JSONL sink skips what it already holds; a remote sink
(Slack, SNS) that had succeeded may then get an alert a second time. That is the chosen
trade-off: at-least-once for remote sinks on the rare partial failure, never a lost alert.

This module defines a `ConfigurableResource`, so it must not use
`from __future__ import annotations` (Dagster reads the field annotations at runtime).
"""

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field

from precalc_assets.settings import Settings

AlertKind = Literal["check_failed", "check_recovered", "run_failed"]
Severity = Literal["WARN", "ERROR", "INFO"]

ALERT_KINDS: tuple[str, ...] = ("check_failed", "check_recovered", "run_failed")
SEVERITIES: tuple[str, ...] = ("WARN", "ERROR", "INFO")

SLACK_WEBHOOK_ENV = "PRECALC_SLACK_WEBHOOK_URL"
SNS_TOPIC_ENV = "PRECALC_ALERTS_SNS_TOPIC_ARN"
ALERTS_FILE = "alerts.jsonl"

SNS_SUBJECT_MAX = 100
_RETRY_AFTER_MAX = 30.0


class AlertDeliveryError(RuntimeError):
    """One or more sinks failed; raised after every sink was tried (see module docstring)."""

    def __init__(self, message: str, failures: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.failures: dict[str, str] = dict(failures or {})


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _number(value: float | None) -> str:
    """1.0 -> "1", 10000.0 -> "10000", 0.123456 -> "0.1235" (no exponent for counts)."""
    if value is None:
        return "?"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


@dataclass(frozen=True)
class Alert:
    """One notification: which model, slice, check, score and threshold, from which event."""

    kind: AlertKind
    severity: Severity
    asset: str
    check: str = ""
    partition: str = ""
    model: str = ""
    slice: str = ""
    score: float | None = None
    threshold: float | None = None
    message: str = ""
    run_id: str = ""
    timestamp: str = field(default_factory=utc_now_iso)
    event_id: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ALERT_KINDS:
            raise ValueError(f"alert kind {self.kind!r} is not one of {ALERT_KINDS}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"alert severity {self.severity!r} is not one of {SEVERITIES}")
        # A multi-partition key is "<model>|<slice>" (dimensions sorted by name).
        if self.partition and not (self.model or self.slice) and "|" in self.partition:
            model, slice_ = self.partition.split("|", 1)
            object.__setattr__(self, "model", model)
            object.__setattr__(self, "slice", slice_)

    def dedup_key(self) -> str:
        """Identity of the alert: the event it came from (storage ids are unique), so a
        re-sent batch is recognised and a later failure of the same check is not."""
        origin = str(self.event_id) if self.event_id is not None else self.timestamp
        return "|".join((self.kind, self.asset, self.check, self.partition, self.run_id, origin))

    def where(self) -> str:
        if self.partition:
            return self.partition
        if self.model or self.slice:
            return f"{self.model or '?'}|{self.slice or '?'}"
        return ""

    def detail(self) -> str:
        """The message, or one built from score and threshold when the caller gave none."""
        if self.message:
            return self.message
        if self.score is None and self.threshold is None:
            return ""
        relation = "<=" if self.kind == "check_recovered" else "vs"
        return f"score {_number(self.score)} {relation} threshold {_number(self.threshold)}"

    def text(self) -> str:
        """One human line, as sent to Slack and the log."""
        where = self.where()
        if self.kind == "run_failed":
            head = f"[{self.severity}] run {self.run_id[:8] or '?'} failed"
            if self.asset:
                head += f" ({self.asset})"
            if where:
                head += f" on {where}"
            detail = self.detail()
            return f"{head}: {detail}" if detail else head
        verb = "recovered" if self.kind == "check_recovered" else "failed"
        head = f"[{self.severity}] {self.check or '?'} {verb} on {self.asset}"
        if where:
            head += f" {where}"
        detail = self.detail()
        line = f"{head}: {detail}" if detail else head
        return f"{line} (run {self.run_id[:8]})" if self.run_id else line

    def subject(self) -> str:
        """A short title (SNS Subject: ASCII, one line, at most 100 characters)."""
        if self.kind == "run_failed":
            raw = f"[{self.severity}] precalc run {self.run_id[:8]} failed {self.where()}"
        else:
            verb = "recovered" if self.kind == "check_recovered" else "failed"
            raw = f"[{self.severity}] precalc {self.check} {verb}: {self.asset} {self.where()}"
        clean = " ".join(raw.encode("ascii", "replace").decode("ascii").split())
        return clean[:SNS_SUBJECT_MAX]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"text": self.text(), "dedup_key": self.dedup_key()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Alert":
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


class Notifier(Protocol):
    def send(self, alerts: Sequence[Alert]) -> None: ...


class AlertLog(Protocol):
    """What `notify` needs of a logger: `context.log`, or a `logging.Logger`."""

    def info(self, msg: str, /) -> Any: ...
    def warning(self, msg: str, /) -> Any: ...
    def error(self, msg: str, /) -> Any: ...


class JsonlNotifier:
    """Appends one JSON object per alert to a file; skips alerts the file already holds."""

    def __init__(self, path: str | os.PathLike[str], dedupe: bool = True) -> None:
        self.path = Path(path)
        self.dedupe = dedupe

    def recorded_keys(self) -> set[str]:
        """Dedup keys already in the file (a torn or foreign line is ignored, not fatal)."""
        if not self.path.exists():
            return set()
        keys = set()
        with self.path.open(encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and "dedup_key" in record:
                    keys.add(str(record["dedup_key"]))
        return keys

    def append(self, alerts: Sequence[Alert]) -> list[Alert]:
        """Write the alerts not yet recorded; return them. One `write` per batch, on an
        O_APPEND descriptor, so concurrent writers cannot interleave partial lines."""
        seen = self.recorded_keys() if self.dedupe else set()
        new = []
        for alert in alerts:
            key = alert.dedup_key()
            if self.dedupe and key in seen:
                continue
            seen.add(key)
            new.append(alert)
        if not new:
            return []
        data = "".join(json.dumps(a.to_dict(), sort_keys=True) + "\n" for a in new)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if _ends_without_newline(fd):
                data = "\n" + data  # a torn last line must not swallow the first new one
            payload = data.encode("utf-8")
            written = os.write(fd, payload)
            while written < len(payload):  # regular files do not short-write; be safe anyway
                written += os.write(fd, payload[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        return new

    def send(self, alerts: Sequence[Alert]) -> None:
        self.append(alerts)


def _ends_without_newline(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


class SlackNotifier:
    """POSTs `{"text": ...}` per alert to a Slack incoming webhook, retrying 429 and 5xx."""

    def __init__(
        self, webhook_url: str, timeout: float = 10, retries: int = 3, backoff: float = 1.0
    ) -> None:
        parts = urlsplit(webhook_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"the Slack webhook URL must be http(s)://host/...; got scheme {parts.scheme!r} "
                f"(set {SLACK_WEBHOOK_ENV} to the webhook's URL)"
            )
        self._url = webhook_url
        self.host = parts.hostname
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    def __repr__(self) -> str:
        return f"SlackNotifier(host={self.host!r})"  # never the secret path

    def _redact(self, text: str) -> str:
        path = urlsplit(self._url).path
        text = text.replace(self._url, f"<webhook on {self.host}>")
        return text.replace(path, "/<redacted>") if len(path) > 1 else text

    def _post(self, body: bytes) -> tuple[int | None, str, float | None]:
        """One attempt: (status or None if no answer, short reason, Retry-After seconds)."""
        request = urllib.request.Request(
            self._url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, "", None
        except urllib.error.HTTPError as exc:
            with exc:
                reason = exc.read(200).decode("utf-8", "replace").strip() or str(exc.reason)
            return exc.code, self._redact(reason), _retry_after(exc.headers.get("Retry-After"))
        except urllib.error.URLError as exc:
            return None, self._redact(str(exc.reason)), None
        except (OSError, ValueError) as exc:  # timeouts, resets, malformed answers
            return None, self._redact(f"{type(exc).__name__}: {exc}"), None

    def send_one(self, alert: Alert) -> None:
        body = json.dumps({"text": alert.text()}).encode("utf-8")
        for attempt in range(self.retries + 1):
            status, reason, retry_after = self._post(body)
            if status is not None and 200 <= status < 300:
                return
            retryable = status is None or status == 429 or status >= 500
            if not retryable or attempt == self.retries:
                answer = f"HTTP {status}" if status is not None else "no answer"
                tries = f"after {attempt + 1} attempt{'s' if attempt else ''}"
                raise AlertDeliveryError(
                    f"Slack webhook on {self.host} refused the alert {tries}: {answer}"
                    + (f" ({reason})" if reason else "")
                    + (
                        f"; check {SLACK_WEBHOOK_ENV}"
                        if status is not None and 400 <= status < 500
                        else ""
                    )
                ) from None
            delay = self.backoff * 2**attempt
            if retry_after is not None:
                delay = max(delay, retry_after)
            time.sleep(min(delay, _RETRY_AFTER_MAX))

    def send(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            self.send_one(alert)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


class SnsNotifier:
    """Publishes each alert to an SNS topic: Subject (title), Message (JSON), attributes
    `severity`, `kind`, `model`, `check` for subscription filter policies."""

    def __init__(self, topic_arn: str, client: Any = None) -> None:
        parts = topic_arn.split(":")
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns":
            raise ValueError(
                f"{topic_arn!r} is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>); "
                f"check {SNS_TOPIC_ENV}"
            )
        self.topic_arn = topic_arn
        self._client = client

    @property
    def client(self) -> Any:
        """boto3's default chain (credentials, AWS_ENDPOINT_URL); the region is the topic's."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            region = self.topic_arn.split(":")[3] or None
            config = Config(retries={"max_attempts": 5, "mode": "standard"})
            self._client = boto3.client("sns", region_name=region, config=config)
        return self._client

    def publish_args(self, alert: Alert) -> dict[str, Any]:
        attributes = {
            name: {"DataType": "String", "StringValue": value}
            for name, value in (
                ("severity", alert.severity),
                ("kind", alert.kind),
                ("model", alert.model),
                ("check", alert.check),
            )
            if value  # SNS rejects empty attribute values
        }
        return {
            "TopicArn": self.topic_arn,
            "Subject": alert.subject(),
            "Message": json.dumps(alert.to_dict(), sort_keys=True),
            "MessageAttributes": attributes,
        }

    def send(self, alerts: Sequence[Alert]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        for alert in alerts:
            try:
                self.client.publish(**self.publish_args(alert))
            except ClientError as exc:
                error = exc.response.get("Error", {})
                raise AlertDeliveryError(
                    f"SNS publish to {self.topic_arn} failed: {error.get('Code')}: "
                    f"{error.get('Message')}"
                ) from exc
            except BotoCoreError as exc:
                raise AlertDeliveryError(
                    f"SNS publish to {self.topic_arn} failed: {type(exc).__name__}: {exc}"
                ) from exc


class NotifierResource(dg.ConfigurableResource):
    """Where alerts go: the JSONL file and the Dagster log always; Slack and SNS if set."""

    alerts_path: str | None = Field(
        default=None, description="JSON lines file; default $PRECALC_HOME/alerts.jsonl."
    )
    slack_webhook_url: str | None = Field(
        default=None, description=f"Slack incoming webhook (a secret: use {SLACK_WEBHOOK_ENV})."
    )
    sns_topic_arn: str | None = Field(default=None, description=f"SNS topic ARN ({SNS_TOPIC_ENV}).")
    slack_timeout: float = 10
    slack_retries: int = 3
    slack_backoff: float = 1.0

    def resolved_alerts_path(self) -> Path:
        return (
            Path(self.alerts_path) if self.alerts_path else Settings.from_env().home / ALERTS_FILE
        )

    def sink_names(self) -> list[str]:
        """The remote sinks that are configured (JSONL and the log are always on)."""
        return [
            name
            for name, value in (("slack", self.slack_webhook_url), ("sns", self.sns_topic_arn))
            if value
        ]

    def sink(self, name: str) -> Notifier:
        """Build one remote sink; a malformed URL/ARN raises ValueError naming its env var."""
        if name == "slack" and self.slack_webhook_url:
            return SlackNotifier(
                self.slack_webhook_url,
                timeout=self.slack_timeout,
                retries=self.slack_retries,
                backoff=self.slack_backoff,
            )
        if name == "sns" and self.sns_topic_arn:
            return SnsNotifier(self.sns_topic_arn)
        raise KeyError(f"alert sink {name!r} is not configured")

    def sinks(self) -> dict[str, Notifier]:
        return {name: self.sink(name) for name in self.sink_names()}

    def notify(self, alerts: Sequence[Alert], log: AlertLog | None = None) -> dict[str, int]:
        """Send `alerts` to every sink; return how many each took.

        Every sink is tried even if one fails; then `AlertDeliveryError` names the failed
        ones, so the sensor's tick fails and its cursor does not move (re-delivery next
        tick). `jsonl` counts only alerts new to the file (it is idempotent).
        """
        alerts = list(alerts)
        if not alerts:
            return {}
        logger: AlertLog = log if log is not None else dg.get_dagster_logger("precalc_alerts")
        counts: dict[str, int] = {}
        failures: dict[str, str] = {}

        try:
            counts["jsonl"] = len(JsonlNotifier(self.resolved_alerts_path()).append(alerts))
        except Exception as exc:  # a full disk must not keep Slack/SNS from hearing
            failures["jsonl"] = f"{type(exc).__name__}: {exc}"
        _log_alerts(logger, alerts)
        counts["log"] = len(alerts)

        for name in self.sink_names():
            try:
                self.sink(name).send(alerts)  # a malformed URL/ARN fails here, not silently
                counts[name] = len(alerts)
            except Exception as exc:
                known = isinstance(exc, AlertDeliveryError)
                failures[name] = str(exc) if known else f"{type(exc).__name__}: {exc}"

        if failures:
            summary = "; ".join(f"{name}: {why}" for name, why in failures.items())
            for name, why in failures.items():
                logger.error(f"alert delivery to {name} failed: {why}")
            raise AlertDeliveryError(
                f"{len(alerts)} alert(s) not delivered to {sorted(failures)} ({summary}); "
                f"delivered: {counts}. Failing so the alerts are retried on the next tick.",
                failures=failures,
            )
        return counts


def _log_alerts(log: AlertLog, alerts: Iterable[Alert]) -> None:
    for alert in alerts:
        if alert.severity == "ERROR":
            log.error(alert.text())
        elif alert.severity == "WARN":
            log.warning(alert.text())
        else:
            log.info(alert.text())


def notifier_resource_for(deployment: str) -> NotifierResource:
    """The notifier of a deployment; Slack and SNS only where their env vars are set.

    `dg.EnvVar` of an unset variable fails resource initialisation, and Dagster 1.13 has
    no optional `EnvVar`; so the choice is made here, when definitions are built (lazily,
    never at import). A set variable is passed as `dg.EnvVar`, so its value is read in the
    process that uses the resource and the UI shows the variable's name, not the secret.
    """
    if deployment not in ("local", "aws"):
        raise ValueError(
            f"PRECALC_DEPLOYMENT={deployment!r} is not a deployment; use one of ['aws', 'local']"
        )
    return NotifierResource(
        slack_webhook_url=_env_var_if_set(SLACK_WEBHOOK_ENV),
        sns_topic_arn=_env_var_if_set(SNS_TOPIC_ENV),
    )


def _env_var_if_set(name: str) -> dg.EnvVar | None:
    return dg.EnvVar(name) if os.environ.get(name) else None


__all__ = [
    "Alert",
    "AlertDeliveryError",
    "JsonlNotifier",
    "NotifierResource",
    "SlackNotifier",
    "SnsNotifier",
    "notifier_resource_for",
]
