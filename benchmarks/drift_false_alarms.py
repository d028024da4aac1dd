"""False-alarm rate and power of the `prediction_drift` check (precalc_assets.quality.drift).

    python benchmarks/drift_false_alarms.py [--slices 50] [--sizes 20,100,1000,10000]
                                            [--baselines 2] [--large-baselines 1]
                                            [--power-slices 10] [--other-slices 1]
                                            [--pool 40000] [--baseline-rows N]
                                            [--policy JSON] [--workers 2] [--out FILE]

Every check is judged twice, in one invocation: with the policy under test (the default
`DriftPolicy`, or `--policy` overrides) and with the *old* rule, the same policy with
fixed thresholds at every slice size (`numeric_noise_factor` and
`categorical_noise_factor` 0, `min_rows` 1). Both verdicts come from one Evidently run:
the old rule's is re-derived from the same feature scores (Evidently's own rule for
these distances, score >= threshold); every `--verify-every`-th check is also run with
the old policy, and the script stops if the two disagree.

For each built-in model (eos3b5e, rdkit-physchem, morgan-fp2048) and slice size:
- false alarms: a baseline slice and N random slices of the *same* library, each checked
  against the baseline; the rate is the share of slices whose severity is not PASS
  (target <= 5 %). Repeated for `--baselines` disjoint baselines (`--large-baselines` for
  slices of 10,000 rows and more, the costliest checks), because a model keeps one
  baseline for all its slices, so an unlucky baseline raises the rate of every check
  (per-baseline counts are in the JSON). A baseline is a full slice: it has the slice
  size under test, at least 1,000 rows (a library's 20-row last slice is checked against
  its first full slice), unless `--baseline-rows` says otherwise.
- power: slices of clearly different chemical spaces checked against the same baselines;
  the share flagged (severity WARN or ERROR) should be 100 % for BRICS fragments.
- `make demo`'s situation: RDKit's NCI first_5K sliced in file order (`--demo-slice`),
  its first slice the baseline, against its other slices, its BRICS fragments' and the
  demo's own fragments (at most 10 heavy atoms); and the issue's shape, a library of
  NCI's first 3,019 rows sliced at 1,000, whose last slice has 19 rows.

Library: the `molsets` wheel's MOSES training set (1.58M real drug-like SMILES, read as a
file: `import moses` needs torch); `make bench` installs it (`pip install --no-deps
molsets==0.3.1`). Without it: RDKit's NCI first_5K + PAINS wehi_mols (fewer rows, so
smaller pools). Molecules go through the project's own identity step
(`chem.canonicalize_rows`) and built-in model functions once, over a pool; slices are
drawn from the pool (without replacement within a slice; baselines are disjoint from the
pool).

Prints one JSON document (`--markdown`: the README tables on stderr); `--out FILE` also
writes it. Exit status 1 when a false-alarm rate of the policy under test is over 5 %.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib.metadata
import json
import math
import multiprocessing
import os
import platform
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rdkit import RDConfig

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
from precalc_assets.models.spec import OutputColumn  # noqa: E402
from precalc_assets.quality.drift.measure import measure_drift  # noqa: E402
from precalc_assets.quality.drift.policy import (  # noqa: E402
    NOISE_SCALED_METHODS,
    NUMERIC,
    DriftPolicy,
    fixed_threshold,
    severity_for,
)
from precalc_assets.quality.drift.verdicts import DriftResult  # noqa: E402

MODELS = ("eos3b5e", "rdkit-physchem", "morgan-fp2048")
MOLSETS_FILE = "moses/dataset/data/train.csv.gz"
CHUNK = 2000
# A baseline is a full slice of a library: at least this many rows (`--baseline-rows`).
MIN_BASELINE_ROWS = 1000
# Slice sizes from this one on get `--large-baselines` baselines instead of `--baselines`.
LARGE_SIZE = 10_000
# The old rule: the fixed distance thresholds at every slice size, every slice judged.
OLD_RULE = {"numeric_noise_factor": 0.0, "categorical_noise_factor": 0.0, "min_rows": 1}

# Filled in the parent before the check workers fork, so tasks carry only row indices.
DATA: dict[str, dict[str, Any]] = {}
# [policy under test, old rule]
POLICY: list[DriftPolicy] = [DriftPolicy(), replace(DriftPolicy(), **OLD_RULE)]


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


def rejudged(result: DriftResult, policy: DriftPolicy) -> tuple[str, float] | None:
    """(severity, drifted share) of `result`'s feature scores under `policy`'s fixed
    thresholds, or None when they cannot be re-derived (drift was not judged, or a
    method whose verdict is not score >= threshold)."""
    if result.note or any(
        fixed_threshold(p, kind)[0] not in NOISE_SCALED_METHODS
        for p in (result.policy, policy)
        for kind in {f.kind for f in result.features}
    ):
        return None
    drifted = [
        f.drifted if f.score is None else f.score >= fixed_threshold(policy, f.kind)[1]
        for f in result.features
    ]
    share = sum(drifted) / len(drifted) if drifted else 0.0
    return severity_for(share, policy), share


def old_verdict(
    result: DriftResult,
    columns: Sequence[OutputColumn],
    reference: pd.DataFrame,
    current: pd.DataFrame,
    verify: bool,
) -> tuple[str, float]:
    """The old rule's (severity, share): re-derived from `result` when possible (and, when
    `verify`, checked against a real run of the old policy), else measured."""
    derived = rejudged(result, POLICY[1])
    if derived is not None and not verify:
        return derived
    old = measure_drift(columns, reference, current, POLICY[1])
    if derived is not None and derived != (old.severity, old.drifted_share):
        raise RuntimeError(
            f"old verdict re-derived as {derived}, measured {old.severity, old.drifted_share}"
        )
    return old.severity, old.drifted_share


def _check(task: dict[str, Any]) -> dict[str, Any]:
    """One drift check (runs in a worker; data comes from the forked DATA)."""
    warnings.filterwarnings("ignore")
    model = task["model"]
    columns = BUILTIN_SPECS[model].columns
    reference = frame(model, DATA[task["ref_set"]], task["ref_rows"])
    current = frame(model, DATA[task["cur_set"]], task["cur_rows"])
    started = time.perf_counter()
    result = measure_drift(columns, reference, current, POLICY[0])
    seconds = time.perf_counter() - started
    old_severity, old_share = old_verdict(result, columns, reference, current, task["verify"])
    thresholds: dict[str, float] = {}
    noise: list[tuple[str, float]] = []  # same library: each score in units of sqrt(1/n + 1/m)
    scale = math.sqrt(1 / len(current) + 1 / len(reference))
    for f in result.features:
        kind = "numeric" if f.kind == NUMERIC else "categorical"
        thresholds[kind] = max(thresholds.get(kind, 0.0), f.threshold)
        if task["kind"] == "same" and f.score is not None:
            noise.append((kind, f.score / scale))
    return {
        "kind": task["kind"],
        "model": model,
        "set": task.get("label", task["cur_set"]),
        "size": int(len(task["cur_rows"])),
        "baseline_rows": int(len(task["ref_rows"])),
        "nominal_size": task["nominal_size"],
        "baseline": task["baseline"],
        "severity": result.severity,
        "share": result.drifted_share,
        "old_severity": old_severity,
        "old_share": old_share,
        "verified": task["verify"],
        "drifted": result.drifted_features,
        "thresholds": thresholds,
        "noise": noise,
        "note": result.note,
        "seconds": seconds,
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
        for _ in range(baseline_count(args, size)):
            rows = baseline_rows(args, size)
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
                    wanted = args.power_slices if name == "brics-fragments" else args.other_slices
                    count = wanted if n > size else 1
                    for _ in range(count):
                        cur = rng.choice(n, min(size, n), replace=False)
                        yield common | {"kind": "power", "model": model, "cur_set": name,
                                        "cur_rows": cur, "nominal_size": size}  # fmt: skip


def baseline_count(args: argparse.Namespace, size: int) -> int:
    return args.large_baselines if size >= LARGE_SIZE else args.baselines


def baseline_rows(args: argparse.Namespace, size: int) -> int:
    return args.baseline_rows or max(size, MIN_BASELINE_ROWS)


def demo_tasks(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """`make demo`'s situation: NCI first_5K sliced in file order, its first slice the
    baseline, checked against its other slices, against slices of its BRICS fragments and
    against the demo's fragments (one slice); then the issue's shape: NCI's first 3,019
    rows in slices of 1,000, the 19-row last slice against the first."""
    size = args.demo_slice
    blocks = {
        name: DATA[name]["row"] // size
        for name in ("nci-first5k", "nci-fragments", "demo-fragments")
    }
    ref_rows = np.flatnonzero(blocks["nci-first5k"] == 0)
    nci_rows = DATA["nci-first5k"]["row"]
    tail = np.flatnonzero((nci_rows >= 3000) & (nci_rows < 3019))
    for model in args.models:
        yield {"kind": "demo", "model": model, "ref_set": "nci-first5k",
               "ref_rows": np.flatnonzero(nci_rows < 1000), "baseline": 0,
               "cur_set": "nci-first5k", "cur_rows": tail, "nominal_size": len(tail),
               "label": "nci3019-0003"}  # fmt: skip
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
        old_flagged = [r for r in rows if r["old_severity"] != "PASS"]
        drifted: dict[str, int] = {}
        for r in rows:
            for name in r["drifted"]:
                drifted[name] = drifted.get(name, 0) + 1
        thresholds = {
            kind: float(np.max([r["thresholds"][kind] for r in rows if kind in r["thresholds"]]))
            for kind in ("numeric", "categorical")
            if any(kind in r["thresholds"] for r in rows)
        }
        return {
            "checks": len(rows),
            "flagged": len(flagged),
            "rate": len(flagged) / len(rows),
            "old_flagged": len(old_flagged),
            "old_rate": len(old_flagged) / len(rows),
            "warn": sum(r["severity"] == "WARN" for r in rows),
            "error": sum(r["severity"] == "ERROR" for r in rows),
            "not_judged": sum(bool(r["note"]) for r in rows),
            "slice_rows": sorted({r["size"] for r in rows}),
            "baseline_rows": sorted({r["baseline_rows"] for r in rows}),
            "largest_thresholds": thresholds,
            "share_mean": float(np.mean([r["share"] for r in rows])),
            "share_max": float(np.max([r["share"] for r in rows])),
            "old_share_mean": float(np.mean([r["old_share"] for r in rows])),
            "old_share_max": float(np.max([r["old_share"] for r in rows])),
            "flagged_by_baseline": {
                str(b): sum(r["severity"] != "PASS" for r in rows if r["baseline"] == b)
                for b in sorted({r["baseline"] for r in rows})
            },
            "old_flagged_by_baseline": {
                str(b): sum(r["old_severity"] != "PASS" for r in rows if r["baseline"] == b)
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
            cell = f"{r['severity']} {r['share']:.2f}"
            if (r["old_severity"], r["old_share"]) != (r["severity"], r["share"]):
                cell += f" (old {r['old_severity']} {r['old_share']:.2f})"
            demo.setdefault(r["model"], {})[r["set"]] = cell
    # The sampling noise of a feature's distance, in units of sqrt(1/n + 1/m): the
    # quantiles the noise factors of `DriftPolicy` are read from.
    noise: dict[str, dict[str, dict[str, float]]] = {}
    for r in results:
        for kind, value in r["noise"]:
            noise.setdefault(str(r["nominal_size"]), {}).setdefault(kind, []).append(value)
    noise_quantiles = {
        size: {
            kind: {
                "features": len(values),
                **{f"q{int(q * 100)}": float(np.quantile(values, q)) for q in (0.5, 0.95, 0.99)},
                "max": float(np.max(values)),
            }
            for kind, values in sorted(by_kind.items(), reverse=True)
        }
        for size, by_kind in noise.items()
    }
    worst = max((v["rate"] for v in false_alarms.values()), default=0.0)
    return {
        "noise": noise_quantiles,
        "false_alarms": false_alarms,
        "power": power,
        "demo_scenario": demo,
        "verified_old_verdicts": sum(r["verified"] for r in results),
        "worst_false_alarm_rate": worst,
        "old_worst_false_alarm_rate": max(
            (v["old_rate"] for v in false_alarms.values()), default=0.0
        ),
        "meets_5_percent": worst <= 0.05,
    }


def markdown(summary: dict[str, Any]) -> str:
    """The README tables: false alarms and power on BRICS fragments, old rule -> new."""

    def rate(s: dict[str, Any], key: str) -> str:
        return f"{s[key]:.0%}" if s[key] in (0, 1) else f"{s[key]:.1%}"

    lines = [
        "| model | slice rows | baseline rows | checks | false alarms, old | new "
        "| BRICS fragments flagged, old | new | largest threshold (numeric / categorical) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, s in summary["false_alarms"].items():
        model, size = key.split(" @ ")
        power = summary["power"].get(f"{model} @ {size} vs brics-fragments")
        cells = [
            model,
            f"{int(size):,}",
            "/".join(f"{n:,}" for n in s["baseline_rows"]),
            str(s["checks"]),
            f"{s['old_flagged']} ({rate(s, 'old_rate')})",
            f"**{s['flagged']} ({rate(s, 'rate')})**",
        ]
        if power is None:
            cells += ["", ""]
        else:
            cells += [rate(power, "old_rate"), f"**{rate(power, 'rate')}**"]
            if power["slice_rows"] != [int(size)]:  # a set smaller than the size: all of it
                cells[-1] += f" ({'/'.join(f'{n:,}' for n in power['slice_rows'])} rows)"
        cells.append(" / ".join(f"{v:.3g}" for v in s["largest_thresholds"].values()))
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "| model | slice rows | other space | checks | flagged, old | new "
        "| mean drifted share, new |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for key, s in summary["power"].items():
        model, rest = key.split(" @ ")
        size, name = rest.split(" vs ")
        if name == "brics-fragments":
            continue
        rows = "/".join(f"{n:,}" for n in s["slice_rows"])
        lines.append(
            f"| {model} | {rows} | {name} | {s['checks']} | {rate(s, 'old_rate')} "
            f"| {rate(s, 'rate')} | {s['share_mean']:.2f} |"
        )
    labels = sorted({label for row in summary["demo_scenario"].values() for label in row})
    lines += [
        "",
        "| model (baseline nci-first5k-0000) | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for model, row in summary["demo_scenario"].items():
        lines.append(f"| {model} | " + " | ".join(row.get(x, "") for x in labels) + " |")
    lines += [
        "",
        "| slice rows | kind | features compared | median | 95th pct | 99th pct | max |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for size, by_kind in summary["noise"].items():
        for kind, q in by_kind.items():
            lines.append(
                f"| {int(size):,} | {kind} | {q['features']:,} | {q['q50']:.2f} | "
                f"{q['q95']:.2f} | {q['q99']:.2f} | {q['max']:.2f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=50, help="same-library slices per baseline")
    parser.add_argument("--sizes", default="20,100,1000,10000", help="slice sizes, comma-separated")
    parser.add_argument("--baselines", type=int, default=2, help="disjoint baselines per size")
    parser.add_argument(
        "--large-baselines",
        type=int,
        default=1,
        help=f"disjoint baselines per size of {LARGE_SIZE:,} rows or more",
    )
    parser.add_argument(
        "--power-slices", type=int, default=10, help="BRICS-fragment slices per baseline"
    )
    parser.add_argument(
        "--other-slices",
        type=int,
        default=1,
        help="slices of each other different set (nci-first5k, wehi) per baseline",
    )
    parser.add_argument(
        "--verify-every",
        type=int,
        default=50,
        help="also run every N-th check with the old policy (0: never)",
    )
    parser.add_argument("--pool", type=int, default=40000, help="library rows to draw slices from")
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
        "--baseline-rows",
        type=int,
        help=f"baseline size (default: the slice size under test, at least {MIN_BASELINE_ROWS:,})",
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
        POLICY[1] = replace(POLICY[0], **OLD_RULE)
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
        need = args.pool + sum(baseline_rows(args, s) * baseline_count(args, s) for s in args.sizes)
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
    # The demo's drifted library: its first 1,000 fragments of at most 10 heavy atoms.
    demo_fragments = fragment_smiles(real["nci-first5k"], args.demo_slice, max_heavy_atoms=10)
    DATA["demo-fragments"] = compute_outputs(demo_fragments, pool)
    compute_seconds = time.perf_counter() - t
    if pool:
        pool.close()
        pool.join()
    sizes = {name: len(d["eos3b5e"]) for name, d in DATA.items()}
    power_sets = {name: sizes[name] for name in ["brics-fragments", *others]}

    t = time.perf_counter()
    todo = list(tasks(args, rng, sizes["library"], power_sets)) + list(demo_tasks(args))
    for i, task in enumerate(todo):
        task["verify"] = bool(args.verify_every) and i % args.verify_every == 0
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
        "old_policy": POLICY[1].to_dict(),
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
