"""Building a model's own environment with real venvs and real pip (small packages from
the machine's package index: `six`), and how builds fail, stop and share."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from precalc_assets.models.environments import (
    COMPLETE,
    Environment,
    ensure_environment,
    environment_path,
    find_interpreter,
    ready_environment,
)
from precalc_assets.models.install_plan import read_install_plan
from precalc_assets.models.pip_installs import InstallPlan, PipInstall
from precalc_assets.models.spec import ModelError

MODEL = "eos3b5e"
PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
SIX = PipInstall(("six==1.16.0",), (), 'install.yml entry 1 ["pip", "six", "1.16.0"]')
SIX_PLAN = InstallPlan(PYTHON, (SIX,), "/repos/eos3b5e/install.yml")


def plan_of(*installs: PipInstall, python: str = PYTHON) -> InstallPlan:
    return InstallPlan(python, installs, "/repos/eos3b5e/install.yml")


def run_in(env: Environment, code: str) -> subprocess.CompletedProcess[str]:
    """`code` run by the environment's python, with nothing of ours in its environment
    (nor our checkout as its working directory)."""
    return subprocess.run(
        [str(env.python), "-c", code],
        cwd=env.path,
        env={"PATH": f"{env.bin}:/usr/bin:/bin", "HOME": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An environments root of its own (the test's tmp_path holds the project's home)."""
    return tmp_path / "envs"


