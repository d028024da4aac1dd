"""Run what is missing, without a daemon: N workers, one Dagster start-up each.

Dagster's run start-up costs seconds in a fresh process; here each worker loads the
code location once and executes run after run, and each run covers a rectangle of up
to N model x slice partitions, so a slice is parsed once for all the models of the
run. This process is one of the workers (its runs go in a thread while the main thread
hands out batches), and the N - 1 worker processes are started before `precalc run`
plans (`WorkerPool`), so they load the code location while it reads the ledger. Every
run is a Dagster run of the instance: the UI shows it with its logs.

Concurrent `precalc run`s share the work instead of repeating it: before a run starts,
its partitions are claimed (`processes.Claims`, under `$DAGSTER_HOME/precalc/`), and a
partition that another live process claims, that an unfinished run holds, or that was
published since this process planned, is left out. Runs record their process in their
tags, so a run whose process was killed is found and marked failed
(`active_runs.fail_dead_runs`) and its partitions are redone.

A worker executes `runs_per_worker` runs, then a fresh process takes its place for the
batches still queued, so a worker's memory does not grow with the library (this
process, too, stops taking batches then).

A worker process lost mid-batch (killed, out of memory) costs only its own batch: its
partitions are reported failed in one line and redone by the next `precalc run`, while
the other workers go on (a fresh worker takes its place for the batches still queued).
Workers die with their parent (`processes.die_with_parent`), so a `precalc run` killed
with -9 leaves none behind.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext
from pathlib import Path

import dagster as dg

from precalc_assets import keys
from precalc_assets.batches import Batch, plan_batches, run_size
from precalc_assets.orchestration.partitions import partition_key
from precalc_assets.orchestration.run_failures import first_error_line
from precalc_assets.orchestration.run_processes import fail_dead_runs, runs_in_flight
from precalc_assets.orchestration.ui_links import run_url
from precalc_assets.processes import Claims, ProcessId, die_with_parent
from precalc_assets.settings import Settings

QUIET = {"loggers": {"precalc_console": {"config": {"log_level": "WARNING"}}}}
PUBLISHED = dg.AssetKey(keys.PUBLISHED_PREDICTIONS)


def _quiet(progress_dir: str) -> dict:
    """The run config of `precalc run`'s runs: its console, telling its lines to the
    progress directory when there is one (they print above the progress bar)."""
    if not progress_dir:
        return QUIET
    config = {"log_level": "WARNING", "progress_dir": progress_dir}
    return {"loggers": {"precalc_console": {"config": config}}}


@dataclass
class RunSummary:
    runs: int = 0
    partitions_done: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    left_to_others: dict[str, str] = field(default_factory=dict)  # partition -> who has it
    lines: list[str] = field(default_factory=list)  # what a worker process would have said

    def add(self, other: RunSummary) -> None:
        self.runs += other.runs
        self.partitions_done += other.partitions_done
        self.failures |= other.failures
        self.left_to_others |= other.left_to_others


@dataclass(frozen=True)
class Work:
    """What every run of one `run_missing` shares: the job, the partition orders, the
    partitions' publication ids when it was planned, and the UI its lines link to."""

    job_name: str
    models: list[str]
    slices: list[str]
    published_at_plan: dict[str, int]
    ui_url: str
    progress_dir: str = ""  # where its runs tell their progress (`orchestration.progress`)


def claims_for(instance: dg.DagsterInstance) -> Claims:
    return Claims(Path(instance.root_directory) / "precalc" / "claims.json")


