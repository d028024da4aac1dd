"""Predict: every model of a run over one slice, from one parse of each molecule."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from precalc_assets import layout
from precalc_assets.chem import Molecule, mols_from_inputs
from precalc_assets.models.partition_files import read_library_slice, with_code_version
from precalc_assets.models.runners import model_stream, run_model, runner_class
from precalc_assets.models.runners.base import Answered, Log, no_log
from precalc_assets.models.spec import INPUT_COLUMN, LIBRARY_TEXT, ModelSpec
from precalc_assets.models.tables import predictions_to_arrow
from precalc_assets.steps.prepare import CHUNK_ROWS, Chunk, SlicePreparation
from precalc_assets.steps.results import StepResult
from precalc_assets.stores.object_store import ObjectStore


def _is_parquet(data: bytes) -> bool:
    """Whether `data` is a Parquet file with an intact footer (a truncated one is not)."""
    try:
        pq.ParquetFile(pa.BufferReader(data))
    except (pa.ArrowException, OSError):
        return False
    return True


@dataclass(frozen=True)
class SlicePredictions:
    """What predicting one slice did: a result per model, and the slice's own result
    when it was prepared here too (not prepared yet, or its prepared file unreadable)."""

    results: list[StepResult]
    prepared: StepResult | None = None


@dataclass
class _Outputs:
    """The slice's molecules in order, and each model's outputs and seconds so far."""

    molecules: list[Molecule] = field(default_factory=list)
    frames: dict[str, list[pd.DataFrame]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, spec: ModelSpec, frame: pd.DataFrame, started: float) -> None:
        self.frames.setdefault(spec.model_id, []).append(frame)
        self.waited(spec, started)

    def waited(self, spec: ModelSpec, started: float) -> None:
        """The step's time spent on the model since `started` (a model that runs while
        the slice is prepared costs only the time the step waits for it)."""
        self.seconds[spec.model_id] = self.seconds.get(spec.model_id, 0.0) + (
            time.perf_counter() - started
        )

    def keys(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "row": pd.Series([m.row for m in self.molecules], dtype="int64"),
                "inchikey": pd.Series([m.inchikey for m in self.molecules], dtype=object),
                "smiles": pd.Series([m.smiles for m in self.molecules], dtype=object),
            }
        )


ModelAnswered = Callable[[str, int], None]  # model ID, molecules it has just answered


def no_progress(model_id: str, molecules: int) -> None:
    """The default: nobody follows the step's progress."""


class _Answers:
    """Molecules each model has answered, told as they are (a batch, a chunk), so that
    `precalc run` shows progress within a partition; a model that answers only at the
    end (a `python` one) is told then. Batches answer from the model's threads."""

    def __init__(self, told: ModelAnswered) -> None:
        self.told = told
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()

    def of(self, model_id: str) -> Answered:
        return lambda molecules: self.add(model_id, molecules)

    def add(self, model_id: str, molecules: int) -> None:
        with self.lock:
            self.counts[model_id] = self.counts.get(model_id, 0) + molecules
        self.told(model_id, molecules)

    def settle(self, model_id: str, molecules: int) -> None:
        """All `molecules` answered (a batched model answers a repeated SMILES once)."""
        rest = molecules - self.counts.get(model_id, 0)
        if rest > 0:
            self.add(model_id, rest)


def slice_chunks(
    store: ObjectStore, slice_key: str, with_mols: bool
) -> tuple[Iterable[Chunk], SlicePreparation | None]:
    """The slice's molecules a chunk at a time: from its prepared file (the mols parsed
    again from each row's own text, if `with_mols`), or prepared now (the preparation
    returned too: its result once the chunks are consumed)."""
    library = read_library_slice(store, slice_key)
    if library is None:
        preparation = SlicePreparation(store, slice_key)
        return preparation, preparation
    columns = [library.column(c).to_pylist() for c in ("row", "smiles", "inchikey", INPUT_COLUMN)]
    rows = list(zip(*columns, strict=True))
    chunks = (
        Chunk(
            [Molecule(*row) for row in rows[start : start + CHUNK_ROWS]],
            mols_from_inputs([row[3] for row in rows[start : start + CHUNK_ROWS]])
            if with_mols
            else [],
        )
        for start in range(0, len(rows), CHUNK_ROWS)
    )
    return chunks, None


