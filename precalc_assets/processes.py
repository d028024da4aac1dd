"""Which process holds what, on one machine: a process's identity (host, pid and start
time, so a reused pid is not mistaken for the original), whether it is still alive, the
partitions concurrent `precalc run`s claim before computing them, locks shared by every
process of the machine, worker processes that die with their parent, and the allocator
that gives a step's freed memory back.

Claims live in one JSON file changed under an exclusive `flock`; the kernel drops the
lock when its holder dies, and a claim whose owner is gone is ignored, so a killed
process blocks nothing.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa

HOST_TAG = "precalc/host"
PID_TAG = "precalc/pid"
PROCESS_START_TAG = "precalc/process_start"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), else ""."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]  # field 22 of stat(5), after the command


@dataclass(frozen=True)
class ProcessId:
    host: str
    pid: int
    start: str = ""

    @classmethod
    def current(cls) -> ProcessId:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, _process_start(pid))

    def tags(self) -> dict[str, str]:
        return {HOST_TAG: self.host, PID_TAG: str(self.pid), PROCESS_START_TAG: self.start}

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> ProcessId | None:
        if HOST_TAG not in tags or not tags.get(PID_TAG, "").isdigit():
            return None
        return cls(tags[HOST_TAG], int(tags[PID_TAG]), tags.get(PROCESS_START_TAG, ""))

    def is_gone(self) -> bool:
        """True only when this machine can tell the process is gone (same host)."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, owned by someone else
        return bool(self.start) and _process_start(self.pid) != self.start

    def __str__(self) -> str:
        return f"process {self.pid} on {self.host}"


class Claims:
    """Partition -> the process computing it, shared by the processes of one machine."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_suffix(".lock")

    @contextmanager
    def locked(self) -> Iterator[dict[str, ProcessId]]:
        """The live claims, under the lock; changes to the dict are saved on exit."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                claims = {
                    partition: owner
                    for partition, owner in self._read().items()
                    if not owner.is_gone()
                }
                yield claims
                self._write(claims)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, ProcessId]:
        try:
            data = json.loads(self.path.read_text())
            return {p: ProcessId(**raw) for p, raw in data.items()}
        except (OSError, ValueError, TypeError, AttributeError):
            return {}  # none yet, or unreadable: claims only save duplicate work

    def _write(self, claims: dict[str, ProcessId]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({p: asdict(o) for p, o in sorted(claims.items())}))
        os.replace(tmp, self.path)


@contextmanager
def machine_lock(name: str) -> Iterator[None]:
    """An exclusive lock named `name`, shared by every process of this machine (whatever
    its Dagster home): a `flock` on a file in the temporary directory, dropped by the
    kernel when its holder dies, so a killed process blocks nothing."""
    directory = Path(tempfile.gettempdir()) / "precalc-locks"
    if not directory.is_dir():
        directory.mkdir(exist_ok=True)
        with suppress(OSError):  # another user's processes lock there too
            directory.chmod(0o1777)
    path = directory / f"{hashlib.sha256(name.encode()).hexdigest()[:32]}.lock"
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # the lock goes with it


def die_with_parent(parent_pid: int) -> None:
    """End this (worker) process as soon as `parent_pid`, its parent, is gone.

    A worker left behind by a `precalc run` killed with -9 would finish its runs, then
    wait forever for the next batch. On Linux the kernel sends it SIGKILL when the parent
    dies (`PR_SET_PDEATHSIG`; it is tied to the parent's thread that started the worker,
    so workers are started from the main thread); elsewhere a thread watches the parent.
    """
    if not (sys.platform.startswith("linux") and _set_parent_death_signal(signal.SIGKILL)):
        threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the signal was set up
        os._exit(1)


def _set_parent_death_signal(signum: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _exit_when_orphaned(parent_pid: int, interval_s: float = 1.0) -> None:
    while os.getppid() == parent_pid:
        time.sleep(interval_s)
    os._exit(1)


def release_freed_memory() -> None:
    """Arrow's buffers from the C library's allocator, which hands a freed large block back
    to the system at once. Arrow's default (mimalloc) keeps it for reuse, so a worker
    stays at its largest step's size for the rest of its runs: three built-ins over 20,000
    rows in one process peaked at 1,262 MB with mimalloc, 839 MB with this (benchmarks/
    README.md). A pool chosen with ARROW_DEFAULT_MEMORY_POOL is left as it is."""
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        pa.set_memory_pool(pa.system_memory_pool())
