"""Per-model summaries of the ledger, the work still to do, and their markdown."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime

from precalc_assets import keys
from precalc_assets.ledger.rows import TO_DO, LedgerRow, Status


@dataclass
class ModelSummary:
    model: str
    slices: int = 0
    complete: bool = False
    rows_published: int = 0
    rows_rejected: int = 0
    rows_computed: int = 0  # for lookups, on demand (`serving.compute_missing`)
    last_run_id: str = ""
    last_materialized_at: str = ""
    error: str = ""
    done: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    in_progress: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(
    rows: list[LedgerRow], computed: Mapping[str, int] | None = None
) -> list[ModelSummary]:
    """Per model: the slices in each state, totals, and whether it is complete (the
    model-level fan-in: every registered slice published under its current version);
    `computed`: molecules lookups computed per model (`ledger.computed`)."""
    summaries: dict[str, ModelSummary] = {}
    for row in rows:
        summary = summaries.setdefault(row.model, ModelSummary(row.model))
        summary.slices += 1
        getattr(summary, row.status).append(row.slice)
        summary.rows_published += row.rows_published
        summary.rows_rejected += row.rows_rejected
        summary.error = row.spec_error
        if row.materialized_at > summary.last_materialized_at:
            summary.last_materialized_at = row.materialized_at
            summary.last_run_id = row.run_id
    for summary in summaries.values():
        summary.rows_computed = (computed or {}).get(summary.model, 0)
        summary.complete = summary.slices > 0 and len(summary.done) == summary.slices
    return list(summaries.values())


def work_to_do(rows: list[LedgerRow]) -> dict[str, list[str]]:
    """Slice -> models whose partition is missing, stale or failed."""
    plan: dict[str, list[str]] = {}
    for row in rows:
        if row.status in TO_DO:
            plan.setdefault(row.slice, []).append(row.model)
    return plan


def plan_of(partitions: set[str]) -> dict[str, list[str]]:
    """Slice -> models of `"<model>|<slice>"` partitions, the form runs are planned in."""
    plan: dict[str, list[str]] = {}
    for partition in sorted(partitions):
        model_id, slice_key = keys.split_partition_id(partition)
        plan.setdefault(slice_key, []).append(model_id)
    return plan


def summary_markdown(summaries: list[ModelSummary]) -> str:
    lines = [
        "| model | complete | done | stale | failed | missing | in progress | blocked "
        "| rows published | rows rejected | computed for lookups |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.model} | {'yes' if s.complete else 'no'} | {len(s.done)}/{s.slices} | "
            f"{len(s.stale)} | {len(s.failed)} | {len(s.missing)} | {len(s.in_progress)} | "
            f"{len(s.blocked)} | {s.rows_published:,} | {s.rows_rejected:,} | "
            f"{s.rows_computed:,} |"
        )
    lines += [f"\nmodel {s.model!r} cannot be run: {s.error}" for s in summaries if s.error]
    return "\n".join(lines)


def in_progress_lines(rows: list[LedgerRow], now: datetime) -> list[str]:
    """One line per partition a run holds: which run, since when, for how long."""
    lines = []
    for row in rows:
        if row.status != Status.IN_PROGRESS:
            continue
        since = row.in_progress_since
        age = f", {int((now - datetime.fromisoformat(since)).total_seconds())} s" if since else ""
        lines.append(
            f"in progress: {keys.partition_id(row.model, row.slice)} in run "
            f"{row.in_progress_run_id or '?'} (since {since or '?'}{age})"
        )
    return lines


def failure_lines(rows: list[LedgerRow]) -> list[str]:
    """One line per failed partition whose cause the ledger knows (its run's process is
    gone), so nobody waits for a run that will never end."""
    return [
        f"failed: {keys.partition_id(row.model, row.slice)}: {row.failure}"
        for row in rows
        if row.status == Status.FAILED and row.failure
    ]


def other_target_lines(rows: list[LedgerRow], target: str) -> list[str]:
    """What a home whose history went to another storage or serving table says: those
    partitions count as missing for `target`, and are run for it."""
    elsewhere = Counter(row.other_target for row in rows if row.other_target)
    return [
        f"{count} partition(s) of this home's history were published to {other}, not to "
        f"{target}: they count as missing here and are run again for it. Give each target "
        "its own PRECALC_HOME (or DAGSTER_HOME), so that neither history hides the other."
        for other, count in elsewhere.most_common()
    ]
