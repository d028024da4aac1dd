"""Nothing lost, nothing stuck: a `precalc run` killed with SIGKILL at any point is
recovered by the next one (its run marked failed, its partitions redone, its checks
evaluated), and read `failed` in the ledger at once; concurrent `precalc run`s share the
work instead of repeating it; a worker killed with SIGKILL costs only its own batch, and
workers die with their `precalc run`."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import pytest

from precalc_assets import keys
from precalc_assets.orchestration.check_executions import check_keys, latest_evaluations
from precalc_assets.orchestration.run_processes import partitions_of_run
from precalc_assets_tests.molecules import nci_lines, write_library

MODELS = ("eos3b5e", "rdkit-physchem")
# 2-hydroxypyridine and 2-pyridone share one InChIKey, in different slices: the item
# must come from the first one's slice whatever happens to the runs.
LINES = ["Oc1ccccn1", *nci_lines(140), "O=c1cccc[nH]1", *nci_lines(150, start=140)]
SLICE_SIZE = 100  # 3 slices x 2 models = 6 partitions


class Logged(subprocess.Popen):
    """A process whose output goes to a file, not a pipe: a process it leaves behind
    (Dagster's `tail -F` of a step's captured output, when it outlives its run) keeps a
    pipe open, so reading the pipe to its end could outlast the process by any time.
    `communicate` waits for the process itself, then reads the file."""

    def __init__(self, command: list[str], log: Path, **popen) -> None:
        self.log = log
        with log.open("w") as out:
            super().__init__(command, stdout=out, stderr=subprocess.STDOUT, text=True, **popen)

    def communicate(self, input=None, timeout=None):  # noqa: A002 (Popen's own names)
        self.wait(timeout)
        return self.log.read_text(), None


def precalc(home: Path, *args: str, **popen) -> Logged:
    env = {**os.environ, "PRECALC_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    handle, log = tempfile.mkstemp(suffix=".log", dir=home.parent)
    os.close(handle)
    return Logged([sys.executable, "-m", *args], Path(log), env=env, **popen)


def finished(process: subprocess.Popen, timeout: float = 300) -> str:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out
    assert "database is locked" not in out
    return out


def prepared_home(home: Path, tmp_path: Path) -> Path:
    library = write_library(tmp_path / "lib.smi", LINES)
    finished(precalc(home, "precalc_assets.cli", "add-library", str(library),
                     "--name", "lib", "--slice-size", str(SLICE_SIZE)))  # fmt: skip
    for model_id in MODELS:
        finished(precalc(home, "precalc_assets.cli", "add-model", model_id))
    return home


def served(home: Path) -> set[tuple]:
    with sqlite3.connect(home / "serving.db") as con:
        return set(con.execute("SELECT pk, sk, smiles, precalculation, slice FROM serving"))


def instance_of(home: Path, monkeypatch) -> dg.DagsterInstance:
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    return dg.DagsterInstance.get()


@pytest.fixture(scope="module")
def clean_serving(tmp_path_factory) -> set[tuple]:
    """What one uninterrupted run serves."""
    tmp = tmp_path_factory.mktemp("clean")
    home = prepared_home(tmp / "home", tmp)
    finished(precalc(home, "precalc_assets.cli", "run"))
    return served(home)


def stalled_pid(process: subprocess.Popen, marker: Path, point: str) -> int:
    """The pid of the process that stalled at `point` (it wrote MARKER)."""
    deadline = time.monotonic() + 240
    while not (marker.exists() and marker.read_text()):
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, f"never reached {point}"
        time.sleep(0.2)
    return int(marker.read_text())


def ledger_rows(home: Path) -> dict[str, dict[str, str]]:
    """`precalc ledger --format csv`: partition -> its row."""
    out = finished(precalc(home, "precalc_assets.cli", "ledger", "--format", "csv"))
    rows = csv.DictReader(io.StringIO(out))
    return {keys.partition_id(r["model"], r["slice"]): r for r in rows}


@pytest.mark.parametrize(
    "point, run_args",
    [
        ("prepare", ()),
        ("publish", ()),
        ("checks", ()),
        # Runs of one partition: the unchecked partitions form no rectangle, so their
        # checks run one partition per run of the check-only job.
        ("checks", ("--partitions-per-run", "1")),
    ],
    ids=["prepare", "publish", "checks", "checks-of-one-partition"],
)
def test_a_killed_run_is_recovered_by_the_next(
    point, run_args, tmp_path, clean_serving, monkeypatch
):
    home = prepared_home(tmp_path / "home", tmp_path)
    marker = tmp_path / "stalled.pid"
    stalled = precalc(
        home, "precalc_assets_tests.stalling_run", point, str(marker), "run", *run_args
    )
    stalled_pid(stalled, marker, point)
    os.kill(stalled.pid, signal.SIGKILL)  # mid-run: no cleanup of any kind
    stalled.wait()

    instance = instance_of(home, monkeypatch)
    (killed,) = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    held = partitions_of_run(
        killed.tags,
        instance.get_dynamic_partitions(keys.MODEL),
        instance.get_dynamic_partitions(keys.SLICE),
    )
    assert held
    # The ledger reads the run's process tags: no partition of a dead run in progress.
    rows = ledger_rows(home)
    assert [k for k, r in rows.items() if r["status"] == "in_progress"] == []
    if point == "checks":  # published already: what is missing are check evaluations
        assert {rows[k]["status"] for k in held} == {"done"}
    else:
        assert {rows[k]["status"] for k in held} == {"failed"}
        for key in held:
            assert rows[key]["failure"].startswith(f"process gone: run {killed.run_id} "), key
            assert f"process {stalled.pid} on " in rows[key]["failure"]

    out = finished(precalc(home, "precalc_assets.cli", "run"))
    assert f"run {killed.run_id} was marked failed: its process is gone" in out
    assert instance.get_run_by_id(killed.run_id).status == dg.DagsterRunStatus.FAILURE

    assert served(home) == clean_serving  # same keys, values and source slices
    ledger = json.loads(finished(precalc(home, "precalc_assets.cli", "ledger", "--format", "json")))
    for model in ledger["models"]:
        assert model["complete"], model
        assert model["in_progress"] == [] and model["missing"] == [] and model["failed"] == []
    partitions = {keys.partition_id(m, f"lib-{i:04d}") for m in MODELS for i in range(3)}
    evaluated = latest_evaluations(instance)
    for key in check_keys():
        assert {p for (c, p) in evaluated if c == key.name} == partitions, key.name


def test_a_run_still_in_progress_shows_its_run_and_age(tmp_path, monkeypatch):
    home = prepared_home(tmp_path / "home", tmp_path)
    marker = tmp_path / "stalled.pid"
    stalled = precalc(home, "precalc_assets_tests.stalling_run", "publish", str(marker), "run")
    try:
        while not marker.exists():
            assert stalled.poll() is None, stalled.communicate()[0]
            time.sleep(0.2)
        table = finished(precalc(home, "precalc_assets.cli", "ledger"))
        (run,) = instance_of(home, monkeypatch).get_runs(
            filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
        )
        assert f"in run {run.run_id} (since " in table and " s)" in table
        # A second `precalc run` leaves what the live one holds alone: no second run.
        second = finished(precalc(home, "precalc_assets.cli", "run"))
        assert ": published" not in second and "marked failed" not in second
        assert len(instance_of(home, monkeypatch).get_runs()) == 1
    finally:
        stalled.kill()
        stalled.wait()


def test_concurrent_runs_materialise_each_partition_once(tmp_path, clean_serving, monkeypatch):
    home = prepared_home(tmp_path / "home", tmp_path)
    runs = [
        precalc(home, "precalc_assets.cli", "run", "--partitions-per-run", "2") for _ in range(2)
    ]
    outputs = [finished(run) for run in runs]
    instance = instance_of(home, monkeypatch)
    records = instance.fetch_materializations(
        dg.AssetKey(keys.PUBLISHED_PREDICTIONS), limit=100
    ).records
    per_partition = sorted(r.partition_key for r in records)
    assert per_partition == sorted(
        keys.partition_id(m, f"lib-{i:04d}") for m in MODELS for i in range(3)
    ), outputs
    assert served(home) == clean_serving


def worker_processes(parent: int) -> list[int]:
    """The `multiprocessing` spawn workers whose parent is `parent`."""
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rpartition(")")[2].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue  # it ended meanwhile
        if ppid == parent and b"spawn_main" in command:
            workers.append(int(stat.parent.name))
    return workers


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaps is gone as far as work goes)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_lost_worker_costs_only_its_own_partitions(tmp_path, clean_serving, monkeypatch):
    """A worker killed with -9 mid-batch: one line names its partitions, the other
    worker goes on, the summary, checks and ledger still happen, no traceback; the next
    `precalc run` redoes exactly those partitions."""
    home = prepared_home(tmp_path / "home", tmp_path)
    marker = tmp_path / "stalled.pid"
    cli = precalc(home, "precalc_assets_tests.stalling_run", "publish", str(marker),
                  "run", "--workers", "2", "--partitions-per-run", "2")  # fmt: skip
    worker = stalled_pid(cli, marker, "publish")
    assert worker != cli.pid and worker in worker_processes(cli.pid)
    os.kill(worker, signal.SIGKILL)
    out, _ = cli.communicate(timeout=240)

    assert cli.returncode == 1, out  # partitions failed: run again
    assert "Traceback" not in out and "BrokenProcessPool" not in out, out
    (line,) = [ln for ln in out.splitlines() if "redoes" in ln]
    assert f"worker process {worker} killed by SIGKILL: " in line, line
    lost = set(keys_in(line))
    assert len(lost) == 2, line  # one batch: both models of one slice
    assert "slices done" in out  # the summary
    assert (home / "storage" / "ledger" / "partitions.csv").exists()  # the ledger asset
    rows = ledger_rows(home)
    assert {k for k, r in rows.items() if r["status"] == "failed"} == lost
    assert {k for k, r in rows.items() if r["status"] == "done"} == set(rows) - lost
    evaluated = latest_evaluations(instance_of(home, monkeypatch))
    for key in check_keys():  # the others were checked
        assert {p for (c, p) in evaluated if c == key.name} >= set(rows) - lost, key.name

    again = finished(precalc(home, "precalc_assets.cli", "run"))
    assert f"{len(lost)} partition(s) missing, stale or failed" in again
    assert served(home) == clean_serving


def keys_in(line: str) -> list[str]:
    """The `model|slice` keys named in a line."""
    return [word.strip(",") for word in line.split() if "|" in word]


def test_workers_die_with_a_killed_precalc_run(tmp_path):
    home = prepared_home(tmp_path / "home", tmp_path)
    marker = tmp_path / "stalled.pid"
    cli = precalc(home, "precalc_assets_tests.stalling_run", "publish", str(marker),
                  "run", "--workers", "2", "--partitions-per-run", "2")  # fmt: skip
    stalled_pid(cli, marker, "publish")
    workers = worker_processes(cli.pid)
    assert len(workers) == 1  # `precalc run` itself is the other worker
    os.kill(cli.pid, signal.SIGKILL)
    cli.wait()
    try:
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [pid for pid in workers if alive(pid)] == [], "workers outlived their parent"
    finally:
        for pid in workers:  # left by a failure: not for the rest of the session
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
