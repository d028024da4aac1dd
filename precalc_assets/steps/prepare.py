"""Prepare a slice: raw rows -> canonical SMILES + InChIKey, rejected rows apart."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Chunk:
    """Accepted molecules of a slice and their RDKit mols (the parse that gave the key)."""

    molecules: list[Molecule]
    mols: list[Chem.Mol]


class SlicePreparation:
    """A slice being prepared: raw rows -> canonical SMILES + InChIKey, rejects apart.

    Iterate it for its chunks of accepted molecules and their mols, so models can run on
    the same parse (one parse per molecule); once iterated to its end it has written
    `library/<slice>.parquet` and its rejects, and `result` says what it did. Rows longer
    than the library's maximum SMILES length (its manifest) are rejected unparsed."""

    def __init__(self, store: ObjectStore, slice_key: str) -> None:
        self.store, self.slice_key = store, slice_key
        self.started = time.perf_counter()
        self.manifest = manifest_for_slice(store, slice_key)
        self.rows = self._raw_rows()
        self._result: StepResult | None = None

    @property
    def result(self) -> StepResult:
        """What the preparation did (known once it was iterated to its end)."""
        if self._result is None:
            raise RuntimeError(f"slice {self.slice_key!r}: its preparation has not ended")
        return self._result

    def _raw_rows(self) -> list[tuple[int, str]]:
        """The slice's raw rows, as its manifest says they are (else how to fix it)."""
        store, manifest = self.store, self.manifest
        expected = manifest.slice(self.slice_key)
        raw_key = layout.raw_slice(self.slice_key)
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
        rows = list(
            zip(raw.column("row").to_pylist(), raw.column("input").to_pylist(), strict=True)
        )
        if len(rows) != expected.rows or (rows and rows[0][0] != expected.first_row):
            raise StoreError(
                f"{store.uri(raw_key)} holds {len(rows)} rows from row "
                f"{rows[0][0] if rows else '-'}, the manifest says {expected.rows} from "
                f"{expected.first_row}; {again}"
            )
        return rows

    def __iter__(self) -> Iterator[Chunk]:
        accepted: list[Molecule] = []
        rejected: list[Rejected] = []
        first_row: dict[str, int] = {}
        for start in range(0, len(self.rows), CHUNK_ROWS):
            chunk, mols, bad = canonicalize_rows(
                self.rows[start : start + CHUNK_ROWS], first_row, self.manifest.max_smiles_length
            )
            accepted += chunk
            rejected += bad
            if chunk:
                yield Chunk(chunk, mols)
        self._result = self._write(accepted, rejected)

    def _write(self, accepted: list[Molecule], rejected: list[Rejected]) -> StepResult:
        store, slice_key = self.store, self.slice_key
        store.write_parquet(layout.rejected_library_rows(slice_key), _rejects_table(rejected))
        store.write_parquet(layout.library_slice(slice_key), _slice_table(accepted))
        return StepResult(
            slice_key=slice_key,
            rows_in=len(self.rows),
            rows_out=len(accepted),
            rejected=len(rejected),
            seconds=time.perf_counter() - self.started,
            paths={
                "library_slice": store.uri(layout.library_slice(slice_key)),
                "rejected_file": store.uri(layout.rejected_library_rows(slice_key)),
                "source": store.uri(self.manifest.source_key),
            },
            reasons=dict(Counter(r.reason for r in rejected)),
        )


def _slice_table(accepted: list[Molecule]) -> pa.Table:
    return pa.table(
        {
            "row": pa.array([m.row for m in accepted], type=pa.int64()),
            "inchikey": pa.array([m.inchikey for m in accepted], type=pa.string()),
            "smiles": pa.array([m.smiles for m in accepted], type=pa.string()),
            INPUT_COLUMN: pa.array([m.input_smiles for m in accepted], type=pa.string()),
        }
    )


def _rejects_table(rejected: list[Rejected]) -> pa.Table:
    return pa.table(
        {
            "row": pa.array([r.row for r in rejected], type=pa.int64()),
            "input": pa.array([r.input_smiles for r in rejected], type=pa.string()),
            "reason": pa.array([r.reason for r in rejected], type=pa.string()),
            "detail": pa.array([r.detail for r in rejected], type=pa.string()),
        }
    )


def prepare_slice(store: ObjectStore, slice_key: str) -> StepResult:
    """Prepare a slice whole (`library_slices`): `SlicePreparation` iterated to its end."""
    preparation = SlicePreparation(store, slice_key)
    for _ in preparation:
        pass
    return preparation.result
