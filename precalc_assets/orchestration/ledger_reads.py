"""The ledger's reads of Dagster's event log: each partition's latest materialisation,
read incrementally, and the ledger built from it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dagster as dg

from precalc_assets import keys, layout
from precalc_assets.ledger.cache import facts_table, read_facts
from precalc_assets.ledger.rows import (
    Fact,
    LedgerRow,
    Status,
    current_code_versions,
    ledger_rows,
    of_target,
)
from precalc_assets.models.trust import ModelPolicy
from precalc_assets.orchestration.partitions import model_slice_partitions
from precalc_assets.orchestration.run_processes import held_by_live_or_dead_runs
from precalc_assets.stores.errors import StoreError
from precalc_assets.stores.object_store import ObjectStore
from precalc_assets.stores.urls import history_target

PUBLISHED = dg.AssetKey(keys.PUBLISHED_PREDICTIONS)
VALIDATED = dg.AssetKey(keys.VALIDATED_PREDICTIONS)
LIBRARY = dg.AssetKey(keys.LIBRARY_SLICES)
# Figures read from each asset's metadata into the `Fact` field of the same name.
FIGURES = {
    PUBLISHED: (keys.ITEMS_PUBLISHED, keys.NOT_PUBLISHED),
    VALIDATED: (keys.QUARANTINED_ROWS,),
    LIBRARY: (keys.REJECTED_ROWS,),
}
ATTEMPTS = {
    dg.AssetPartitionStatus.IN_PROGRESS: Status.IN_PROGRESS,
    dg.AssetPartitionStatus.FAILED: Status.FAILED,
}


def _metadata_value(metadata: dict | None, name: str) -> object:
    value = (metadata or {}).get(name)
    return value.value if value is not None else None


def _metadata_figure(metadata: dict | None, name: str) -> int:
    return int(_metadata_value(metadata, name) or 0)


def _fact(asset_key: dg.AssetKey, record: dg.EventLogRecord) -> Fact:
    meta = record.asset_materialization.metadata
    fact = Fact(record.storage_id, record.run_id, record.timestamp)
    if asset_key == PUBLISHED:
        fact.code_version = str(_metadata_value(meta, keys.CODE_VERSION) or "")
        fact.taken_over = json.dumps(_metadata_value(meta, keys.TAKEN_OVER) or {})
        fact.target = str(_metadata_value(meta, keys.TARGET) or "")
    for name in FIGURES[asset_key]:
        setattr(fact, name, _metadata_figure(meta, name))
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
                self.facts = read_facts(store.read_parquet(self.cache_key))
            except (StoreError, KeyError, TypeError):
                self.changed = True  # unreadable: rebuilt from history and rewritten

    def latest(
        self, asset_key: dg.AssetKey, partitions: list[str] | None = None
    ) -> dict[str, Fact]:
        """Partition -> facts of its latest materialisation (all, or the given ones)."""
        wanted = None if partitions is None else set(partitions)
        few = wanted is not None and len(wanted) <= keys.PARTITIONS_PER_QUERY
        ids = self.instance.event_log_storage.get_latest_storage_id_by_partition(
            asset_key, dg.DagsterEventType.ASSET_MATERIALIZATION, partitions=wanted if few else None
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
            self.store.write_parquet(self.cache_key, facts_table(self.facts))
            self.changed = False


def _cache_key(instance: dg.DagsterInstance) -> str | None:
    try:
        return layout.ledger_cache(instance.run_storage.get_run_storage_id())
    except (AttributeError, NotImplementedError):
        return None


def build_ledger(
    instance: dg.DagsterInstance,
    store: ObjectStore,
    policy: ModelPolicy,
    serving_url: str,
    models: list[str] | None = None,
    slices: list[str] | None = None,
) -> list[LedgerRow]:
    """One row per registered model x slice (or the given subsets), done only where
    published to this storage and serving table (`serving_url`, as its store spells it)."""
    all_models = instance.get_dynamic_partitions(keys.MODEL)
    all_slices = instance.get_dynamic_partitions(keys.SLICE)
    models = all_models if models is None else models
    slices = all_slices if slices is None else slices
    # Read only the history of the partitions asked for, unless that is all of them.
    subset = list(models) != list(all_models) or list(slices) != list(all_slices)
    partitions = [keys.partition_id(m, s) for m in models for s in slices]
    history = History(instance, store)
    published, elsewhere = of_target(
        history.latest(PUBLISHED, partitions if subset else None),
        history_target(store.url, serving_url),
    )
    validated = history.latest(VALIDATED, partitions if subset else None)
    library = history.latest(LIBRARY, slices if subset else None)
    history.save()
    statuses = (
        instance.get_status_by_partition(PUBLISHED, partitions, model_slice_partitions) or {}
        if partitions
        else {}
    )
    attempts = {p: ATTEMPTS[s] for p, s in statuses.items() if s in ATTEMPTS}
    live, dead = held_by_live_or_dead_runs(instance, models, slices, keys.PRECALCULATE_JOB)
    held = {p: run.run_id for p, run in live.items() if attempts.get(p) == Status.IN_PROGRESS}
    # Dagster reads a run in progress until something marks it failed; its process tags
    # say now that it never will finish.
    failures = {p: run.reason for p, run in dead.items() if attempts.get(p) == Status.IN_PROGRESS}
    attempts |= dict.fromkeys(failures, Status.FAILED)
    starts = {run_id: _run_start(instance, run_id) for run_id in set(held.values())}
    in_flight = {partition: (run_id, starts[run_id]) for partition, run_id in held.items()}
    versions = current_code_versions(store, models, policy)
    return ledger_rows(
        models,
        slices,
        versions,
        published,
        validated,
        library,
        attempts,
        in_flight,
        failures,
        elsewhere,
    )


def _run_start(instance: dg.DagsterInstance, run_id: str) -> str:
    record = instance.get_run_record_by_id(run_id)
    started = record.start_time if record is not None else None
    return datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds") if started else ""
