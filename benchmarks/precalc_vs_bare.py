"""Precalculate N real molecules for eos3b5e through the project and through a bare
script doing the same work, in one invocation; print project/bare time and peak memory.

    python benchmarks/precalc_vs_bare.py [--molecules 100000] [--slice-size 10000]
                                         [--rounds R] [--workdir DIR] [--keep] [--profile]

Molecules: the first N rows of the `molsets` wheel's MOSES training set (MIT, 1.9M real
SMILES), `pip install --no-deps molsets==0.3.1` (`make bench` does it).

- project: fresh PRECALC_HOME/DAGSTER_HOME; `precalc add-library FILE --slice-size S`,
  `precalc add-model eos3b5e`, `precalc run`, each a subprocess of the `precalc` console
  script, exactly what a user types. Timed as a whole, registration included.
- bare: `benchmarks/bare_precalc.py` in a subprocess: parse, canonical SMILES, InChIKey,
  dedup, MolWt, one Parquet file and one SQLite transaction per slice.

Peak RSS and CPU time of each child come from `os.wait4` (the child and its reaped
descendants), so the two figures are separate and comparable. Both serving tables must
hold the same keys, SMILES and MolWt, or the script exits non-zero. The result goes to
`benchmarks/out/<timestamp>.json`, with where the project's time went (from the Dagster
event log and the `seconds` metadata of each asset).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
MODEL_ID = "eos3b5e"
MOLSETS_FILE = "moses/dataset/data/train.csv.gz"
ASSETS = ("library_slices", "predictions", "validated_predictions", "published_predictions")
# Env vars that would point the project away from its fresh PRECALC_HOME.
PROJECT_ENV = (
    "PRECALC_HOME",
    "DAGSTER_HOME",
    "PRECALC_STORAGE_URL",
    "PRECALC_SERVING_URL",
    "PRECALC_DEPLOYMENT",
)
PROFILE_FUNCTIONS = (
    ("runner.py", "run_missing"),
    ("job_definition.py", "execute_in_process"),
    ("run_domain.py", "create_run_for_job"),
    ("event_methods.py", "handle_new_event"),
    ("pipeline.py", "prepare_slice"),
    ("chem.py", "canonicalize_rows"),
    ("pipeline.py", "compute_predictions"),
    ("pipeline.py", "validate_predictions"),
    ("schemas.py", "split_valid"),
    ("pipeline.py", "publish_predictions"),
    ("serving.py", "upsert"),
    ("serving.py", "get_many"),
    ("spec.py", "code_version"),
    ("pipeline.py", "_remember_mols"),
    ("cli.py", "_print_report"),
    ("runner.py", "missing_partitions"),
)


class BenchError(RuntimeError):
    pass


@dataclass
class Child:
    """One finished subprocess: wall time and its own rusage (from wait4)."""

    args: list[str]
    seconds: float
    returncode: int
    max_rss_mb: float
    cpu_seconds: float
    stdout: str = ""
    stderr: str = ""


@dataclass
class Side:
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    items: int = 0
    steps: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, child: Child) -> None:
        self.seconds = round(self.seconds + child.seconds, 3)
        self.cpu_seconds = round(self.cpu_seconds + child.cpu_seconds, 3)
        self.peak_rss_mb = round(max(self.peak_rss_mb, child.max_rss_mb), 1)
        self.steps[name] = round(child.seconds, 3)


def run_child(args: list[str], env: dict[str, str], cwd: Path) -> Child:
    """Run to completion; rusage of this child alone (wait4), output kept in files."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        child = Child(
            args=args,
            seconds=seconds,
            returncode=proc.returncode,
            max_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            stdout=out.read(),
            stderr=err.read(),
        )
    if child.returncode != 0:
        raise BenchError(
            f"{' '.join(args)} exited {child.returncode}\n--- stdout\n{child.stdout[-3000:]}"
            f"\n--- stderr\n{child.stderr[-3000:]}"
        )
    return child


