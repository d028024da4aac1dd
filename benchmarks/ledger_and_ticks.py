"""How long the ledger and a sensor tick take at scale (issue: "in seconds", "cheap").

1. Ledger: M models x S slices of synthetic materialisations of `published_predictions`
   (runless events in a fresh SQLite instance), then `build_ledger` over all of them:
   cold (no cache: every event decoded), warm (nothing new), and after 1% new events;
   and one tick of the catch-up `missing_partitions_sensor`, which builds the ledger.
2. Tick: N objects already under inputs/library/ (local store) and already in the
   sensor's cursor, plus one new file; time one `library_files_sensor` tick.

    python benchmarks/ledger_and_ticks.py --models 100 --slices 1000 --objects 10000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

# The seeded events record no target, which counts for any serving table.
SERVING_URL = "sqlite:///serving.db"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--slices", type=int, default=1000)
    parser.add_argument("--objects", type=int, default=10_000)
    # SQLite commits are ~40% cheaper on tmpfs; seeding 100k events takes minutes anyway.
    parser.add_argument("--workdir", default="/dev/shm" if Path("/dev/shm").is_dir() else None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="precalc-ledger-bench-", dir=args.workdir))
    os.environ["PRECALC_HOME"] = str(work / "home")
    os.environ["DAGSTER_HOME"] = str(work / "home" / "dagster")
    for name in ("PRECALC_STORAGE_URL", "PRECALC_SERVING_URL", "PRECALC_DEPLOYMENT"):
        os.environ.pop(name, None)

    import dagster as dg

    from precalc_assets import layout
    from precalc_assets.dagster_defs.sensors import library_files_sensor, missing_partitions_sensor
    from precalc_assets.definitions import build_definitions
    from precalc_assets.inputs.model_requests import load_model_spec
    from precalc_assets.ledger.summary import summarize
    from precalc_assets.orchestration.ledger_reads import build_ledger
    from precalc_assets.settings import Settings, ensure_dagster_home

    ensure_dagster_home(Settings.from_env())
    instance = dg.DagsterInstance.get()
    defs = build_definitions("local")
    with dg.build_resources(defs.resources) as resources:
        store = resources.storage.open()
        policy = resources.models.open()
    models = [f"m{i:03d}" for i in range(args.models)]
    slices = [f"lib-{i:04d}" for i in range(args.slices)]
    for model_id in models:
        store.put_bytes(
            layout.model_request(model_id),
            json.dumps(
                {
                    "runner": "rdkit",
                    "function": "eos3b5e",
                    "columns": [{"name": "mol_weight", "dtype": "float", "min": 0.0}],
                }
            ).encode(),
        )
    versions = {m: load_model_spec(store, m, policy).code_version for m in models}
    instance.add_dynamic_partitions("model", models)
    instance.add_dynamic_partitions("slice", slices)
    started = time.perf_counter()
    for model_id in models:
        for slice_key in slices:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    "published_predictions",
                    partition=f"{model_id}|{slice_key}",
                    metadata={
                        "items_published": 10_000,
                        "not_published": 0,
                        "code_version": versions[model_id],
                    },
                )
            )
    seeded = time.perf_counter() - started

    def timed_ledger() -> tuple[float, list]:
        started = time.perf_counter()
        rows = build_ledger(instance, store, policy, SERVING_URL)
        summarize(rows)
        return time.perf_counter() - started, rows

    cold_seconds, rows = timed_ledger()
    warm_seconds, rows = timed_ledger()
    changed = [f"{m}|{s}" for m in models for s in slices][::100]
    for key in changed:  # 1% of the partitions materialised again
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                "published_predictions",
                partition=key,
                metadata={"items_published": 9_999, "code_version": versions[key.split("|")[0]]},
            )
        )
    incremental_seconds, rows = timed_ledger()
    summaries = summarize(rows)
    statuses = {r.status for r in rows}
    with dg.build_sensor_context(
        instance=instance, definitions=defs, resources=defs.resources
    ) as ctx:
        started = time.perf_counter()
        catch_up = missing_partitions_sensor(ctx)
        catch_up_seconds = time.perf_counter() - started

    for i in range(args.objects):
        store.put_bytes(f"inputs/library/old-{i:05d}.csv", b"smiles\nCCO\n")
    with dg.build_sensor_context(
        instance=instance, definitions=defs, resources=defs.resources
    ) as ctx:
        first = library_files_sensor(ctx)
    store.put_bytes("inputs/library/zz-new.csv", b"smiles\nCCN\n")
    started = time.perf_counter()
    with dg.build_sensor_context(
        instance=instance, cursor=first.cursor, definitions=defs, resources=defs.resources
    ) as ctx:
        tick = library_files_sensor(ctx)
    tick_seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "partitions": len(rows),
                "seed_seconds": round(seeded, 1),
                "ledger_cold_seconds": round(cold_seconds, 2),
                "ledger_warm_seconds": round(warm_seconds, 2),
                "ledger_after_1pct_new_seconds": round(incremental_seconds, 2),
                "new_events": len(changed),
                "catch_up_tick_seconds": round(catch_up_seconds, 2),
                "catch_up_run_requests": len(catch_up.run_requests or []),
                "statuses": sorted(statuses),
                "models_complete": sum(s.complete for s in summaries),
                "objects": args.objects,
                "tick_seconds": round(tick_seconds, 2),
                "tick_run_requests": len(tick.run_requests),
                "cursor_bytes": len(tick.cursor or ""),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
