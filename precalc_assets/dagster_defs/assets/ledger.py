"""`precalc_ledger`: the ledger written to storage, with a summary in the UI."""

import json
from dataclasses import asdict

import dagster as dg
import pyarrow as pa
import pyarrow.csv as pa_csv

from precalc_assets import keys, layout
from precalc_assets.dagster_defs.assets.publication import published_predictions
from precalc_assets.dagster_defs.resources import (
    ModelPolicyResource,
    ObjectStorageResource,
    ServingTableResource,
)
from precalc_assets.ledger.computed import computed_counts
from precalc_assets.ledger.rows import TO_DO
from precalc_assets.ledger.summary import summarize, summary_markdown
from precalc_assets.orchestration.ledger_reads import build_ledger


@dg.asset(
    name=keys.LEDGER,
    deps=[published_predictions],
    group_name="ledger",
    kinds={"parquet", "csv"},
    description=(
        "Per model x slice: done, stale (spec changed), failed or missing, rows published "
        "and rejected, run and code version; read from Dagster's materialisation history. "
        "Written to ledger/partitions.parquet, ledger/partitions.csv and ledger/models.json."
    ),
)
def precalc_ledger(
    context: dg.AssetExecutionContext,
    storage: ObjectStorageResource,
    models: ModelPolicyResource,
    serving: ServingTableResource,
) -> dg.MaterializeResult:
    store = storage.open()
    rows = build_ledger(context.instance, store, models.open(), serving.open().url)
    summaries = summarize(rows, computed_counts(store, {r.model for r in rows}))
    columns = list(asdict(rows[0])) if rows else ["model", "slice", "status"]
    table = pa.table({c: [getattr(r, c) for r in rows] for c in columns})
    store.write_parquet(layout.LEDGER_PARTITIONS_PARQUET, table)
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(table, sink)
    store.put_bytes(layout.LEDGER_PARTITIONS_CSV, sink.getvalue().to_pybytes())
    store.put_bytes(
        layout.LEDGER_MODELS_JSON,
        json.dumps([s.to_dict() for s in summaries], indent=2).encode(),
    )
    complete = [s.model for s in summaries if s.complete]
    return dg.MaterializeResult(
        metadata={
            "models": dg.MetadataValue.md(summary_markdown(summaries)),
            "models_complete": dg.MetadataValue.int(len(complete)),
            "partitions": dg.MetadataValue.int(len(rows)),
            "partitions_to_do": dg.MetadataValue.int(sum(r.status in TO_DO for r in rows)),
            "ledger_parquet": dg.MetadataValue.path(store.uri(layout.LEDGER_PARTITIONS_PARQUET)),
            "ledger_csv": dg.MetadataValue.path(store.uri(layout.LEDGER_PARTITIONS_CSV)),
        }
    )
