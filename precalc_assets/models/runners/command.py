"""`command`: a model run as a program, one batch of SMILES per run, through CSV files.

Two forms of options:

- `{"repo": "/abs/path/eos3b5e"}`: a model repository in the hub's template layout, run
  as the hub's server runs it, `bash <repo>/model/framework/run.sh <repo>/model/framework
  input.csv output.csv <repo>`, with its own environment's interpreter first on `PATH`:
  the environment is built from its `install.yml` (or its Dockerfile's `pip install`
  lines) once per distinct set of pins (`models.environments`), unless the deployment
  gives `"python"`, an interpreter of an environment built by hand (e.g. with conda).
  Its card is read from its files (`models.repository`).
- `{"command": ["python", "score.py", "{input}", "{output}"], "cwd": "/abs/dir"}`: any
  program; `{input}` and `{output}` are replaced by the absolute paths of the files.

Either way the program runs apart from us (`models.isolation`): a clean process
environment (its interpreter's folder and the system's on `PATH`, a fresh `HOME` and
`TMPDIR`, the locale, and only the variables `env`/`pass_env` name), its whole process
group ended with its batch. The input CSV has the header `input` and one SMILES per
row, the output CSV a header of column names and one row per input, in input order.
The SMILES only ever reach the program through that file, never through a shell.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from pyarrow import csv as pacsv

from precalc_assets.models.card import ModelCard
from precalc_assets.models.environments import (
    Environment,
    ensure_environment,
    ready_environment,
)
from precalc_assets.models.install_plan import read_install_plan
from precalc_assets.models.isolation import (
    SYSTEM_PATH,
    Finished,
    Timeout,
    forbidden_variable,
    model_environ,
    run_program,
)
from precalc_assets.models.repository import (
    FRAMEWORK,
    RUN_SH,
    check_layout,
    describe_repository,
)
from precalc_assets.models.runners.base import Log, no_log
from precalc_assets.models.runners.batched import BatchedRunner, BatchFailed
from precalc_assets.models.spec import ModelError, ModelSpec

INPUT_PLACEHOLDER = "{input}"
OUTPUT_PLACEHOLDER = "{output}"
DEFAULT_TIMEOUT_S = 3_600.0
OPTIONS = (
    "repo",
    "command",
    "cwd",
    "python",
    "python_version",
    "env",
    "pass_env",
    "environments",
    "input_smiles",
    "batch_size",
    "concurrency",
    "timeout_s",
)
# The most of an output CSV read in one block (pyarrow's CSV reader needs a row in one).
MAX_BLOCK_BYTES = (1 << 31) - 1
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PYTHON_VERSION = re.compile(r"^3\.\d{1,2}$")


def _where(model_id: str, source: str) -> str:
    return f"{source}: model {model_id!r}"


def _check_variables(where: str, options: Mapping[str, Any]) -> None:
    """`env` ({name: value}) and `pass_env` ([name]): what the deployment gives the model."""
    env, passed = options.get("env", {}), options.get("pass_env", [])
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ModelError(
            f"{where}: 'env' must be an object of variable names to text values, e.g. "
            f'{{"OMP_NUM_THREADS": "1"}}, got {env!r}'
        )
    if not isinstance(passed, list) or not all(isinstance(n, str) for n in passed):
        raise ModelError(
            f"{where}: 'pass_env' must be a list of the names of variables of this "
            f'deployment to pass on, e.g. ["HF_TOKEN"], got {passed!r}'
        )
    for name in [*env, *passed]:
        if not VARIABLE_NAME.match(name):
            raise ModelError(f"{where}: {name!r} is not a variable name")
        if forbidden_variable(name):
            raise ModelError(
                f"{where}: variable {name!r} is never given to a model: AWS_*, PRECALC_* "
                "and DAGSTER_* hold the deployment's credentials and settings, and RDBASE, "
                "PYTHONPATH, PYTHONHOME, PYTHONSTARTUP and LD_PRELOAD change what the "
                "model's own interpreter and RDKit load; remove it from 'env'/'pass_env'"
            )


def _check_python(where: str, options: Mapping[str, Any]) -> None:
    python = options.get("python")
    if python is not None and (
        not isinstance(python, str)
        or not os.path.isabs(python)
        or not Path(python).is_file()
        or not os.access(python, os.X_OK)
    ):
        raise ModelError(
            f"{where}: 'python' must be the absolute path of the interpreter of an "
            "environment built for the model (e.g. /opt/envs/eos3b5e/bin/python, a conda "
            f"environment's bin/python); {python!r} is not an executable file"
        )
    version = options.get("python_version")
    if version is not None and (not isinstance(version, str) or not PYTHON_VERSION.match(version)):
        raise ModelError(
            f"{where}: 'python_version' must be a Python version like \"3.11\" (the one its "
            f"environment is built with, instead of the repository's), got {version!r}"
        )
    if version is not None and (python is not None or "repo" not in options):
        raise ModelError(
            f"{where}: 'python_version' applies to a repository whose environment precalc "
            "builds ('repo' without 'python'); remove it"
        )
    environments = options.get("environments")
    if environments is not None and (
        not isinstance(environments, str) or not os.path.isabs(environments)
    ):
        raise ModelError(
            f"{where}: 'environments' must be the absolute path of the folder where model "
            f"environments are built, got {environments!r}"
        )


def _which(program: str, bin_dirs: Sequence[Path], env: Mapping[str, str], where: str) -> str:
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


class CommandRunner(BatchedRunner):
    """A model run as a program on each batch (see the module's docstring)."""

    name = "command"
    default_concurrency: ClassVar[int] = 1

    @classmethod
    def describes_itself(cls, options: Mapping[str, Any]) -> bool:
        return "repo" in options

    def __init__(self, spec: ModelSpec, log: Log = no_log):
        self.check_options(spec.model_id, spec.options, "runner 'command'")
        super().__init__(spec, log)
        options = spec.options
        self.timeout_s = self.timeout(options, DEFAULT_TIMEOUT_S)
        self.env: dict[str, str] = dict(options.get("env", {}))
        self.pass_env: list[str] = list(options.get("pass_env", []))
        self.environment: Path | None = None  # the environment precalc built for it
        self.bin_dirs = self._bin_dirs(spec, log)
        if "repo" in options:
            repo = Path(options["repo"])
            self.argv = [self._which("bash"), str(repo / RUN_SH), str(repo / FRAMEWORK)]
            self.argv += [INPUT_PLACEHOLDER, OUTPUT_PLACEHOLDER, str(repo)]
            self.cwd: str | None = None
            self.program = RUN_SH  # for messages
        else:
            self.argv = [self._which(options["command"][0]), *options["command"][1:]]
            self.cwd = options.get("cwd")
            self.program = Path(options["command"][0]).name

    def _bin_dirs(self, spec: ModelSpec, log: Log) -> list[Path]:
        """Where the model's interpreter is: the given `python`'s folder, or the folder of
        the environment built from the repository's pins (built now if need be)."""
        options = spec.options
        if "python" in options:
            return [Path(options["python"]).parent]
        environment = self.build_environment(spec.model_id, options, log)
        if environment is None:
            return []
        self.environment = environment.path
        return [environment.bin]

    @classmethod
    def build_environment(
        cls, model_id: str, options: Mapping[str, Any], log: Log = no_log
    ) -> Environment | None:
        """The environment precalc builds for a repository model from its pins (built
        now if it is not complete yet); None for a model that brings its own `python`,
        or a `command` that is not a repository."""
        if "python" in options or "repo" not in options:
            return None
        if "environments" not in options:
            raise ModelError(
                f"model {model_id!r}: no folder to build its environment in; declare it in "
                "the deployment's models file (PRECALC_ENVS_DIR is where its environments "
                "are built), or give 'python'"
            )
        plan = read_install_plan(Path(options["repo"]), model_id, options.get("python_version"))
        return ensure_environment(Path(options["environments"]), plan, model_id, log)

    @classmethod
    def interpreter(cls, model_id: str, options: Mapping[str, Any]) -> str:
        """Which interpreter the model runs with, for the UI: the given `python`, the
        environment precalc built for it (or "not built yet"), or "" for neither."""
        if "python" in options:
            return str(options["python"])
        if "repo" not in options or "environments" not in options:
            return ""
        plan = read_install_plan(Path(options["repo"]), model_id, options.get("python_version"))
        environment = ready_environment(Path(options["environments"]), plan)
        python = f"Python {plan.python}"
        return f"{environment.python} ({python})" if environment else f"not built yet ({python})"

    def _which(self, program: str) -> str:
        """`program`'s path on the model's own PATH (a relative command: its interpreter)."""
        return _which(program, self.bin_dirs, self.env, f"model {self.spec.model_id!r}")

    @classmethod
    def check_options(cls, model_id: str, options: Mapping[str, Any], source: str) -> None:
        where = _where(model_id, source)
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ModelError(
                f"{where} has unknown option(s) {unknown}; the command runner accepts "
                f"{', '.join(OPTIONS)}"
            )
        has_repo, has_command = "repo" in options, "command" in options
        if has_repo == has_command:
            raise ModelError(
                f"{where} needs exactly one of 'repo' (the absolute path of a model "
                "repository in the hub's template layout) and 'command' (a list of "
                'strings such as ["python", "score.py", "{input}", "{output}"]), '
                f"got {'both' if has_repo else 'neither'}"
            )
        if has_repo:
            cls._check_repo(where, options["repo"])
            if "cwd" in options:
                raise ModelError(
                    f"{where}: 'cwd' applies to the 'command' form only (a repository's "
                    "run.sh runs in a temporary directory); remove it"
                )
        else:
            cls._check_command(where, options["command"])
            if "cwd" in options:
                cwd = options["cwd"]
                if not isinstance(cwd, str) or not os.path.isabs(cwd) or not Path(cwd).is_dir():
                    raise ModelError(
                        f"{where}: 'cwd' must be the absolute path of an existing "
                        f"directory, got {cwd!r}"
                    )
        _check_python(where, options)
        _check_variables(where, options)
        if has_command:  # found now, not at run time
            bin_dirs = [Path(options["python"]).parent] if "python" in options else []
            _which(options["command"][0], bin_dirs, options.get("env", {}), where)
        try:
            cls.batch_settings(options)
            cls.timeout(options, DEFAULT_TIMEOUT_S)
            cls.input_form(options)
        except ValueError as exc:
            raise ModelError(f"{where}: {exc}") from None

    @staticmethod
    def _check_repo(where: str, repo: Any) -> None:
        if not isinstance(repo, str) or not os.path.isabs(repo) or not Path(repo).is_dir():
            raise ModelError(
                f"{where}: 'repo' must be the absolute path of an existing model "
                f"repository directory, got {repo!r}"
            )
        check_layout(Path(repo), where)

    @staticmethod
    def _check_command(where: str, command: Any) -> None:
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(arg, str) for arg in command)
            or not command[0]
        ):
            raise ModelError(
                f"{where}: 'command' must be a non-empty list of strings, the program "
                f'first, e.g. ["python", "score.py", "{{input}}", "{{output}}"]; got '
                f"{command!r}"
            )
        for placeholder in (INPUT_PLACEHOLDER, OUTPUT_PLACEHOLDER):
            if not any(placeholder in arg for arg in command):
                raise ModelError(
                    f"{where}: 'command' {command!r} lacks the placeholder {placeholder}; "
                    "it is replaced by the absolute path of the input CSV ({input}) or of "
                    "the output CSV the program writes ({output})"
                )

    @classmethod
    def describe(cls, model_id: str, options: Mapping[str, Any]) -> ModelCard | None:
        """A repository's card from its files, with the warnings of its install plan (a
        plan that cannot be built is refused here, before anything runs)."""
        cls.check_options(model_id, options, "runner 'command'")
        if "repo" not in options:
            return None
        repo = Path(options["repo"])
        card = describe_repository(repo, model_id)
        if "python" in options:
            return card
        plan = read_install_plan(repo, model_id, options.get("python_version"))
        return replace(card, warnings=card.warnings + plan.warnings)

    def run_batch(self, smiles: list[str]) -> list[dict[str, Any]]:
        with tempfile.TemporaryDirectory(prefix="precalc-command-") as tmp:
            folder = Path(tmp)
            input_path, output_path = folder / "input.csv", folder / "output.csv"
            with input_path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(["input"])
                writer.writerows([s] for s in smiles)
            argv = [
                arg.replace(INPUT_PLACEHOLDER, str(input_path)).replace(
                    OUTPUT_PLACEHOLDER, str(output_path)
                )
                for arg in self.argv
            ]
            finished = self._run(argv, folder, len(smiles))
            if finished.status != 0:
                raise BatchFailed(
                    f"{self.program} exited with {finished.how()} on a batch of "
                    f"{len(smiles)} molecule(s); {finished.said()}",
                    finished.error_line(),
                )
            if not output_path.is_file():
                raise BatchFailed(
                    f"{self.program} exited with status 0 but wrote no output CSV for a "
                    f"batch of {len(smiles)} molecule(s); {finished.said()}",
                    f"{self.program} wrote no output CSV; {finished.error_line()}",
                )
            return self._read_output(output_path)

    def _run(self, argv: Sequence[str], folder: Path, molecules: int) -> Finished:
        """One run of the program, apart from us (see `models.isolation`)."""
        home = folder / "home"
        home.mkdir()
        environ = model_environ(home, folder, self.bin_dirs, self.env, self.pass_env)
        if self.environment is not None:
            environ["VIRTUAL_ENV"] = str(self.environment)
        try:
            return run_program(
                argv,
                cwd=Path(self.cwd) if self.cwd else folder,
                environ=environ,
                logs=folder,
                timeout_s=self.timeout_s,
            )
        except OSError as exc:
            raise ModelError(
                f"model {self.spec.model_id!r}: cannot start {argv[0]!r} ({exc}); fix the "
                "'command' (or 'repo') of its request, or install the program"
            ) from exc
        except Timeout as exc:
            raise ModelError(
                f"model {self.spec.model_id!r} did not finish a batch of {molecules} "
                f"molecules within {self.timeout_s:g} s (timeout_s); its processes were "
                "killed. Raise 'timeout_s' or lower 'batch_size' in its request, or fix "
                f"the model. {exc.finished.said()}"
            ) from None

    def _read_output(self, path: Path) -> list[dict[str, Any]]:
        """The output CSV's declared columns by name, as text (cast later by column type).
        Its other columns are parsed past, never kept: a cell of any size in a column
        nobody asked for costs nothing (the csv module refuses fields over 128 KiB)."""
        try:
            with path.open(newline="", encoding="utf-8-sig") as handle:
                header = [name.strip() for name in next(csv.reader(handle), [])]
        except (UnicodeDecodeError, csv.Error) as exc:
            raise BatchFailed(f"the output CSV's header cannot be read ({exc})") from exc
        if not header:
            raise BatchFailed("the output CSV is empty (no header row of column names)")
        wanted = [name for name in self.spec.column_names if name in header]
        try:
            table = pacsv.read_csv(
                path,
                read_options=pacsv.ReadOptions(
                    skip_rows=1,
                    column_names=header,
                    block_size=min(max(path.stat().st_size + 1, 1 << 20), MAX_BLOCK_BYTES),
                ),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    include_columns=wanted,
                    column_types=dict.fromkeys(wanted, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except (pa.ArrowInvalid, OSError) as exc:
            raise BatchFailed(f"the output CSV cannot be read ({exc})") from exc
        return table.to_pylist()
