"""Partial hits: run a model on the molecules a lookup missed, serve and keep them.

A miss looked up by SMILES is computed with the model's own runner, exactly as the
deployment allows it (`ModelPolicy`), validated with the model's schema, and:
- upserted into the serving table with `Slice = "computed"` and `RunId = "lookup-<id>"`,
  so the next lookup finds it;
- recorded as one Parquet file under `computed/model=<m>/` (keys, outputs, code version
  in its metadata; its name ends in `-n<rows>`), which the ledger counts per model
  (`ledger.computed`).

A library slice that holds the molecule later publishes over the computed item (it is
never an earlier slice of any library, so `served_by_other_slices` leaves it to be
replaced): precalculated, validated, checked values always win. A miss looked up by
InChIKey cannot be computed (there is no structure to run the model on): it stays
`missing`, with that reason.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pandas as pd

from precalc_assets import layout
from precalc_assets.chem import mols_from_inputs
from precalc_assets.inputs.model_requests import load_model_spec
from precalc_assets.models.partition_files import with_code_version
from precalc_assets.models.published_columns import columns_document
from precalc_assets.models.runners import run_model, runner_class
from precalc_assets.models.runners.base import Log, no_log
from precalc_assets.models.schema import null_unstorable, split_valid
from precalc_assets.models.spec import DETAIL_COLUMN, LIBRARY_TEXT, REASON_COLUMN, ModelSpec
from precalc_assets.models.tables import predictions_to_arrow
from precalc_assets.models.trust import ModelPolicy
from precalc_assets.serving.lookup import (
    COMPUTED,
    INVALID,
    MISSING,
    Answer,
    ModelAnswer,
    Row,
    by_name,
)
from precalc_assets.steps.publish import serving_items
from precalc_assets.stores.object_store import ObjectStore
from precalc_assets.stores.serving_table import ServingTable

COMPUTED_SLICE = "computed"
RUN_PREFIX = "lookup-"
NO_STRUCTURE = "not precalculated; looked up by InChIKey, so there is no structure to compute from"


def compute_missing(
    store: ObjectStore,
    table: ServingTable,
    answer: Answer,
    policy: ModelPolicy,
    log: Log = no_log,
) -> None:
    """Fill the answer's misses in place: `computed`, or `invalid` with the reason."""
    for model in answer.models:
        todo = {r.key: r for r in model.rows if r.status == MISSING and r.smiles}
        if todo:
            _compute(store, table, model, todo, load_model_spec(store, model.model_id, policy), log)
        for row in model.rows:
            if row.status == MISSING:
                row.reason = NO_STRUCTURE


def _compute(
    store: ObjectStore,
    table: ServingTable,
    model: ModelAnswer,
    todo: dict[str, Row],
    spec: ModelSpec,
    log: Log,
) -> None:
    smiles = [row.smiles for row in todo.values()]
    needs_mols = runner_class(spec.runner, spec.model_id).needs_mols
    mols = mols_from_inputs(smiles) if needs_mols else []
    # A hub model is given the text as the lookup gave it, as a library row's own.
    given = [row.input.strip() for row in todo.values()]
    given = given if spec.input_smiles == LIBRARY_TEXT else smiles
    outputs = run_model(spec, given, mols, " on molecules a lookup missed", log)
    keys = pd.DataFrame({"row": range(len(todo)), "inchikey": list(todo), "smiles": smiles})
    answered, _ = null_unstorable(pd.concat([keys, outputs], axis=1), spec)
    valid, quarantined = split_valid(answered, spec)
    name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:12]}"
    items = serving_items(valid, spec, COMPUTED_SLICE, RUN_PREFIX + name)
    if items:
        # The record first: a lookup killed before its upsert leaves a record of what it
        # computed (the next lookup computes those again), never served items unrecorded.
        record = with_code_version(predictions_to_arrow(valid, spec), spec)
        store.write_parquet(layout.computed_predictions(spec.model_id, name, len(items)), record)
        table.ensure_table()
        table.upsert(items)
        if not store.exists(layout.served_columns(spec.model_id)):
            store.put_bytes(
                layout.served_columns(spec.model_id),
                columns_document(spec.model_id, spec.code_version, spec.columns),
            )
    by_key = {item.inchikey: item for item in items}
    failures = {
        key: f"{reason}: {detail}"
        for key, reason, detail in zip(
            quarantined["inchikey"],
            quarantined[REASON_COLUMN],
            quarantined[DETAIL_COLUMN],
            strict=True,
        )
    }
    model.columns = model.columns or spec.columns
    for row in model.rows:
        if row.status != MISSING or row.key not in todo:
            continue
        if row.key in by_key:
            item = by_key[row.key]
            row.status, row.smiles, row.values = COMPUTED, item.smiles, list(item.outputs)
            row.outputs = by_name(model.columns, row.values)
        else:
            row.status = INVALID
            row.reason = f"the model's output failed validation: {failures.get(row.key, '?')}"