# -- data ------------------------------------------------------------------------------


def molsets_train() -> Path:
    try:
        files = importlib.metadata.files("molsets") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for item in files:
        if str(item) == MOLSETS_FILE:
            return Path(item.locate())
    raise BenchError(
        "the molsets wheel is not installed: `.venv/bin/pip install --no-deps molsets==0.3.1` "
        "(or `make bench`); do not `import moses`, it needs torch"
    )


def write_library(n: int, target: Path) -> int:
    """The first `n` SMILES of the MOSES training set as a CSV with a `smiles` header."""
    source = molsets_train()
    written = 0
    with gzip.open(source, "rt", newline="") as src, target.open("w", newline="") as dst:
        reader = csv.reader(src)
        column = [h.strip().lower() for h in next(reader)].index("smiles")
        writer = csv.writer(dst)
        writer.writerow(["smiles"])
        for row in reader:
            if written == n:
                break
            writer.writerow([row[column]])
            written += 1
    if written < n:
        raise BenchError(f"{source} has only {written:,} rows, {n:,} asked")
    return written


# -- the two sides ---------------------------------------------------------------------


def project_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PROJECT_ENV}
    env["PRECALC_HOME"] = str(home)
    env["DAGSTER_HOME"] = str(home / "dagster")
    return env


def precalc_script() -> str:
    script = Path(sys.executable).parent / "precalc"
    if not script.exists():
        raise BenchError(f"no `precalc` console script next to {sys.executable}: pip install -e .")
    return str(script)


def run_project(
    library: Path, home: Path, slice_size: int, profile: Path | None
) -> tuple[Side, list[Child]]:
    env = project_env(home)
    precalc = precalc_script()
    run_cmd = [precalc, "run"]
    if profile is not None:
        run_cmd = [sys.executable, "-m", "cProfile", "-o", str(profile), precalc, "run"]
    commands = {
        "add-library": [precalc, "add-library", str(library), "--slice-size", str(slice_size)],
        "add-model": [precalc, "add-model", MODEL_ID],
        "run": run_cmd,
    }
    side, children = Side(), []
    for name, args in commands.items():
        child = run_child(args, env, home.parent)
        side.add(name, child)
        children.append(child)
    side.items = count_items(home / "serving.db")
    return side, children


def run_bare(library: Path, out: Path, slice_size: int) -> tuple[Side, Child]:
    args = [
        sys.executable,
        str(HERE / "bare_precalc.py"),
        str(library),
        str(out),
        "--slice-size",
        str(slice_size),
    ]
    child = run_child(args, dict(os.environ), out.parent)
    side = Side()
    side.add("bare", child)
    side.items = count_items(out / "serving.db")
    return side, child


def cli_startup(home: Path) -> float:
    """Wall time of `precalc --help`: interpreter + imports of the CLI (warms the cache)."""
    return run_child([precalc_script(), "--help"], project_env(home), home.parent).seconds


# -- checks ----------------------------------------------------------------------------


def count_items(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return con.execute(
            "SELECT COUNT(*) FROM serving WHERE sk = ?", ("MODELID#" + MODEL_ID,)
        ).fetchone()[0]


def served(db: Path) -> dict[str, tuple[str, list]]:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT pk, smiles, precalculation FROM serving WHERE sk = ?",
            ("MODELID#" + MODEL_ID,),
        )
        return {pk: (smiles, json.loads(pre)) for pk, smiles, pre in rows}