def run_missing(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    plan: dict[str, list[str]],
    echo: Callable[[str], None] = print,
    max_partitions_per_run: int = keys.PARTITIONS_PER_RUN,
    job_name: str = keys.PRECALCULATE_JOB,
    on_batch: Callable[[Batch, RunSummary], None] | None = None,
    pool: WorkerPool | None = None,
    progress_dir: str = "",
) -> RunSummary:
    """Run the planned partitions packed into model-range x slice-range runs of
    `job_name`, this process and the processes of `pool` a run each at a time; a run
    that fails is retried one partition per run, so one bad partition never holds back
    the others and each failure is reported with its own cause. `on_batch` hears of
    each batch as it ends; with a `progress_dir`, each run tells it its progress as it
    goes (`orchestration.progress`)."""
    summary = RunSummary()
    models = instance.get_dynamic_partitions(keys.MODEL)
    slices = instance.get_dynamic_partitions(keys.SLICE)
    planned = [keys.partition_id(m, s) for s, ms in plan.items() for m in ms]
    ui_url = Settings.from_env().ui_url
    work = Work(job_name, models, slices, _published_ids(instance, planned), ui_url, progress_dir)
    workers = 1 + (pool.processes if pool is not None else 0)
    batches = batches_for(plan, models, slices, workers, max_partitions_per_run)

    def done(batch: Batch, part: RunSummary) -> None:
        summary.add(part)
        for line in part.lines:
            echo(line)
        if on_batch is not None:
            on_batch(batch, part)

    if pool is None or workers <= 1 or len(batches) <= 1:
        job = defs.resolve_job_def(job_name)
        for batch in batches:
            done(batch, claim_and_run(job, instance, work, batch))
        return summary
    _run_in_workers(instance, work, batches, pool.with_this_process(defs, instance), done)
    return summary


def batches_for(
    plan: dict[str, list[str]],
    models: list[str],
    slices: list[str],
    workers: int,
    max_per_run: int,
) -> list[Batch]:
    """The runs `run_missing` launches for `plan` (slice -> models) on `workers`, in
    the order of the registered `models` and `slices`."""
    planned = sum(len(chosen) for chosen in plan.values())
    return plan_batches(plan, models, slices, run_size(planned, workers, max_per_run))


def _run_in_workers(
    instance: dg.DagsterInstance,
    work: Work,
    batches: list[Batch],
    pool: WorkerPool,
    done: Callable[[Batch, RunSummary], None],
) -> None:
    """Each batch on the next idle worker; a worker lost mid-batch costs that batch only.

    Not a `ProcessPoolExecutor`: one dead worker breaks its whole pool (every pending
    batch raises `BrokenProcessPool`, the other workers are stopped)."""
    queue = deque(batches)
    idle = pool.take(len(batches))
    busy: dict[_Worker | _ThisProcess, Batch] = {}
    try:
        while queue or busy:
            while idle and queue:
                worker, batch = idle.pop(), queue.popleft()
                worker.give(work, batch)
                busy[worker] = batch
            ready = set(wait([h for w in busy for h in w.handles()]))
            for worker in [w for w in busy if ready.intersection(w.handles())]:
                batch = busy.pop(worker)
                part = worker.result()
                if part is not None:
                    done(batch, part)
                    if worker.batches < pool.runs_per_worker or not queue:
                        idle.append(worker)
                    else:  # retired: a fresh process for the batches still queued
                        worker.stop()
                        idle.append(pool.worker())
                    continue
                done(batch, _lost_batch(instance, work, batch, worker.lost()))
                if queue:  # the batches still queued get a fresh worker
                    idle.append(pool.worker())
    finally:
        for worker in busy:
            worker.stop()
        pool.put_back(idle)


