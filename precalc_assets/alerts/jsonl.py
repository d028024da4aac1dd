"""The always-on sink: one JSON object per alert appended to `alerts.jsonl`.

Idempotent: an alert whose `dedup_key` is already in the file is not written again, so
the local record holds each alert exactly once, even across retried ticks.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from precalc_assets.alerts.alert import Alert

ALERTS_FILE = "alerts.jsonl"


class JsonlNotifier:
    """Appends one JSON object per alert to a file; skips alerts the file already holds."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

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
        seen = self.recorded_keys()
        new = []
        for alert in alerts:
            key = alert.dedup_key()
            if key in seen:
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
