"""The ledger's rows: what is done, stale, failed, in progress or missing per model x
slice, decided from what Dagster's materialisation history says of each partition (no
second, hand-kept table). A partition is

- `done` when `published_predictions` is materialised under the model's current code
  version (a hash of its spec and of the pipeline version),
- `stale` when it is materialised under another code version (the spec changed),
- `failed` when its latest attempt failed, `in_progress` while a run holds it,
- `missing` otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime

from precalc_assets import keys
from precalc_assets.inputs.model_requests import load_model_spec
from precalc_assets.models.spec import ModelError
from precalc_assets.stores.object_store import ObjectStore

DONE, STALE, FAILED, IN_PROGRESS, MISSING = "done", "stale", "failed", "in_progress", "missing"
TO_DO = (MISSING, STALE, FAILED)


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
    spec_error: str = ""  # the model's request cannot be read: says why


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


def current_code_versions(store: ObjectStore, models: Iterable[str]) -> dict[str, str | ModelError]:
    versions: dict[str, str | ModelError] = {}
    for model_id in models:
        try:
            versions[model_id] = load_model_spec(store, model_id).code_version
        except ModelError as exc:
            versions[model_id] = exc
    return versions


def partition_status(attempt: str | None, materialized: bool, version: str, current: str) -> str:
    """`attempt` is what the latest run did to the partition: FAILED, IN_PROGRESS or None."""
    if attempt in (IN_PROGRESS, FAILED):
        return attempt
    if not materialized:
        return MISSING
    return DONE if version and version == current else STALE


def ledger_rows(
    models: list[str],
    slices: list[str],
    versions: Mapping[str, str | ModelError],
    published: Mapping[str, Fact],
    validated: Mapping[str, Fact],
    library: Mapping[str, Fact],
    attempts: Mapping[str, str],
) -> list[LedgerRow]:
    """One row per model x slice, from the latest facts of each asset's partitions."""
    rows = []
    for model_id in models:
        current = versions[model_id]
        current_text = current if isinstance(current, str) else ""
        error = "" if isinstance(current, str) else str(current)
        for slice_key in slices:
            key = keys.partition_id(model_id, slice_key)
            fact = published.get(key)
            version = fact.code_version if fact is not None else ""
            status = partition_status(attempts.get(key), fact is not None, version, current_text)
            row = LedgerRow(
                model_id, slice_key, status, current_code_version=current_text, spec_error=error
            )
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
