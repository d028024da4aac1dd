"""A wide repository model (Morgan counts, 2,048 integer columns) through the whole
pipeline, against the same repository's own `run.sh` over the same molecules.

Both sides in one invocation, on the same machine state:
- the model alone: `bash run.sh` over the molecules in batches of `--batch` (its input
  and output CSVs, as the hub's pipelines run it), with this interpreter's RDKit;
- the project: `precalc add-library`, `add-model` (a `command` model of the repository,
  run by this interpreter: no environment to build), then `precalc run --workers 1`,
  timed by itself; the step split is each materialisation's own `seconds`.

    python benchmarks/wide_model.py                      # 20,000 molecules
    python benchmarks/wide_model.py --molecules 2000     # a quick look

The molecules are RDKit's NCI sample and its salts and hydrates (`http_runner.py`),
distinct, so the model computes each once on both sides. Prints one JSON document and
writes it to `benchmarks/out/wide-model-<time>.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO))  # the repository fixture lives in the tests package
sys.path.append(str(REPO / "benchmarks"))

from http_runner import molecules  # noqa: E402
from results import write_result  # noqa: E402

from precalc_assets_tests.model_repo import make_fingerprint_repo  # noqa: E402

PRECALC = str(Path(sys.executable).parent / "precalc")
MODEL = "morgan-counts"
STEPS = ("library_slices", "predictions", "validated_predictions", "published_predictions")


def run_alone(repo: Path, smiles: list[str], batch: int, work: Path) -> float:
    """Seconds of the model's own run.sh over `smiles`, batch by batch."""
    framework = repo / "model" / "framework"
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(work)}
    started = time.perf_counter()
    for i in range(0, len(smiles), batch):
        source, target = work / f"in-{i}.csv", work / f"out-{i}.csv"
        source.write_text("smiles\n" + "\n".join(smiles[i : i + batch]) + "\n")
        subprocess.run(
            ["bash", str(framework / "run.sh"), str(framework), str(source), str(target)],
            check=True,
            env=env,
        )
    return time.perf_counter() - started


def precalc(*args: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([PRECALC, *args], check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def step_seconds(dagster_home: Path) -> dict[str, float]:
    """Each asset's `seconds`, summed over its materialisations."""
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        totals = {}
        for step in STEPS:
            records = instance.fetch_materializations(dg.AssetKey(step), limit=10_000).records
            totals[step] = round(
                sum(
                    r.asset_materialization.metadata["seconds"].value
                    for r in records
                    if r.asset_materialization is not None
                ),
                2,
            )
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--molecules", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--bits", type=int, default=2_048)
    args = parser.parse_args(argv)
    smiles = molecules(args.molecules)
    with tempfile.TemporaryDirectory(prefix="wide-model-") as tmp:
        root = Path(tmp)
        repo = make_fingerprint_repo(root / MODEL, args.bits)
        (root / "alone").mkdir()
        alone = run_alone(repo, smiles, args.batch, root / "alone")
        home = root / "home"
        env = {**os.environ, "PRECALC_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
        library = root / "library.smi"
        library.write_text("\n".join(smiles) + "\n")
        spec = root / "model.json"
        request = {"runner": "command", "repo": str(repo), "python": sys.executable}
        spec.write_text(json.dumps({**request, "batch_size": args.batch}))
        registration = precalc("add-library", str(library), "--name", "nci", env=env)
        registration += precalc("add-model", MODEL, "--spec", str(spec), env=env)
        project = precalc("run", "--workers", "1", env=env)
        steps = step_seconds(home / "dagster")
    result = {
        "benchmark": "wide_model",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "molecules": len(smiles),
        "columns": args.bits,
        "batch": args.batch,
        "model_alone_s": round(alone, 2),
        "registration_s": round(registration, 2),
        "precalc_run_s": round(project, 2),
        "ratio": round(project / alone, 2),
        "steps_s": steps,
        "outside_steps_s": round(project - sum(steps.values()), 2),
    }
    write_result("wide-model", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
