"""Someone else's program, run apart from ours: a clean process environment, a fresh
HOME and TMPDIR, its own process group ended with it, its output kept in files.

A model process gets only what it needs: its environment's `bin` first on `PATH`, the
locale, and the variables the deployment's models file names for it. Never ours:
importing RDKit sets `RDBASE` in our process, and a model's older RDKit would then read
our newer data files; `AWS_*`, `PRECALC_*` and `DAGSTER_*` would hand it the
deployment's credentials and settings.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# Where a model finds the machine's own programs (Debian's default PATH).
SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
LOCALE_NAMES = (
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_NUMERIC",
    "LC_COLLATE",
    "LC_MESSAGES",
    "TZ",
)
DEFAULT_LANG = "C.UTF-8"
# What no model may be given, even when the deployment names it.
FORBIDDEN_PREFIXES = ("AWS_", "PRECALC_", "DAGSTER_")
FORBIDDEN_NAMES = ("RDBASE", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "LD_PRELOAD")
# What a package installer needs of ours to reach its index: its own settings, proxies
# and certificates (pip runs packages' build code too, so nothing else).
INSTALLER_PREFIXES = ("PIP_",)
INSTALLER_NAMES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
)
# A user's pip configuration, read by pip from the real HOME, which the build does not get.
USER_PIP_CONFIGS = (".config/pip/pip.conf", ".pip/pip.conf")
# How much of a program's output a message quotes.
TAIL_LINES = 15
TAIL_CHARS = 1_500
TAIL_READ_BYTES = 64 * 1024
ERROR_LINE_CHARS = 300
# Set, to a new random value, in every run's environment: its descendants inherit it, so
# those that leave its process group are still found (and killed) when it ends.
BATCH_MARKER = "HUB_MODEL_BATCH"
SWEEPS = 5
# The line that starts a Python exception's message: `ValueError: ...`, `rdkit.X.Error: ...`.
EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Failure)\b.*:")


def forbidden_variable(name: str) -> bool:
    """Whether `name` is a variable no model may be given (ours, or a credential of ours)."""
    return name.upper().startswith(FORBIDDEN_PREFIXES) or name.upper() in FORBIDDEN_NAMES


def model_environ(
    home: Path,
    tmp: Path,
    bin_dirs: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
    pass_env: Sequence[str] = (),
    ours: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The whole process environment of a model: `bin_dirs` then the system's on PATH, a
    fresh `home` and `tmp`, our locale, `env` (values the deployment gives) and
    `pass_env` (names of ours the deployment passes on). A forbidden name is dropped
    here too, whatever asked for it: the runners refuse it earlier, naming the model."""
    ours = os.environ if ours is None else ours
    environ = {name: ours[name] for name in LOCALE_NAMES if ours.get(name)}
    environ.setdefault("LANG", DEFAULT_LANG)
    environ.update({name: ours[name] for name in pass_env if name in ours})
    environ.update(env or {})
    system = environ.pop("PATH", "") or os.pathsep.join(SYSTEM_PATH)
    environ["PATH"] = os.pathsep.join([*(str(d) for d in bin_dirs), system])
    environ["HOME"], environ["TMPDIR"] = str(home), str(tmp)
    return {name: value for name, value in environ.items() if not forbidden_variable(name)}


def installer_environ(
    home: Path, tmp: Path, bin_dirs: Sequence[Path] = (), ours: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A model's environment plus what pip needs to reach its index: `PIP_*` settings,
    proxies, certificates, and the user's pip configuration file by its path."""
    ours = os.environ if ours is None else ours
    passed = [n for n in ours if n.startswith(INSTALLER_PREFIXES) or n in INSTALLER_NAMES]
    environ = model_environ(home, tmp, bin_dirs, pass_env=passed, ours=ours)
    if "PIP_CONFIG_FILE" not in environ and ours.get("HOME"):
        for relative in USER_PIP_CONFIGS:
            user = Path(ours["HOME"]) / relative
            if user.is_file():
                environ["PIP_CONFIG_FILE"] = str(user)
                break
    return environ


def _tail(text: str) -> str:
    lines = text.strip().splitlines()[-TAIL_LINES:]
    tail = "\n".join(lines)
    return tail if len(tail) <= TAIL_CHARS else "..." + tail[-TAIL_CHARS:]


def read_end(path: Path) -> str:
    """The end of a (possibly huge) log file, as text; "" when it cannot be read."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - TAIL_READ_BYTES))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def error_line(text: str) -> str:
    """A program's own error in its output: from its last exception line (Python's
    `ValueError: ...`, and what follows it, as a Boost.Python error spans lines) to the
    end, on one line; else its last non-blank line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    start = next((i for i in reversed(range(len(lines))) if EXCEPTION.match(lines[i])), -1)
    line = " ".join(lines[start:]) if lines else ""
    return line if len(line) <= ERROR_LINE_CHARS else line[: ERROR_LINE_CHARS - 3] + "..."


@dataclass(frozen=True)
class Finished:
    """How a program ended: its exit status (negative: the signal that ended it) and the
    files holding what it wrote to stdout and stderr."""

    status: int
    stdout: Path
    stderr: Path

    def how(self) -> str:
        return f"status {self.status}" if self.status >= 0 else f"signal {-self.status}"

    def said(self) -> str:
        """What it said, for messages: the tail of its stderr, else of its stdout."""
        stderr = _tail(read_end(self.stderr))
        if stderr:
            return f"stderr tail: {stderr}"
        stdout = _tail(read_end(self.stdout))
        return f"stderr empty; stdout tail: {stdout}" if stdout else "stderr and stdout empty"

    def error_line(self) -> str:
        """Its own error (`error_line`) from its stderr, else its stdout, else its status."""
        return (
            error_line(read_end(self.stderr))
            or error_line(read_end(self.stdout))
            or f"exited with {self.how()}, saying nothing"
        )


class Timeout(Exception):
    """The program ran longer than it was given; its whole process group was killed."""

    def __init__(self, finished: Finished):
        super().__init__(finished.said())
        self.finished = finished


def _marked(marker: bytes) -> list[int]:
    """The processes (Linux: read from /proc) whose environment holds `marker`."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if marker in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _sweep(marker: bytes) -> None:
    """Kill what is left of a run that left its process group (`setsid`, a daemon's
    double fork): every process still carrying the run's marker variable."""
    for _ in range(SWEEPS):  # a process may start another while it is being killed
        pids = [pid for pid in _marked(marker) if pid != os.getpid()]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def run_program(
    argv: Sequence[str],
    *,
    cwd: Path,
    environ: Mapping[str, str],
    logs: Path,
    timeout_s: float,
) -> Finished:
    """Run `argv` in its own session with `environ` as its whole environment (plus its
    marker), stdout and stderr to files under `logs` (a descendant holding them open
    cannot block us), and kill its whole process tree when it ends, times out or we are
    interrupted: its process group, then every process carrying its marker.

    Raises `OSError` when the program cannot be started, `Timeout` after `timeout_s`."""
    stdout_path, stderr_path = logs / "stdout.txt", logs / "stderr.txt"
    marker = uuid.uuid4().hex
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**environ, BATCH_MARKER: marker},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            status = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise Timeout(Finished(-signal.SIGKILL, stdout_path, stderr_path)) from None
        finally:
            # Whatever happened (a timeout, an interrupt, descendants still running
            # after the program exited), leave no process of it behind: its process
            # group, then any descendant that started a session of its own.
            _kill_group(process)
            _sweep(f"{BATCH_MARKER}={marker}".encode())
    return Finished(status, stdout_path, stderr_path)


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
