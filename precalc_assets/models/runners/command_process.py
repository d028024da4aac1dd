"""What a `command` model's process runs with: its interpreter, the folder of the `python`
the deployment gives or of the environment precalc builds from a repository's pins
(`models.environments`), first on its PATH (a program named without a path is found
there, never on ours), and the variables the deployment gives it (`env`, `pass_env`),
never one of ours that would change what it loads or hand it our credentials. The
constraints of the options that say so are here; `runners.command` declares them."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from precalc_assets.models.environments import Environment, ensure_environment, ready_environment
from precalc_assets.models.install_plan import read_install_plan
from precalc_assets.models.isolation import SYSTEM_PATH, forbidden_variable, model_environ
from precalc_assets.models.options import is_absolute_path
from precalc_assets.models.runners.base import Log, no_log
from precalc_assets.models.spec import ModelError

VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PYTHON_VERSION = re.compile(r"^3\.\d{1,2}$")


def python_problem(name: str, python: Any) -> str:
    if not is_absolute_path(python) or not Path(python).is_file() or not os.access(python, os.X_OK):
        return (
            f"{name!r} must be the absolute path of the interpreter of an environment built "
            "for the model (e.g. /opt/envs/eos3b5e/bin/python, a conda environment's "
            f"bin/python); {python!r} is not an executable file"
        )
    return ""


def python_version_problem(name: str, version: Any) -> str:
    if not isinstance(version, str) or not PYTHON_VERSION.match(version):
        return (
            f'{name!r} must be a Python version like "3.11" (the one its environment is '
            f"built with, instead of the repository's), got {version!r}"
        )
    return ""


def environments_problem(name: str, environments: Any) -> str:
    if not is_absolute_path(environments):
        return (
            f"{name!r} must be the absolute path of the folder where model environments "
            f"are built, got {environments!r}"
        )
    return ""


def _variable_problem(name: str) -> str:
    """What is wrong with giving a model the variable `name`, or ""."""
    if not VARIABLE_NAME.match(name):
        return f"{name!r} is not a variable name"
    if forbidden_variable(name):
        return (
            f"variable {name!r} is never given to a model: AWS_*, PRECALC_* and DAGSTER_* "
            "hold the deployment's credentials and settings, and RDBASE, PYTHONPATH, "
            "PYTHONHOME, PYTHONSTARTUP and LD_PRELOAD change what the model's own "
            "interpreter and RDKit load; remove it from 'env'/'pass_env'"
        )
    return ""


def env_problem(name: str, env: Any) -> str:
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        return (
            f"{name!r} must be an object of variable names to text values, e.g. "
            f'{{"OMP_NUM_THREADS": "1"}}, got {env!r}'
        )
    return next((p for p in map(_variable_problem, env) if p), "")


def pass_env_problem(name: str, passed: Any) -> str:
    if not isinstance(passed, list) or not all(isinstance(n, str) for n in passed):
        return (
            f"{name!r} must be a list of the names of variables of this deployment to pass "
            f'on, e.g. ["HF_TOKEN"], got {passed!r}'
        )
    return next((p for p in map(_variable_problem, passed) if p), "")


class InterpreterOptions(Protocol):
    """The options of a `command` model that say which interpreter it runs with."""

    @property
    def repo(self) -> str | None: ...
    @property
    def python(self) -> str | None: ...
    @property
    def python_version(self) -> str | None: ...
    @property
    def environments(self) -> str | None: ...


def which(program: str, bin_dirs: Sequence[Path], env: Mapping[str, str], where: str) -> str:
    """`program`'s path on the PATH the model runs with: its environment first, then
    the system's (a relative command finds the model's interpreter, never ours)."""
    path = os.pathsep.join(
        [*(str(d) for d in bin_dirs), env.get("PATH") or os.pathsep.join(SYSTEM_PATH)]
    )
    found = shutil.which(program, path=path)
    if found is None and os.path.isabs(program):
        raise ModelError(
            f"{where}: there is no executable program {program}; fix the 'command' of its "
            "request, or install the program"
        )
    if found is None:
        raise ModelError(
            f"{where}: cannot find the program {program!r} on the model's PATH ({path}); "
            "give its absolute path, or the 'python' of the environment that has it"
        )
    return found


def build_environment(
    model_id: str, options: InterpreterOptions, log: Log = no_log
) -> Environment | None:
    """The environment precalc builds for a repository model from its pins (built
    now if it is not complete yet); None for a model that brings its own `python`,
    or a `command` that is not a repository."""
    if options.python is not None or options.repo is None:
        return None
    if options.environments is None:
        raise ModelError(
            f"model {model_id!r}: no folder to build its environment in; declare it in "
            "the deployment's models file (PRECALC_ENVS_DIR is where its environments "
            "are built), or give 'python'"
        )
    plan = read_install_plan(Path(options.repo), model_id, options.python_version)
    return ensure_environment(Path(options.environments), plan, model_id, log)


def shown_interpreter(model_id: str, options: InterpreterOptions) -> str:
    """Which interpreter the model runs with, for the UI: the given `python`, the
    environment precalc built for it (or "not built yet"), or "" for neither."""
    if options.python is not None:
        return options.python
    if options.repo is None or options.environments is None:
        return ""
    plan = read_install_plan(Path(options.repo), model_id, options.python_version)
    environment = ready_environment(Path(options.environments), plan)
    python = f"Python {plan.python}"
    return f"{environment.python} ({python})" if environment else f"not built yet ({python})"


@dataclass(frozen=True)
class ModelInterpreter:
    """Where a model's programs are found: the folders first on its PATH, and the
    environment precalc built for it (None: it brings its own, or needs none)."""

    bin_dirs: tuple[Path, ...] = ()
    environment: Path | None = None

    @classmethod
    def given(cls, options: InterpreterOptions) -> ModelInterpreter:
        """The interpreter the options name, nothing built: registration's view."""
        return cls((Path(options.python).parent,)) if options.python is not None else cls()

    @classmethod
    def resolve(cls, model_id: str, options: InterpreterOptions, log: Log) -> ModelInterpreter:
        """The given `python`'s folder, or the environment built from the repository's
        pins (built now if need be)."""
        if options.python is not None:
            return cls.given(options)
        environment = build_environment(model_id, options, log)
        if environment is None:
            return cls()
        return cls((environment.bin,), environment.path)

    def which(self, program: str, env: Mapping[str, str], where: str) -> str:
        return which(program, self.bin_dirs, env, where)

    def environ(
        self, home: Path, tmp: Path, env: Mapping[str, str], pass_env: Sequence[str]
    ) -> dict[str, str]:
        """A run's whole process environment (see `models.isolation`)."""
        environ = model_environ(home, tmp, self.bin_dirs, env, pass_env)
        if self.environment is not None:
            environ["VIRTUAL_ENV"] = str(self.environment)
        return environ
