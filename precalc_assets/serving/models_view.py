"""What `precalc serve` shows of the ledger (`GET /models`, `/models/{id}`): per model,
molecules served and computed, slices done of total and per state, last update, complete
or not, and the runs that published it with their wall times.

Built from the ledger's rows and per-model summaries (`ledger.summary`) by a plain
function, without FastAPI: the CLI reads the ledger from Dagster and calls it, the app
only serves what it returns. The pydantic models are the view's shape (the app's OpenAPI
documents them); only `precalc serve`, which has pydantic with FastAPI, imports this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from precalc_assets.ledger.rows import LedgerRow, Status
from precalc_assets.ledger.summary import ModelSummary, summarize

LATEST_RUNS = 10  # runs listed per model in /models (all are counted)
SLICE_STATES = tuple(Status)


class RunInfo(BaseModel):
    run_id: str
    slices: int = Field(description="Slices of this model it published that are served now.")
    started_at: str | None
    ended_at: str | None
    seconds: float | None = Field(description="Wall time of the whole run (None if unended).")


class RunsInfo(BaseModel):
    """The Dagster runs that published the model's current slices. A run may have
    published other models' slices too: its wall time is the run's, not this model's."""

    count: int
    seconds_total: float
    seconds_max: float | None
    latest: list[RunInfo] = Field(description=f"Up to {LATEST_RUNS}, latest start first.")


class ModelInfo(BaseModel):
    model_id: str
    complete: bool = Field(description="Every registered slice published under its version.")
    molecules_served: int = Field(description="Precalculated molecules the table serves.")
    molecules_computed: int = Field(description="Molecules lookups computed on demand.")
    rows_rejected: int
    slices_done: int
    slices_total: int
    slices: dict[str, int] = Field(description="Slices per state: " + ", ".join(SLICE_STATES))
    last_updated: str | None = Field(description="When a slice of it was last published.")
    last_run_id: str | None
    runs: RunsInfo
    error: str | None = Field(description="Why the model cannot be run, if it cannot.")


@dataclass(frozen=True)
class RunTimes:
    """When a Dagster run started and ended (epoch seconds; None until it does)."""

    started: float | None = None
    ended: float | None = None

    @property
    def seconds(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return round(self.ended - self.started, 3)


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def models_document(
    models: Sequence[str],
    rows: Sequence[LedgerRow],
    computed: Mapping[str, int],
    runs: Mapping[str, RunTimes],
) -> list[dict[str, Any]]:
    """What `/models` shows, from the ledger's rows, the lookups' computed counts and the
    times of the runs named in the rows; a model with no slice yet is listed too."""
    summaries = {s.model: s for s in summarize(list(rows), computed)}
    slices_of: dict[str, dict[str, int]] = {}  # model -> run -> its slices published now
    for row in rows:
        if row.run_id:
            counts = slices_of.setdefault(row.model, {})
            counts[row.run_id] = counts.get(row.run_id, 0) + 1
    infos = []
    for model_id in models:
        summary = summaries.get(model_id) or ModelSummary(
            model_id, rows_computed=computed.get(model_id, 0)
        )
        infos.append(_model_info(summary, slices_of.get(model_id, {}), runs).model_dump())
    return infos


def _model_info(
    summary: ModelSummary, slices_of: Mapping[str, int], runs: Mapping[str, RunTimes]
) -> ModelInfo:
    listed = []
    for run_id, count in slices_of.items():
        times = runs.get(run_id, RunTimes())
        listed.append(
            RunInfo(
                run_id=run_id,
                slices=count,
                started_at=_iso(times.started),
                ended_at=_iso(times.ended),
                seconds=times.seconds,
            )
        )
    listed.sort(key=lambda r: r.started_at or "", reverse=True)
    durations = [r.seconds for r in listed if r.seconds is not None]
    return ModelInfo(
        model_id=summary.model,
        complete=summary.complete,
        molecules_served=summary.rows_published,
        molecules_computed=summary.rows_computed,
        rows_rejected=summary.rows_rejected,
        slices_done=len(summary.done),
        slices_total=summary.slices,
        slices={state: len(getattr(summary, state)) for state in SLICE_STATES},
        last_updated=summary.last_materialized_at or None,
        last_run_id=summary.last_run_id or None,
        runs=RunsInfo(
            count=len(listed),
            seconds_total=round(sum(durations), 3),
            seconds_max=max(durations, default=None),
            latest=listed[:LATEST_RUNS],
        ),
        error=summary.error or None,
    )
