"""Validate: the model's pandera schema; failing rows quarantined, never served."""

from __future__ import annotations

import time
from collections import Counter

from precalc_assets import keys, layout
from precalc_assets.models.schema import split_valid
from precalc_assets.models.spec import FAILURE_COLUMN, MODEL_FAILED, ModelSpec
from precalc_assets.models.tables import lenient_to_arrow, predictions_to_arrow
from precalc_assets.steps.files import read_partition_file, with_code_version
from precalc_assets.steps.results import StepResult
from precalc_assets.stores.object_store import ObjectStore


def validate_predictions(store: ObjectStore, spec: ModelSpec, slice_key: str) -> StepResult:
    """Pandera schema of the model; failing rows go to quarantine, never to serving."""
    started = time.perf_counter()
    frame = read_partition_file(store, keys.PREDICTIONS, spec.model_id, slice_key)
    valid, quarantined = split_valid(frame, spec)
    q_key = layout.quarantined(spec.model_id, slice_key)
    if len(quarantined):
        store.write_parquet(q_key, lenient_to_arrow(quarantined))
    else:
        store.delete(q_key)
    v_key = layout.validated(spec.model_id, slice_key)
    store.write_parquet(v_key, with_code_version(predictions_to_arrow(valid, spec), spec))
    failures = quarantined[FAILURE_COLUMN] if len(quarantined) else []
    reasons = Counter(
        MODEL_FAILED if part.startswith(MODEL_FAILED) else part
        for failure in failures
        for part in str(failure).split("; ")
    )
    return StepResult(
        slice_key=slice_key,
        model_id=spec.model_id,
        rows_in=len(frame),
        rows_out=len(valid),
        rejected=len(quarantined),
        seconds=time.perf_counter() - started,
        paths={"validated": store.uri(v_key), "quarantine_file": store.uri(q_key)},
        reasons=dict(reasons),
        code_version=spec.code_version,
    )
