"""What a check decides for one partition, and the severities, defined once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PASS, WARN, ERROR = "PASS", "WARN", "ERROR"


@dataclass(frozen=True)
class Outcome:
    passed: bool
    severity: str  # WARN or ERROR: what a failure means (kept when it passes, for the UI)
    score: float
    threshold: float
    description: str
    table: str = ""
    figures: dict[str, Any] = field(default_factory=dict)  # numbers and text for the UI
    links: dict[str, str] = field(default_factory=dict)  # name -> URI of a file to open


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
