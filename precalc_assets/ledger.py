"""The ledger: what is done, stale, failed or missing, read from Dagster's own
materialisation history (no second, hand-kept table).

A model x slice partition is
- `done` when `published_predictions` is materialised under the model's current code
  version (a hash of its spec and of the pipeline version),
- `stale` when it is materialised under another code version (the spec changed),
- `failed` when its latest attempt failed, `in_progress` while a run holds it,
- `missing` otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import dagster as dg

from precalc_assets.metadata import CODE_VERSION, partition_figure, partition_value
from precalc_assets.models import ModelError
from precalc_assets.partitions import model_slice_partitions
from precalc_assets.registry import load_model_spec
from precalc_assets.stores import ObjectStore

PUBLISHED = dg.AssetKey("published_predictions")
VALIDATED = dg.AssetKey("validated_predictions")
LIBRARY = dg.AssetKey("library_slices")
TO_DO = ("missing", "stale", "failed")


@dataclass
class LedgerRow:
    model: str
    slice: str
    status: str
    rows_published: int = 0
    rows_rejected: int = 0
    code_version: str = ""
    current_code_version: str = ""
    run_id: str = ""
    materialized_at: str = ""


@dataclass
class ModelSummary:
    model: str
    slices: int = 0
    complete: bool = False
    rows_published: int = 0
    rows_rejected: int = 0
    last_run_id: str = ""
    last_materialized_at: str = ""
    error: str = ""
    done: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    in_progress: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def latest_records(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partitions: list[str] | None = None
) -> dict[str, object]:
    """Partition -> record of its latest materialisation (pages through history).

    With `partitions`, only their history is read (chunks of 1,000 keys), so a ledger of
    one model, or a sensor asking about one model, does not read every partition's.
    """
    chunks = (
        [None]
        if partitions is None
        else [partitions[i : i + 1000] for i in range(0, len(partitions), 1000)]
    )
    latest: dict[str, object] = {}
    for chunk in chunks:
        records_filter = dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=chunk)
        cursor = None
        while True:
            page = instance.fetch_materializations(records_filter, limit=1000, cursor=cursor)
            for record in page.records:
                if record.partition_key and record.partition_key not in latest:
                    latest[record.partition_key] = record
            if not page.has_more:
                break
            cursor = page.cursor
    return latest


def _metadata(record) -> dict:
    return record.asset_materialization.metadata if record is not None else {}


def current_code_versions(store: ObjectStore, models: Iterable[str]) -> dict[str, str | ModelError]:
    versions: dict[str, str | ModelError] = {}
    for model_id in models:
        try:
            versions[model_id] = load_model_spec(store, model_id).code_version
        except ModelError as exc:
            versions[model_id] = exc
    return versions


def build_ledger(
    instance: dg.DagsterInstance,
    store: ObjectStore,
    models: list[str] | None = None,
    slices: list[str] | None = None,
) -> list[LedgerRow]:
    """One row per registered model x slice (or the given subsets)."""
    all_models = instance.get_dynamic_partitions("model")
    all_slices = instance.get_dynamic_partitions("slice")
    models = all_models if models is None else models
    slices = all_slices if slices is None else slices
    # Read only the history of the partitions asked for, unless that is all of them.
    subset = list(models) != list(all_models) or list(slices) != list(all_slices)
    versions = current_code_versions(store, models)
    keys = [f"{m}|{s}" for m in models for s in slices]
    published = latest_records(instance, PUBLISHED, keys if subset else None)
    validated = latest_records(instance, VALIDATED, keys if subset else None)
    library = latest_records(instance, LIBRARY, slices if subset else None)
    statuses = (
        instance.get_status_by_partition(PUBLISHED, keys, model_slice_partitions) or {}
        if keys
        else {}
    )
    rows = []
    for model_id in models:
        current = versions[model_id]
        current_text = current if isinstance(current, str) else ""
        for slice_key in slices:
            key = f"{model_id}|{slice_key}"
            record = published.get(key)
            meta = _metadata(record)
            version = str(partition_value(meta, key, CODE_VERSION) or "")
            status = _status(statuses.get(key), record is not None, version, current_text)
            row = LedgerRow(model_id, slice_key, status, current_code_version=current_text)
            if record is not None:
                row.rows_published = partition_figure(meta, key, "items_published")
                row.rows_rejected = (
                    partition_figure(_metadata(library.get(slice_key)), slice_key, "rejected_rows")
                    + partition_figure(_metadata(validated.get(key)), key, "quarantined_rows")
                    + partition_figure(meta, key, "not_published")
                )
                row.code_version = version
                row.run_id = record.run_id
                row.materialized_at = datetime.fromtimestamp(record.timestamp, UTC).isoformat(
                    timespec="seconds"
                )
            rows.append(row)
    return rows


def _status(
    status: dg.AssetPartitionStatus | None, materialized: bool, version: str, current: str
) -> str:
    if status == dg.AssetPartitionStatus.IN_PROGRESS:
        return "in_progress"
    if status == dg.AssetPartitionStatus.FAILED:
        return "failed"
    if not materialized:
        return "missing"
    return "done" if version and version == current else "stale"


def summarize(rows: list[LedgerRow], errors: dict[str, str] | None = None) -> list[ModelSummary]:
    """Per model: the slices in each state, totals, and whether it is complete (the
    model-level fan-in: every registered slice published under its current version)."""
    summaries: dict[str, ModelSummary] = {}
    for row in rows:
        summary = summaries.setdefault(row.model, ModelSummary(row.model))
        summary.slices += 1
        getattr(summary, row.status).append(row.slice)
        summary.rows_published += row.rows_published
        summary.rows_rejected += row.rows_rejected
        if row.materialized_at > summary.last_materialized_at:
            summary.last_materialized_at = row.materialized_at
            summary.last_run_id = row.run_id
    for summary in summaries.values():
        summary.complete = summary.slices > 0 and len(summary.done) == summary.slices
        summary.error = (errors or {}).get(summary.model, "")
    return list(summaries.values())


def work_to_do(rows: list[LedgerRow]) -> dict[str, list[str]]:
    """Slice -> models whose partition is missing, stale or failed."""
    plan: dict[str, list[str]] = {}
    for row in rows:
        if row.status in TO_DO:
            plan.setdefault(row.slice, []).append(row.model)
    return plan


def summary_markdown(summaries: list[ModelSummary]) -> str:
    lines = [
        "| model | complete | done | stale | failed | missing | rows published | rows rejected |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.model} | {'yes' if s.complete else 'no'} | {len(s.done)}/{s.slices} | "
            f"{len(s.stale)} | {len(s.failed)} | {len(s.missing)} | {s.rows_published:,} | "
            f"{s.rows_rejected:,} |"
        )
    return "\n".join(lines)
