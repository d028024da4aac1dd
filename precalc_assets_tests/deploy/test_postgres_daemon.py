"""The one-machine production topology of `deploy/`, for real: a PostgreSQL server, the
instance of `deploy/dagster.yaml` on it, the code server started with the Dockerfile's
CMD and reached through `deploy/workspace.yaml`, and `dagster-daemon`. A backfill of 8
single-partition runs goes through the run queue (2 at a time); the `serving_table` pool
(its limit from the file) first makes both running runs wait while a writer outside the
runs holds its one slot, then lets one publish step write at a time; `precalc ledger`
reads every partition done from Postgres.

PostgreSQL comes from Debian (`/usr/lib/postgresql/<version>/bin`); if it is missing it is
installed with `apt-get install -y postgresql` (CI runs as root). Postgres refuses to run
as root, so as root the server runs as the `postgres` system user.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import yaml
from dagster._core.events import DagsterEventType
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from precalc_assets import keys
from precalc_assets.dagster_defs.sensors import SENSORS
from precalc_assets_tests.deploy import (
    DEPLOY,
    dockerfile_cmd,
    free_port,
    load_yaml,
    with_option,
)
from precalc_assets_tests.molecules import nci_lines, write_library
from precalc_assets_tests.system_packages import apt_install

BIN = Path(sys.executable).parent
PG_VERSIONS = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"
SLICES = 8
SLICE_SIZE = 20
BACKFILL_TAG = "dagster/backfill"
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
LOCATION = "precalc_assets"  # deploy/workspace.yaml's location_name
HOLDER = ("not-a-run", "holds-the-serving-table")  # a claim on the pool from outside any run
STEP_EVENTS = {
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.ENGINE_EVENT,
}


def _postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL's bin folder, or initdb and pg_ctl found on PATH."""
    found = [
        p for p in PG_VERSIONS.glob("*/bin") if (p / "initdb").exists() and (p / "pg_ctl").exists()
    ]
    if found:
        return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    return None


def _install_postgres() -> Path:
    apt_install("postgresql", "no initdb/pg_ctl in /usr/lib/postgresql/<version>/bin or on PATH")
    found = _postgres_bin()
    if found is None:
        pytest.fail("Debian's postgresql is installed but initdb/pg_ctl were not found")
    return found


def _as_server_user(argv: list[str]) -> list[str]:
    """Postgres refuses to run as root: root runs it as the `postgres` system user."""
    if os.geteuid() != 0:
        return argv
    if shutil.which("runuser") is None:
        pytest.fail("running as root, but `runuser` (util-linux) is missing to drop to postgres")
    return ["runuser", "-u", SERVER_USER, "--", *argv]


@pytest.fixture(scope="session")
def postgres() -> Iterator[dict[str, str]]:
    """A PostgreSQL server on a free loopback port, password authentication; its
    connection settings as DAGSTER_PG_* values (without a database)."""
    pg_bin = _postgres_bin() or _install_postgres()
    base = Path(tempfile.mkdtemp(prefix="precalc-pg-"))  # under /tmp: the server user reaches it
    password = uuid.uuid4().hex
    (base / "pwfile").write_text(password + "\n")
    if os.geteuid() == 0:
        for path in (base, base / "pwfile"):
            shutil.chown(path, SERVER_USER, SERVER_USER)
    data, port = base / "data", free_port()
    run = {"cwd": base, "capture_output": True, "text": True, "check": False}
    initdb = subprocess.run(
        _as_server_user(
            [
                str(pg_bin / "initdb"),
                "-D",
                str(data),
                "-U",
                "precalc",
                f"--pwfile={base / 'pwfile'}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ]
        ),
        **run,
    )
    assert initdb.returncode == 0, initdb.stderr
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={base} "
        "-c fsync=off -c synchronous_commit=off -c max_connections=200"
    )
    pg_ctl = [str(pg_bin / "pg_ctl"), "-D", str(data)]
    started = subprocess.run(
        _as_server_user(
            [*pg_ctl, "-l", str(base / "server.log"), "-o", options, "-w", "-t", "60", "start"]
        ),
        **run,
    )
    assert started.returncode == 0, started.stderr + _tail(base / "server.log")
    try:
        yield {
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(port),
            "DAGSTER_PG_USER": "precalc",
            "DAGSTER_PG_PASSWORD": password,
        }
    finally:
        subprocess.run(_as_server_user([*pg_ctl, "-m", "immediate", "-w", "stop"]), **run)
        shutil.rmtree(base, ignore_errors=True)