class WorkerPool:
    """The worker processes of one `precalc run`: started first, so that each loads the
    code location while the run plans, used by each of its `run_missing` calls, and
    stopped with it. A fresh interpreter each (spawn: forking a process that holds
    Dagster's threads and database connections is not safe), loading the code location
    with `load_definitions` (a module-level function, such as
    `definitions.build_definitions`: it reaches the spawned process by name)."""

    def __init__(
        self,
        load_definitions: Callable[[], dg.Definitions],
        processes: int,
        runs_per_worker: int = keys.RUNS_PER_WORKER,
    ) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.load_definitions = load_definitions
        self.processes = processes
        self.runs_per_worker = runs_per_worker
        self.idle: list[_Worker | _ThisProcess] = [self.worker() for _ in range(processes)]
        self.here: _ThisProcess | None = None

    def worker(self) -> _Worker:
        return _Worker(self.context, self.load_definitions)

    def with_this_process(self, defs: dg.Definitions, instance: dg.DagsterInstance) -> WorkerPool:
        """This process joins the idle workers, first in line (it has the code location
        loaded), unless it has retired."""
        if self.here is None:
            self.here = _ThisProcess(defs, instance)
            self.idle.append(self.here)
        return self

    def take(self, wanted: int) -> list[_Worker | _ThisProcess]:
        """Up to `wanted` idle workers, this process last (the first handed a batch)."""
        taken = self.idle[-wanted:]
        del self.idle[-wanted:]
        return taken

    def put_back(self, idle: list[_Worker | _ThisProcess]) -> None:
        self.idle = idle + self.idle

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *_: object) -> None:
        for worker in self.idle:
            worker.stop()
        self.idle = []


class _Worker:
    """A spawned worker process and the pipe it takes batches from, one at a time."""

    def __init__(self, context: SpawnContext, load: Callable[[], dg.Definitions]) -> None:
        self.conn, theirs = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(theirs, os.getpid(), load), name="precalc-worker"
        )
        self.process.start()  # from the main thread: the parent-death signal is tied to it
        theirs.close()
        self.batches = 0  # given so far

    def handles(self) -> list[object]:
        """What `wait` watches: its answer, or its end."""
        return [self.conn, self.process.sentinel]

    def give(self, work: Work, batch: Batch) -> None:
        """Send a batch, with the publication ids of its own partitions only."""
        self.batches += 1
        with suppress(OSError):  # it died: its sentinel says so, the batch is reported lost
            self.conn.send(_own_ids(work, batch))

    def result(self) -> RunSummary | None:
        """The batch's summary, or None when the worker died before sending it."""
        try:
            return self.conn.recv() if self.conn.poll() else None
        except (EOFError, OSError):
            return None

    def lost(self) -> str:
        """How the worker ended, e.g. `worker process 123 killed by SIGKILL`."""
        self.process.join(timeout=5)
        self.conn.close()
        code = self.process.exitcode
        if code is None:
            how = "stopped answering"
        elif code < 0:
            how = f"killed by {signal.Signals(-code).name}"
        else:
            how = f"ended with exit code {code}"
        return f"worker process {self.process.pid} {how}"

    def stop(self) -> None:
        if not self.conn.closed:
            with suppress(OSError):  # it is gone already
                self.conn.send(None)
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class _ThisProcess:
    """This process as one of the workers. Its batch runs in a thread, so the main thread
    goes on handing out batches; the summary comes back through a pipe, as a worker
    process's does. A daemon thread: Ctrl-C ends the process, and the run it leaves
    unfinished is marked failed by the next `precalc run`, as a killed worker's is."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
        self.defs, self.instance = defs, instance
        self.conn, self._theirs = multiprocessing.Pipe()
        self.batches = 0

    def handles(self) -> list[object]:
        return [self.conn]

    def give(self, work: Work, batch: Batch) -> None:
        self.batches += 1
        run = threading.Thread(target=self._run, args=_own_ids(work, batch), daemon=True)
        run.start()

    def _run(self, work: Work, batch: Batch) -> None:
        self._theirs.send(_run_or_say(self.defs, self.instance, work, batch))

    def result(self) -> RunSummary:
        return self.conn.recv()

    def lost(self) -> str:  # never: its thread always sends a summary
        raise AssertionError("this process's own batch cannot be lost")

    def stop(self) -> None:
        """Retired: it takes no more batches (its thread has ended)."""


def _own_ids(work: Work, batch: Batch) -> tuple[Work, Batch]:
    """The work with the publication ids of the batch's own partitions only."""
    plan = work.published_at_plan
    ids = {k: plan[k] for k in batch.partition_keys() if k in plan}
    return replace(work, published_at_plan=ids), batch


