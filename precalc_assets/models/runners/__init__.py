"""Runners, one module each, by the name a model request gives (each runner class's
`name`: the only place a runner is named); what their declared options say of how a
model is reached, by option name; `run_model` runs one and checks that its answer has
one row per input and every declared column."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pandas as pd
from rdkit import Chem

from precalc_assets.models.options import Reach
from precalc_assets.models.runners.base import Answered, Log, Runner, Stream, no_answer, no_log
from precalc_assets.models.runners.command import CommandRunner
from precalc_assets.models.runners.http import HttpRunner
from precalc_assets.models.runners.python import PythonRunner
from precalc_assets.models.runners.rdkit import RdkitRunner
from precalc_assets.models.spec import DETAIL_COLUMN, REASON_COLUMN, ModelError, ModelSpec

RUNNER_CLASSES: dict[str, type[Runner]] = {
    cls.name: cls for cls in (RdkitRunner, PythonRunner, HttpRunner, CommandRunner)
}


def _reach_by_name(runners: Iterable[type[Runner]]) -> dict[str, Reach]:
    """Each declared option's reach, by name. A name means one thing whichever runner
    declares it (the code version leaves out `batch_size` of any model): a runner that
    declares it otherwise is a mistake, refused when the package is imported."""
    reach: dict[str, Reach] = {}
    for runner in runners:
        for name in runner.options_class.declared():
            declared = runner.options_class.reach(name)
            if reach.setdefault(name, declared) != declared:
                raise TypeError(
                    f"runner {runner.name!r} declares option {name!r} as {declared}, "
                    f"another runner as {reach[name]}: an option's reach is its name's"
                )
    return reach


OPTION_REACH = _reach_by_name(RUNNER_CLASSES.values())


def options_reaching(reach: Reach) -> tuple[str, ...]:
    """The options, of any runner, whose reach includes `reach`."""
    return tuple(name for name, declared in OPTION_REACH.items() if declared & reach)


def option_reach(options: Mapping[str, Any]) -> dict[str, Reach]:
    """What each of `options` says of how the model is reached, for its spec (an
    option no runner declares, such as a `python` model's own, says nothing)."""
    return {name: OPTION_REACH[name] for name in options if OPTION_REACH.get(name)}


def runner_class(runner: str, model_id: str) -> type[Runner]:
    cls = RUNNER_CLASSES.get(runner)
    if cls is None:
        raise ModelError(
            f"model {model_id!r}: runner {runner!r} is not available in this "
            f"version (available: {', '.join(sorted(RUNNER_CLASSES))})"
        )
    return cls


def runner_for(spec: ModelSpec, log: Log = no_log) -> Runner:
    return runner_class(spec.runner, spec.model_id)(spec, log)


def run_model(
    spec: ModelSpec, smiles: list[str], mols: list[Chem.Mol], where: str = "", log: Log = no_log
) -> pd.DataFrame:
    """Run a model and check its answer has one row per input and every declared column.

    `reason` and `detail` columns, when the runner gives them, say which molecules the
    model failed on (`model_failed`) or answered wrongly (`wrong_type`); they are kept
    beside the outputs."""
    if not smiles:
        return _no_rows(spec)
    with _failure_said(spec, where):
        raw = runner_for(spec, log).predict(smiles, mols)
    return _checked(spec, raw, len(smiles), where)


class ModelStream:
    """A SMILES model over a slice given a part at a time (`model_stream`); its result
    is checked as `run_model`'s."""

    def __init__(self, spec: ModelSpec, stream: Stream, where: str) -> None:
        self.spec, self.stream, self.where = spec, stream, where
        self.given = 0

    def add(self, smiles: list[str]) -> None:
        if smiles:
            with _failure_said(self.spec, self.where):
                self.stream.add(smiles)
            self.given += len(smiles)

    def result(self) -> pd.DataFrame:
        if not self.given:
            return _no_rows(self.spec)
        with _failure_said(self.spec, self.where):
            raw = self.stream.result()
        return _checked(self.spec, raw, self.given, self.where)


@contextmanager
def model_stream(
    spec: ModelSpec, where: str = "", log: Log = no_log, answered: Answered = no_answer
) -> Iterator[ModelStream]:
    """A SMILES model that starts on the first molecules given while the rest are still
    being prepared (a batched runner's batches run as soon as they are full, each told
    to `answered` as it is answered)."""
    with _failure_said(spec, where):
        runner = runner_for(spec, log)
    runner.answered = answered
    with runner.stream() as stream:
        yield ModelStream(spec, stream, where)


def _no_rows(spec: ModelSpec) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in spec.column_names})


@contextmanager
def _failure_said(spec: ModelSpec, where: str) -> Iterator[None]:
    """A model's own exception as a `ModelError` saying that nothing was published."""
    try:
        yield
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"model {spec.model_id!r} failed{where}: {type(exc).__name__}: {exc}. Nothing of "
            "this partition was published; fix the model and re-run it."
        ) from exc


def _checked(spec: ModelSpec, raw: Any, rows: int, where: str) -> pd.DataFrame:
    """The model's answer as a table of its declared columns (and reasons), or a
    `ModelError` saying what is wrong with it."""
    try:
        frame = raw if isinstance(raw, pd.DataFrame) else pd.DataFrame(raw)
    except (TypeError, ValueError) as exc:
        raise ModelError(
            f"model {spec.model_id!r} returned {type(raw).__name__} that is not a table"
            f"{where} ({exc}); a model must return a DataFrame, a dict of equal-length "
            "columns or a list of records"
        ) from exc
    if len(frame) != rows:
        raise ModelError(
            f"model {spec.model_id!r} returned {len(frame)} rows for {rows} "
            f"molecules{where}; a model must return exactly one row per input"
        )
    missing = [c for c in spec.column_names if c not in frame.columns]
    if missing:
        raise ModelError(
            f"model {spec.model_id!r} did not return its declared columns {missing}{where} "
            f"(it returned {list(frame.columns)}); fix the model or its 'columns' spec"
        )
    reasons = [c for c in (REASON_COLUMN, DETAIL_COLUMN) if c in frame.columns]
    kept = [*spec.column_names, *reasons]
    return frame[kept].reset_index(drop=True)