def _create_database(server: dict[str, str]) -> str:
    name = f"dagster_{uuid.uuid4().hex[:12]}"
    connection = psycopg2.connect(
        host=server["DAGSTER_PG_HOST"],
        port=int(server["DAGSTER_PG_PORT"]),
        user=server["DAGSTER_PG_USER"],
        password=server["DAGSTER_PG_PASSWORD"],
        dbname="postgres",
    )
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
    finally:
        connection.close()
    return name


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )  # its own process group, with every run worker it starts: stopped whole


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the group, then SIGKILL to whatever is left of it (run workers)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            continue
    process.wait()


def _cli(argv: list[str], env: dict[str, str], timeout: float = 120) -> str:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{argv}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _wait_for_code_server(server: subprocess.Popen, port: int, env: dict, log: Path) -> None:
    deadline = time.monotonic() + 120
    check = [
        str(BIN / "dagster"),
        "api",
        "grpc-health-check",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the code server exited:\n{_tail(log)}"
        if subprocess.run(check, env=env, capture_output=True, check=False).returncode == 0:
            return
        time.sleep(1)
    pytest.fail(f"the code server did not answer on port {port}:\n{_tail(log)}")


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one moment (an end before a start at the same time)."""
    points = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = current = 0
    for _, step in points:
        current += step
        most = max(most, current)
    return most


def _instance_config() -> str:
    """deploy/dagster.yaml as shipped, with this machine's limits: 2 runs, 1 writer."""
    config = load_yaml(DEPLOY / "dagster.yaml")
    assert config["run_launcher"]["class"] == "DefaultRunLauncher"
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert set(config["storage"]["postgres"]["postgres_db"]) == {
        "hostname",
        "port",
        "username",
        "password",
        "db_name",
        "scheme",
    }
    config["concurrency"]["runs"]["max_concurrent_runs"] = 2
    config["concurrency"]["pools"]["default_limit"] = 1
    config["run_coordinator"]["config"] = {"dequeue_interval_seconds": 1}
    return yaml.safe_dump(config, sort_keys=False)


def _stop_sensors(instance: dg.DagsterInstance, workspace_file: Path) -> None:
    """What `dagster sensor stop` does, for every sensor of the location at once."""
    with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(workspace_file)])) as ctx:
        location = ctx.create_request_context().get_code_location(LOCATION)
        sensors = [s for repo in location.get_repositories().values() for s in repo.get_sensors()]
        assert {s.name for s in sensors} == {s.name for s in SENSORS}
        for sensor in sensors:
            instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)


def _publish_events(instance: dg.DagsterInstance, run_id: str) -> tuple[float, float, int]:
    """Start and end of a run's publish step, and its 'blocked by pool' events."""
    times, blocked = {}, 0
    for event in instance.all_logs(run_id, of_type=STEP_EVENTS):
        kind = event.dagster_event.event_type
        if event.step_key != keys.PUBLISHED_PREDICTIONS:
            continue
        if kind == DagsterEventType.ENGINE_EVENT:
            blocked += f"limit for pool {keys.SERVING_POOL}" in (event.message or "")
        else:
            times[kind] = event.timestamp
    return times[DagsterEventType.STEP_START], times[DagsterEventType.STEP_SUCCESS], blocked


