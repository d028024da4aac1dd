"""Prepare a slice: raw rows -> canonical SMILES + InChIKey, rejected rows apart."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pyarrow as pa
from rdkit import Chem

from precalc_assets import layout
from precalc_assets.chem import Molecule, Rejected, canonicalize_rows
from precalc_assets.inputs.manifests import manifest_for_slice
from precalc_assets.models.spec import INPUT_COLUMN
from precalc_assets.steps.results import StepResult
from precalc_assets.stores.errors import ObjectNotFound, StoreError
from precalc_assets.stores.object_store import ObjectStore

CHUNK_ROWS = 1_000  # molecules parsed at a time: an RDKit mol costs ~28 KB

ChunkHandler = Callable[[list[Molecule], list[Chem.Mol]], None]


def prepare_slice(
    store: ObjectStore, slice_key: str, on_chunk: ChunkHandler | None = None
) -> StepResult:
    """Raw rows -> canonical SMILES + InChIKey (`library/<slice>.parquet`), rejects apart.

    Rows are parsed a chunk at a time; `on_chunk` gets each chunk's accepted molecules
    and their mols, so models can run on the same parse (one parse per molecule). Rows
    longer than the library's maximum SMILES length (its manifest) are rejected unparsed.
    """
    started = time.perf_counter()
    manifest = manifest_for_slice(store, slice_key)
    expected = manifest.slice(slice_key)
    raw_key = layout.raw_slice(slice_key)
    again = (
        f"register library {manifest.name!r} again: delete "
        f"{store.uri(layout.library_manifest(manifest.name))}, then register its file "
        f"{store.uri(manifest.source_key)} with the same name and slice size "
        f"({manifest.slice_size}), which writes the same slices"
    )
    try:
        raw = store.read_parquet(raw_key)
    except ObjectNotFound:
        raise StoreError(f"{store.uri(raw_key)} is missing; {again}") from None
    except StoreError as exc:
        raise StoreError(f"{store.uri(raw_key)} cannot be read ({exc}); {again}") from exc
    rows = list(zip(raw.column("row").to_pylist(), raw.column("input").to_pylist(), strict=True))
    if len(rows) != expected.rows or (rows and rows[0][0] != expected.first_row):
        raise StoreError(
            f"{store.uri(raw_key)} holds {len(rows)} rows from row "
            f"{rows[0][0] if rows else '-'}, the manifest says {expected.rows} from "
            f"{expected.first_row}; {again}"
        )
    accepted: list[Molecule] = []
    rejected: list[Rejected] = []
    first_row: dict[str, int] = {}
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk, mols, bad = canonicalize_rows(
            rows[start : start + CHUNK_ROWS], first_row, manifest.max_smiles_length
        )
        accepted += chunk
        rejected += bad
        if on_chunk is not None and chunk:
            on_chunk(chunk, mols)
    table = pa.table(
        {
            "row": pa.array([m.row for m in accepted], type=pa.int64()),
            "inchikey": pa.array([m.inchikey for m in accepted], type=pa.string()),
            "smiles": pa.array([m.smiles for m in accepted], type=pa.string()),
            INPUT_COLUMN: pa.array([m.input_smiles for m in accepted], type=pa.string()),
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
