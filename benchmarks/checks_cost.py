"""What the asset checks of one partition cost, against the partition's compute.

    python benchmarks/checks_cost.py [--rows 10000] [--models eos3b5e,rdkit-physchem,...]
                                     [--repeats 5] [--workdir DIR] [--keep]

For each model, on the embedded default (local files + SQLite serving table, in a fresh
PRECALC_HOME): the compute of one `--rows` partition (predict + validate + publish, the
step functions the assets call, timed each) and then each check of that partition,
called as the check op calls it (`load_model_spec` + the `evaluate_*` function), so the
figures are the checks' own work without Dagster's event-log writes (which are the same
for every check and every partition). The partition is materialised twice first, so
`reproducibility` compares every row with the previous predictions (its costly case),
and `prediction_drift` compares the slice with a baseline slice of the same library.

Per check: the first call of the process (for Evidently, its ~3.5 s import lands there)
and the median of `--repeats` further calls (what each further partition of a run pays).
`prediction_drift (HTML)` is the drift check of a partition whose Evidently HTML report is
written (a failing partition, or `checks.drift.report: "always"`); code without that
setting writes the report for every partition, so there it is the same call.
`prediction_drift (cached)` (code that has it) is the drift check of a later partition of
the same run, the baseline's outputs already read by the check op. The checks total is
the five checks' medians, without these two lines (the drift check reading its baseline).

Molecules: the `molsets` wheel's MOSES training set (`pip install --no-deps
molsets==0.3.1`, read as a file: `moses` is never imported), else RDKit's
`NCI/first_5K.smi` plus `Pains/test_data/wehi_mols.csv` (15,000 molecules). The measured
partition is slice `lib-0000` (`--rows` molecules), the baseline `lib-0001` (the next
`--rows`, or what is left). The result is printed and written to
`benchmarks/out/checks-cost-<timestamp>.json`.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import gzip
import importlib.metadata
import inspect
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
MOLSETS_FILE = "moses/dataset/data/train.csv.gz"
MODELS = ("eos3b5e", "rdkit-physchem", "morgan-fp2048")
MEASURED, BASELINE = "lib-0000", "lib-0001"
PROJECT_ENV = (
    "PRECALC_STORAGE_URL",
    "PRECALC_SERVING_URL",
    "PRECALC_DEPLOYMENT",
    "PRECALC_MODELS_FILE",
    "PRECALC_HTTP_ALLOW",
)
CACHED_DRIFT = "prediction_drift (cached)"
CHECKS = (
    "completeness",
    "output_sanity",
    "reproducibility",
    "prediction_drift",
    "serving_readback",
)


# -- molecules -------------------------------------------------------------------------


def molsets_train() -> Path | None:
    try:
        files = importlib.metadata.files("molsets") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for item in files:
        if str(item) == MOLSETS_FILE:
            return Path(item.locate())
    return None


def real_smiles(count: int) -> tuple[list[str], str]:
    """Up to `count` real SMILES and where they come from."""
    source = molsets_train()
    if source is not None:
        out: list[str] = []
        with gzip.open(source, "rt", newline="") as handle:
            reader = csv.reader(handle)
            column = [h.strip().lower() for h in next(reader)].index("smiles")
            for row in reader:
                if len(out) == count:
                    break
                out.append(row[column])
        return out, f"MOSES train ({source.name}, molsets {importlib.metadata.version('molsets')})"
    from rdkit import RDConfig

    data = Path(RDConfig.RDDataDir)
    nci = [line.split()[0] for line in (data / "NCI" / "first_5K.smi").read_text().splitlines()]
    with (data / "Pains" / "test_data" / "wehi_mols.csv").open(newline="") as handle:
        wehi = [row[0] for row in csv.reader(handle) if row]
    return (nci + wehi)[:count], "RDKit NCI/first_5K.smi + Pains/test_data/wehi_mols.csv"


# -- timing ----------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def git_state() -> dict[str, str]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=HERE.parent, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    changed = git("status", "--porcelain", "--", "precalc_assets")
    return {"commit": git("rev-parse", "--short", "HEAD"), "local_changes": changed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows of the partition")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--repeats", type=int, default=5, help="calls per check after the first")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="precalc-checks-cost-"))
    home = workdir / "home"
    if home.exists():
        shutil.rmtree(home)
    (home / "dagster").mkdir(parents=True)
    for name in PROJECT_ENV:
        os.environ.pop(name, None)
    os.environ["PRECALC_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster")

    started = time.perf_counter()
    import dagster as dg

    from precalc_assets.dagster_defs.resources import resources_for
    from precalc_assets.inputs.libraries import register_library
    from precalc_assets.inputs.model_requests import load_model_spec, register_model
    from precalc_assets.models.spec import ModelError
    from precalc_assets.quality import evaluations
    from precalc_assets.quality.check_settings import check_settings
    from precalc_assets.steps.predict import compute_predictions
    from precalc_assets.steps.prepare import prepare_slice
    from precalc_assets.steps.publish import publish_predictions
    from precalc_assets.steps.validate import validate_predictions

    import_seconds = time.perf_counter() - started
    evidently_loaded_at_start = "evidently" in sys.modules

    smiles, source = real_smiles(2 * args.rows)
    library = workdir / "lib.csv"
    with library.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["smiles"])
        writer.writerows([s] for s in smiles)

    with dg.build_resources(resources_for("local")) as resources:
        store = resources.storage.open()
        serving = resources.serving.open()
        policy = resources.models.open()
    manifest, _ = register_library(store, library, name="lib", slice_size=args.rows)
    slices = [s.key for s in manifest.slices]
    if slices[:2] != [MEASURED, BASELINE]:
        raise SystemExit(f"expected slices {MEASURED}, {BASELINE}; got {slices}")
    prepared = {key: prepare_slice(store, key) for key in (MEASURED, BASELINE)}
    # The baseline is registered first for the drift check (it pins the first slice of
    # this list with validated predictions).
    drift_slices = [BASELINE, MEASURED]

    def materialise(spec, slice_key: str, run_id: str) -> dict[str, float]:
        predict, _ = timed(lambda: compute_predictions(store, [spec], slice_key))
        validate, _ = timed(lambda: validate_predictions(store, spec, slice_key))
        publish, _ = timed(lambda: publish_predictions(store, serving, spec, slice_key, run_id))
        return {
            "predict": predict,
            "validate": validate,
            "publish": publish,
            "compute": predict + validate + publish,
        }

    def with_report_always(spec):
        """The spec with `checks.drift.report: "always"`, or None if the code has no
        such setting (then every drift check writes its report)."""
        checks = dict(spec.checks or {})
        checks["drift"] = dict(checks.get("drift") or {}) | {"report": "always"}
        candidate = dataclasses.replace(spec, checks=checks)
        try:
            check_settings(candidate)
        except ModelError:
            return None
        return candidate

    def measure(call: Callable[[], Any]) -> dict[str, Any]:
        first_seconds, outcome = timed(call)
        repeats = [timed(call)[0] for _ in range(args.repeats)]
        return {
            "first": first_seconds,
            "median": statistics.median(repeats) if repeats else first_seconds,
            "passed": outcome.passed,
            "severity": outcome.severity,
            "description": outcome.description[:200],
            "links": sorted(outcome.links),
        }

    results: dict[str, Any] = {}
    html_calls: dict[str, Callable[[], Any]] = {}
    for model_id in models:
        register_model(store, model_id, policy)
        spec = load_model_spec(store, model_id, policy)
        materialise(spec, BASELINE, "baseline")
        first = materialise(spec, MEASURED, "run-1")
        again = materialise(spec, MEASURED, "run-2")  # history/ now holds run 1's file

        always = with_report_always(spec)

        baselines: dict = {}  # one check op's cache, for this model

        def evaluate(
            name: str, spec_override=None, model_id: str = model_id, baselines: dict = baselines
        ):
            def call():
                loaded = load_model_spec(store, model_id, policy)  # as the check op does
                if spec_override is not None:
                    loaded = spec_override
                if name == "completeness":
                    return evaluations.evaluate_completeness(store, loaded, MEASURED)
                if name == "output_sanity":
                    return evaluations.evaluate_output_sanity(store, loaded, MEASURED)
                if name == "reproducibility":
                    return evaluations.evaluate_reproducibility(store, loaded, MEASURED)
                if name == CACHED_DRIFT:  # what later partitions of a run pay
                    return evaluations.evaluate_drift(
                        store, loaded, MEASURED, drift_slices, baselines=baselines
                    )
                if name.startswith("prediction_drift"):
                    return evaluations.evaluate_drift(store, loaded, MEASURED, drift_slices)
                return evaluations.evaluate_readback(store, serving, loaded, MEASURED)

            return call

        html_calls[model_id] = (
            evaluate("prediction_drift (HTML)", always) if always else evaluate("prediction_drift")
        )
        checks = {name: measure(evaluate(name)) for name in CHECKS}
        if "baselines" in inspect.signature(evaluations.evaluate_drift).parameters:
            checks[CACHED_DRIFT] = measure(evaluate(CACHED_DRIFT))
        total = sum(checks[name]["median"] for name in CHECKS)
        results[model_id] = {
            "rows": prepared[MEASURED].rows_out,
            "baseline_rows": prepared[BASELINE].rows_out,
            "compute": first,
            "compute_again": again,
            "checks": checks,
            "checks_total": total,
            "checks_share_of_compute": total / first["compute"],
            "report_setting": always is not None,
        }
    # Every model's checks ran before any report is asked for, so this says whether
    # passing partitions import Evidently.
    evidently_after_checks = "evidently" in sys.modules
    for model_id, call in html_calls.items():
        results[model_id]["checks"]["prediction_drift (HTML)"] = measure(call)

    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "argv": sys.argv[1:],
        "molecules": source,
        "rows": args.rows,
        "repeats": args.repeats,
        "import_precalc_assets_seconds": import_seconds,
        "evidently_imported_at_start": evidently_loaded_at_start,
        "evidently_imported_after_all_checks": evidently_after_checks,
        "evidently_imported_at_end": "evidently" in sys.modules,
        "git": git_state(),
        "precalc_assets": str(Path(evaluations.__file__).parents[1]),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "versions": {
            p: importlib.metadata.version(p)
            for p in ("evidently", "pandas", "numpy", "scipy", "pyarrow", "rdkit", "dagster")
        },
        "models": results,
    }
    OUT.mkdir(exist_ok=True)
    out = OUT / f"checks-cost-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2, default=str))

    print(f"molecules: {source}; partition {args.rows:,} rows; embedded default")
    print(
        f"precalc_assets from {report['precalc_assets']}; work tree at git "
        f"{report['git']['commit']}, local changes: {bool(report['git']['local_changes'])}"
    )
    for model_id, r in results.items():
        c = r["compute"]
        print(
            f"\n{model_id}: {r['rows']:,} rows vs {r['baseline_rows']:,} baseline rows; compute "
            f"{c['compute']:.2f} s (predict {c['predict']:.2f}, validate {c['validate']:.2f}, "
            f"publish {c['publish']:.2f}; again {r['compute_again']['compute']:.2f} s)"
        )
        print(f"  {'check':<26} {'first s':>8} {'median s':>9}  verdict")
        for name, figures in r["checks"].items():
            verdict = "PASS" if figures["passed"] else figures["severity"]
            links = f" (links: {', '.join(figures['links'])})" if figures["links"] else ""
            print(
                f"  {name:<26} {figures['first']:8.3f} {figures['median']:9.3f}  {verdict}{links}"
            )
        print(
            f"  checks total (medians, without the HTML line): {r['checks_total']:.3f} s = "
            f"{100 * r['checks_share_of_compute']:.1f} % of compute"
        )
    print(
        f"\nevidently imported: at start {report['evidently_imported_at_start']}, after every "
        f"model's checks {evidently_after_checks}, after the HTML lines "
        f"{report['evidently_imported_at_end']}; load average {report['load_average']}"
    )
    print(f"written: {out}")
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
