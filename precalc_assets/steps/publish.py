"""Publish: validated rows upserted into the serving table, then read back."""

from __future__ import annotations

import time
from collections import Counter
from contextlib import AbstractContextManager, nullcontext

import pandas as pd

from precalc_assets import keys, layout
from precalc_assets.inputs.manifests import SliceOrder
from precalc_assets.models.partition_files import read_partition_file
from precalc_assets.models.published_columns import columns_document
from precalc_assets.models.spec import ModelSpec
from precalc_assets.models.tables import outputs_as_lists
from precalc_assets.processes import machine_lock
from precalc_assets.steps.results import StepResult
from precalc_assets.stores.object_store import ObjectStore
from precalc_assets.stores.serving_table import (
    ServingItem,
    ServingTable,
    earlier_slices,
    utc_timestamp,
)
from precalc_assets.stores.urls import history_target

REJECT_DUPLICATE_EARLIER_SLICE = "duplicate_inchikey_in_earlier_slice"
PUBLISH_CHUNK_ROWS = 2_000  # rows turned into items, written and read back at a time
READ_BACK_SAMPLE = 50  # items read back of a chunk whose committed write stored them all


class PublishError(RuntimeError):
    """The serving table does not hold what was written; re-running is safe."""


def publish_predictions(
    store: ObjectStore,
    serving: ServingTable,
    spec: ModelSpec,
    slice_key: str,
    run_id: str,
) -> StepResult:
    """Upsert the validated rows, then read them back (`_write_and_read_back`): success
    means all landed.

    Rows go a chunk at a time (`PUBLISH_CHUNK_ROWS`): a 2048-value fingerprint is ~16 KB
    of Python objects per item, so a whole 10,000-row slice at once held ~1 GB."""
    started = time.perf_counter()
    frame = read_partition_file(store, keys.VALIDATED_PREDICTIONS, spec.model_id, slice_key)
    code_version = spec.code_version  # a hash of the spec: compute it once, not per item
    serving.ensure_table()
    publish_columns(store, spec)
    held: set[str] = set()
    taken: Counter[str] = Counter()
    published = 0
    order = SliceOrder(store)
    for start in range(0, len(frame), PUBLISH_CHUNK_ROWS):
        chunk = frame.iloc[start : start + PUBLISH_CHUNK_ROWS]
        items = serving_items(chunk, spec, slice_key, run_id)
        with _model_publication(serving, spec.model_id, slice_key):
            chunk_held, chunk_taken = served_by_other_slices(
                serving, spec.model_id, slice_key, [item.inchikey for item in items], order
            )
            items = [item for item in items if item.inchikey not in chunk_held]
            kept = _write_and_read_back(serving, spec, slice_key, run_id, items)
        held |= chunk_held | kept  # kept: an earlier slice wrote them after the look
        taken += chunk_taken
        published += len(items) - len(kept)
    return StepResult(
        slice_key=slice_key,
        model_id=spec.model_id,
        rows_in=len(frame),
        rows_out=published,
        rejected=len(held),
        seconds=time.perf_counter() - started,
        paths={"serving_table": serving.url},
        reasons={REJECT_DUPLICATE_EARLIER_SLICE: len(held)} if held else {},
        code_version=code_version,
        taken_over=dict(taken),
        target=history_target(store.url, serving.url),
    )


def publish_columns(store: ObjectStore, spec: ModelSpec, replace: bool = True) -> None:
    """The model's served column names, which a lookup answers with; `replace=False`
    leaves a document a library publication wrote."""
    key = layout.served_columns(spec.model_id)
    if replace or not store.exists(key):
        store.put_bytes(key, columns_document(spec.model_id, spec.code_version, spec.columns))


def _model_publication(
    serving: ServingTable, model_id: str, slice_key: str
) -> AbstractContextManager[None]:
    """Look, write and read back as one step among this machine's publications of the
    same model, from any library (`processes.machine_lock`).

    Otherwise, between an earlier slice's look at the table and its write, a later slice
    can write and read back the item of a molecule both hold, and count it as published;
    the earlier slice then overwrites it without knowing it took it over, and the ledger
    counts the molecule twice (the workers of `precalc run` publish neighbouring slices
    at the same moment). Publishers on other machines are not excluded: for them the
    store would have to say, in the write itself, which items it replaced."""
    position = keys.slice_position(slice_key)
    if position is None:  # not a library slice: no first-row rule, nothing to exclude
        return nullcontext()
    return machine_lock(f"publish {serving.url} {model_id}")


