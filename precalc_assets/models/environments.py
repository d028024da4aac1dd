"""One isolated Python environment per distinct set of pins, built once and kept.

A hub model must run with its own pins, never ours (our RDKit's `RDBASE` and data files
would change its results), so each `InstallPlan` gets a venv of its own under a root
directory, named by the plan's key: repositories with the same pins share one. Builds
take minutes, so they are done once, under a file lock (processes of several runs may
ask at once), and a complete environment is marked by a file written last: anything
without it is a killed build's leftover, removed and built again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from precalc_assets.models.isolation import (
    Finished,
    Timeout,
    installer_environ,
    read_end,
    run_program,
)
from precalc_assets.models.pip_installs import InstallPlan, PipInstall
from precalc_assets.models.shown_text import redact
from precalc_assets.models.spec import ModelError

# Written last, inside the environment: its presence means the environment is complete.
COMPLETE = "precalc-environment.json"
LOCKS = ".locks"
PIP_CACHE = ".pip-cache"
# Generous: a pip install may compile a package from source on a slow machine.
COMMAND_TIMEOUT_S = 3600.0
PROBE_TIMEOUT_S = 30.0
# How much of pip's own error a message quotes.
ERROR_LINES = 3
ERROR_LINE_CHARS = 400
# What pip's output says when it could not reach an index at all.
UNREACHABLE = (
    "Failed to establish a new connection",
    "Connection refused",
    "Name or service not known",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Max retries exceeded",
    "No route to host",
    "Connection timed out",
    "ProxyError",
)
NO_DISTRIBUTION = (
    "No matching distribution found",
    "Could not find a version that satisfies",
)
_PROBE = "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.executable)"


@dataclass(frozen=True)
class Environment:
    """A complete environment: a venv whose `bin/python` runs the model."""

    path: Path

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def find_interpreter(version: str) -> Path | None:
    """A Python X.Y of this machine: this process's own interpreter when it is X.Y,
    `pythonX.Y` on PATH, else pyenv's ($PYENV_ROOT or ~/.pyenv)/versions/X.Y.*/bin/pythonX.Y
    (newest patch). Candidates are asked for their version: a pyenv shim on PATH may
    name a Python it does not run."""
    match = re.match(r"^(\d+)\.(\d+)$", version)
    if not match:
        return None
    wanted = (int(match[1]), int(match[2]))
    if sys.version_info[:2] == wanted and sys.executable:
        return Path(sys.executable)
    candidates: list[str] = []
    on_path = shutil.which(f"python{version}")
    if on_path:
        candidates.append(on_path)
    pyenv = Path(os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")) / "versions"
    patches = []
    with contextlib.suppress(OSError):
        for entry in pyenv.iterdir():
            patch = re.match(rf"^{re.escape(version)}\.(\d+)$", entry.name)
            if patch:
                patches.append((int(patch[1]), entry / "bin" / f"python{version}"))
    candidates.extend(str(path) for _, path in sorted(patches, reverse=True))
    for candidate in candidates:
        found = _probe(candidate, version)
        if found is not None:
            return found
    return None


def _probe(candidate: str, version: str) -> Path | None:
    """The interpreter `candidate` really runs, when it runs and is `version`."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    try:
        done = subprocess.run(
            [candidate, "-E", "-s", "-c", _PROBE],
            env=environ,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.splitlines()
    if done.returncode != 0 or not lines or lines[0].strip() != version:
        return None
    executable = lines[1].strip() if len(lines) > 1 else ""
    return Path(executable) if executable and os.path.isfile(executable) else Path(candidate)


def environment_path(root: Path, plan: InstallPlan) -> Path:
    """Where the plan's environment lives: one directory per key."""
    return root / plan.key()


def ready_environment(root: Path, plan: InstallPlan) -> Environment | None:
    """The plan's environment when it is complete, else None (nothing is built)."""
    path = environment_path(root, plan)
    return Environment(path) if (path / COMPLETE).is_file() else None


def ensure_environment(
    root: Path, plan: InstallPlan, model_id: str, log: Callable[[str], None]
) -> Environment:
    """The plan's environment under `root`, built first if it is not complete."""
    root = root.absolute()  # the build's commands run in a scratch directory
    ready = ready_environment(root, plan)
    if ready is not None:  # complete environments never change: no lock needed
        return ready
    path = environment_path(root, plan)
    locks = root / LOCKS
    locks.mkdir(parents=True, exist_ok=True)
    with _exclusive(locks / f"{plan.key()}.lock", path, log):
        ready = ready_environment(root, plan)
        if ready is not None:
            log(f"model '{model_id}': using environment {path}, built meanwhile by another process")
            return ready
        if path.exists() or path.is_symlink():
            log(f"model '{model_id}': removing {path}, left incomplete by a build that was stopped")
            _remove(path)
        _build(root, path, plan, model_id, log)
    return Environment(path)


@contextlib.contextmanager
def _exclusive(lock_path: Path, path: Path, log: Callable[[str], None]) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` (one per open file, so threads exclude each
    other too); say once when another process holds it."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another process building {path}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _build(
    root: Path, path: Path, plan: InstallPlan, model_id: str, log: Callable[[str], None]
) -> None:
    """Make the venv, run the plan's pip installs in order, then write COMPLETE; on any
    failure (an interrupt too) remove what was made, so the next call starts afresh."""
    say = f"model '{model_id}'"
    interpreter = find_interpreter(plan.python)
    if interpreter is None:
        raise _no_interpreter(plan, model_id)
    count = len(plan.installs)
    log(
        f"{say}: building environment {plan.key()} (Python {plan.python}: {interpreter}; "
        f"{count} pip install{'' if count == 1 else 's'} from {plan.source}) in {path}"
    )
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(
            prefix="precalc-env-", ignore_cleanup_errors=True
        ) as scratch:
            builder = _Builder(root, path, Path(scratch), model_id)
            builder.venv(interpreter, plan.python)
            for number, install in enumerate(plan.installs, 1):
                shown = redact(" ".join([*install.requirements, *install.options]))
                log(f"{say}: [{number}/{count}] pip install {shown}")
                step = time.monotonic()
                builder.pip_install(install)
                log(f"{say}: [{number}/{count}] done in {time.monotonic() - step:.1f} s")
            record = {
                "key": plan.key(),
                "python": plan.python,
                "interpreter": str(interpreter),
                "installs": [
                    {
                        "requirements": [redact(r) for r in i.requirements],
                        "options": [redact(o) for o in i.options],
                        "where": i.where,
                    }
                    for i in plan.installs
                ],
                "source": plan.source,
                "warnings": list(plan.warnings),
                "model": model_id,
                "built_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "seconds": round(time.monotonic() - started, 1),
                "pip_freeze": builder.freeze(),
            }
        _write_atomically(path / COMPLETE, json.dumps(record, indent=2) + "\n")
    except BaseException:
        with contextlib.suppress(OSError):  # the failure itself is what to report
            _remove(path)
        raise
    log(f"{say}: environment {path} built in {time.monotonic() - started:.1f} s")


class _Builder:
    """The commands of one build, each run apart from us with pip's settings only."""

    def __init__(self, root: Path, path: Path, scratch: Path, model_id: str) -> None:
        self.path = path
        self.scratch = scratch
        self.model_id = model_id
        home, tmp, self.cwd = scratch / "home", scratch / "tmp", scratch / "cwd"
        for directory in (home, tmp, self.cwd):
            directory.mkdir()
        self.environ = installer_environ(home, tmp, [path / "bin"])
        if "PIP_CACHE_DIR" not in self.environ and "PIP_NO_CACHE_DIR" not in self.environ:
            self.environ["PIP_CACHE_DIR"] = str(root / PIP_CACHE)  # rebuilds reuse downloads
        self.runs = 0

    def run(self, argv: Sequence[str], what: str) -> Finished:
        self.runs += 1
        logs = self.scratch / f"logs-{self.runs}"
        logs.mkdir()
        try:
            return run_program(
                argv, cwd=self.cwd, environ=self.environ, logs=logs, timeout_s=COMMAND_TIMEOUT_S
            )
        except Timeout as exc:
            raise ModelError(
                redact(
                    f"model '{self.model_id}': {what} ran longer than {COMMAND_TIMEOUT_S:.0f} s "
                    f"and was stopped ({exc.finished.said()}); check the network and the "
                    "package index, then try again"
                )
            ) from None
        except OSError as exc:
            raise ModelError(
                f"model '{self.model_id}': {what} could not be started ({argv[0]}: "
                f"{exc.strerror or exc})"
            ) from None

    def venv(self, interpreter: Path, python: str) -> None:
        finished = self.run([str(interpreter), "-m", "venv", str(self.path)], "making the venv")
        if finished.status != 0:
            said = finished.said()
            hint = (
                f" (Debian and Ubuntu ship venv apart: apt-get install python{python}-venv)"
                if "ensurepip" in said
                else ""
            )
            raise ModelError(
                f"model '{self.model_id}': could not make a Python {python} venv at {self.path} "
                f"with {interpreter} -m venv ({finished.how()}): {said}{hint}"
            )

    def pip_install(self, install: PipInstall) -> None:
        argv = [
            str(self.path / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            *install.options,
            *install.requirements,
        ]
        finished = self.run(argv, f"pip install for {install.where}")
        if finished.status != 0:
            raise ModelError(redact(_pip_failure(self.model_id, install, finished)))

    def freeze(self) -> list[str]:
        argv = [str(self.path / "bin" / "python"), "-m", "pip", "freeze"]
        finished = self.run([*argv, "--disable-pip-version-check"], "pip freeze")
        if finished.status != 0:
            raise ModelError(
                redact(
                    f"model '{self.model_id}': pip freeze failed in the new environment "
                    f"{self.path} ({finished.how()}): {finished.said()}"
                )
            )
        return [line for line in read_end(finished.stdout).splitlines() if line.strip()]


def _pip_failure(model_id: str, install: PipInstall, finished: Finished) -> str:
    """What a failed pip install says: the entry, pip's own error, and what to do."""
    stderr, stdout = read_end(finished.stderr), read_end(finished.stdout)
    errors = [line.strip() for line in stderr.splitlines() if line.startswith("ERROR:")]
    said = " | ".join(_clip(e) for e in errors[-ERROR_LINES:]) if errors else finished.said()
    output = stderr + "\n" + stdout
    head = f"model '{model_id}': pip install failed for {install.where} ({finished.how()}): {said}"
    if any(sign in output for sign in UNREACHABLE):
        return (
            f"{head}. The package index could not be reached: check the network, the proxy "
            "(HTTPS_PROXY) and the index pip uses (PIP_INDEX_URL, or the entry's --index-url)"
        )
    if any(sign in output for sign in NO_DISTRIBUTION):
        return (
            f"{head}. Check that the package and version exist on the package index "
            "(a typo, a version never released, or one without a build for "
            "this Python or platform)"
        )
    return (
        f"{head}. Fix the entry, or build the environment by hand and give the model "
        '"python": "/path/to/env/bin/python" in the deployment\'s models file'
    )


def _clip(line: str) -> str:
    return line if len(line) <= ERROR_LINE_CHARS else line[: ERROR_LINE_CHARS - 3] + "..."


def _no_interpreter(plan: InstallPlan, model_id: str) -> ModelError:
    version = plan.python
    pyenv = os.environ.get("PYENV_ROOT") or "~/.pyenv"
    return ModelError(
        f"model '{model_id}': {plan.source} asks for python: \"{version}\", and this machine "
        f"has no Python {version} (looked for this process's own, python{version} on PATH and "
        f"{pyenv}/versions/{version}.*). Install it (pyenv install {version}, apt-get install "
        f"python{version} python{version}-venv, or uv python install {version}), or set "
        '"python_version" in the deployment\'s models file to a Python this machine has, or '
        'give the model "python": "/path/to/env/bin/python" of an environment built by hand'
    )


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
