"""What the `http` and `command` runners share: batches of unique SMILES, several in
flight, values mapped by column name and cast to their declared types, and a failing
batch halved until the molecules the model fails on are isolated. Those get null
values, the reason `model_failed` and the model's own last error line as detail;
validation quarantines them, and they are never published.
"""

from __future__ import annotations

import threading
import time
from abc import abstractmethod
from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa
from rdkit import Chem

from precalc_assets.models.casting import cast_outputs
from precalc_assets.models.options import Reach, number_in, option, whole_number_in
from precalc_assets.models.reasons import MODEL_FAILED
from precalc_assets.models.runners.base import Answered, Log, Runner, no_answer, no_log
from precalc_assets.models.spec import (
    CANONICAL,
    DETAIL_COLUMN,
    LIBRARY_TEXT,
    REASON_COLUMN,
    ModelError,
    ModelSpec,
)

BATCH_SIZE = 1_000  # a served hub model pays ~0.5 s per request: batch in the thousands
MAX_BATCH_SIZE = 100_000
MAX_CONCURRENCY = 64
MAX_TIMEOUT_S = 86_400
# A model that failed this many single molecules in a row, answering nothing between
# them, fails on everything: isolating the rest would cost two calls per molecule.
HOPELESS_AFTER = 8
PROGRESS_EVERY_S = 10.0
# A batch's answer by column (declared columns, then reason and detail), in input order:
# lists, or Arrow text arrays as a model's output file gave them.
Columns = dict[str, list[Any] | pa.ChunkedArray]


def _joined(parts: list[list[Any] | pa.ChunkedArray]) -> list[Any] | pa.ChunkedArray:
    """One column from its parts in order: a list, or an Arrow array if any part is one
    (a part that is a list is a failed molecule's nulls, or text)."""
    if all(isinstance(part, list) for part in parts):
        return [value for part in parts for value in part]
    chunks = [
        chunk
        for part in parts
        for chunk in (part.chunks if isinstance(part, pa.ChunkedArray) else [pa.array(part)])
    ]
    return pa.chunked_array([chunk.cast(pa.string()) for chunk in chunks], type=pa.string())


class _Stopped(ModelError):
    """Another batch stopped the partition: its error, not this one, is the cause."""


class BatchFailed(Exception):
    """The model failed on a batch as a whole (a 500, a non-zero exit, a wrong row
    count): the batch is halved until the molecules it fails on are isolated. `detail`
    is the model's own last error line (the quarantine's detail of such a molecule)."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail or message


def _input_form_problem(name: str, form: Any) -> str:
    if form not in (LIBRARY_TEXT, CANONICAL):
        return (
            f"{name!r} must be {LIBRARY_TEXT!r} (the library file's own text, as the hub's "
            f"pipelines send it) or {CANONICAL!r} (RDKit's canonical SMILES), got {form!r}"
        )
    return ""


# The options every batched runner declares, each declared once here.


def input_smiles_option() -> Any:
    """`input_smiles`: which SMILES text the model is given (part of what it computes)."""
    return option(LIBRARY_TEXT, check=_input_form_problem)


def batch_size_option() -> Any:
    """`batch_size`: molecules per request or run of the program."""
    return option(BATCH_SIZE, check=whole_number_in(MAX_BATCH_SIZE), reach=Reach.TUNING)


def concurrency_option(default: int) -> Any:
    """`concurrency`: batches in flight at once."""
    return option(default, check=whole_number_in(MAX_CONCURRENCY), reach=Reach.TUNING)


def timeout_option(default: float) -> Any:
    """`timeout_s`: the longest one batch may take."""
    return option(default, check=number_in(MAX_TIMEOUT_S), reach=Reach.TUNING)


def _reordered(values: list[Any] | pa.ChunkedArray, order: list[int]) -> Any:
    if isinstance(values, pa.ChunkedArray):
        return values.take(pa.array(order))
    return [values[i] for i in order]


class BatchOptions(Protocol):
    """What a batched runner's options hold, whatever else they declare."""

    @property
    def input_smiles(self) -> str: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def concurrency(self) -> int: ...
    @property
    def timeout_s(self) -> float: ...


