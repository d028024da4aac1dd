"""The work of each asset as plain functions over the stores, apart from Dagster glue.

Each step reads its input from object storage and writes its output there, so any step
can run in any process, and re-running a step overwrites its own output (idempotent).
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
from rdkit import Chem

from precalc_assets import layout
from precalc_assets.chem import canonicalize_rows, mols_from_smiles
from precalc_assets.models import ModelSpec, run_model
from precalc_assets.registry import manifest_for_slice
from precalc_assets.schemas import split_valid
from precalc_assets.stores import ObjectNotFound, ObjectStore, ServingItem, ServingTable, StoreError
from precalc_assets.tables import lenient_to_arrow, outputs_as_lists, predictions_to_arrow

# A slice's parsed molecules, kept for the models that run next in the same process, so
# `precalc run` parses each slice once for every model (validated against the SMILES).
_MOL_CACHE: OrderedDict[tuple[str, str], tuple[tuple[str, ...], list[Chem.Mol]]] = OrderedDict()
_MOL_CACHE_SLICES = 2


class PublishError(RuntimeError):
    """The serving table does not hold what was written; re-running is safe."""


@dataclass
class StepResult:
    slice_key: str
    model_id: str = ""
    rows_in: int = 0
    rows_out: int = 0
    rejected: int = 0
    seconds: float = 0.0
    paths: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)


def _remember_mols(store: ObjectStore, slice_key: str, smiles: list[str], mols: list[Chem.Mol]):
    _MOL_CACHE[(store.url, slice_key)] = (tuple(smiles), mols)
    _MOL_CACHE.move_to_end((store.url, slice_key))
    while len(_MOL_CACHE) > _MOL_CACHE_SLICES:
        _MOL_CACHE.popitem(last=False)


def slice_mols(store: ObjectStore, slice_key: str, smiles: list[str]) -> list[Chem.Mol]:
    cached = _MOL_CACHE.get((store.url, slice_key))
    if cached is not None and cached[0] == tuple(smiles):
        return cached[1]
    mols = mols_from_smiles(smiles)
    _remember_mols(store, slice_key, smiles, mols)
    return mols


def prepare_slice(store: ObjectStore, slice_key: str) -> StepResult:
    """Raw rows -> canonical SMILES + InChIKey (`library/<slice>.parquet`), rejects apart."""
    started = time.perf_counter()
    manifest = manifest_for_slice(store, slice_key)
    expected = manifest.slice(slice_key)
    raw = store.read_parquet(layout.raw_slice(slice_key))
    rows = list(zip(raw.column("row").to_pylist(), raw.column("input").to_pylist(), strict=True))
    if len(rows) != expected.rows or (rows and rows[0][0] != expected.first_row):
        raise StoreError(
            f"{store.uri(layout.raw_slice(slice_key))} holds {len(rows)} rows from row "
            f"{rows[0][0] if rows else '-'}, the manifest says {expected.rows} from "
            f"{expected.first_row}; re-register library {manifest.name!r}"
        )
    accepted, mols, rejected = canonicalize_rows(rows)
    table = pa.table(
        {
            "row": pa.array([m.row for m in accepted], type=pa.int64()),
            "inchikey": pa.array([m.inchikey for m in accepted], type=pa.string()),
            "smiles": pa.array([m.smiles for m in accepted], type=pa.string()),
            "input": pa.array([m.input_smiles for m in accepted], type=pa.string()),
        }
    )
    rejects = pa.table(
        {
            "row": pa.array([r.row for r in rejected], type=pa.int64()),
            "input": pa.array([r.input_smiles for r in rejected], type=pa.string()),
            "reason": pa.array([r.reason for r in rejected], type=pa.string()),
            "detail": pa.array([r.detail for r in rejected], type=pa.string()),
        }
    )
    store.write_parquet(layout.rejected_library_rows(slice_key), rejects)
    store.write_parquet(layout.library_slice(slice_key), table)
    _remember_mols(store, slice_key, [m.smiles for m in accepted], mols)
    return StepResult(
        slice_key=slice_key,
        rows_in=len(rows),
        rows_out=len(accepted),
        rejected=len(rejected),
        seconds=time.perf_counter() - started,
        paths={
            "library_slice": store.uri(layout.library_slice(slice_key)),
            "rejected_file": store.uri(layout.rejected_library_rows(slice_key)),
            "source": store.uri(manifest.source_key),
        },
        reasons=dict(Counter(r.reason for r in rejected)),
    )


def read_library_slice(store: ObjectStore, slice_key: str) -> pa.Table | None:
    try:
        return store.read_parquet(
            layout.library_slice(slice_key), columns=["row", "inchikey", "smiles"]
        )
    except ObjectNotFound:
        return None


def compute_predictions(
    store: ObjectStore, specs: list[ModelSpec], slice_key: str, library: pa.Table
) -> list[StepResult]:
    """Every model of `specs` over one slice, from one parse of its molecules."""
    smiles = library.column("smiles").to_pylist()
    mols = slice_mols(store, slice_key, smiles)
    keys = library.to_pandas()
    results = []
    for spec in specs:
        started = time.perf_counter()
        outputs = run_model(spec, smiles, mols, where=f" on slice {slice_key!r}")
        frame = pd.concat([keys, outputs], axis=1)
        key = layout.predictions(spec.model_id, slice_key)
        store.write_parquet(key, predictions_to_arrow(frame, spec))
        results.append(
            StepResult(
                slice_key=slice_key,
                model_id=spec.model_id,
                rows_in=len(smiles),
                rows_out=len(frame),
                seconds=time.perf_counter() - started,
                paths={"predictions": store.uri(key)},
            )
        )
    return results


def validate_predictions(store: ObjectStore, spec: ModelSpec, slice_key: str) -> StepResult:
    """Pandera schema of the model; failing rows go to quarantine, never to serving."""
    started = time.perf_counter()
    source = layout.predictions(spec.model_id, slice_key)
    try:
        frame = store.read_parquet(source).to_pandas()
    except ObjectNotFound:
        raise StoreError(
            f"no predictions at {store.uri(source)}: materialise `predictions` for "
            f"{spec.model_id}|{slice_key} first (the `precalculate` job does all steps)"
        ) from None
    valid, quarantined = split_valid(frame, spec)
    q_key = layout.quarantined(spec.model_id, slice_key)
    if len(quarantined):
        store.write_parquet(q_key, lenient_to_arrow(quarantined))
    else:
        store.delete(q_key)
    v_key = layout.validated(spec.model_id, slice_key)
    store.write_parquet(v_key, predictions_to_arrow(valid, spec))
    failures = quarantined["failure"] if len(quarantined) else []
    reasons = Counter(part for failure in failures for part in str(failure).split("; "))
    return StepResult(
        slice_key=slice_key,
        model_id=spec.model_id,
        rows_in=len(frame),
        rows_out=len(valid),
        rejected=len(quarantined),
        seconds=time.perf_counter() - started,
        paths={"validated": store.uri(v_key), "quarantine_file": store.uri(q_key)},
        reasons=dict(reasons),
    )


def publish_predictions(
    store: ObjectStore,
    serving: ServingTable,
    spec: ModelSpec,
    slice_key: str,
    run_id: str,
) -> StepResult:
    """Upsert the validated rows, then read every key back: success means all landed."""
    started = time.perf_counter()
    source = layout.validated(spec.model_id, slice_key)
    try:
        frame = store.read_parquet(source).to_pandas()
    except ObjectNotFound:
        raise StoreError(
            f"no validated predictions at {store.uri(source)}: materialise "
            f"`validated_predictions` for {spec.model_id}|{slice_key} first"
        ) from None
    timestamp = datetime.now(UTC).isoformat(timespec="seconds")
    outputs = outputs_as_lists(frame, spec)
    items = [
        ServingItem(
            inchikey=key,
            model_id=spec.model_id,
            smiles=smiles,
            outputs=tuple(values),
            slice_key=slice_key,
            run_id=run_id,
            code_version=spec.code_version,
            timestamp=timestamp,
        )
        for key, smiles, values in zip(frame["inchikey"], frame["smiles"], outputs, strict=True)
    ]
    serving.ensure_table()
    written = serving.upsert(items)
    landed = serving.get_many(spec.model_id, [i.inchikey for i in items], consistent_read=True)
    missing = [i.inchikey for i in items if landed.get(i.inchikey, {}).get("run_id") != run_id]
    if written != len(items) or missing:
        raise PublishError(
            f"{serving.url}: {len(missing)} of {len(items)} items of {spec.model_id}|{slice_key} "
            f"are not in the serving table after the write (e.g. {missing[:3]}); re-run the "
            "partition, writes are idempotent"
        )
    return StepResult(
        slice_key=slice_key,
        model_id=spec.model_id,
        rows_in=len(frame),
        rows_out=len(items),
        seconds=time.perf_counter() - started,
        paths={"serving_table": serving.url},
    )
