"""Partial hits: run a model on the molecules a lookup missed, serve and keep them.

A miss looked up by SMILES is computed with the model's own runner, exactly as the
deployment allows it (`ModelPolicy`), through the steps a slice goes through
(`steps.compute`): validated with the model's schema, recorded under `computed/` and
upserted into the serving table, so the next lookup finds it. A miss looked up by
InChIKey cannot be computed (there is no structure to run the model on): it stays
`missing`, with that reason.
"""

from __future__ import annotations

from precalc_assets.inputs.model_requests import load_model_spec
from precalc_assets.models.runners.base import Log, no_log
from precalc_assets.models.spec import ModelSpec
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
from precalc_assets.steps.compute import Molecules, compute_and_publish
from precalc_assets.stores.object_store import ObjectStore
from precalc_assets.stores.serving_table import ServingTable

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
        todo = [r for r in model.rows if r.status == MISSING and r.smiles]
        if todo:
            _compute(store, table, model, todo, load_model_spec(store, model.model_id, policy), log)
        for row in model.rows:
            if row.status == MISSING:
                row.reason = NO_STRUCTURE


def _compute(
    store: ObjectStore,
    table: ServingTable,
    model: ModelAnswer,
    todo: list[Row],
    spec: ModelSpec,
    log: Log,
) -> None:
    # A hub model is given the text as the lookup gave it, as a library row's own.
    molecules = Molecules(
        inchikeys=[row.key for row in todo],
        smiles=[row.smiles for row in todo],
        texts=[row.input.strip() for row in todo],
    )
    computed = compute_and_publish(store, table, spec, molecules, log)
    model.columns = model.columns or spec.columns
    for row in todo:
        if row.key in computed.items:
            item = computed.items[row.key]
            row.status, row.smiles, row.values = COMPUTED, item.smiles, list(item.outputs)
            row.outputs = by_name(model.columns, row.values)
        else:
            row.status = INVALID
            failure = computed.failures.get(row.key, "?")
            row.reason = f"the model's output failed validation: {failure}"
