"""An alert: one check failure or recovery, or one failed run, from one event of the
event log, with the text each sink sends."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from precalc_assets.keys import SEPARATOR, partition_id

AlertKind = Literal["check_failed", "check_recovered", "run_failed"]
Severity = Literal["WARN", "ERROR", "INFO"]

ALERT_KINDS: tuple[str, ...] = ("check_failed", "check_recovered", "run_failed")
SEVERITIES: tuple[str, ...] = ("WARN", "ERROR", "INFO")
SNS_SUBJECT_MAX = 100


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
    # A model x library's alert: its library and every failing partition, worst first.
    library: str = ""
    partitions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ALERT_KINDS:
            raise ValueError(f"alert kind {self.kind!r} is not one of {ALERT_KINDS}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"alert severity {self.severity!r} is not one of {SEVERITIES}")
        # A multi-partition key is "<model>|<slice>" (dimensions sorted by name).
        if self.partition and not (self.model or self.slice) and SEPARATOR in self.partition:
            model, slice_ = self.partition.split(SEPARATOR, 1)
            object.__setattr__(self, "model", model)
            object.__setattr__(self, "slice", slice_)

    def dedup_key(self) -> str:
        """Identity of the alert: the event it came from (storage ids are unique), so a
        re-sent batch is recognised and a later failure of the same check is not."""
        origin = str(self.event_id) if self.event_id is not None else self.timestamp
        return SEPARATOR.join(
            (self.kind, self.asset, self.check, self.partition, self.run_id, origin)
        )

    def where(self) -> str:
        if self.partition:
            return self.partition
        if self.library:
            many = f" ({len(self.partitions)} partitions)" if self.partitions else ""
            return f"{self.model} x library {self.library}{many}"
        if self.model or self.slice:
            return partition_id(self.model or "?", self.slice or "?")
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
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        names = cls.__dataclass_fields__
        fields = {k: v for k, v in data.items() if k in names}
        return cls(**fields | {"partitions": tuple(fields.get("partitions", ()))})