def _write_and_read_back(
    serving: ServingTable, spec: ModelSpec, slice_key: str, run_id: str, items: list[ServingItem]
) -> set[str]:
    """Write, then read back; returns the keys an earlier slice's item kept.

    Every key is read back, except from a table that counts what its committed write
    stored (SQLite): when that count is every item, a sample is read back."""
    written = serving.upsert(items)
    counted = serving.counts_what_it_stores
    checked = _sample(items) if counted and written == len(items) else items
    landed = serving.get_many(
        spec.model_id, [i.inchikey for i in checked], consistent_read=True, outputs=False
    )
    earlier = earlier_slices(slice_key)
    kept = {
        key
        for key, item in landed.items()
        if item.run_id != run_id and earlier is not None and earlier.holds(item.slice_key)
    }
    missing = [
        i.inchikey
        for i in checked
        if i.inchikey not in kept
        and (i.inchikey not in landed or landed[i.inchikey].run_id != run_id)
    ]
    if missing or (not counted and written != len(items)):
        raise PublishError(
            f"{serving.url}: {len(missing)} of {len(checked)} items of "
            f"{keys.partition_id(spec.model_id, slice_key)} "
            f"are not in the serving table after the write (e.g. {missing[:3]}); re-run the "
            "partition, writes are idempotent"
        )
    return kept


def _sample(items: list[ServingItem]) -> list[ServingItem]:
    """`READ_BACK_SAMPLE` items spread over the chunk, its first and last among them."""
    if len(items) <= READ_BACK_SAMPLE:
        return items
    step = (len(items) - 1) / (READ_BACK_SAMPLE - 1)
    return [items[round(i * step)] for i in range(READ_BACK_SAMPLE)]


def serving_items(
    frame: pd.DataFrame, spec: ModelSpec, slice_key: str, run_id: str
) -> list[ServingItem]:
    """The serving items of validated rows, all stamped with one time and code version."""
    timestamp = utc_timestamp()
    code_version = spec.code_version  # a hash of the spec: compute it once, not per item
    outputs = outputs_as_lists(frame, spec)
    return [
        ServingItem(
            inchikey=key,
            model_id=spec.model_id,
            smiles=smiles,
            outputs=tuple(values),
            slice_key=slice_key,
            run_id=run_id,
            code_version=code_version,
            timestamp=timestamp,
        )
        for key, smiles, values in zip(frame["inchikey"], frame["smiles"], outputs, strict=True)
    ]


def served_by_other_slices(
    serving: ServingTable,
    model_id: str,
    slice_key: str,
    inchikeys: list[str],
    order: SliceOrder,
) -> tuple[set[str], Counter[str]]:
    """(keys an earlier slice serves, `taken_over_key` of a later slice's publication ->
    how many of its items this slice takes over).

    Duplicates are dropped within a slice when it is prepared; across slices and
    libraries the first row (`SliceOrder`: libraries in registration order) must win
    too, whatever order the slices are published in: a later slice leaves such items
    alone (within a library the store enforces it too, `earlier_slices`), an earlier one
    overwrites them (and the later slice's published count shrinks by as many: the
    ledger reads `taken_over`).
    """
    mine = order.key(slice_key)
    held: set[str] = set()
    taken: Counter[str] = Counter()
    if mine is None:  # not a library slice: no first-row rule
        return held, taken
    # A consistent read: an item written a moment ago by another slice must be seen.
    found = serving.get_many(model_id, inchikeys, consistent_read=True, outputs=False)
    for key, item in found.items():
        theirs = order.key(item.slice_key)
        if theirs is None or theirs == mine:
            continue
        if theirs < mine:
            held.add(key)
        else:
            taken[taken_over_key(item.slice_key, item.run_id)] += 1
    return held, taken


def taken_over_key(later_slice: str, run_id: str) -> str:
    """`<later slice>@<run id>`: whose items a publication took over, by the run that
    wrote them. Only that publication of the later slice counted them as its own; the
    ledger moves them from it (`ledger.rows`), whenever the two materialisations were
    recorded (a ranged run records its partitions when its step ends, long after it
    wrote them)."""
    return f"{later_slice}@{run_id}"


def split_taken_over_key(key: str) -> tuple[str, str]:
    """(later slice, run id) of a `taken_over_key`; run id "" in metadata written before
    the run was recorded (slice keys never hold `@`)."""
    later_slice, _, run_id = key.partition("@")
    return later_slice, run_id
