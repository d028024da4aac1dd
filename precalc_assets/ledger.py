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
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime

import dagster as dg
import pyarrow as pa
from dagster._core.events import DagsterEventType

from precalc_assets import layout
from precalc_assets.metadata import CODE_VERSION, partition_figure, partition_value
from precalc_assets.models import ModelError
from precalc_assets.partitions import model_slice_partitions
from precalc_assets.registry import load_model_spec
from precalc_assets.stores import ObjectStore, StoreError

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


@dataclass
class Fact:
    """What the ledger keeps of a partition's latest materialisation."""

    storage_id: int
    run_id: str = ""
    timestamp: float = 0.0
    code_version: str = ""
    items_published: int = 0
    not_published: int = 0
    quarantined_rows: int = 0
    rejected_rows: int = 0


FACT_COLUMNS = [f.name for f in fields(Fact)]
# Figures read from each asset's metadata (the rest of its metadata is not kept).
FIGURES = {
    PUBLISHED: ("items_published", "not_published"),
    VALIDATED: ("quarantined_rows",),
    LIBRARY: ("rejected_rows",),
}
# Above this many partitions, ask the event log for all of them and filter here.
PARTITION_FILTER_LIMIT = 5_000


def _fact(asset_key: dg.AssetKey, record) -> Fact:
    meta = record.asset_materialization.metadata
    key = record.partition_key
    fact = Fact(record.storage_id, record.run_id, record.timestamp)
    if asset_key == PUBLISHED:
        fact.code_version = str(partition_value(meta, key, CODE_VERSION) or "")
    for name in FIGURES[asset_key]:
        setattr(fact, name, partition_figure(meta, key, name))
    return fact


class History:
    """Each partition's latest materialisation facts, read incrementally.

    Dagster's event log stays the source of truth: a partition whose latest storage id
    (one cheap indexed query, no event decoding) differs from the cached one is read
    again, a partition no longer in the log (wiped) is dropped. Only new events are
    decoded (~200 us each), so a ledger of 100k partitions costs seconds once warm.
    The cache is an object in storage named after the Dagster instance's run-storage id,
    so a reset instance never reuses another's facts; losing it only costs a cold read.
    """

    def __init__(self, instance: dg.DagsterInstance, store: ObjectStore | None) -> None:
        self.instance = instance
        self.store = store
        self.cache_key = _cache_key(instance) if store is not None else None
        self.facts: dict[str, dict[str, Fact]] = {}
        self.changed = False
        if self.cache_key and store.exists(self.cache_key):
            try:
                self.facts = _read_facts(store.read_parquet(self.cache_key))
            except (StoreError, KeyError, TypeError):
                self.changed = True  # unreadable: rebuilt from history and rewritten

    def latest(
        self, asset_key: dg.AssetKey, partitions: list[str] | None = None
    ) -> dict[str, Fact]:
        """Partition -> facts of its latest materialisation (all, or the given ones)."""
        wanted = None if partitions is None else set(partitions)
        few = wanted is not None and len(wanted) <= PARTITION_FILTER_LIMIT
        ids = self.instance.event_log_storage.get_latest_storage_id_by_partition(
            asset_key, DagsterEventType.ASSET_MATERIALIZATION, partitions=wanted if few else None
        )
        if wanted is not None:
            ids = {p: i for p, i in ids.items() if p in wanted}
        known = self.facts.setdefault(asset_key.to_user_string(), {})
        gone = [p for p in known if p not in ids and (wanted is None or p in wanted)]
        for partition in gone:
            del known[partition]
        to_read = sorted(i for p, i in ids.items() if p not in known or known[p].storage_id != i)
        for start in range(0, len(to_read), 1000):
            chunk = to_read[start : start + 1000]
            page = self.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=asset_key, storage_ids=chunk), limit=len(chunk)
            )
            for record in page.records:
                known[record.partition_key] = _fact(asset_key, record)
        self.changed = self.changed or bool(gone or to_read)
        return {p: known[p] for p in ids if p in known}

    def save(self) -> None:
        if self.changed and self.cache_key:
            self.store.write_parquet(self.cache_key, _facts_table(self.facts))
            self.changed = False


def _cache_key(instance: dg.DagsterInstance) -> str | None:
    try:
        return layout.ledger_cache(instance.run_storage.get_run_storage_id())
    except (AttributeError, NotImplementedError):
        return None


def _facts_table(facts: dict[str, dict[str, Fact]]) -> pa.Table:
    columns: dict[str, list] = {"asset": [], "partition": []} | {c: [] for c in FACT_COLUMNS}
    for asset, by_partition in facts.items():
        for partition, fact in by_partition.items():
            columns["asset"].append(asset)
            columns["partition"].append(partition)
            for name in FACT_COLUMNS:
                columns[name].append(getattr(fact, name))
    return pa.table(columns)


def _read_facts(table: pa.Table) -> dict[str, dict[str, Fact]]:
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    facts: dict[str, dict[str, Fact]] = {}
    values = zip(*(columns[c] for c in FACT_COLUMNS), strict=True)
    for asset, partition, row in zip(columns["asset"], columns["partition"], values, strict=True):
        facts.setdefault(asset, {})[partition] = Fact(*row)
    return facts


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
    history = History(instance, store)
    published = history.latest(PUBLISHED, keys if subset else None)
    validated = history.latest(VALIDATED, keys if subset else None)
    library = history.latest(LIBRARY, slices if subset else None)
    history.save()
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
            fact = published.get(key)
            version = fact.code_version if fact is not None else ""
            status = _status(statuses.get(key), fact is not None, version, current_text)
            row = LedgerRow(model_id, slice_key, status, current_code_version=current_text)
            if fact is not None:
                library_fact = library.get(slice_key)
                validated_fact = validated.get(key)
                row.rows_published = fact.items_published
                row.rows_rejected = (
                    (library_fact.rejected_rows if library_fact else 0)
                    + (validated_fact.quarantined_rows if validated_fact else 0)
                    + fact.not_published
                )
                row.code_version = version
                row.run_id = fact.run_id
                row.materialized_at = datetime.fromtimestamp(fact.timestamp, UTC).isoformat(
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