def model_inputs(spec: ModelSpec, texts: list[str], smiles: list[str]) -> list[str]:
    """What a SMILES-reading model is given: a hub model each row's text as its file
    wrote it (as the hub's own pipelines send it) unless its `input_smiles` is
    `canonical`, others the canonical SMILES."""
    return texts if spec.input_smiles == LIBRARY_TEXT else smiles


def compute_predictions(
    store: ObjectStore,
    specs: list[ModelSpec],
    slice_key: str,
    log: Log = no_log,
    answered: ModelAnswered = no_progress,
) -> SlicePredictions:
    """Every model of `specs` over one slice, from one parse of each molecule.

    The slice comes a chunk at a time. Models that read RDKit mols run on each chunk
    (mols are large). Models that read SMILES only are given each chunk too, and a
    batched one starts on each batch as soon as it is full, so the model runs while the
    rest of the slice is prepared (its batches, and how many run at once, are those of
    the whole slice). A hub model is given each row's text as the library file wrote it
    (unless its `input_smiles` is `canonical`), as the hub's own pipelines send it.
    Nothing is written for any model unless every model succeeded on every molecule it
    could. `answered` hears of the molecules each model answered, as it answers them."""
    where = f" on slice {slice_key!r}"
    on_mols = [s for s in specs if runner_class(s.runner, s.model_id).needs_mols]
    on_smiles = [s for s in specs if s not in on_mols]
    chunks, preparation = slice_chunks(store, slice_key, with_mols=bool(on_mols))
    outputs = _Outputs()
    answers = _Answers(answered)
    with ExitStack() as running:
        streams = [
            running.enter_context(model_stream(s, where, log, answers.of(s.model_id)))
            for s in on_smiles
        ]
        for chunk in chunks:
            outputs.molecules += chunk.molecules
            smiles = [m.smiles for m in chunk.molecules]
            for spec in on_mols:
                started = time.perf_counter()
                outputs.add(spec, run_model(spec, smiles, chunk.mols, where, log), started)
                answers.add(spec.model_id, len(smiles))
            texts = [m.input_smiles.strip() for m in chunk.molecules]
            for stream in streams:
                started = time.perf_counter()
                stream.add(model_inputs(stream.spec, texts, smiles))
                outputs.waited(stream.spec, started)
        for stream in streams:
            started = time.perf_counter()
            outputs.add(stream.spec, stream.result(), started)
            answers.settle(stream.spec.model_id, len(outputs.molecules))
    keys = outputs.keys()
    results = [_write_predictions(store, spec, slice_key, keys, outputs) for spec in specs]
    return SlicePredictions(results, preparation.result if preparation else None)


def _write_predictions(
    store: ObjectStore, spec: ModelSpec, slice_key: str, keys: pd.DataFrame, outputs: _Outputs
) -> StepResult:
    """One model's predictions file (the previous one kept for the reproducibility
    check, unless damaged), and what it holds."""
    parts = outputs.frames.get(spec.model_id) or [run_model(spec, [], [])]
    frame = pd.concat([keys, pd.concat(parts, ignore_index=True)], axis=1)
    key = layout.predictions(spec.model_id, slice_key)
    if store.exists(key):
        previous = store.get_bytes(key)
        if _is_parquet(previous):
            store.put_bytes(layout.previous_predictions(spec.model_id, slice_key), previous)
    store.write_parquet(key, with_code_version(predictions_to_arrow(frame, spec), spec))
    return StepResult(
        slice_key=slice_key,
        model_id=spec.model_id,
        rows_in=len(keys),
        rows_out=len(frame),
        seconds=outputs.seconds.get(spec.model_id, 0.0),
        paths={"predictions": store.uri(key)},
        code_version=spec.code_version,
    )
