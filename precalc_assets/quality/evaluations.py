"""Each check's evaluation of one model x slice partition, reading its files from the
stores: the inputs of the decisions in `decisions` and `drift`, gathered."""

from __future__ import annotations

import random
import tempfile
from dataclasses import replace
from pathlib import Path

from precalc_assets import keys, layout
from precalc_assets.models.spec import ModelSpec
from precalc_assets.quality.baselines import drift_baseline
from precalc_assets.quality.decisions import (
    completeness,
    output_sanity,
    reproducibility,
    serving_readback,
)
from precalc_assets.quality.drift import measure_drift
from precalc_assets.quality.outcome import PASS, WARN, Outcome
from precalc_assets.quality.settings import check_settings
from precalc_assets.steps.files import code_version_of, read_partition_file
from precalc_assets.stores.errors import ObjectNotFound
from precalc_assets.stores.object_store import ObjectStore
from precalc_assets.stores.serving_table import ServingTable


def _rows(store: ObjectStore, key: str) -> int:
    try:
        return store.read_parquet(key, columns=["row"]).num_rows
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
    frame = read_partition_file(store, keys.PREDICTIONS, spec.model_id, slice_key)
    return output_sanity(frame, spec, check_settings(spec).sanity)


def evaluate_reproducibility(store: ObjectStore, spec: ModelSpec, slice_key: str) -> Outcome:
    settings = check_settings(spec).reproducibility
    current = store.read_parquet(layout.predictions(spec.model_id, slice_key))
    previous_key = layout.previous_predictions(spec.model_id, slice_key)
    previous = store.read_parquet(previous_key) if store.exists(previous_key) else None
    if previous is None or code_version_of(previous) != code_version_of(current):
        why = (
            "first materialisation"
            if previous is None
            else "the previous one was under another code version"
        )
        return Outcome(True, settings.severity, 0.0, 0.0, f"{why}: nothing to compare")
    outcome = reproducibility(previous.to_pandas(), current.to_pandas(), spec, settings)
    return replace(outcome, links={"previous": store.uri(previous_key)})


def evaluate_drift(
    store: ObjectStore, spec: ModelSpec, slice_key: str, slices: list[str]
) -> Outcome:
    """Drift against the model's baseline slice; Evidently's HTML report in storage."""
    settings = check_settings(spec)
    policy = settings.drift
    baseline = drift_baseline(store, spec, slices, settings.baseline_slice)
    pinned = {"baseline_slice": baseline or ""}
    if baseline is None or baseline == slice_key:
        why = "this slice is the model's drift baseline" if baseline else "no baseline yet"
        return Outcome(True, WARN, 0.0, policy.warn_share, why, figures=pinned)
    reference = store.read_parquet(layout.validated(spec.model_id, baseline))
    if code_version_of(reference) != spec.code_version:
        why = f"baseline {baseline} has no predictions under the current code version yet"
        return Outcome(True, WARN, 0.0, policy.warn_share, why, figures=pinned)
    current = read_partition_file(store, keys.VALIDATED_PREDICTIONS, spec.model_id, slice_key)
    report_key = layout.drift_report(spec.model_id, slice_key)
    with tempfile.TemporaryDirectory(prefix="precalc-drift-") as tmp:
        html = Path(tmp) / "report.html"
        result = measure_drift(
            list(spec.columns), reference.to_pandas(), current, policy, html_path=html
        )
        store.put_file(report_key, html)
    return Outcome(
        passed=result.severity == PASS,
        severity=result.severity if result.severity != PASS else WARN,
        score=result.drifted_share,
        threshold=policy.warn_share,
        description=result.summary(),
        table=result.markdown(),
        figures=pinned
        | {"drifted_features": len(result.drifted_features), "features": len(result.features)},
        links={"report": store.uri(report_key)},
    )


def evaluate_readback(
    store: ObjectStore, table: ServingTable, spec: ModelSpec, slice_key: str
) -> Outcome:
    """A deterministic sample of the slice's validated rows, read back from serving."""
    settings = check_settings(spec).readback
    validated = read_partition_file(store, keys.VALIDATED_PREDICTIONS, spec.model_id, slice_key)
    rows = random.Random(keys.partition_id(spec.model_id, slice_key)).sample(
        range(len(validated)), min(settings.sample, len(validated))
    )
    sample = validated.iloc[sorted(rows)]
    served = table.get_many(spec.model_id, list(sample["inchikey"]))  # the sample only
    # Items an earlier slice of the same library serves are that slice's to check.
    mine = sample[[k not in served or served[k].slice_key == slice_key for k in sample["inchikey"]]]
    outputs = {k: list(served[k].outputs) for k in mine["inchikey"] if k in served}
    outcome = serving_readback(mine, outputs, spec, settings.rtol)
    return replace(outcome, figures=outcome.figures | {"serving_table": table.url})