class _Tally:
    """Batches and molecules given and done, isolated failures, and the progress lines."""

    def __init__(self, model_id: str, log: Log, answered: Answered = no_answer):
        self.model_id, self.log, self.answered = model_id, log, answered
        self.batches = self.molecules = 0
        self.done_batches = self.done_molecules = self.failed = self.failed_in_a_row = 0
        self.started = self.logged = time.perf_counter()
        self.lock = threading.Lock()

    def given(self, molecules: int) -> None:
        with self.lock:
            self.batches += 1
            self.molecules += molecules

    def answered_some(self) -> None:
        with self.lock:
            self.failed_in_a_row = 0

    def batch_done(self, molecules: int) -> None:
        with self.lock:
            self.done_batches += 1
            self.done_molecules += molecules
            now = time.perf_counter()
            if now - self.logged >= PROGRESS_EVERY_S:
                self.logged = now
                self.log(self.line(now))
        self.answered(molecules)

    def ended(self) -> None:
        self.log(self.line(time.perf_counter()))

    def line(self, now: float) -> str:
        seconds = max(now - self.started, 1e-9)
        return (
            f"model {self.model_id!r}: {self.done_batches}/{self.batches} batches, "
            f"{self.done_molecules:,}/{self.molecules:,} molecules in {seconds:,.1f} s "
            f"({self.done_molecules / seconds:,.0f} molecules/s), {self.failed} failed"
        )

    def single_failed(self, error: BatchFailed) -> None:
        with self.lock:
            self.failed += 1
            self.failed_in_a_row += 1
            if self.failed_in_a_row >= HOPELESS_AFTER:
                raise ModelError(
                    f"model {self.model_id!r} failed on every molecule it was given "
                    f"({self.failed_in_a_row} single molecules in a row, nothing answered "
                    f"between them); last error: {error}. Nothing of this partition was "
                    "published; fix the model and re-run it."
                )


class _BatchStream:
    """A slice given a part at a time: each batch of unique SMILES goes to the model as
    soon as it is full, so the model runs while the rest of the slice is prepared. The
    batches are the ones the whole slice would give: its unique SMILES in order of
    first appearance, cut every `batch_size`."""

    def __init__(self, runner: BatchedRunner, pool: ThreadPoolExecutor) -> None:
        self.runner, self.pool = runner, pool
        self.tally = _Tally(runner.spec.model_id, runner.log, runner.answered)
        self.smiles: list[str] = []
        self.unique: dict[str, int] = {}  # SMILES -> its place among the unique ones
        self.pending: list[str] = []  # unique SMILES not in a batch yet
        self.futures: list[Future[Columns]] = []

    def add(self, smiles: list[str]) -> None:
        self._raise_if_stopped()
        self.smiles += smiles
        for text in smiles:
            if text not in self.unique:
                self.unique[text] = len(self.unique)
                self.pending.append(text)
        size = self.runner.batch_size
        while len(self.pending) >= size:
            self._submit(self.pending[:size])
            self.pending = self.pending[size:]

    def _submit(self, batch: list[str]) -> None:
        self.tally.given(len(batch))
        self.futures.append(self.pool.submit(self.runner._batch, batch, self.tally))

    def _raise_if_stopped(self) -> None:
        """A failed batch stops the partition now, not once the slice is prepared."""
        if self.runner._stop.is_set():
            wait(self.futures, return_when=FIRST_EXCEPTION)
            self._raise_first()

    def _raise_first(self) -> None:
        for future in self.futures:
            future.cancel()
        wait(self.futures)  # the batches in flight stop at their next request
        errors = [f.exception() for f in self.futures if not f.cancelled() and f.exception()]
        if errors:
            raise next((e for e in errors if not isinstance(e, _Stopped)), errors[0])

    def result(self) -> pd.DataFrame:
        if self.pending:
            self._submit(self.pending)
            self.pending = []
        finished, _ = wait(self.futures, return_when=FIRST_EXCEPTION)
        if any(f.exception() is not None for f in finished):
            self._raise_first()
        if self.futures:
            self.tally.ended()
        spec = self.runner.spec
        names = [*spec.column_names, REASON_COLUMN, DETAIL_COLUMN]
        results = [future.result() for future in self.futures]
        answered = {name: _joined([result[name] for result in results]) for name in names}
        if len(self.unique) != len(self.smiles):  # a repeated SMILES gets its answer again
            order = [self.unique[s] for s in self.smiles]
            answered = {name: _reordered(values, order) for name, values in answered.items()}
        return cast_outputs(answered, spec)

    def stop(self) -> None:
        """Left before its result (the slice failed): the batches not started never start."""
        self.runner._stop.set()
        for future in self.futures:
            future.cancel()


