"""Evidently itself, imported on first use: `import evidently` takes ~3.5 s and
~160 MB, and most checks never need it. Its report (`ValueDrift` per feature, widgets
and all) is built only to write its HTML, in a process of its own; its registered stat
tests score the methods `distances` does not compute."""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any, cast

import pandas as pd

from precalc_assets.quality.drift.policy import CATEGORICAL, NUMERIC


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Evidently's internals emit pandas FutureWarnings and its web UI's dependencies
    DeprecationWarnings on every run; a user cannot act on them, so they stay out of the
    asset check's logs. Our own warnings are not affected."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@functools.cache
def _evidently() -> SimpleNamespace:
    """Evidently's classes, imported on first use, once per process: `import evidently`
    takes ~3.5 s, and Dagster loads definitions often; most checks never need it."""
    with quiet():
        from evidently import DataDefinition, Dataset, Report
        from evidently.legacy.calculations.stattests.registry import get_stattest
        from evidently.legacy.core import ColumnType
        from evidently.metrics import ValueDrift

    return SimpleNamespace(
        DataDefinition=DataDefinition,
        Dataset=Dataset,
        Report=Report,
        ValueDrift=ValueDrift,
        get_stattest=get_stattest,
        ColumnType=ColumnType,
    )


def evidently_stattest(
    method: str, reference: pd.Series, current: pd.Series, kind: str, threshold: float
) -> tuple[float, bool]:
    """Evidently's registered stat test `method`, called as `ValueDrift` calls it, without
    a report (so without its widgets)."""
    ev = _evidently()
    column_type = ev.ColumnType.Numerical if kind == NUMERIC else ev.ColumnType.Categorical
    with quiet():
        test = ev.get_stattest(reference, current, column_type, method)
        result = test(reference, current, column_type, threshold)
    return result.drift_score, result.drifted


def evidently_scores(
    names: Sequence[str],
    kinds: Mapping[str, str],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    thresholds: Mapping[str, tuple[str, float]],
    html_path: str | Path | None = None,
) -> dict[str, tuple[float, bool]]:
    """One Evidently report over `names` (`ValueDrift` per feature, widgets and all):
    {feature: (score, drifted)} from its tests; its HTML is saved to `html_path` if given.
    The check builds it only to write the HTML; its verdicts are `feature_scores`'."""
    ev = _evidently()
    names = list(names)
    with quiet():
        definition = ev.DataDefinition(
            numerical_columns=[n for n in names if kinds[n] == NUMERIC],
            categorical_columns=[n for n in names if kinds[n] == CATEGORICAL],
        )
        metrics = []
        for name in names:
            method, threshold = thresholds[name]
            metrics.append(ev.ValueDrift(column=name, method=method, threshold=threshold))
        snapshot = ev.Report(metrics, include_tests=True).run(
            ev.Dataset.from_pandas(current[names], data_definition=definition),
            ev.Dataset.from_pandas(reference[names], data_definition=definition),
        )
        if html_path is not None:
            path = Path(html_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            snapshot.save_html(str(path))
    return _scores_from_snapshot(snapshot.dict())


class ReportWriter:
    """A Python process of its own that writes Evidently's HTML reports, started at the
    first report and ended by `close` (a check op keeps one for its run's partitions).

    Importing Evidently adds ~160 MB to a process for good: a worker that wrote one
    report would hold it for the rest of its runs, so a long library, with more slices
    that WARN, would grow every worker. And the import costs ~3.5 s, paid here once per
    writer, not once per report. A plain subprocess, not `multiprocessing`: spawn
    re-imports the caller's main module, which a script need not guard. Its inputs come
    through its stdin from this process only, never from storage."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None

    def write(
        self,
        names: Sequence[str],
        kinds: Mapping[str, str],
        reference: pd.DataFrame,
        current: pd.DataFrame,
        thresholds: Mapping[str, tuple[str, float]],
        html_path: str | Path,
    ) -> None:
        names = list(names)
        job = (names, dict(kinds), reference[names], current[names], dict(thresholds))
        data = pickle.dumps((*job, str(html_path)))
        process = self._started()
        jobs, answers = cast(IO[bytes], process.stdin), cast(IO[bytes], process.stdout)
        try:
            jobs.write(len(data).to_bytes(8, "big") + data)
            jobs.flush()
            answer = answers.readline().decode().strip()
        except OSError:  # the process is gone
            answer = ""
        if answer != "ok":
            why = answer.removeprefix("error: ") or f"its process ended ({process.poll()})"
            raise RuntimeError(f"the drift report {html_path} could not be written: {why}")

    def _started(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _REPORT_PROCESS],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        return self._process

    def close(self) -> None:
        """End the process (it ends by itself, too, when this one is gone)."""
        if self._process is not None:
            with contextlib.suppress(OSError):
                cast(IO[bytes], self._process.stdin).close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


_REPORT_PROCESS = (
    "from precalc_assets.quality.drift.evidently_report import serve_reports; serve_reports()"
)


def serve_reports() -> None:
    """The report process: each job from stdin (an 8-byte length, then the pickled
    arguments of `evidently_scores`), each answer a line on the original stdout ("ok" or
    "error: ..."); anything else Evidently prints goes to stderr."""
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    source = sys.stdin.buffer
    while header := source.read(8):
        job = pickle.loads(source.read(int.from_bytes(header, "big")))
        try:
            evidently_scores(*job)
            answers.write("ok\n")
        except Exception as exc:  # the caller raises it, with the report's path
            answers.write(f"error: {type(exc).__name__}: {exc}".replace("\n", " ") + "\n")
        answers.flush()


def _scores_from_snapshot(data: Mapping[str, Any]) -> dict[str, tuple[float, bool]]:
    """Read {column: (score, drifted)} from `Snapshot.dict()`.

    Every ValueDrift test has the same id ("drift"); a test belongs to its metric through
    `metric_config.metric_id`. The status is a TestStatus enum in `dict()` and a string
    in `json()`; FAIL means drifted.
    """
    by_id = {m["id"]: m for m in data.get("metrics", [])}
    scores: dict[str, tuple[float, bool]] = {}
    for test in data.get("tests", []):
        metric = by_id.get(test["metric_config"]["metric_id"])
        if metric is None:
            continue
        column = metric["config"]["column"]
        status = getattr(test["status"], "value", test["status"])
        scores[column] = (float(metric["value"]), str(status).upper() == "FAIL")
    return scores