def _lost_batch(instance: dg.DagsterInstance, work: Work, batch: Batch, how: str) -> RunSummary:
    """A batch whose worker died: its run is marked failed now, and its partitions not
    published meanwhile are failures, said in one line and left to the next
    `precalc run`."""
    summary = RunSummary()
    fail_dead_runs(instance)
    busy = runs_in_flight(instance, work.models, work.slices, work.job_name)
    partitions = batch.partition_keys()
    published = _published_ids(instance, partitions)
    for key in partitions:
        if key in busy:
            summary.left_to_others[key] = f"held by run {busy[key].run_id}"
        elif work.job_name == keys.CHECK_PARTITIONS_JOB or published.get(
            key, 0
        ) <= work.published_at_plan.get(key, 0):
            summary.failures[key] = f"its {how}"
    if summary.failures:
        summary.lines.append(
            f"  {how}: {', '.join(summary.failures)} not {_verb_of(work.job_name)}; "
            "the next `precalc run` redoes them"
        )
    return summary


def _worker_main(
    conn: Connection, parent_pid: int, load_definitions: Callable[[], dg.Definitions]
) -> None:
    """A worker: loads the code location and the instance once, then runs the batches it
    is sent until it is sent None or its parent is gone."""
    die_with_parent(parent_pid)
    broken = ""
    defs, instance = None, None
    try:
        defs, instance = load_definitions(), dg.DagsterInstance.get()
    except Exception as exc:  # every batch then fails with this one line
        broken = f"the worker process could not start: {type(exc).__name__}: {exc}"
    try:
        while (message := conn.recv()) is not None:
            conn.send(_run_or_say(defs, instance, *message, broken=broken))
    except (EOFError, OSError, KeyboardInterrupt):
        return  # the parent is gone, or Ctrl-C reached the whole process group


def _run_or_say(
    defs: dg.Definitions | None,
    instance: dg.DagsterInstance | None,
    work: Work,
    batch: Batch,
    broken: str = "",
) -> RunSummary:
    """The batch's summary; an error becomes its partitions' failure, never a traceback."""
    try:
        if broken or defs is None or instance is None:
            raise RuntimeError(broken)
        return claim_and_run(defs.resolve_job_def(work.job_name), instance, work, batch)
    except Exception as exc:
        failed = batch.partition_keys()
        return RunSummary(
            failures=dict.fromkeys(failed, str(exc)),
            lines=[f"  {', '.join(failed)}: FAILED: {exc}"],
        )


def claim_and_run(
    job: dg.JobDefinition, instance: dg.DagsterInstance, work: Work, batch: Batch
) -> RunSummary:
    """Claim the batch's partitions that nobody else has, run them, release them."""
    summary = RunSummary()
    me = ProcessId.current()
    claims = claims_for(instance)
    with claims.locked() as held:
        fail_dead_runs(instance)
        busy = runs_in_flight(instance, work.models, work.slices, work.job_name)
        published = _published_ids(instance, batch.partition_keys())
        mine = []
        for key in batch.partition_keys():
            if key in held:
                summary.left_to_others[key] = f"claimed by {held[key]}"
            elif key in busy:
                summary.left_to_others[key] = f"held by run {busy[key].run_id}"
            elif published.get(key, 0) > work.published_at_plan.get(key, 0):
                summary.left_to_others[key] = "published by another run meanwhile"
            else:
                held[key] = me
                mine.append(key)
    try:
        _run_batch(job, instance, batch, mine, _run_settings(work, me), summary)
    finally:
        with claims.locked() as held:
            for key in mine:
                if held.get(key) == me:
                    del held[key]
    return summary


@dataclass(frozen=True)
class RunSettings:
    """What each run of a batch is given: its tags (this process's, and where it tells
    its progress), its run config, and the UI its lines link to."""

    tags: dict[str, str]
    run_config: dict
    ui_url: str