def left_under(root: Path) -> list[str]:
    """What a root holds besides the lock files and pip's download cache."""
    return sorted(p.name for p in root.iterdir() if p.name not in (".locks", ".pip-cache"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Environment, list[str], float]:
    """One real build shared by the tests that only look at it."""
    root = tmp_path_factory.mktemp("environments")
    lines: list[str] = []
    started = time.monotonic()
    env = ensure_environment(root, SIX_PLAN, MODEL, lines.append)
    return root, env, lines, time.monotonic() - started


def test_find_interpreter() -> None:
    assert find_interpreter(PYTHON) == Path(sys.executable)
    assert find_interpreter("2.9") is None
    assert find_interpreter("three") is None


def fake_python(path: Path, says: str) -> None:
    """A program standing for an interpreter: it answers the version probe with `says`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{says}\n")
    path.chmod(0o755)


def test_find_interpreter_asks_path_then_pyenvs_newest_patch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pyenv shim on PATH naming a Python it does not run is passed over.
    fake_python(
        tmp_path / "bin" / "python9.8", "echo 'pyenv: python9.8: command not found'; exit 127"
    )
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    for patch in ("9.8.1", "9.8.10", "9.8.2", "9.80.0", "9.8.11-dev"):
        fake_python(
            tmp_path / "pyenv" / "versions" / patch / "bin" / "python9.8",
            'echo 9.8; echo "$0"',
        )
    expected = tmp_path / "pyenv" / "versions" / "9.8.10" / "bin" / "python9.8"
    assert find_interpreter("9.8") == expected
    # One on PATH that runs comes first.
    fake_python(tmp_path / "bin" / "python9.8", 'echo 9.8; echo "$0"')
    assert find_interpreter("9.8") == tmp_path / "bin" / "python9.8"


def test_a_venv_that_cannot_be_made_is_reported(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Python 9.8 that answers the version probe, then fails `-m venv <path>` half-way,
    # as a Debian Python without its venv package does.
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    fake_python(
        tmp_path / "pyenv" / "versions" / "9.8.0" / "bin" / "python9.8",
        'if [ "$1" = -E ]; then echo 9.8; echo "$0"; exit 0; fi\n'
        'mkdir -p "$3/bin"\n'
        "echo 'Error: ensurepip is not available on this system' >&2; exit 1",
    )
    plan = plan_of(SIX, python="9.8")
    with pytest.raises(ModelError) as caught:
        ensure_environment(root, plan, MODEL, lambda line: None)
    message = str(caught.value)
    assert message.startswith(f"model '{MODEL}': could not make a Python 9.8 venv at ")
    assert "Error: ensurepip is not available on this system" in message  # its stderr
    assert "apt-get install python9.8-venv" in message
    assert left_under(root) == []


def test_a_real_build_is_isolated_and_complete(
    built: tuple[Path, Environment, list[str], float],
) -> None:
    root, env, _, _ = built
    assert env == Environment(root / SIX_PLAN.key())
    assert env.path == environment_path(root, SIX_PLAN)
    assert env.python == env.path / "bin" / "python" and env.bin == env.path / "bin"
    assert ready_environment(root, SIX_PLAN) == env
    done = run_in(env, "import six, sys; print(six.__version__, sys.prefix)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1.16.0", str(env.path)]
    # The project's packages are not there.
    for ours in ("dagster", "precalc_assets", "rdkit"):
        done = run_in(env, f"import {ours}")
        assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr
    record = json.loads((env.path / COMPLETE).read_text())
    assert record["python"] == PYTHON and record["interpreter"] == sys.executable
    assert record["installs"] == [
        {"requirements": ["six==1.16.0"], "options": [], "where": SIX.where}
    ]
    assert record["source"] == SIX_PLAN.source and record["built_at"].endswith("+00:00")
    assert "six==1.16.0" in record["pip_freeze"]
    assert not list(env.path.glob(".*.tmp"))


def test_the_build_says_what_it_does(built: tuple[Path, Environment, list[str], float]) -> None:
    root, env, lines, _ = built
    assert len(lines) == 4, lines
    start, step, step_done, end = lines
    for part in (f"model '{MODEL}'", SIX_PLAN.key(), f"Python {PYTHON}", sys.executable):
        assert part in start
    assert "1 pip install " in start and SIX_PLAN.source in start and str(env.path) in start
    assert step == f"model '{MODEL}': [1/1] pip install six==1.16.0"
    assert step_done.startswith(f"model '{MODEL}': [1/1] done in ")
    assert end.startswith(f"model '{MODEL}': environment {env.path} built in ")


def test_a_complete_environment_is_not_built_again(
    built: tuple[Path, Environment, list[str], float],
) -> None:
    root, env, _, build_s = built
    before = (env.path / COMPLETE).read_text()
    lines: list[str] = []
    started = time.monotonic()
    # Another repository with the same pins (another source and wording) shares it.
    twin = InstallPlan(PYTHON, (PipInstall(SIX.requirements, (), "Dockerfile line 3"),), "/b/x")
    assert ensure_environment(root, twin, "eos9zzz", lines.append) == env
    assert time.monotonic() - started < min(1.0, build_s / 2)
    assert lines == []  # nothing built, nothing to say
    assert (env.path / COMPLETE).read_text() == before


def test_a_pin_that_does_not_exist_fails_clearly_and_leaves_nothing(root: Path) -> None:
    bad = PipInstall(("six==1.99.99",), (), 'install.yml entry 2 ["pip", "six", "1.99.99"]')
    plan = plan_of(bad)
    lines: list[str] = []
    with pytest.raises(ModelError) as caught:
        ensure_environment(root, plan, MODEL, lines.append)
    message = str(caught.value)
    assert message.startswith(f"model '{MODEL}': pip install failed for {bad.where}")
    assert "No matching distribution found for six==1.99.99" in message  # pip's own words
    assert "Check that the package and version exist on the package index" in message
    assert left_under(root) == []
    assert ready_environment(root, plan) is None
    # The next call, with a good plan, works.
    env = ensure_environment(root, plan_of(), MODEL, lines.append)
    assert left_under(root) == [env.path.name] and (env.path / COMPLETE).is_file()
    assert run_in(env, "import six").returncode != 0


def test_an_unreachable_index_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # One retry: pip reports the failed connection (with none it says nothing of it), fast.
    monkeypatch.setenv("PIP_RETRIES", "1")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "install.yml").write_text(
        f'python: "{PYTHON}"\ncommands:\n'
        '  - ["pip", "precalc-no-such-package", "1.0", "--index-url", "http://127.0.0.1:9/simple"]\n'
    )
    plan = read_install_plan(repo, MODEL)
    root = tmp_path / "envs"
    with pytest.raises(ModelError) as caught:
        ensure_environment(root, plan, MODEL, lambda line: None)
    message = str(caught.value)
    assert 'install.yml entry 1 ["pip", "precalc-no-such-package", "1.0"' in message
    assert "precalc-no-such-package" in message
    # Here the machine's other indexes answer too, so accept pip's no-distribution advice.
    assert (
        "The package index could not be reached: check the network, the proxy (HTTPS_PROXY)"
        in message
        or "Check that the package and version exist on the package index" in message
    ), message
    assert left_under(root) == []


def test_an_interrupted_build_leaves_nothing(root: Path) -> None:
    def interrupt(line: str) -> None:
        if "[1/1] pip install" in line:  # the venv is made by now
            assert environment_path(root, SIX_PLAN).is_dir()
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ensure_environment(root, SIX_PLAN, MODEL, interrupt)
    assert left_under(root) == []


def test_a_killed_builds_leftover_is_rebuilt_once_by_two_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    root = Path("envs")  # relative: the build's commands run elsewhere
    plan = plan_of()
    path = environment_path(root.absolute(), plan)
    # What a build killed after `python -m venv` leaves: a venv without COMPLETE.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    (path / "half-written").write_text("x")
    assert ready_environment(root, plan) is None
    lines: list[str] = []
    results: list[Environment] = []
    (root / ".locks").mkdir(parents=True)
    # Hold the lock until both threads wait for it, so they truly ask at once.
    fd = os.open(root / ".locks" / f"{plan.key()}.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        threads = [
            threading.Thread(
                target=lambda: results.append(ensure_environment(root, plan, MODEL, lines.append))
            )
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while sum(f"waiting for another process building {path}" in line for line in lines) < 2:
            assert time.monotonic() < deadline, lines
            time.sleep(0.02)
    finally:
        os.close(fd)
    for thread in threads:
        thread.join(timeout=120)
    assert results == [Environment(path)] * 2
    assert sum(f"removing {path}, left incomplete" in line for line in lines) == 1, lines
    assert sum("building environment" in line for line in lines) == 1, lines
    assert sum("built meanwhile by another process" in line for line in lines) == 1
    assert not (path / "half-written").exists() and (path / COMPLETE).is_file()
    assert (path / "bin" / "pip").exists()  # a full venv this time
    assert run_in(Environment(path), "print(1)").stdout.strip() == "1"
    assert left_under(tmp_path / "envs") == [path.name]


def _ensure_in_a_process(root: str, plan: InstallPlan, log_path: str) -> None:
    """A process of another run asking for the environment; its log goes to a file."""

    def log(line: str) -> None:
        with open(log_path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    env = ensure_environment(Path(root), plan, MODEL, log)
    log(f"RESULT {env.path}")


def test_two_processes_at_once_build_it_once(root: Path) -> None:
    plan = SIX_PLAN
    (root / ".locks").mkdir(parents=True)
    logs = [root.parent / f"log-{n}.txt" for n in (1, 2)]
    context = multiprocessing.get_context("spawn")
    # Hold the lock until both processes wait for it, so they truly ask at once.
    fd = os.open(root / ".locks" / f"{plan.key()}.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        processes = [
            context.Process(target=_ensure_in_a_process, args=(str(root), plan, str(log)))
            for log in logs
        ]
        for process in processes:
            process.start()
        deadline = time.monotonic() + 60
        while not all(log.exists() and "waiting" in log.read_text() for log in logs):
            assert time.monotonic() < deadline, "the processes never waited for the lock"
            time.sleep(0.05)
    finally:
        os.close(fd)
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    texts = [log.read_text() for log in logs]
    path = environment_path(root, plan)
    for text in texts:
        assert text.count(f"waiting for another process building {path}") == 1
        assert f"RESULT {path}\n" in text
    both = "".join(texts)
    assert both.count("[1/1] pip install six==1.16.0") == 1
    assert both.count("built meanwhile by another process") == 1
    assert left_under(root) == [path.name]


def test_a_missing_python_says_how_to_get_one(root: Path) -> None:
    plan = plan_of(SIX, python="2.9")
    with pytest.raises(ModelError) as caught:
        ensure_environment(root, plan, MODEL, lambda line: None)
    message = str(caught.value)
    assert message.startswith(f"model '{MODEL}': {plan.source} asks for python: \"2.9\"")
    for fix in (
        "pyenv install 2.9",
        "apt-get install python2.9",
        "uv python install 2.9",
        '"python_version"',
        '"python": "/path/to/env/bin/python"',
    ):
        assert fix in message
    assert left_under(root) == []