def compare(project_db: Path, bare_db: Path) -> dict:
    """Same keys, same canonical SMILES, same MolWt for every item; raise otherwise."""
    project, bare = served(project_db), served(bare_db)
    problems = []
    if len(project) != len(bare):
        problems.append(f"{len(project):,} items served by the project, {len(bare):,} by bare")
    only_p, only_b = sorted(project.keys() - bare.keys()), sorted(bare.keys() - project.keys())
    if only_p or only_b:
        problems.append(
            f"keys only in project {only_p[:3]} ({len(only_p)}), only in bare "
            f"{only_b[:3]} ({len(only_b)})"
        )
    weight, smiles = [], []
    for key in project.keys() & bare.keys():
        (p_smiles, p_out), (b_smiles, b_out) = project[key], bare[key]
        if len(p_out) != 1 or not math.isclose(p_out[0], b_out[0], rel_tol=1e-12):
            weight.append((key, p_out, b_out))
        if p_smiles != b_smiles:
            smiles.append((key, p_smiles, b_smiles))
    if weight:
        problems.append(f"{len(weight)} items with a different MolWt, e.g. {weight[:3]}")
    if problems:
        raise BenchError("project and bare disagree: " + "; ".join(problems))
    # Not fatal: same key and MolWt, another SMILES of it (tautomers share a standard
    # InChIKey). The bare script keeps a key's first row in the file; the project keeps
    # the first row per slice, so a key repeated in a later slice overwrites the first.
    return {
        "items_compared": len(bare),
        "molwt_equal": True,
        "smiles_differences": len(smiles),
        "smiles_difference_examples": [list(s) for s in sorted(smiles)[:5]],
    }


# -- where the project's time went -----------------------------------------------------


def breakdown(home: Path, project: Side, cli_startup_s: float) -> dict:
    """From the project's own Dagster instance: per asset the `seconds` metadata of its
    materialisations (the work), per step and per run the event-log durations (the work
    plus Dagster around it). Reads the event log only, so it holds for any run layout."""
    os.environ["DAGSTER_HOME"] = str(home / "dagster")  # before the instance is created
    import dagster as dg
    from dagster._core.events import DagsterEventType

    step_types = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}
    mat_type = {DagsterEventType.ASSET_MATERIALIZATION}
    work = dict.fromkeys(ASSETS, 0.0)
    partitions = dict.fromkeys(ASSETS, 0)
    step_total = run_total = 0.0
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_run_records()
        for record in runs:
            run_id = record.dagster_run.run_id
            # From the run's creation (plan, run record, planned-asset events) to its end.
            run_total += (record.end_time or 0) - record.create_timestamp.timestamp()
            starts = {}
            for event in instance.all_logs(run_id, of_type=step_types):
                if event.dagster_event_type == DagsterEventType.STEP_START:
                    starts[event.step_key] = event.timestamp
                elif event.step_key in starts:
                    step_total += event.timestamp - starts.pop(event.step_key)
            for event in instance.all_logs(run_id, of_type=mat_type):
                mat = event.dagster_event.step_materialization_data.materialization
                asset = mat.asset_key.to_user_string()
                if asset not in work:
                    continue
                partitions[asset] += 1
                seconds = mat.metadata.get("seconds")
                work[asset] += float(seconds.value) if seconds is not None else 0.0
    work_total = sum(work.values())
    run_s = project.steps["run"]
    return {
        "dagster_runs": len(runs),
        "partitions_materialized": partitions,
        "asset_work_seconds": {k: round(v, 3) for k, v in work.items()},
        "asset_work_total": round(work_total, 3),
        "dagster_in_steps": round(step_total - work_total, 3),
        "dagster_around_steps": round(run_total - step_total, 3),
        "dagster_run_total": round(run_total, 3),
        "precalc_run_outside_runs": round(run_s - run_total, 3),
        "cli_startup_each": round(cli_startup_s, 3),
        "registration": {
            "add-library": project.steps["add-library"],
            "add-model": project.steps["add-model"],
        },
    }


def project_source() -> dict[str, str]:
    """Which precalc_assets was measured: its folder and, in a git work tree, the commit
    and whether the package differs from it (read-only git commands)."""
    spec = importlib.util.find_spec("precalc_assets")
    folder = Path(spec.origin).parent if spec and spec.origin else None
    out = {"package": str(folder)}
    if folder is None:
        return out

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(folder.parent), *args],
            capture_output=True,
            text=True,
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    if commit:
        out["commit"] = commit
        out["modified_files"] = git("status", "--porcelain", "--", folder.name)
    return out


