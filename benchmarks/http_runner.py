"""The `http` runner against the stand-in hub model: how much of the server's capacity
the client uses, over a grid of batch sizes x concurrency.

The stand-in (`precalc_assets_tests/model_server.py`) computes `eos3b5e` (RDKit MolWt)
and pays a fixed `--delay` per request (a served hub model starts a process per
request, ~0.5 s), processing `--workers` requests at a time. For each cell a fresh
server and runner predict the same N distinct real molecules; the table gives

- client molecules/s: N / wall time of `HttpRunner.predict` (readiness wait included);
- server capacity: N / the server's busy seconds (wall time during which it was
  processing at least one request), what it could do if it never waited for the client;
- ratio: client / capacity, the share of the time the server was kept busy.

    python benchmarks/http_runner.py                 # 20,000 molecules, the whole grid, ~8 min
    python benchmarks/http_runner.py --molecules 4000 --batch-sizes 500,1000 --concurrency 1,2
    python benchmarks/http_runner.py --fail-on "[Sn]" --concurrency 2   # the cost of halving

Exit status 1 when the defaults' cell (batch 1,000, concurrency 2) is under `--target`.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO))  # the stand-in server lives in the tests package

import rdkit  # noqa: E402
import requests  # noqa: E402
from rdkit import Chem, RDLogger  # noqa: E402
from rdkit.Chem import Descriptors  # noqa: E402

from precalc_assets.models.runners.batched import BATCH_SIZE  # noqa: E402
from precalc_assets.models.runners.http import HttpOptions, HttpRunner  # noqa: E402
from precalc_assets.models.spec import ModelSpec, OutputColumn  # noqa: E402
from precalc_assets_tests.model_server import ModelServer  # noqa: E402

NCI = Path(rdkit.__file__).parent / "Data" / "NCI" / "first_5K.smi"
# Real forms of the same compounds (hydrates, salts, solvates): distinct molecules for
# the runner, which asks the model once per distinct SMILES.
FORMS = ("", ".O", ".Cl", ".O.O", ".CC(=O)O", ".[Na+].[Cl-]", ".CO", ".CCO")


def molecules(n: int) -> list[str]:
    """N distinct canonical SMILES: RDKit's NCI sample, then its salts and hydrates."""
    RDLogger.DisableLog("rdApp.*")
    base = []
    for line in NCI.read_text().splitlines():
        mol = Chem.MolFromSmiles(line.split()[0]) if line.strip() else None
        if mol is not None:
            base.append(Chem.MolToSmiles(mol))
    seen: dict[str, None] = {}
    for form in FORMS:
        for smiles in base:
            seen[Chem.MolToSmiles(Chem.MolFromSmiles(smiles + form))] = None
            if len(seen) == n:
                return list(seen)
    raise SystemExit(f"only {len(seen):,} distinct molecules can be made; ask for fewer")


def measure(smiles: list[str], batch_size: int, concurrency: int, args) -> dict:
    with ModelServer(delay_s=args.delay, workers=args.workers, fail_on=args.fail_on) as server:
        spec = ModelSpec(
            "eos3b5e",
            "http",
            (OutputColumn("mol_weight"),),
            options={"url": server.url, "batch_size": batch_size, "concurrency": concurrency},
        )
        runner = HttpRunner(spec)
        started = time.perf_counter()
        frame = runner.predict(smiles, [])
        seconds = time.perf_counter() - started
        busy = server.busy_seconds
        requests_made = server.requests
    failed = {s for s, f in zip(smiles, frame["reason"].notna(), strict=True) if f}
    if failed != {s for s in smiles if args.fail_on and args.fail_on in s}:
        raise SystemExit(f"{len(failed)} molecules failed, not those with {args.fail_on!r}")
    for i in range(0, len(smiles), max(len(smiles) // 50, 1)):  # spot-check the values
        if smiles[i] in failed:
            continue
        expected = Descriptors.MolWt(Chem.MolFromSmiles(smiles[i]))
        if not math.isclose(frame["mol_weight"][i], expected, rel_tol=1e-9):
            raise SystemExit(f"wrong value for {smiles[i]}: {frame['mol_weight'][i]}")
    client = len(smiles) / seconds
    capacity = len(smiles) / busy
    return {
        "batch_size": batch_size,
        "concurrency": concurrency,
        "requests": requests_made,
        "failed": len(failed),
        "seconds": round(seconds, 3),
        "busy_seconds": round(busy, 3),
        "client_molecules_per_s": round(client, 1),
        "server_capacity_per_s": round(capacity, 1),
        "ratio": round(client / capacity, 4),
    }


def table(cells: list[dict]) -> str:
    lines = [
        "| batch size | concurrency | requests | failed | wall s | server busy s "
        "| client molecules/s | server capacity molecules/s | ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cells:
        default = c["batch_size"] == BATCH_SIZE and c["concurrency"] == HttpOptions.concurrency
        mark = "**" if default else ""
        lines.append(
            f"| {mark}{c['batch_size']:,}{mark} | {mark}{c['concurrency']}{mark} | "
            f"{c['requests']:,} | {c['failed']:,} | {c['seconds']:.1f} | {c['busy_seconds']:.1f} | "
            f"{c['client_molecules_per_s']:,.0f} | {c['server_capacity_per_s']:,.0f} | "
            f"{mark}{c['ratio']:.1%}{mark} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--molecules", type=int, default=20_000)
    parser.add_argument("--delay", type=float, default=0.5, help="server seconds per request")
    parser.add_argument("--workers", type=int, default=1, help="requests the server processes")
    parser.add_argument("--batch-sizes", default="100,500,1000,2000,5000")
    parser.add_argument("--concurrency", default="1,2,4")
    parser.add_argument(
        "--fail-on", default=None, help="the model fails (500) on batches holding this text"
    )
    parser.add_argument("--target", type=float, default=0.9, help="ratio the defaults must reach")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: out/)")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.batch_sizes.split(",")]
    concurrencies = [int(x) for x in args.concurrency.split(",")]
    smiles = molecules(args.molecules)
    failing = sum(args.fail_on in s for s in smiles) if args.fail_on else 0
    print(
        f"{len(smiles):,} molecules, server delay {args.delay} s/request, {args.workers} "
        f"worker(s), {failing} molecules the model fails on",
        file=sys.stderr,
    )
    cells = []
    for size in sizes:
        for concurrency in concurrencies:
            cell = measure(smiles, size, concurrency, args)
            print(
                f"batch {size:>5} x {concurrency}: {cell['client_molecules_per_s']:>8,.0f}/s "
                f"client, {cell['server_capacity_per_s']:>8,.0f}/s capacity, "
                f"{cell['ratio']:.1%}",
                file=sys.stderr,
                flush=True,
            )
            cells.append(cell)
    print(table(cells))
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "molecules": len(smiles),
        "delay_s": args.delay,
        "workers": args.workers,
        "fail_on": args.fail_on,
        "python": platform.python_version(),
        "rdkit": rdkit.__version__,
        "requests": requests.__version__,
        "cells": cells,
    }
    out = (
        args.out
        or REPO / "benchmarks" / "out" / f"http-runner-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    default = [
        c
        for c in cells
        if c["batch_size"] == BATCH_SIZE and c["concurrency"] == HttpOptions.concurrency
    ]
    if default and not args.fail_on and default[0]["ratio"] < args.target:
        print(f"defaults reach {default[0]['ratio']:.1%} < {args.target:.0%}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
