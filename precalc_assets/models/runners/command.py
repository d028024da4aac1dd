"""`command`: a model run as a program, one batch of SMILES per run, through CSV files.

Two forms of options:

- `{"repo": "/abs/path/eos3b5e"}`: a model repository in the hub's template layout, run
  as the hub's server runs it, `bash <repo>/model/framework/run.sh <repo>/model/framework
  input.csv output.csv <repo>`, with its own environment's interpreter first on `PATH`
  (`runners.command_interpreter`): the environment is built from its `install.yml` (or
  its Dockerfile's `pip install` lines) once per distinct set of pins, unless the
  deployment gives `"python"`, an interpreter of an environment built by hand (e.g. with
  conda). Its card is read from its files (`models.repository`).
- `{"command": ["python", "score.py", "{input}", "{output}"], "cwd": "/abs/dir"}`: any
  program; `{input}` and `{output}` are replaced by the absolute paths of the files
  (`runners.command_files`).

Either way the program runs apart from us (`models.isolation`): a clean process
environment (its interpreter's folder and the system's on `PATH`, a fresh `HOME` and
`TMPDIR`, the locale, and only the variables `env`/`pass_env` name), its whole process
group ended with its batch.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import pyarrow as pa

from precalc_assets.models.card import ModelCard
from precalc_assets.models.environments import Environment
from precalc_assets.models.install_plan import read_install_plan
from precalc_assets.models.isolation import Finished, Timeout, run_program
from precalc_assets.models.options import Reach, RunnerOptions, existing_path, option
from precalc_assets.models.repository import FRAMEWORK, RUN_SH, check_layout, describe_repository
from precalc_assets.models.runners.base import Log, no_log
from precalc_assets.models.runners.batched import (
    BatchedRunner,
    BatchFailed,
    batch_size_option,
    concurrency_option,
    input_smiles_option,
    timeout_option,
)
from precalc_assets.models.runners.command_files import read_output, write_input
from precalc_assets.models.runners.command_process import (
    ModelInterpreter,
    build_environment,
    env_problem,
    environments_problem,
    pass_env_problem,
    python_problem,
    python_version_problem,
    shown_interpreter,
)
from precalc_assets.models.spec import SPEC_KEYS, ModelError, ModelSpec

INPUT_PLACEHOLDER = "{input}"
OUTPUT_PLACEHOLDER = "{output}"
# Where a model's files are: a request in storage never names them (the trust boundary),
# and once the model's examples identify it they are not part of its code version.
LOCAL_PATH = Reach.LOCATION | Reach.LOCAL_FILE


def _command_problem(name: str, command: Any) -> str:
    if (
        not isinstance(command, list)
        or not command
        or not all(isinstance(arg, str) for arg in command)
        or not command[0]
    ):
        return (
            f"{name!r} must be a non-empty list of strings, the program first, e.g. "
            f'["python", "score.py", "{INPUT_PLACEHOLDER}", "{OUTPUT_PLACEHOLDER}"]; got '
            f"{command!r}"
        )
    for placeholder in (INPUT_PLACEHOLDER, OUTPUT_PLACEHOLDER):
        if not any(placeholder in arg for arg in command):
            return (
                f"{name!r} {command!r} lacks the placeholder {placeholder}; it is replaced "
                f"by the absolute path of the input CSV ({INPUT_PLACEHOLDER}) or of the "
                f"output CSV the program writes ({OUTPUT_PLACEHOLDER})"
            )
    return ""


@dataclass(frozen=True, kw_only=True)
class CommandOptions(RunnerOptions):
    """Which program a `command` model is, how it runs and what it is given."""

    repo: str | None = option(
        None,
        check=existing_path(Path.is_dir, "an existing model repository directory"),
        reach=LOCAL_PATH,
    )
    command: list[str] | None = option(None, check=_command_problem)
    cwd: str | None = option(
        None, check=existing_path(Path.is_dir, "an existing directory"), reach=LOCAL_PATH
    )
    python: str | None = option(None, check=python_problem, reach=LOCAL_PATH)
    python_version: str | None = option(None, check=python_version_problem, reach=Reach.LOCATION)
    env: dict[str, str] = option(default_factory=dict, check=env_problem, reach=Reach.LOCATION)
    pass_env: list[str] = option(default_factory=list, check=pass_env_problem, reach=Reach.LOCATION)
    # Where precalc builds repository models' environments (the deployment's folder).
    environments: str | None = option(None, check=environments_problem, reach=Reach.TUNING)
    input_smiles: str = input_smiles_option()
    batch_size: int = batch_size_option()
    concurrency: int = concurrency_option(1)
    timeout_s: float = timeout_option(3_600.0)

    def combination_problem(self) -> str:
        has_repo = self.repo is not None
        if has_repo == (self.command is not None):
            return (
                "needs exactly one of 'repo' (the absolute path of a model repository in the "
                "hub's template layout) and 'command' (a list of strings such as "
                f'["python", "score.py", "{INPUT_PLACEHOLDER}", "{OUTPUT_PLACEHOLDER}"]), '
                f"got {'both' if has_repo else 'neither'}"
            )
        if has_repo and self.cwd is not None:
            return (
                "'cwd' applies to the 'command' form only (a repository's run.sh runs in a "
                "temporary directory); remove it"
            )
        if self.python_version is not None and (self.python is not None or not has_repo):
            return (
                "'python_version' applies to a repository whose environment precalc builds "
                "('repo' without 'python'); remove it"
            )
        return ""


class CommandRunner(BatchedRunner):
    """A model run as a program on each batch (see the module's docstring)."""

    name = "command"
    options_class = CommandOptions

    @classmethod
    def describes_itself(cls, options: Mapping[str, Any]) -> bool:
        return "repo" in options

    def __init__(self, spec: ModelSpec, log: Log = no_log):
        settings = self.check_options(spec.model_id, spec.options, "runner 'command'")
        super().__init__(spec, settings, log)
        self.settings = settings
        self.model_interpreter = ModelInterpreter.resolve(spec.model_id, settings, log)
        where = f"model {spec.model_id!r}"
        if settings.repo is not None:
            repo = Path(settings.repo)
            bash = self.model_interpreter.which("bash", settings.env, where)
            self.argv = [bash, str(repo / RUN_SH), str(repo / FRAMEWORK)]
            self.argv += [INPUT_PLACEHOLDER, OUTPUT_PLACEHOLDER, str(repo)]
            self.cwd: str | None = None
            self.program = RUN_SH  # for messages
        else:
            assert settings.command is not None  # one of the two: checked above
            program = self.model_interpreter.which(settings.command[0], settings.env, where)
            self.argv = [program, *settings.command[1:]]
            self.cwd = settings.cwd
            self.program = Path(settings.command[0]).name

    @classmethod
    def check_options(
        cls, model_id: str, options: Mapping[str, Any], source: str
    ) -> CommandOptions:
        """The options, then what they name: a repository in the template layout, or a
        program found on the model's own PATH (now, not at run time)."""
        settings = cast(CommandOptions, cls.parse_options(model_id, options, source))
        where = f"{source}: model {model_id!r}"
        if settings.repo is not None:
            check_layout(Path(settings.repo), where)
        if settings.command is not None:
            found_with = ModelInterpreter.given(settings)
            found_with.which(settings.command[0], settings.env, where)
        return settings

    @classmethod
    def describe(cls, model_id: str, options: Mapping[str, Any]) -> ModelCard | None:
        """A repository's card from its files, with the warnings of its install plan (a
        plan that cannot be built is refused here, before anything runs)."""
        settings = cls.check_options(model_id, options, "runner 'command'")
        if settings.repo is None:
            return None
        repo = Path(settings.repo)
        card = describe_repository(repo, model_id)
        if settings.python is not None:
            return card
        plan = read_install_plan(repo, model_id, settings.python_version)
        return replace(card, warnings=card.warnings + plan.warnings)

    @classmethod
    def _declared(cls, model_id: str, request: Mapping[str, Any]) -> CommandOptions:
        """The options of a declared request (its spec keys set aside)."""
        options = {k: v for k, v in request.items() if k not in SPEC_KEYS}
        return cast(CommandOptions, cls.parse_options(model_id, options))

    @classmethod
    def build_environment(
        cls, model_id: str, request: Mapping[str, Any], log: Log = no_log
    ) -> Environment | None:
        """The environment precalc builds for a repository model (built now if it is
        not complete yet); None for a model with its own `python`, or no repository."""
        return build_environment(model_id, cls._declared(model_id, request), log)

    @classmethod
    def interpreter(cls, model_id: str, request: Mapping[str, Any]) -> str:
        """Which interpreter the model runs with, for the UI ("" for none)."""
        return shown_interpreter(model_id, cls._declared(model_id, request))

    def run_batch(self, smiles: list[str]) -> pa.Table:
        with tempfile.TemporaryDirectory(prefix="precalc-command-") as tmp:
            folder = Path(tmp)
            input_path, output_path = folder / "input.csv", folder / "output.csv"
            write_input(input_path, smiles)
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
            return read_output(output_path, self.spec.column_names)

    def _run(self, argv: Sequence[str], folder: Path, molecules: int) -> Finished:
        """One run of the program, apart from us (see `models.isolation`)."""
        home = folder / "home"
        home.mkdir()
        settings = self.settings
        environ = self.model_interpreter.environ(home, folder, settings.env, settings.pass_env)
        try:
            return run_program(
                argv,
                cwd=Path(self.cwd) if self.cwd else folder,
                environ=environ,
                logs=folder,
                timeout_s=settings.timeout_s,
            )
        except OSError as exc:
            raise ModelError(
                f"model {self.spec.model_id!r}: cannot start {argv[0]!r} ({exc}); fix the "
                "'command' (or 'repo') of its request, or install the program"
            ) from exc
        except Timeout as exc:
            raise ModelError(
                f"model {self.spec.model_id!r} did not finish a batch of {molecules} "
                f"molecules within {settings.timeout_s:g} s (timeout_s); its processes were "
                "killed. Raise 'timeout_s' or lower 'batch_size' in its request, or fix "
                f"the model. {exc.finished.said()}"
            ) from None
