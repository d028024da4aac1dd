"""The latest check results as a report: counts per model and check, then failures."""

from __future__ import annotations

from dataclasses import dataclass

from precalc_assets import keys
from precalc_assets.quality.outcome import WARN


@dataclass(frozen=True)
class CheckResult:
    """One partition's latest evaluation of one check."""

    check: str
    partition: str
    passed: bool
    severity: str
    score: float | None = None
    threshold: float | None = None


def checks_markdown(results: list[CheckResult]) -> str:
    """Per model and check: partitions passed / WARN / ERROR, then each failure."""
    counts: dict[tuple[str, str], list[int]] = {}
    failures = []
    for result in sorted(results, key=lambda r: (r.check, r.partition)):
        model = result.partition.partition(keys.SEPARATOR)[0]
        row = counts.setdefault((model, result.check), [0, 0, 0])
        if result.passed:
            row[0] += 1
            continue
        row[1 if result.severity == WARN else 2] += 1
        failures.append(
            f"| {result.partition} | {result.check} | {result.severity} | "
            f"{_text(result.score)} | {_text(result.threshold)} |"
        )
    lines = ["| model | check | passed | WARN | ERROR |", "|---|---|---:|---:|---:|"]
    lines += [f"| {m} | {c} | {p} | {w} | {e} |" for (m, c), (p, w, e) in sorted(counts.items())]
    if failures:
        lines += [
            "",
            "| partition | check | severity | score | threshold |",
            "|---|---|---|---:|---:|",
        ]
        lines += failures
    return "\n".join(lines)


def _text(value: float | None) -> str:
    return "" if value is None else str(value)