class BatchedRunner(Runner):
    """A model reached one batch at a time: by HTTP, or by running a command. A
    subclass checks its options (`check_options`) before anything else, as at
    registration, and hands them over."""

    def __init__(self, spec: ModelSpec, settings: BatchOptions, log: Log = no_log):
        super().__init__(spec, log)
        self.batch_size, self.concurrency = settings.batch_size, settings.concurrency
        self._extra_logged = False
        self._log_lock = threading.Lock()
        self._stop = threading.Event()

    @abstractmethod
    def run_batch(self, smiles: list[str]) -> list[Any] | pa.Table:
        """The answer for each input, in input order: one record (`{column: value}`)
        per input, or a table with a column per output (read from a file). Raise
        `BatchFailed` for a failure to halve, `ModelError` for one that stops the
        partition."""

    def predict(self, smiles: list[str], mols: list[Chem.Mol]) -> pd.DataFrame:
        with self.stream() as stream:
            stream.add(smiles)
            return stream.result()

    @contextmanager
    def stream(self) -> Iterator[_BatchStream]:
        self._stop.clear()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="model") as pool:
            stream = _BatchStream(self, pool)
            try:
                yield stream
            except BaseException:
                stream.stop()
                raise

    def _batch(self, batch: list[str], tally: _Tally) -> Columns:
        try:
            rows = self._isolate(batch, tally)
        except ModelError:
            self._stop.set()  # the partition has failed: batches in flight stop halving
            raise
        tally.batch_done(len(batch))
        return rows

    def _isolate(
        self, batch: list[str], tally: _Tally, failing: BatchFailed | None = None
    ) -> Columns:
        """The batch's answer; a failed batch halved, down to the molecules it fails on.
        `failing`: how this batch is already known to fail as a whole."""
        if self._stop.is_set():
            raise _Stopped(f"model {self.spec.model_id!r}: stopped, another batch failed")
        try:
            if failing is not None and len(batch) > 1:
                raise failing  # known to fail whole: no need to ask again
            answer = self.run_batch(batch)
            if len(answer) != len(batch):
                raise BatchFailed(f"{len(answer)} rows answered for {len(batch)} molecules")
            columns = self._columns(answer)
        except BatchFailed as exc:
            if len(batch) > 1:
                middle = len(batch) // 2
                first = self._isolate(batch[:middle], tally)
                # If the first half was answered whole, the failure is in the second.
                whole = all(reason is None for reason in first[REASON_COLUMN])
                second = self._isolate(batch[middle:], tally, exc if whole else None)
                return {name: _joined([first[name], second[name]]) for name in first}
            tally.single_failed(exc)
            failed: Columns = {name: [None] for name in self.spec.column_names}
            return {**failed, REASON_COLUMN: [MODEL_FAILED], DETAIL_COLUMN: [exc.detail]}
        tally.answered_some()
        return columns

    def _columns(self, answer: list[Any] | pa.Table) -> Columns:
        """The declared columns of an answer, by name; a declared column it lacks is an
        error, one it adds is ignored (said once)."""
        names = self.spec.column_names
        if isinstance(answer, pa.Table):
            self._check_given(names, set(answer.column_names))
            columns: Columns = {name: answer.column(name) for name in names}
        else:
            for record in answer:
                if not isinstance(record, Mapping):
                    raise ModelError(
                        f"model {self.spec.model_id!r} answered a row that is not an object "
                        f"of column values: {str(record)[:200]!r}"
                    )
                self._check_given(names, record)
            columns = {name: [record[name] for record in answer] for name in names}
        none: list[Any] = [None] * len(answer)
        return {**columns, REASON_COLUMN: none, DETAIL_COLUMN: list(none)}

    def _check_given(self, names: list[str], given: Collection[str]) -> None:
        """A `ModelError` for a declared column not `given`; a log line, once, for the
        columns given that were not declared."""
        missing = [name for name in names if name not in given]
        if missing:
            raise ModelError(
                f"model {self.spec.model_id!r} did not answer its declared column(s) "
                f"{missing} (it answered {sorted(given)[:20]}); fix the 'columns' of its "
                "request, or the model"
            )
        if len(given) > len(names):
            with self._log_lock:
                first, self._extra_logged = not self._extra_logged, True
            if first:
                extra = sorted(set(given) - set(names))
                self.log(f"model {self.spec.model_id!r}: ignored undeclared column(s) {extra[:20]}")
