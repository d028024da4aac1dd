"""Compute: a model run on molecules outside any library slice (a lookup's misses),
through the slice steps' own input choice, validation and publication.

The valid rows are recorded as one Parquet file under `computed/model=<m>/` (keys,
outputs, code version in its metadata; its name ends in `-n<rows>`), which the ledger
counts per model (`ledger.computed`), then upserted into the serving table with
`Slice = "computed"` and `RunId = "lookup-<name>"`. A library slice that holds the
molecule later publishes over the computed item (it is never an earlier slice of any
library, so `served_by_other_slices` leaves it to be replaced): precalculated,
validated, checked values always win.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from precalc_assets import layout
from precalc_assets.chem import mols_from_inputs
from precalc_assets.models.runners import run_model, runner_class
from precalc_assets.models.runners.base import Log, no_log
from precalc_assets.models.spec import ModelSpec
from precalc_assets.steps.predict import model_inputs
from precalc_assets.steps.publish import publish_columns, serving_items
from precalc_assets.steps.validate import Validation, validate_frame, validated_table
from precalc_assets.stores.object_store import ObjectStore
from precalc_assets.stores.serving_table import ServingItem, ServingTable

COMPUTED_SLICE = "computed"
RUN_PREFIX = "lookup-"


@dataclass(frozen=True)
class Molecules:
    """Molecules to compute, in order: InChIKey, canonical SMILES, and the text given."""

    inchikeys: list[str]
    smiles: list[str]
    texts: list[str]


@dataclass(frozen=True)
class Computed:
    """What computing gave: the items now served, and each refused row's reason."""

    items: dict[str, ServingItem]
    failures: dict[str, str]


def compute_and_publish(
    store: ObjectStore,
    serving: ServingTable,
    spec: ModelSpec,
    molecules: Molecules,
    log: Log = no_log,
) -> Computed:
    """Run the model on `molecules`, validate, record under `computed/`, then serve."""
    validation = computed_rows(spec, molecules, " on molecules a lookup missed", log)
    name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:12]}"
    items = serving_items(validation.valid, spec, COMPUTED_SLICE, RUN_PREFIX + name)
    if items:
        # The record first: a lookup killed before its upsert leaves a record of what it
        # computed (the next lookup computes those again), never served items unrecorded.
        key = layout.computed_predictions(spec.model_id, name, len(items))
        store.write_parquet(key, validated_table(validation.valid, spec))
        serving.ensure_table()
        serving.upsert(items)
        publish_columns(store, spec, replace=False)
    return Computed({item.inchikey: item for item in items}, validation.failures())


def computed_rows(spec: ModelSpec, molecules: Molecules, where: str, log: Log) -> Validation:
    """The model over `molecules` (each given as the slice steps give it), validated."""
    needs_mols = runner_class(spec.runner, spec.model_id).needs_mols
    mols = mols_from_inputs(molecules.smiles) if needs_mols else []
    given = model_inputs(spec, molecules.texts, molecules.smiles)
    outputs = run_model(spec, given, mols, where, log)
    keys = pd.DataFrame(
        {
            "row": range(len(molecules.inchikeys)),
            "inchikey": molecules.inchikeys,
            "smiles": molecules.smiles,
        }
    )
    return validate_frame(pd.concat([keys, outputs], axis=1), spec)
