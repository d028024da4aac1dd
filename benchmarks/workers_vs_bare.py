"""`precalc run --workers N` against a bare N-process script, in one invocation, with
the peak RSS of every process and the CPU/wall of the run.

    python benchmarks/workers_vs_bare.py --molecules 100000 --sides project:2,bare:2,project:1
    python benchmarks/workers_vs_bare.py --molecules 0 --sides project:2,bare:2   # whole set
    python benchmarks/workers_vs_bare.py --models eos3b5e,morgan-fp2048,rdkit-physchem
    python benchmarks/workers_vs_bare.py --sides project:2@10000,project:2@100   # slice sizes

Sides, run in the order given, on the same library file (the first N rows of the MOSES
training set of the `molsets` wheel; 0 = all of it):

- `project:W[@S]`: fresh PRECALC_HOME/DAGSTER_HOME, `precalc add-library FILE
  --slice-size S`, `precalc add-model M` per model, `precalc run --workers W` (checks on,
  as `precalc run` does them), each a subprocess of the console script.
- `bare:P[@S]`: `benchmarks/bare_precalc.py --processes P --models ...` (P worker
  processes + a parent that reads the CSV and writes SQLite).

Per side: wall seconds of each command, CPU seconds (wait4: the child and every
descendant it reaped), and a poller reading `/proc/<pid>/status` VmHWM and
`/proc/<pid>/stat` CPU of the child and all its descendants every 0.25 s: peak RSS per
process (the CLI, each worker), and the CPU rate while the workers were alive. Checks:
project vs bare, the same keys per model and the same MolWt; project vs project, every
served item (pk, sk, smiles, outputs) equal. JSON in `benchmarks/out/workers-<stamp>.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import precalc_vs_bare as pvb  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        ppid = int(data[data.rindex(b")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _proc_sample(pid: int) -> tuple[float, float, str] | None:
    """(VmHWM MB, CPU seconds user+sys, role) of a live process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICK
    hwm = 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    if "resource_tracker" in cmd:
        role = "resource_tracker"
    elif "multiprocessing" in cmd or "spawn_main" in cmd:
        role = "worker"
    else:
        role = "main"
    return hwm, cpu, role