def profile_summary(path: Path) -> dict[str, dict[str, float]]:
    import pstats

    stats = pstats.Stats(str(path))
    found: dict[str, dict[str, float]] = {}
    for (filename, _, name), (_, ncalls, _tottime, cumtime, _) in stats.stats.items():
        for file_suffix, func in PROFILE_FUNCTIONS:
            if name == func and filename.endswith(file_suffix):
                label = f"{file_suffix.removesuffix('.py')}.{func}"
                found[label] = {"calls": ncalls, "cumulative_s": round(cumtime, 3)}
    inchikey = [v for (_, _, n), v in stats.stats.items() if n == "MolToInchiKey"]
    if inchikey:
        found["Chem.MolToInchiKey"] = {
            "calls": sum(v[1] for v in inchikey),
            "cumulative_s": round(sum(v[3] for v in inchikey), 3),
        }
    return found


# -- report ----------------------------------------------------------------------------


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("rdkit", "dagster", "pyarrow", "pandas", "pandera", "precalc_assets"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "-"
    return out


def print_table(result: dict) -> None:
    p, b = result["project"], result["bare"]
    n = result["molecules"]
    rows = [
        ("molecules", f"{n:,}", f"{n:,}"),
        ("items served", f"{p['items']:,}", f"{b['items']:,}"),
        ("seconds (wall)", f"{p['seconds']:.1f}", f"{b['seconds']:.1f}"),
        ("molecules/s", f"{n / p['seconds']:,.0f}", f"{n / b['seconds']:,.0f}"),
        ("CPU seconds", f"{p['cpu_seconds']:.1f}", f"{b['cpu_seconds']:.1f}"),
        ("peak RSS (MB)", f"{p['peak_rss_mb']:.0f}", f"{b['peak_rss_mb']:.0f}"),
    ]
    best = " (best of each side)" if len(result["rounds"]) > 1 else ""
    print(f"\n{'':16} {'project':>12} {'bare':>12}{best}")
    for label, left, right in rows:
        print(f"{label:16} {left:>12} {right:>12}")
    verdict = "meets" if result["ratio"] <= result["target"] else "MISSES"
    print(
        f"\nratio project/bare: {result['ratio']:.2f} wall, {result['cpu_ratio']:.2f} CPU "
        f"({verdict} the {result['target']} target)"
    )
    if len(result["rounds"]) > 1:
        each = ", ".join(
            f"{r['project']['seconds']:.1f}/{r['bare']['seconds']:.1f}s = {r['ratio']:.2f}"
            for r in result["rounds"]
        )
        print(f"rounds (project/bare): {each}")
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in p["steps"].items())
    print(f"project steps: {steps}; `precalc --help` alone {result['cli_startup_seconds']:.1f}s")
    where = result["project_breakdown"]
    work = ", ".join(f"{k} {v:.1f}s" for k, v in where["asset_work_seconds"].items())
    print(
        f"inside `precalc run`: {where['dagster_runs']} Dagster runs; asset work {work}; "
        f"Dagster in steps {where['dagster_in_steps']:.1f}s, around steps "
        f"{where['dagster_around_steps']:.1f}s; outside runs (start-up, plan, report) "
        f"{where['precalc_run_outside_runs']:.1f}s"
    )
    for check in (r["check"] for r in result["rounds"]):
        if check["smiles_differences"]:
            print(
                f"warning: {check['smiles_differences']} key(s) served with another SMILES than "
                f"the file's first row of that InChIKey: {check['smiles_difference_examples']}"
            )
            break
    source = result["source"]
    state = ""
    if "commit" in source:
        state = f" at {source['commit'][:10]}" + (
            " with local changes" if source["modified_files"] else ""
        )
    print(f"measured precalc_assets from {source['package']}{state}")
    machine = result["machine"]
    print(f"load average before/after: {machine['loadavg_before']} / {machine['loadavg_after']}")