def _run_settings(work: Work, me: ProcessId) -> RunSettings:
    progress = {keys.PROGRESS_TAG: work.progress_dir} if work.progress_dir else {}
    return RunSettings({**me.tags(), **progress}, _quiet(work.progress_dir), work.ui_url)


def _run_batch(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    batch: Batch,
    mine: list[str],
    settings: RunSettings,
    summary: RunSummary,
) -> None:
    """The whole rectangle in one run when this process holds all of it, else (and after
    a failed ranged run) one partition per run. Each line ends with the run's UI link."""
    echo = summary.lines.append
    if mine and len(mine) == batch.size > 1:
        start, end = batch.range
        result = job.execute_in_process(
            instance=instance,
            tags={**keys.run_tags(start, end), **settings.tags},
            raise_on_error=False,
            run_config=settings.run_config,
        )
        summary.runs += 1
        link = run_url(settings.ui_url, result.run_id)
        if result.success:
            summary.partitions_done += mine
            echo(f"  {start} .. {end}: {_verb(job)} {batch.size} partition(s)  {link}")
            return
        echo(f"  {start} .. {end}: run {result.run_id} failed; one partition per run now  {link}")
    for key in mine:
        _run_one(job, instance, key, settings, summary)


def _run_one(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    key: str,
    settings: RunSettings,
    summary: RunSummary,
) -> None:
    echo = summary.lines.append
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config=settings.run_config,
        **_one_partition(job, key, settings.tags),
    )
    summary.runs += 1
    link = run_url(settings.ui_url, result.run_id)
    if result.success:
        summary.partitions_done.append(key)
        echo(f"  {key}: {_verb(job)}  {link}")
    else:
        summary.failures[key] = _first_error(result)
        echo(f"  {key}: FAILED: {summary.failures[key]} (whole trace: {link})")


def _one_partition(job: dg.JobDefinition, key: str, tags: dict[str, str]) -> dict:
    """How a run of `job` is given one partition (with this process in its `tags`).

    Dagster infers a job's partitions definition from the assets it selects. The
    `check_partitions` job selects checks only, so it has none, and
    `execute_in_process(partition_key=...)` refuses any key ("There is no
    PartitionsDefinition shared by all the provided assets"). Such a job gets its
    partition as a run tag, as `dagster job execute --tags` gives it; its checks read
    the key from there, as they read a ranged run's range tags."""
    tags = {**keys.run_tags(key), **tags}
    if job.partitions_def is None:
        return {"tags": {**tags, keys.PARTITION_TAG: key}}
    return {"partition_key": partition_key(*keys.split_partition_id(key)), "tags": tags}


def materialize_ledger(defs: dg.Definitions, instance: dg.DagsterInstance) -> bool:
    """Materialise `precalc_ledger`, so the UI's ledger page shows what was just done."""
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey(keys.LEDGER)],
        raise_on_error=False,
        run_config=QUIET,
    )
    return result.success


def _verb(job: dg.JobDefinition) -> str:
    return _verb_of(job.name)


def _verb_of(job_name: str) -> str:
    return "checked" if job_name == keys.CHECK_PARTITIONS_JOB else "published"


def _published_ids(instance: dg.DagsterInstance, partitions: list[str]) -> dict[str, int]:
    """Partition -> storage id of its latest `published_predictions` materialisation."""
    ids: dict[str, int] = {}
    step = keys.PARTITIONS_PER_QUERY
    for start in range(0, len(partitions), step):
        ids |= instance.event_log_storage.get_latest_storage_id_by_partition(
            PUBLISHED,
            dg.DagsterEventType.ASSET_MATERIALIZATION,
            partitions=set(partitions[start : start + step]),
        )
    return ids


def _first_error(result: dg.ExecuteInProcessResult) -> str:
    return first_error_line(result.all_events) or "run failed"
