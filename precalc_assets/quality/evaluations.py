"""Each check's evaluation of one model x slice partition, reading its files from the
stores: the inputs of the decisions in `decisions` and `drift`, gathered.

Each reads that partition's files only (the drift check also its model's baseline slice),
and of them only the columns it uses (`frames`): row counts from the Parquet footers, the
model's outputs (plus `inchikey` where rows are matched by key), a sample's rows for the
serving read-back. `benchmarks/checks_cost.py` measures what they cost.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import replace
from pathlib import Path

import pandas as pd

from precalc_assets import keys, layout
from precalc_assets.models.partition_files import code_version_of
from precalc_assets.models.spec import HUB_RUNNERS, REASON_COLUMN, ModelSpec
from precalc_assets.quality.baselines import drift_baseline
from precalc_assets.quality.check_settings import check_settings
from precalc_assets.quality.decisions import (
    completeness,
    output_sanity,
    reproducibility,
    serving_readback,
)
from precalc_assets.quality.drift.evidently_report import ReportWriter
from precalc_assets.quality.drift.measure import measure_drift
from precalc_assets.quality.frames import output_columns, read_table, to_frame
from precalc_assets.quality.outcome import PASS, WARN, Outcome
from precalc_assets.stores.errors import ObjectNotFound
from precalc_assets.stores.object_store import ObjectStore
from precalc_assets.stores.serving_table import ServingTable


def _rows(store: ObjectStore, key: str) -> int:
    """Rows of a Parquet file (from its footer: no column is read), 0 if it is missing."""
    try:
        return store.read_parquet(key, columns=[]).num_rows
    except ObjectNotFound:
        return 0


def evaluate_completeness(store: ObjectStore, spec: ModelSpec, slice_key: str) -> Outcome:
    m = spec.model_id
    return completeness(
        library_rows=_rows(store, layout.library_slice(slice_key)),
        predicted=_rows(store, layout.predictions(m, slice_key)),
        valid=_rows(store, layout.validated(m, slice_key)),
        quarantined=_rows(store, layout.quarantined(m, slice_key)),
    )


def evaluate_output_sanity(store: ObjectStore, spec: ModelSpec, slice_key: str) -> Outcome:
    """The model's output columns of the slice's predictions (not its keys or SMILES),
    and which rows the model failed on (hub models)."""
    columns = [*spec.column_names, *([REASON_COLUMN] if spec.runner in HUB_RUNNERS else [])]
    table = read_table(store, keys.PREDICTIONS, spec.model_id, slice_key, columns)
    return output_sanity(to_frame(table), spec, check_settings(spec).sanity)


def evaluate_reproducibility(store: ObjectStore, spec: ModelSpec, slice_key: str) -> Outcome:
    """The predictions against the previous ones, by InChIKey: only `inchikey` and the
    outputs of both files, and on a first materialisation nothing but the footer."""
    settings = check_settings(spec).reproducibility
    current_key = layout.predictions(spec.model_id, slice_key)
    previous_key = layout.previous_predictions(spec.model_id, slice_key)
    if not store.exists(previous_key):
        store.read_parquet(current_key, columns=[])  # the predictions must be readable
        why = "first materialisation"
        return Outcome(True, settings.severity, 0.0, 0.0, f"{why}: nothing to compare")
    columns = output_columns(spec, "inchikey")
    current = store.read_parquet(current_key, columns=columns)
    previous = store.read_parquet(previous_key, columns=columns)
    if code_version_of(previous) != code_version_of(current):
        why = "the previous one was under another code version"
        return Outcome(True, settings.severity, 0.0, 0.0, f"{why}: nothing to compare")
    outcome = reproducibility(to_frame(previous), to_frame(current), spec, settings)
    return replace(outcome, links={"previous": store.uri(previous_key)})


def _baseline_frame(
    store: ObjectStore,
    spec: ModelSpec,
    baseline: str,
    cache: dict[tuple[str, str, tuple[str, ...]], pd.DataFrame] | None,
) -> pd.DataFrame | None:
    """The baseline slice's validated outputs, None unless under the current code
    version; kept in `cache` (one check op's, so a run of many slices reads it once)."""
    key = layout.validated(spec.model_id, baseline)
    cache_key = (store.uri(key), spec.code_version, tuple(spec.column_names))
    if cache is not None and cache_key in cache:
        return cache[cache_key]
    table = store.read_parquet(key, columns=spec.column_names)
    if code_version_of(table) != spec.code_version:
        return None
    frame = to_frame(table)
    if cache is not None:
        cache.clear()  # one baseline at a time: a vector model's is large
        cache[cache_key] = frame
    return frame


def evaluate_drift(
    store: ObjectStore,
    spec: ModelSpec,
    slice_key: str,
    slices: list[str],
    baselines: dict[tuple[str, str, tuple[str, ...]], pd.DataFrame] | None = None,
    reports: ReportWriter | None = None,
) -> Outcome:
    """Drift against the model's baseline slice (the outputs of both, nothing else).

    Evidently's HTML report is written to storage and linked when `checks.drift.report`
    asks for it: by default ("failing") only for a WARN or ERROR, "always", or "never".
    A partition that gets no report has none in storage (an earlier one is deleted: it
    would contradict this evaluation). `baselines`, a dict the caller keeps for the
    partitions of one run, saves reading the baseline again for each; `reports`, a
    report process it keeps too, saves importing Evidently again for each report."""
    settings = check_settings(spec)
    policy = settings.drift
    baseline = drift_baseline(store, spec, slice_key, slices, settings.baseline_slice)
    pinned = {"baseline_slice": baseline or ""}
    if baseline is None or baseline == slice_key:
        why = "this slice is its library's drift baseline" if baseline else "no baseline yet"
        return Outcome(True, WARN, 0.0, policy.warn_share, why, figures=pinned)
    reference = _baseline_frame(store, spec, baseline, baselines)
    if reference is None:
        why = f"baseline {baseline} has no predictions under the current code version yet"
        return Outcome(True, WARN, 0.0, policy.warn_share, why, figures=pinned)
    current = read_table(
        store, keys.VALIDATED_PREDICTIONS, spec.model_id, slice_key, spec.column_names
    )
    report_key = layout.drift_report(spec.model_id, slice_key)
    links = {}
    with tempfile.TemporaryDirectory(prefix="precalc-drift-") as tmp:
        html = Path(tmp) / "report.html"
        result = measure_drift(
            list(spec.columns),
            reference,
            to_frame(current),
            policy,
            html_path=None if settings.drift_report == "never" else html,
            html_when="always" if settings.drift_report == "always" else "failing",
            reports=reports,
        )
        if html.exists():
            store.put_file(report_key, html)
            links["report"] = store.uri(report_key)
        else:
            store.delete(report_key)
    return Outcome(
        passed=result.severity == PASS,
        severity=result.severity if result.severity != PASS else WARN,
        score=result.drifted_share,
        threshold=policy.warn_share,
        description=result.summary(),
        table=result.markdown(),
        figures=pinned
        | {"drifted_features": len(result.drifted_features), "features": len(result.features)},
        links=links,
    )


def evaluate_readback(
    store: ObjectStore, table: ServingTable, spec: ModelSpec, slice_key: str
) -> Outcome:
    """A deterministic sample of the slice's validated rows, read back from serving.

    Only `inchikey` and the outputs are read, and only the sampled rows converted."""
    settings = check_settings(spec).readback
    validated = read_table(
        store,
        keys.VALIDATED_PREDICTIONS,
        spec.model_id,
        slice_key,
        output_columns(spec, "inchikey"),
    )
    rows = random.Random(keys.partition_id(spec.model_id, slice_key)).sample(
        range(validated.num_rows), min(settings.sample, validated.num_rows)
    )
    sample = to_frame(validated.take(sorted(rows)))
    served = table.get_many(spec.model_id, list(sample["inchikey"]))  # the sample only
    # Items an earlier slice of the same library serves are that slice's to check.
    mine = sample[[k not in served or served[k].slice_key == slice_key for k in sample["inchikey"]]]
    outputs = {k: list(served[k].outputs) for k in mine["inchikey"] if k in served}
    outcome = serving_readback(mine, outputs, spec, settings.rtol)
    return replace(outcome, figures=outcome.figures | {"serving_table": table.url})
