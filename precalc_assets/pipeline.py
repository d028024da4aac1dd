"""The work of each asset as plain functions over the stores, apart from Dagster glue.

Each step reads its input from object storage and writes its output there, so any step
can run in any process, and re-running a step overwrites its own output (idempotent).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
from rdkit import Chem

from precalc_assets import layout
from precalc_assets.chem import Molecule, Rejected, canonicalize_rows, mols_from_smiles
from precalc_assets.library import LibraryError, parse_slice_key
from precalc_assets.models import ModelSpec, run_model
from precalc_assets.registry import manifest_for_slice
from precalc_assets.schemas import split_valid
from precalc_assets.stores import ObjectNotFound, ObjectStore, ServingItem, ServingTable, StoreError
from precalc_assets.tables import lenient_to_arrow, outputs_as_lists, predictions_to_arrow

REJECT_DUPLICATE_EARLIER_SLICE = "duplicate_inchikey_in_earlier_slice"
CHUNK_ROWS = 1_000  # molecules parsed at a time: an RDKit mol costs ~28 KB

ChunkHandler = Callable[[list[Molecule], list[Chem.Mol]], None]


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
    code_version: str = ""


def prepare_slice(
    store: ObjectStore, slice_key: str, on_chunk: ChunkHandler | None = None
) -> StepResult:
    """Raw rows -> canonical SMILES + InChIKey (`library/<slice>.parquet`), rejects apart.

    Rows are parsed a chunk at a time; `on_chunk` gets each chunk's accepted molecules
    and their mols, so models can run on the same parse (one parse per molecule).
    """
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
    accepted: list[Molecule] = []
    rejected: list[Rejected] = []
    first_row: dict[str, int] = {}
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk, mols, bad = canonicalize_rows(rows[start : start + CHUNK_ROWS], first_row)
        accepted += chunk
        rejected += bad
        if on_chunk is not None and chunk:
            on_chunk(chunk, mols)
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


def with_code_version(table: pa.Table, spec: ModelSpec) -> pa.Table:
    """Stamp the file with the code version that wrote it (checks compare like with like)."""
    metadata = dict(table.schema.metadata or {})
    metadata[layout.CODE_VERSION_KEY] = spec.code_version.encode()
    return table.replace_schema_metadata(metadata)


def code_version_of(table: pa.Table) -> str:
    return (table.schema.metadata or {}).get(layout.CODE_VERSION_KEY, b"").decode()


def read_library_slice(store: ObjectStore, slice_key: str) -> pa.Table | None:
    try:
        return store.read_parquet(
            layout.library_slice(slice_key), columns=["row", "inchikey", "smiles"]
        )
    except ObjectNotFound:
        return None


def compute_predictions(
    store: ObjectStore, specs: list[ModelSpec], slice_key: str
) -> tuple[list[StepResult], StepResult | None]:
    """Every model of `specs` over one slice, from one parse of each molecule.

    A slice not prepared yet is prepared here, the models running on the same parse;
    returns the model results and, in that case, the slice's own result. Nothing is
    written for any model unless every model succeeded on every chunk.
    """
    keys: list[pd.DataFrame] = []
    outputs: dict[str, list[pd.DataFrame]] = {spec.model_id: [] for spec in specs}
    seconds = dict.fromkeys(outputs, 0.0)
    where = f" on slice {slice_key!r}"

    def run_chunk(molecules: list[Molecule], mols: list[Chem.Mol]) -> None:
        smiles = [m.smiles for m in molecules]
        keys.append(
            pd.DataFrame(
                {
                    "row": [m.row for m in molecules],
                    "inchikey": [m.inchikey for m in molecules],
                    "smiles": smiles,
                }
            )
        )
        for spec in specs:
            started = time.perf_counter()
            outputs[spec.model_id].append(run_model(spec, smiles, mols, where=where))
            seconds[spec.model_id] += time.perf_counter() - started

    library = read_library_slice(store, slice_key)
    prepared = None
    if library is None:
        prepared = prepare_slice(store, slice_key, on_chunk=run_chunk)
    else:
        rows = library.column("row").to_pylist()
        inchikeys = library.column("inchikey").to_pylist()
        smiles = library.column("smiles").to_pylist()
        for start in range(0, len(smiles), CHUNK_ROWS):
            part = slice(start, start + CHUNK_ROWS)
            chunk = [
                Molecule(r, s, k, s)
                for r, s, k in zip(rows[part], smiles[part], inchikeys[part], strict=True)
            ]
            run_chunk(chunk, mols_from_smiles(smiles[part]))

    key_frame = (
        pd.concat(keys, ignore_index=True)
        if keys
        else pd.DataFrame({"row": [], "inchikey": [], "smiles": []})
    )
    results = []
    for spec in specs:
        parts = outputs[spec.model_id]
        model_frame = (
            pd.concat(parts, ignore_index=True) if parts else run_model(spec, [], [], where)
        )
        frame = pd.concat([key_frame, model_frame], axis=1)
        key = layout.predictions(spec.model_id, slice_key)
        if store.exists(key):  # kept for the reproducibility check
            store.put_bytes(
                layout.previous_predictions(spec.model_id, slice_key), store.get_bytes(key)
            )
        store.write_parquet(key, with_code_version(predictions_to_arrow(frame, spec), spec))
        results.append(
            StepResult(
                slice_key=slice_key,
                model_id=spec.model_id,
                rows_in=len(key_frame),
                rows_out=len(frame),
                seconds=seconds[spec.model_id],
                paths={"predictions": store.uri(key)},
                code_version=spec.code_version,
            )
        )
    return results, prepared


def read_upstream(store: ObjectStore, key: str, asset: str) -> pd.DataFrame:
    try:
        return store.read_parquet(key).to_pandas()
    except ObjectNotFound:
        raise StoreError(
            f"no {asset} at {store.uri(key)}: materialise `{asset}` for this partition first "
            "(the `precalculate` job runs every step)"
        ) from None


def validate_predictions(store: ObjectStore, spec: ModelSpec, slice_key: str) -> StepResult:
    """Pandera schema of the model; failing rows go to quarantine, never to serving."""
    started = time.perf_counter()
    frame = read_upstream(store, layout.predictions(spec.model_id, slice_key), "predictions")
    valid, quarantined = split_valid(frame, spec)
    q_key = layout.quarantined(spec.model_id, slice_key)
    if len(quarantined):
        store.write_parquet(q_key, lenient_to_arrow(quarantined))
    else:
        store.delete(q_key)
    v_key = layout.validated(spec.model_id, slice_key)
    store.write_parquet(v_key, with_code_version(predictions_to_arrow(valid, spec), spec))
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
        code_version=spec.code_version,
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
    frame = read_upstream(
        store, layout.validated(spec.model_id, slice_key), "validated_predictions"
    )
    timestamp = datetime.now(UTC).isoformat(timespec="seconds")
    code_version = spec.code_version  # a hash of the spec: compute it once, not per item
    outputs = outputs_as_lists(frame, spec)
    items = [
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
    serving.ensure_table()
    held = held_by_earlier_slice(serving, spec.model_id, slice_key, list(frame["inchikey"]))
    items = [item for item in items if item.inchikey not in held]
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
        rejected=len(held),
        seconds=time.perf_counter() - started,
        paths={"serving_table": serving.url},
        reasons={REJECT_DUPLICATE_EARLIER_SLICE: len(held)} if held else {},
        code_version=code_version,
    )


def held_by_earlier_slice(
    serving: ServingTable, model_id: str, slice_key: str, inchikeys: list[str]
) -> set[str]:
    """Keys whose served item comes from an earlier slice of the same library file.

    Duplicates are dropped within a slice when it is prepared; across slices the first
    row must win too (DESIGN §4), whatever order the slices are published in: a later
    slice leaves such items alone, an earlier one overwrites them.
    """
    name, index = parse_slice_key(slice_key)
    held = set()
    for key, item in serving.get_many(model_id, inchikeys).items():
        try:
            other_name, other_index = parse_slice_key(item.get("slice_key") or "")
        except LibraryError:
            continue
        if other_name == name and other_index < index:
            held.add(key)
    return held
