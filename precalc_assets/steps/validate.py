"""Validate: the model's pandera schema; failing rows quarantined, never served, each
with a reason code and its detail."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from precalc_assets import keys, layout
from precalc_assets.models.partition_files import read_partition_table, with_code_version
from precalc_assets.models.schema import null_unstorable, split_valid, validated_whole
from precalc_assets.models.spec import DETAIL_COLUMN, REASON_COLUMN, ModelSpec
from precalc_assets.models.tables import lenient_to_arrow, predictions_to_arrow, table_to_frame
from precalc_assets.steps.results import StepResult
from precalc_assets.stores.object_store import ObjectStore


@dataclass(frozen=True)
class Validation:
    """A model's rows checked against its schema: those that may be served, those
    quarantined (with `reason` and `detail`), and the values nulled per column."""

    valid: pd.DataFrame
    quarantined: pd.DataFrame
    nulled: dict[str, int]

    def failures(self) -> dict[str, str]:
        """InChIKey -> "reason: detail" of each quarantined row."""
        q = self.quarantined
        return {
            key: f"{reason}: {detail}"
            for key, reason, detail in zip(
                q["inchikey"], q[REASON_COLUMN], q[DETAIL_COLUMN], strict=True
            )
        }


def validate_frame(frame: pd.DataFrame, spec: ModelSpec) -> Validation:
    """The model's rows split by its schema, after nulling what serving cannot hold."""
    frame, nulled = null_unstorable(frame, spec)
    valid, quarantined = split_valid(frame, spec)
    return Validation(valid, quarantined, nulled)


def validated_table(valid: pd.DataFrame, spec: ModelSpec) -> pa.Table:
    """The valid rows as stored: typed columns, the code version in the file's metadata."""
    return with_code_version(predictions_to_arrow(valid, spec), spec)


def _no_rows() -> pd.DataFrame:
    return pd.DataFrame({REASON_COLUMN: pd.Series(dtype=str), DETAIL_COLUMN: pd.Series(dtype=str)})


def validate_predictions(store: ObjectStore, spec: ModelSpec, slice_key: str) -> StepResult:
    """Pandera schema of the model; failing rows go to quarantine, never to serving."""
    started = time.perf_counter()
    table = read_partition_table(store, keys.PREDICTIONS, spec.model_id, slice_key)
    whole = validated_whole(table, spec)
    if whole is not None:  # every row passes: stored as it was read, no pandas
        validation = Validation(_no_rows(), _no_rows(), {})
        stored = with_code_version(whole, spec)
    else:
        validation = validate_frame(table_to_frame(table), spec)
        stored = validated_table(validation.valid, spec)
    quarantined = validation.quarantined
    q_key = layout.quarantined(spec.model_id, slice_key)
    if len(quarantined):
        store.write_parquet(q_key, lenient_to_arrow(quarantined))
    else:
        store.delete(q_key)
    v_key = layout.validated(spec.model_id, slice_key)
    store.write_parquet(v_key, stored)
    reasons = Counter(quarantined[REASON_COLUMN]) if len(quarantined) else Counter()
    examples = (
        quarantined.drop_duplicates(REASON_COLUMN).set_index(REASON_COLUMN)[DETAIL_COLUMN]
        if len(quarantined)
        else {}
    )
    return StepResult(
        slice_key=slice_key,
        model_id=spec.model_id,
        rows_in=table.num_rows,
        rows_out=stored.num_rows,
        rejected=len(quarantined),
        seconds=time.perf_counter() - started,
        paths={"validated": store.uri(v_key), "quarantine_file": store.uri(q_key)},
        reasons=dict(reasons),
        reason_details={code: str(examples[code]) for code in reasons},
        nulled=validation.nulled,
        code_version=spec.code_version,
    )