def one_round(work: Path, library: Path, slice_size: int, prof: Path | None, bare_first: bool):
    home, bare_out = work / "project", work / "bare"
    home.mkdir()
    bare_out.mkdir()
    sides: dict[str, Side] = {}
    for name in ("bare", "project") if bare_first else ("project", "bare"):
        print(f"  {name} ...", end=" ", flush=True)
        if name == "bare":
            sides[name], _ = run_bare(library, bare_out, slice_size)
        else:
            sides[name], _ = run_project(library, home, slice_size, prof)
        print(f"{sides[name].seconds:.1f}s, {sides[name].items:,} items", flush=True)
    check = compare(home / "serving.db", bare_out / "serving.db")
    project, bare = sides["project"], sides["bare"]
    return home, {
        "project": asdict(project),
        "bare": asdict(bare),
        "ratio": round(project.seconds / bare.seconds, 3),
        "cpu_ratio": round(project.cpu_seconds / bare.cpu_seconds, 3),
        "order": "bare first" if bare_first else "project first",
        "check": check,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--molecules", type=int, default=100_000)
    parser.add_argument("--slice-size", type=int, default=10_000)
    parser.add_argument("--workdir", type=Path, help="where to work (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work files")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure both sides this many times, alternating which goes first; the "
        "figures are each side's best (a shared machine only ever adds time)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run `precalc run` under cProfile (slower: its timing is not the measurement)",
    )
    parser.add_argument("--target", type=float, default=1.5, help="ratio to meet")
    args = parser.parse_args(argv)
    if args.molecules < 1 or args.slice_size < 1 or args.rounds < 1:
        parser.error("--molecules, --slice-size and --rounds must be at least 1")

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if args.workdir:
        work = args.workdir.resolve() / f"bench-{stamp}"
        work.mkdir(parents=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="precalc-bench-"))
    try:
        library = work / f"molsets-{args.molecules}.csv"
        rows = write_library(args.molecules, library)
        print(f"{rows:,} molecules of molsets in {library}; slices of {args.slice_size:,}")
        OUT.mkdir(exist_ok=True)
        loadavg_before = [round(x, 2) for x in os.getloadavg()]
        (work / "startup").mkdir()
        startup = cli_startup(work / "startup" / "home")  # also warms the file cache
        rounds, homes = [], []
        for index in range(args.rounds):
            print(f"round {index + 1} of {args.rounds}")
            prof = OUT / f"{stamp}-round{index + 1}-precalc-run.prof" if args.profile else None
            round_dir = work / f"round{index + 1}"
            round_dir.mkdir()
            home, result = one_round(
                round_dir, library, args.slice_size, prof, bare_first=index % 2 == 0
            )
            if prof is not None:
                result["profile"] = {"file": str(prof), "functions": profile_summary(prof)}
            rounds.append(result)
            homes.append(home)
        loadavg_after = [round(x, 2) for x in os.getloadavg()]

        best_p = min(range(len(rounds)), key=lambda i: rounds[i]["project"]["seconds"])
        project = rounds[best_p]["project"]
        bare = min((r["bare"] for r in rounds), key=lambda b: b["seconds"])
        result = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "molecules": rows,
            "slice_size": args.slice_size,
            "model": MODEL_ID,
            "profiled": bool(args.profile),
            "project": project,
            "bare": bare,
            "ratio": round(project["seconds"] / bare["seconds"], 3),
            "cpu_ratio": round(project["cpu_seconds"] / bare["cpu_seconds"], 3),
            "target": args.target,
            "cli_startup_seconds": round(startup, 3),
            "project_breakdown": breakdown(homes[best_p], Side(**project), startup),
            "rounds": rounds,
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "loadavg_before": loadavg_before,
                "loadavg_after": loadavg_after,
            },
            "versions": versions(),
            "source": project_source(),
        }
        print_table(result)
        target = OUT / f"{stamp}.json"
        target.write_text(json.dumps(result, indent=2) + "\n")
        print(f"written {target}")
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"work files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
