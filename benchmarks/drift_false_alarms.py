"""False-alarm rate and power of the `prediction_drift` check (precalc_assets.drift).

    python benchmarks/drift_false_alarms.py [--slices 50] [--sizes 1000,10000]
                                            [--baselines 2] [--power-slices 20]
                                            [--pool 60000] [--baseline-rows N]
                                            [--policy JSON] [--workers 2] [--out FILE]

For each built-in model (eos3b5e, rdkit-physchem, morgan-fp2048) and slice size:
- false alarms: a baseline slice and N further random slices of the *same* library, each
  checked against the baseline with the default `DriftPolicy` (or `--policy` overrides);
  the rate is the share of slices whose severity is not PASS (target <= 5 %). Repeated
  for `--baselines` disjoint baselines, because a model keeps one baseline for all its
  slices, so an unlucky baseline raises the rate of every check (per-baseline counts are
  in the JSON).
- power: slices of clearly different chemical spaces checked against the same baselines;
  the share flagged (severity WARN or ERROR) should be 100 % for BRICS fragments.
- `make demo`'s situation: RDKit's NCI first_5K sliced in file order (`--demo-slice`),
  its first slice the baseline, against its other slices and its BRICS fragments'.

Library: the `molsets` wheel's MOSES training set (1.58M real drug-like SMILES, read as a
file: `import moses` needs torch); `make bench` installs it (`pip install --no-deps
molsets==0.3.1`). Without it: RDKit's NCI first_5K + PAINS wehi_mols (fewer rows, so
smaller pools). Molecules go through the project's own identity step
(`chem.canonicalize_rows`) and built-in model functions once, over a pool; slices are
drawn from the pool (without replacement within a slice; baselines are disjoint from the
pool). A baseline has the slice size under test (a library sliced at that size) unless
`--baseline-rows` says otherwise.

Prints one JSON document (`--markdown`: the README tables on stderr); `--out FILE` also
writes it. Exit status 1 when a false-alarm rate is over 5 %.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib.metadata
import json
import multiprocessing
import os
import platform
import sys
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

from precalc_assets.chem import canonicalize_rows, fragment_smiles  # noqa: E402
from precalc_assets.models.builtin import (  # noqa: E402
    BUILTIN_SPECS,
    PHYSCHEM,
    molecular_weight,
    morgan_fingerprint,
    physchem_descriptors,
)
from precalc_assets.quality.drift import DriftPolicy, measure_drift  # noqa: E402

MODELS = ("eos3b5e", "rdkit-physchem", "morgan-fp2048")
MOLSETS_FILE = "moses/dataset/data/train.csv.gz"
CHUNK = 2000

# Filled in the parent before the check workers fork, so tasks carry only row indices.
DATA: dict[str, dict[str, Any]] = {}
POLICY: list[DriftPolicy] = [DriftPolicy()]


def molsets_file() -> Path | None:
    """The MOSES training set inside the installed molsets wheel (never imported)."""
    try:
        files = importlib.metadata.files("molsets") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for item in files:
        if str(item).replace("\\", "/") == MOLSETS_FILE:
            path = Path(item.locate())
            return path if path.exists() else None
    return None


def rdkit_sets() -> dict[str, list[str]]:
    from rdkit import RDConfig

    data = Path(RDConfig.RDDataDir)
    nci = [
        line.split()[0]
        for line in (data / "NCI" / "first_5K.smi").read_text().splitlines()
        if line.strip()
    ]
    with (data / "Pains" / "test_data" / "wehi_mols.csv").open(newline="") as handle:
        wehi = [row[0] for row in csv.reader(handle) if row]
    return {"nci-first5k": nci, "wehi": wehi}


def read_moses(path: Path) -> list[str]:
    with gzip.open(path, "rt") as handle:
        header = next(handle).strip().lower()
        if header != "smiles":
            raise SystemExit(f"{path}: expected a 'SMILES' header, got {header!r}")
        return [line.strip() for line in handle]


def _compute(chunk: tuple[int, list[str]]) -> dict[str, Any]:
    """Identity step + the three built-in models on one chunk (runs in a worker)."""
    offset, smiles = chunk
    accepted, mols, _ = canonicalize_rows(list(enumerate(smiles, start=offset)))
    bits = morgan_fingerprint(mols)["bits"]
    return {
        "row": np.array([m.row for m in accepted], dtype=np.int64),
        "eos3b5e": molecular_weight(mols)["mol_weight"].to_numpy(),
        "rdkit-physchem": physchem_descriptors(mols).to_numpy(),
        "morgan-fp2048": np.packbits(np.stack(bits.to_list()), axis=1)
        if len(bits)
        else np.zeros((0, 256), np.uint8),
    }


def compute_outputs(smiles: list[str], pool: Any) -> dict[str, Any]:
    """Model outputs of every accepted row, and its row number in `smiles`."""
    chunks = [(i, smiles[i : i + CHUNK]) for i in range(0, len(smiles), CHUNK)]
    parts = list(pool.imap(_compute, chunks)) if pool else [_compute(c) for c in chunks]
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def frame(model: str, outputs: dict[str, Any], rows: np.ndarray) -> pd.DataFrame:
    """The validated-predictions frame a model x slice would have (outputs only)."""
    values = outputs[model][rows]
    if model == "eos3b5e":
        return pd.DataFrame({"mol_weight": values})
    if model == "rdkit-physchem":
        return pd.DataFrame(values, columns=list(PHYSCHEM))
    unpacked = np.unpackbits(values, axis=1)
    return pd.DataFrame({"bits": list(unpacked)})


def _check(task: dict[str, Any]) -> dict[str, Any]:
    """One drift check (runs in a worker; data comes from the forked DATA)."""
    warnings.filterwarnings("ignore")
    model = task["model"]
    reference = frame(model, DATA[task["ref_set"]], task["ref_rows"])
    current = frame(model, DATA[task["cur_set"]], task["cur_rows"])
    started = time.perf_counter()
    result = measure_drift(BUILTIN_SPECS[model].columns, reference, current, POLICY[0])
    return {
        "kind": task["kind"],
        "model": model,
        "set": task.get("label", task["cur_set"]),
        "size": int(len(task["cur_rows"])),
        "nominal_size": task["nominal_size"],
        "baseline": task["baseline"],
        "severity": result.severity,
        "share": result.drifted_share,
        "drifted": result.drifted_features,
        "seconds": time.perf_counter() - started,
    }


def tasks(
    args: argparse.Namespace, rng: np.random.Generator, lib_n: int, power_sets: dict[str, int]
) -> Iterator[dict[str, Any]]:
    """Baselines first (disjoint blocks of the library), then the pool is what is left."""
    order = rng.permutation(lib_n)
    taken = 0
    baselines: dict[int, list[np.ndarray]] = {}
    for size in args.sizes:
        baselines[size] = []
        rows = args.baseline_rows or size
        for _ in range(args.baselines):
            baselines[size].append(order[taken : taken + rows])
            taken += rows
    pool_rows = order[taken:]
    for size in args.sizes:
        if len(pool_rows) < size:
            print(f"skipping size {size}: pool has {len(pool_rows)} rows", file=sys.stderr)
            continue
        for b, ref_rows in enumerate(baselines[size]):
            common = {"ref_set": "library", "ref_rows": ref_rows, "baseline": b}
            for model in args.models:
                for _ in range(args.slices):
                    cur = rng.choice(pool_rows, size, replace=False)
                    yield common | {"kind": "same", "model": model, "cur_set": "library",
                                    "cur_rows": cur, "nominal_size": size}  # fmt: skip
                for name, n in power_sets.items():
                    count = args.power_slices if n > size else 1
                    for _ in range(count):
                        cur = rng.choice(n, min(size, n), replace=False)
                        yield common | {"kind": "power", "model": model, "cur_set": name,
                                        "cur_rows": cur, "nominal_size": size}  # fmt: skip


def demo_tasks(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """`make demo`'s situation: NCI first_5K sliced in file order, its first slice the
    baseline, checked against its other slices and against slices of its BRICS fragments."""
    size = args.demo_slice
    blocks = {name: DATA[name]["row"] // size for name in ("nci-first5k", "nci-fragments")}
    ref_rows = np.flatnonzero(blocks["nci-first5k"] == 0)
    for model in args.models:
        for name, block in blocks.items():
            for b in np.unique(block):
                if name == "nci-first5k" and b == 0:
                    continue
                yield {"kind": "demo", "model": model, "ref_set": "nci-first5k",
                       "ref_rows": ref_rows, "baseline": 0, "cur_set": name,
                       "cur_rows": np.flatnonzero(block == b), "nominal_size": size,
                       "label": f"{name}-{b:04d}"}  # fmt: skip


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    results = sorted(results, key=lambda r: (MODELS.index(r["model"]), r["nominal_size"], r["set"]))

    def group(kind: str) -> dict[tuple, list[dict[str, Any]]]:
        out: dict[tuple, list[dict[str, Any]]] = {}
        for r in results:
            if r["kind"] == kind:
                out.setdefault((r["model"], r["set"], r["nominal_size"]), []).append(r)
        return out

    def stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
        flagged = [r for r in rows if r["severity"] != "PASS"]
        drifted: dict[str, int] = {}
        for r in rows:
            for name in r["drifted"]:
                drifted[name] = drifted.get(name, 0) + 1
        return {
            "checks": len(rows),
            "flagged": len(flagged),
            "rate": len(flagged) / len(rows),
            "warn": sum(r["severity"] == "WARN" for r in rows),
            "error": sum(r["severity"] == "ERROR" for r in rows),
            "slice_rows": sorted({r["size"] for r in rows}),
            "share_mean": float(np.mean([r["share"] for r in rows])),
            "share_max": float(np.max([r["share"] for r in rows])),
            "flagged_by_baseline": {
                str(b): sum(r["severity"] != "PASS" for r in rows if r["baseline"] == b)
                for b in sorted({r["baseline"] for r in rows})
            },
            "checks_with_any_drifted_feature": sum(bool(r["drifted"]) for r in rows),
            "most_drifted_features": sorted(drifted.items(), key=lambda kv: -kv[1])[:5],
            "seconds_per_check": float(np.mean([r["seconds"] for r in rows])),
        }

    false_alarms = {
        f"{model} @ {size}": stats(rows) for (model, _, size), rows in group("same").items()
    }
    power = {
        f"{model} @ {size} vs {name}": stats(rows)
        for (model, name, size), rows in group("power").items()
    }
    demo: dict[str, dict[str, str]] = {}
    for r in results:
        if r["kind"] == "demo":
            demo.setdefault(r["model"], {})[r["set"]] = f"{r['severity']} {r['share']:.2f}"
    worst = max((v["rate"] for v in false_alarms.values()), default=0.0)
    return {
        "false_alarms": false_alarms,
        "power": power,
        "demo_scenario": demo,
        "worst_false_alarm_rate": worst,
        "meets_5_percent": worst <= 0.05,
    }


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        "| model | slice rows | checks | false alarms (not PASS) | rate | max drifted share |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, s in summary["false_alarms"].items():
        model, size = key.split(" @ ")
        lines.append(
            f"| {model} | {int(size):,} | {s['checks']} | {s['flagged']} | "
            f"{s['rate']:.1%} | {s['share_max']:.2f} |"
        )
    lines += [
        "",
        "| model | slice rows | different space | checks | flagged | WARN | ERROR "
        "| mean drifted share |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for key, s in summary["power"].items():
        model, rest = key.split(" @ ")
        size, name = rest.split(" vs ")
        rows = "/".join(f"{n:,}" for n in s["slice_rows"])
        lines.append(
            f"| {model} | {rows} | {name} | {s['checks']} | {s['rate']:.0%} | {s['warn']} | "
            f"{s['error']} | {s['share_mean']:.2f} |"
        )
    labels = sorted({label for row in summary["demo_scenario"].values() for label in row})
    lines += [
        "",
        "| model (baseline nci-first5k-0000) | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for model, row in summary["demo_scenario"].items():
        lines.append(f"| {model} | " + " | ".join(row.get(x, "") for x in labels) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=50, help="same-library slices per baseline")
    parser.add_argument("--sizes", default="1000,10000", help="slice sizes, comma-separated")
    parser.add_argument("--baselines", type=int, default=2, help="disjoint baselines per size")
    parser.add_argument("--power-slices", type=int, default=20, help="slices per different set")
    parser.add_argument("--pool", type=int, default=60000, help="library rows to draw slices from")
    parser.add_argument(
        "--fragment-rows",
        type=int,
        default=20000,
        help="library rows (outside the pool) broken into BRICS fragments",
    )
    parser.add_argument(
        "--demo-slice", type=int, default=1000, help="slice size of the `make demo` scenario"
    )
    parser.add_argument(
        "--baseline-rows", type=int, help="baseline size (default: the slice size under test)"
    )
    parser.add_argument(
        "--policy", default="{}", help="DriftPolicy overrides as JSON, e.g. '{\"vector_dims\": 16}'"
    )
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true", help="also print the README tables")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.models = [m for m in args.models.split(",") if m]
    unknown = set(args.models) - set(MODELS)
    if unknown:
        parser.error(f"unknown models {sorted(unknown)}; use {', '.join(MODELS)}")
    try:
        POLICY[0] = DriftPolicy.from_dict(json.loads(args.policy), "--policy")
    except ValueError as exc:  # json.JSONDecodeError is a ValueError too
        parser.error(str(exc))

    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    real = rdkit_sets()
    source = molsets_file()
    if source is not None:
        rows = read_moses(source)
        library_name = f"MOSES train ({source.name}, {len(rows):,} rows)"
        order = rng.permutation(len(rows))
        need = args.pool + sum(args.baseline_rows or s for s in args.sizes) * args.baselines
        library = [rows[i] for i in order[:need]]
        fragment_source = [rows[i] for i in order[need : need + args.fragment_rows]]
        others = real
    else:
        library = real["nci-first5k"] + real["wehi"]
        library_name = "RDKit NCI first_5K + wehi_mols (molsets not installed)"
        fragment_source = library
        others = {}
    t = time.perf_counter()
    fragments = fragment_smiles(fragment_source, limit=10**9)
    fragment_seconds = time.perf_counter() - t

    context = multiprocessing.get_context("fork")
    pool = context.Pool(args.workers) if args.workers > 1 else None
    t = time.perf_counter()
    DATA["library"] = compute_outputs(library, pool)
    DATA["brics-fragments"] = compute_outputs(fragments, pool)
    for name, smiles in others.items():
        DATA[name] = compute_outputs(smiles, pool)
    # The demo scenario: rows keep their file order (`row`), as the project slices them.
    if "nci-first5k" not in DATA:
        DATA["nci-first5k"] = compute_outputs(real["nci-first5k"], pool)
    DATA["nci-fragments"] = compute_outputs(fragment_smiles(real["nci-first5k"], limit=10**9), pool)
    compute_seconds = time.perf_counter() - t
    if pool:
        pool.close()
        pool.join()
    sizes = {name: len(d["eos3b5e"]) for name, d in DATA.items()}
    power_sets = {name: sizes[name] for name in ["brics-fragments", *others]}

    t = time.perf_counter()
    todo = list(tasks(args, rng, sizes["library"], power_sets)) + list(demo_tasks(args))
    if args.workers > 1:  # forked after DATA is filled: workers share it copy-on-write
        with context.Pool(args.workers) as checks:
            results = list(checks.imap_unordered(_check, todo, chunksize=4))
    else:
        results = [_check(task) for task in todo]
    check_seconds = time.perf_counter() - t

    summary = summarise(results)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "library": library_name,
        "rows_after_identity": sizes,
        "fragments_from_rows": len(fragment_source),
        "policy": POLICY[0].to_dict(),
        "args": {k: v for k, v in vars(args).items() if k != "out"},
        "seconds": {
            "fragments": round(fragment_seconds, 1),
            "model_outputs": round(compute_seconds, 1),
            "checks": round(check_seconds, 1),
            "total": round(time.perf_counter() - started, 1),
        },
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "versions": {
            p: importlib.metadata.version(p) for p in ("evidently", "rdkit", "pandas", "numpy")
        },
    } | summary
    text = json.dumps(report, indent=2)
    print(text)
    if args.markdown:
        print(markdown(summary), file=sys.stderr)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0 if summary["meets_5_percent"] else 1


if __name__ == "__main__":
    sys.exit(main())
