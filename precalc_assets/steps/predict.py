"""Predict: every model of a run over one slice, from one parse of each molecule."""

from __future__ import annotations

import time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rdkit import Chem

from precalc_assets import layout
from precalc_assets.chem import Molecule, mols_from_inputs
from precalc_assets.models.partition_files import read_library_slice, with_code_version
from precalc_assets.models.runners import run_model, runner_class
from precalc_assets.models.runners.base import Log, no_log
from precalc_assets.models.spec import INPUT_COLUMN, LIBRARY_TEXT, ModelSpec
from precalc_assets.models.tables import predictions_to_arrow
from precalc_assets.steps.prepare import CHUNK_ROWS, prepare_slice
from precalc_assets.steps.results import StepResult
from precalc_assets.stores.object_store import ObjectStore


def _is_parquet(data: bytes) -> bool:
    """Whether `data` is a Parquet file with an intact footer (a truncated one is not)."""
    try:
        pq.ParquetFile(pa.BufferReader(data))
    except (pa.ArrowException, OSError):
        return False
    return True


def compute_predictions(
    store: ObjectStore, specs: list[ModelSpec], slice_key: str, log: Log = no_log
) -> tuple[list[StepResult], StepResult | None]:
    """Every model of `specs` over one slice, from one parse of each molecule.

    A slice not prepared yet, or whose prepared file cannot be read, is prepared here
    from its raw slice, the models running on the same parse; returns the model results
    and, in that case, the slice's own result. Models that read RDKit mols run a chunk
    at a time (mols are large); models that read SMILES only get the whole slice at
    once, so they batch and run concurrently as they are configured to; a hub model
    is given each row's text as the library file wrote it (unless its `input_smiles`
    is `canonical`), as the hub's own pipelines send it. Nothing is written for any
    model unless every model succeeded on every molecule it could.
    """
    keys: list[pd.DataFrame] = []
    texts: list[str] = []  # each row's own text, as the library file wrote it
    outputs: dict[str, list[pd.DataFrame]] = {spec.model_id: [] for spec in specs}
    seconds = dict.fromkeys(outputs, 0.0)
    where = f" on slice {slice_key!r}"
    on_mols = [s for s in specs if runner_class(s.runner, s.model_id).needs_mols]
    on_smiles = [s for s in specs if s not in on_mols]

    def run_chunk(molecules: list[Molecule], mols: list[Chem.Mol]) -> None:
        smiles = [m.smiles for m in molecules]
        texts.extend(m.input_smiles.strip() for m in molecules)
        keys.append(
            pd.DataFrame(
                {
                    "row": [m.row for m in molecules],
                    "inchikey": [m.inchikey for m in molecules],
                    "smiles": smiles,
                }
            )
        )
        for spec in on_mols:
            started = time.perf_counter()
            outputs[spec.model_id].append(run_model(spec, smiles, mols, where, log))
            seconds[spec.model_id] += time.perf_counter() - started

    library = read_library_slice(store, slice_key)
    prepared = None
    if library is None:
        prepared = prepare_slice(store, slice_key, on_chunk=run_chunk)
    else:
        rows = library.column("row").to_pylist()
        inchikeys = library.column("inchikey").to_pylist()
        smiles = library.column("smiles").to_pylist()
        inputs = library.column(INPUT_COLUMN).to_pylist()
        for start in range(0, len(smiles), CHUNK_ROWS):
            part = slice(start, start + CHUNK_ROWS)
            chunk = [
                Molecule(*row)
                for row in zip(rows[part], smiles[part], inchikeys[part], inputs[part], strict=True)
            ]
            run_chunk(chunk, mols_from_inputs(inputs[part]) if on_mols else [])

    key_frame = (
        pd.concat(keys, ignore_index=True)
        if keys
        else pd.DataFrame({"row": [], "inchikey": [], "smiles": []})
    )
    for spec in on_smiles:
        started = time.perf_counter()
        given = texts if spec.input_smiles == LIBRARY_TEXT else key_frame["smiles"].tolist()
        outputs[spec.model_id] = [run_model(spec, given, [], where, log)]
        seconds[spec.model_id] += time.perf_counter() - started
    results = []
    for spec in specs:
        parts = outputs[spec.model_id]
        model_frame = (
            pd.concat(parts, ignore_index=True) if parts else run_model(spec, [], [], where)
        )
        frame = pd.concat([key_frame, model_frame], axis=1)
        key = layout.predictions(spec.model_id, slice_key)
        if store.exists(key):  # kept for the reproducibility check, unless damaged
            previous = store.get_bytes(key)
            if _is_parquet(previous):
                store.put_bytes(layout.previous_predictions(spec.model_id, slice_key), previous)
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