class Poller(threading.Thread):
    """Every `interval` s: the tree under `root`; per pid the largest VmHWM and last CPU
    seen; the times workers were alive (the compute phase)."""

    def __init__(self, root: int, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.procs: dict[int, dict] = {}
        self.stop = threading.Event()
        self.worker_window: list[float] = []  # first and last time >= 1 worker alive
        self.samples: list[tuple[float, float, int]] = []  # (t, cpu of live tree, workers)

    def run(self) -> None:
        while not self.stop.is_set():
            now = time.perf_counter()
            kids = _children_map()
            todo, tree = [self.root], []
            while todo:
                pid = todo.pop()
                tree.append(pid)
                todo += kids.get(pid, [])
            workers, cpu_live = 0, 0.0
            for pid in tree:
                got = _proc_sample(pid)
                if got is None:
                    continue
                hwm, cpu, role = got
                rec = self.procs.setdefault(
                    pid, {"role": role, "peak_rss_mb": 0.0, "cpu_s": 0.0, "first": now}
                )
                rec["peak_rss_mb"] = max(rec["peak_rss_mb"], hwm)
                rec["cpu_s"] = cpu
                rec["last"] = now
                cpu_live += cpu
                workers += role == "worker"
            if workers:
                if not self.worker_window:
                    self.worker_window = [now, now]
                self.worker_window[1] = now
            self.samples.append((now, cpu_live, workers))
            self.stop.wait(self.interval)


def run_watched(args: list[str], env: dict[str, str], cwd: Path) -> dict:
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=err)
        poller = Poller(proc.pid)
        poller.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        poller.stop.set()
        poller.join()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise pvb.BenchError(
            f"{' '.join(args)} exited {code}\n--- stdout\n{stdout[-3000:]}\n--- stderr\n"
            f"{stderr[-3000:]}"
        )
    procs = sorted(poller.procs.values(), key=lambda r: r["first"])
    workers = [p for p in procs if p["role"] == "worker"]
    # CPU rate while workers were alive: CPU of the live tree at the window's ends is
    # not enough (dead workers vanish), so sum per-process CPU gained inside the window.
    compute = None
    if poller.worker_window and poller.worker_window[1] > poller.worker_window[0]:
        w0, w1 = poller.worker_window
        workers_cpu = sum(p["cpu_s"] for p in workers)
        others = [p for p in procs if p["role"] != "worker"]
        compute = {
            "seconds": round(w1 - w0, 2),
            "worker_cpu_s": round(workers_cpu, 2),
            "cpu_per_wall": round((workers_cpu + _gained(others, w0, w1)) / (w1 - w0), 2),
        }
    return {
        "args": args,
        "seconds": round(seconds, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "maxrss_wait4_mb": round(usage.ru_maxrss / 1024, 1),
        "processes": [
            {"role": p["role"], "peak_rss_mb": round(p["peak_rss_mb"], 1), "cpu_s": p["cpu_s"]}
            for p in procs
        ],
        "compute": compute,
        "stdout_tail": stdout[-1500:],
        "stderr_tail": stderr[-1500:],
    }


def _gained(procs: list[dict], w0: float, w1: float) -> float:
    """CPU the non-worker processes spent inside [w0, w1], approximated as the share of
    their life inside the window (the CLI is nearly idle while its workers compute)."""
    total = 0.0
    for p in procs:
        life = max(p.get("last", p["first"]) - p["first"], 1e-9)
        inside = max(0.0, min(w1, p.get("last", w1)) - max(w0, p["first"]))
        total += p["cpu_s"] * min(1.0, inside / life)
    return total


def parse_side(text: str, default_slice: int, default_ppr: int) -> tuple[str, int, int, int]:
    """`project:W[@S][/R]` (W workers, slice size S, R partitions per run) or `bare:P[@S]`."""
    kind, _, rest = text.partition(":")
    rest, _, ppr = rest.partition("/")
    count, _, size = rest.partition("@")
    if kind not in ("project", "bare"):
        raise SystemExit(f"side {text!r}: project:W[@S][/R] or bare:P[@S]")
    return kind, int(count or 1), int(size or default_slice), int(ppr or default_ppr)


def run_project(library: Path, home: Path, size: int, workers: int, models: list[str], ppr):
    env = pvb.project_env(home)
    precalc = pvb.precalc_script()
    cmds = [("add-library", [precalc, "add-library", str(library), "--slice-size", str(size)])]
    cmds += [(f"add-model {m}", [precalc, "add-model", m]) for m in models]
    run = [precalc, "run", "--workers", str(workers)]
    if ppr:
        run += ["--partitions-per-run", str(ppr)]
    cmds.append(("run", run))
    steps = {}
    for name, args in cmds:
        print(f"    {' '.join(a if '/' not in a else Path(a).name for a in args)}", flush=True)
        steps[name] = run_watched(args, env, home.parent)
    return steps


def run_bare(library: Path, out: Path, size: int, processes: int, models: list[str]):
    args = [
        sys.executable,
        str(HERE / "bare_precalc.py"),
        str(library),
        str(out),
        "--slice-size",
        str(size),
        "--processes",
        str(processes),
        "--models",
        ",".join(models),
    ]
    print(f"    bare_precalc.py --processes {processes} --slice-size {size}", flush=True)
    return {"bare": run_watched(args, dict(os.environ), out.parent)}


def summarise(steps: dict) -> dict:
    procs = [p for s in steps.values() for p in s["processes"]]
    run = steps.get("run") or steps["bare"]
    workers = [p for p in run["processes"] if p["role"] == "worker"]
    mains = [p for p in run["processes"] if p["role"] == "main"]
    return {
        "seconds": round(sum(s["seconds"] for s in steps.values()), 3),
        "cpu_s": round(sum(s["cpu_s"] for s in steps.values()), 3),
        "steps_s": {k: s["seconds"] for k, s in steps.items()},
        "run_seconds": run["seconds"],
        "run_cpu_s": run["cpu_s"],
        "run_cpu_per_wall": round(run["cpu_s"] / run["seconds"], 2),
        "compute": run["compute"],
        "peak_rss_any_process_mb": max(p["peak_rss_mb"] for p in procs),
        "peak_rss_main_mb": max((p["peak_rss_mb"] for p in mains), default=0.0),
        "peak_rss_workers_mb": [p["peak_rss_mb"] for p in workers],
        "sum_peak_rss_run_mb": round(sum(p["peak_rss_mb"] for p in run["processes"]), 1),
        "processes_seen": len(run["processes"]),
    }


def served_all(db: Path) -> dict[tuple[str, str], tuple[str, str]]:
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT pk, sk, smiles, precalculation FROM serving")
        return {(pk, sk): (smiles, pre) for pk, sk, smiles, pre in rows}


def compare_project_bare(p: dict, b: dict, models: list[str]) -> dict:
    out = {}
    for m in models:
        sk = "MODELID#" + m
        pk_p = {pk for (pk, s) in p if s == sk}
        pk_b = {pk for (pk, s) in b if s == sk}
        out[m] = {"project": len(pk_p), "bare": len(pk_b), "same_keys": pk_p == pk_b}
        if m == "eos3b5e":
            diff = sum(
                1
                for pk in pk_p & pk_b
                if abs(json.loads(p[(pk, sk)][1])[0] - json.loads(b[(pk, sk)][1])[0]) > 1e-9
            )
            out[m]["molwt_differences"] = diff
    return out


def compare_projects(a: dict, b: dict) -> dict:
    diff = sum(1 for k in a.keys() & b.keys() if a[k] != b[k])
    return {
        "items": [len(a), len(b)],
        "same_keys": a.keys() == b.keys(),
        "items_differing": diff,
        "equal": a == b,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--molecules", type=int, default=100_000, help="0: the whole set")
    parser.add_argument("--slice-size", type=int, default=10_000)
    parser.add_argument("--models", default="eos3b5e")
    parser.add_argument("--sides", default="project:2,bare:2,project:1")
    parser.add_argument("--partitions-per-run", type=int, default=0)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--label", default="")
    args = parser.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    sides = [
        parse_side(s.strip(), args.slice_size, args.partitions_per_run)
        for s in args.sides.split(",")
    ]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = Path(tempfile.mkdtemp(prefix="precalc-workers-", dir=args.workdir))
    results, dbs = [], {}
    try:
        library = work / "library.csv"
        n = pvb.write_library(args.molecules, library) if args.molecules else _write_all(library)
        print(f"{n:,} molecules in {library}; models {models}", flush=True)
        startup = pvb.cli_startup(work / "startup-home")
        load_before = [round(x, 2) for x in os.getloadavg()]
        for i, (kind, count, size, ppr) in enumerate(sides):
            name = f"{kind}:{count}@{size}" + (f"/{ppr}" if ppr and kind == "project" else "")
            side_dir = work / f"side{i}"
            side_dir.mkdir()
            print(f"{name} (load {os.getloadavg()[0]:.2f})", flush=True)
            if kind == "project":
                home = side_dir / "home"
                steps = run_project(library, home, size, count, models, ppr)
                db = home / "serving.db"
            else:
                steps = run_bare(library, side_dir / "bare", size, count, models)
                db = side_dir / "bare" / "serving.db"
            summary = summarise(steps)
            summary.update(name=name, kind=kind, count=count, slice_size=size)
            if kind == "project":
                try:
                    summary["breakdown"] = pvb.breakdown(
                        home,
                        pvb.Side(
                            steps={
                                "run": steps["run"]["seconds"],
                                "add-library": steps["add-library"]["seconds"],
                                "add-model": sum(
                                    s["seconds"]
                                    for k, s in steps.items()
                                    if k.startswith("add-model")
                                ),
                            }
                        ),
                        startup,
                    )
                except Exception as exc:  # noqa: BLE001 - report, do not lose the run
                    summary["breakdown"] = {"error": repr(exc)}
            dbs[i] = served_all(db)
            summary["items"] = len(dbs[i])
            summary["raw"] = steps
            results.append(summary)
            print(
                f"  {summary['seconds']:.1f}s wall (run {summary['run_seconds']:.1f}s, CPU/wall "
                f"{summary['run_cpu_per_wall']}, compute {summary['compute']}), peak RSS main "
                f"{summary['peak_rss_main_mb']:.0f} MB workers {summary['peak_rss_workers_mb']}, "
                f"{summary['items']:,} items",
                flush=True,
            )
            if kind != "project":
                shutil.rmtree(side_dir / "bare", ignore_errors=True) if not args.keep else None
        load_after = [round(x, 2) for x in os.getloadavg()]
        checks = {}
        for i, (ki, *_rest) in enumerate(sides):
            for j in range(i + 1, len(sides)):
                kj = sides[j][0]
                label = f"{results[i]['name']} vs {results[j]['name']}"
                if ki == kj == "project":
                    checks[label] = compare_projects(dbs[i], dbs[j])
                elif {ki, kj} == {"project", "bare"}:
                    p, b = (dbs[i], dbs[j]) if ki == "project" else (dbs[j], dbs[i])
                    checks[label] = compare_project_bare(p, b, models)
        ratios = {}
        for i, a in enumerate(results):
            for b in results[i + 1 :]:
                ratios[f"{a['name']} / {b['name']}"] = {
                    "wall": round(a["seconds"] / b["seconds"], 3),
                    "peak_rss_any_process": round(
                        a["peak_rss_any_process_mb"] / b["peak_rss_any_process_mb"], 3
                    ),
                    "peak_rss_worker": round(
                        max(a["peak_rss_workers_mb"] or [a["peak_rss_main_mb"]])
                        / max(b["peak_rss_workers_mb"] or [b["peak_rss_main_mb"]]),
                        3,
                    ),
                }
        result = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "label": args.label,
            "argv": sys.argv,
            "molecules": n,
            "models": models,
            "cli_startup_s": round(startup, 3),
            "sides": results,
            "ratios": ratios,
            "checks": checks,
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "versions": pvb.versions(),
            "source": pvb.project_source(),
        }
        print(json.dumps({"ratios": ratios, "checks": checks}, indent=1))
        print(f"load average before/after: {load_before} / {load_after}")
        pvb.OUT.mkdir(exist_ok=True)
        target = pvb.OUT / f"workers-{stamp}{'-' + args.label if args.label else ''}.json"
        target.write_text(json.dumps(result, indent=1) + "\n")
        print(f"written {target}")
    except pvb.BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"work files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def _write_all(target: Path) -> int:
    import csv
    import gzip

    written = 0
    with gzip.open(pvb.molsets_train(), "rt", newline="") as src, target.open("w") as dst:
        reader = csv.reader(src)
        column = [h.strip().lower() for h in next(reader)].index("smiles")
        dst.write("smiles\n")
        for row in reader:
            dst.write(row[column] + "\n")
            written += 1
    return written


if __name__ == "__main__":
    sys.exit(main())
