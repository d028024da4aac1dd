"""The ledger's rows: what is done, stale, failed, in progress or missing per model x
slice, decided from what Dagster's materialisation history says of each partition (no
second, hand-kept table). A partition is

- `done` when `published_predictions` is materialised under the model's current code
  version (a hash of its spec and of the pipeline version),
- `stale` when it is materialised under another code version (the spec changed),
- `failed` when its latest attempt failed, or the run that holds it lost its process
  (`failure` says so), `in_progress` while a live run holds it,
- `blocked` when the model's request cannot be read (deleted, or no longer valid): the
  row's `spec_error` says why, and nothing is run for it until the request is fixed,
- `missing` otherwise, also when its latest publication went to another target (storage
  and serving table: `other_target` names it), as when one home is used for two targets.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum

from precalc_assets import keys
from precalc_assets.inputs.model_requests import load_model_spec
from precalc_assets.models.spec import ModelError
from precalc_assets.models.trust import ModelPolicy
from precalc_assets.steps.publish import split_taken_over_key
from precalc_assets.stores.object_store import ObjectStore


class Status(StrEnum):
    """A partition's status in the ledger (`docs/contracts.md`, section 7)."""

    DONE = "done"
    STALE = "stale"
    FAILED = "failed"
    MISSING = "missing"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"


# What `precalc run` and the sensors run.
TO_DO = frozenset({Status.MISSING, Status.STALE, Status.FAILED})


@dataclass
class LedgerRow:
    model: str
    slice: str
    status: Status
    rows_published: int = 0
    rows_rejected: int = 0
    code_version: str = ""
    current_code_version: str = ""
    run_id: str = ""
    materialized_at: str = ""
    spec_error: str = ""  # the model's request cannot be read: says why
    in_progress_run_id: str = ""  # the unfinished run that holds the partition
    in_progress_since: str = ""
    failure: str = ""  # why it failed, when the ledger knows (a run whose process is gone)
    other_target: str = ""  # published, but to this other storage + serving table


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
    taken_over: str = "{}"  # JSON: later slice -> items of it this publication took over
    target: str = ""  # storage + serving table published to ("" before targets were recorded)


FACT_COLUMNS = [f.name for f in fields(Fact)]


def current_code_versions(
    store: ObjectStore, models: Iterable[str], policy: ModelPolicy
) -> dict[str, str | ModelError]:
    versions: dict[str, str | ModelError] = {}
    for model_id in models:
        try:
            versions[model_id] = load_model_spec(store, model_id, policy).code_version
        except ModelError as exc:
            versions[model_id] = exc
    return versions


def partition_status(
    attempt: Status | None, materialized: bool, version: str, current: str
) -> Status:
    """`attempt` is what the latest run did to the partition: failed, in progress or None;
    `current` is the model's code version, "" when its request cannot be read."""
    if attempt == Status.IN_PROGRESS:
        return attempt
    if not current:
        return Status.BLOCKED
    if attempt == Status.FAILED:
        return attempt
    if not materialized:
        return Status.MISSING
    return Status.DONE if version and version == current else Status.STALE


def of_target(published: Mapping[str, Fact], target: str) -> tuple[dict, dict]:
    """(facts published to `target`, partition -> the other target of the rest). A fact
    recorded before targets were (no target) counts for the target that reads it."""
    here = {p: f for p, f in published.items() if f.target in ("", target)}
    elsewhere = {p: f.target for p, f in published.items() if p not in here}
    return here, elsewhere


def ledger_rows(
    models: list[str],
    slices: list[str],
    versions: Mapping[str, str | ModelError],
    published: Mapping[str, Fact],
    validated: Mapping[str, Fact],
    library: Mapping[str, Fact],
    attempts: Mapping[str, str],
    in_flight: Mapping[str, tuple[str, str]],
    failures: Mapping[str, str] | None = None,
    elsewhere: Mapping[str, str] | None = None,
) -> list[LedgerRow]:
    """One row per model x slice, from the latest facts of each asset's partitions;
    `failures`: partition -> why its attempt failed, where known; `elsewhere`: partition
    -> the other target its latest publication went to."""
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
            if status == Status.IN_PROGRESS and key in in_flight:
                row.in_progress_run_id, row.in_progress_since = in_flight[key]
            if status == Status.FAILED:
                row.failure = (failures or {}).get(key, "")
            row.other_target = (elsewhere or {}).get(key, "")
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
    _discount_taken_over(rows, published)
    return rows


def _discount_taken_over(rows: list[LedgerRow], published: Mapping[str, Fact]) -> None:
    """An earlier slice published after a later one takes over the items of molecules
    both hold (the first row wins): those count as rejected for the later slice, if the
    later slice's latest publication is the one whose items were taken over (the run
    that wrote them); published again since, it skipped them itself.

    The run, not the order of the two materialisations: a ranged run records each
    partition's materialisation when its step ends, so a later slice written before the
    takeover is often recorded after it. Metadata without the run (older) falls back to
    that order."""
    by_key = {keys.partition_id(r.model, r.slice): r for r in rows}
    for key, fact in published.items():
        model_id = keys.split_partition_id(key)[0]
        for taken, count in json.loads(fact.taken_over or "{}").items():
            later, run_id = split_taken_over_key(taken)
            later_key = keys.partition_id(model_id, later)
            later_fact, row = published.get(later_key), by_key.get(later_key)
            if later_fact is None or row is None:
                continue
            counted_them = (
                run_id == later_fact.run_id if run_id else later_fact.storage_id < fact.storage_id
            )
            if counted_them:
                moved = min(count, row.rows_published)
                row.rows_published -= moved
                row.rows_rejected += moved