def test_backfill_through_the_queue_on_postgres_with_the_daemon(
    postgres, tmp_path, monkeypatch, capsys
):
    began = time.monotonic()
    timings: dict[str, float] = {}
    home = tmp_path / "home"
    dagster_home = home / "dagster"  # made by the autouse isolated_home fixture
    (dagster_home / "dagster.yaml").write_text(_instance_config())
    code_port = free_port()
    env_vars = {
        **postgres,
        "DAGSTER_PG_DB": _create_database(postgres),
        "PRECALC_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "DAGSTER_CODE_SERVER_HOST": "127.0.0.1",
        "DAGSTER_CODE_SERVER_PORT": str(code_port),
    }
    for name, value in env_vars.items():
        monkeypatch.setenv(name, value)
    env = {**os.environ, **env_vars}
    workspace_file = DEPLOY / "workspace.yaml"
    workspace = ["-w", str(workspace_file)]

    # The project, registered on Postgres through the CLI: 8 slices of real molecules.
    library = write_library(tmp_path / "nci.smi", nci_lines(SLICES * SLICE_SIZE))
    precalc = str(BIN / "precalc")
    size = str(SLICE_SIZE)
    _cli([precalc, "add-library", str(library), "--name", "nci", "--slice-size", size], env)
    _cli([precalc, "add-model", "eos3b5e"], env)
    partitions = [keys.partition_id("eos3b5e", f"nci-{i:04d}") for i in range(SLICES)]
    instance = dg.DagsterInstance.get()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    timings["postgres + project registered"] = time.monotonic() - began

    # The code server exactly as the image starts it, but on loopback and a free port.
    argv = with_option(dockerfile_cmd(), "--host", "127.0.0.1")
    argv = with_option(argv, "--port", str(code_port))
    assert argv[0] == "dagster"
    server_log, daemon_log = tmp_path / "code_server.log", tmp_path / "daemon.log"
    server = _start([str(BIN / argv[0]), *argv[1:]], env, server_log)
    daemon = None
    try:
        _wait_for_code_server(server, code_port, env, server_log)
        timings["code server up"] = time.monotonic() - began
        # The sensors would request the same partitions: this test is about the queue.
        _stop_sensors(instance, workspace_file)
        # One run per partition (a job backfill), all queued before the daemon starts.
        backfill = [str(BIN / "dagster"), "job", "backfill", *workspace]
        backfill += ["-j", keys.PRECALCULATE_JOB, "--partitions", ",".join(partitions)]
        out = _cli([*backfill, "--noprompt"], env)
        assert "Launched backfill job" in out, out
        queued = instance.get_run_records(
            dg.RunsFilter(job_name=keys.PRECALCULATE_JOB, statuses=[dg.DagsterRunStatus.QUEUED])
        )
        assert len(queued) == SLICES, [r.dagster_run.status for r in queued]
        backfill_id = queued[0].dagster_run.tags[BACKFILL_TAG]
        timings["backfill queued"] = time.monotonic() - began

        # The pool's limit comes from the instance file (default_limit); a writer that is
        # not a run holds its one slot until both running runs wait for it.
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(keys.SERVING_POOL)
        pool = storage.get_concurrency_info(keys.SERVING_POOL)
        assert (pool.slot_count, pool.using_default_limit) == (1, True), pool
        assert storage.claim_concurrency_slot(keys.SERVING_POOL, *HOLDER).is_claimed

        daemon = _start([str(BIN / "dagster-daemon"), "run", *workspace], env, daemon_log)
        records: list = []
        deadline = time.monotonic() + 300
        held = True
        while time.monotonic() < deadline:
            assert daemon.poll() is None, f"the daemon exited:\n{_tail(daemon_log)}"
            if held and len(storage.get_concurrency_info(keys.SERVING_POOL).pending_run_ids) == 2:
                storage.free_concurrency_slot_for_step(*HOLDER)
                held = False
                timings["both running runs waited for the pool"] = time.monotonic() - began
            records = instance.get_run_records(dg.RunsFilter(tags={BACKFILL_TAG: backfill_id}))
            if len(records) == SLICES and all(r.dagster_run.status in FINISHED for r in records):
                break
            time.sleep(1)
        timings["runs finished"] = time.monotonic() - began
        statuses = {r.dagster_run.run_id: r.dagster_run.status for r in records}
        assert not held, f"the runs never waited for the pool\n{_tail(daemon_log)}"
        assert all(s == dg.DagsterRunStatus.SUCCESS for s in statuses.values()), (
            f"{statuses}\n{_tail(daemon_log)}\n{_tail(server_log)}"
        )
        assert sorted(r.dagster_run.tags[keys.PARTITION_TAG] for r in records) == partitions

        # The queue ran 2 runs at a time, never more.
        runs = [(r.start_time, r.end_time) for r in records]
        assert all(start and end for start, end in runs), runs
        assert _max_overlap(runs) == 2, runs

        # The pool (limit 1 here) let one publish step write the serving table at a time;
        # the first two runs said they were blocked by it.
        publishes = [_publish_events(instance, r.dagster_run.run_id) for r in records]
        assert _max_overlap([(start, end) for start, end, _ in publishes]) == 1, publishes
        blocked = sum(1 for *_, count in publishes if count)
        assert blocked >= 2, publishes
        pool = storage.get_concurrency_info(keys.SERVING_POOL)
        assert pool.claimed_slots == [] and pool.pending_steps == [], pool

        # The ledger, read from Postgres by the CLI: every partition done and counted.
        ledger = json.loads(_cli([precalc, "ledger", "--format", "json"], env))
        model = {m["model"]: m for m in ledger["models"]}["eos3b5e"]
        assert model["complete"] and model["slices"] == SLICES, model
        assert sorted(model["done"]) == sorted(p.split("|")[1] for p in partitions), model
        assert model["rows_published"] + model["rows_rejected"] == SLICES * SLICE_SIZE, model
        assert model["rows_published"] > 0
        timings["ledger read"] = time.monotonic() - began
    finally:
        if daemon is not None:
            _stop(daemon)
        _stop(server)
        instance.dispose()
    span = max(end for _, end in runs) - min(start for start, _ in runs)
    with capsys.disabled():
        print(
            f"\n[deploy] {SLICES} single-partition runs in {span:.1f}s, at most "
            f"{_max_overlap(runs)} at once; {blocked} runs blocked by the pool, publish steps "
            f"at most 1 at once; rows published {model['rows_published']}, rejected "
            f"{model['rows_rejected']}; " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
        )
