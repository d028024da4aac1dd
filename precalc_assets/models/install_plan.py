"""How a hub model repository declares its environment, read into pip commands.

A hub model runs in an environment of its own (its pins conflict with ours and with
other models'), which the hub builds from the repository's `install.yml` or, in older
repositories, from its Dockerfile's `RUN pip install` lines. Precalc builds the same
environment with pip (see `models.environments`), so this module reads those files into
a plan: a Python version and the pip commands in the hub's order. It refuses what it
cannot reproduce faithfully (conda, requirement files, shell expansion), saying what to
do instead, and warns about what it leaves out (unpinned packages, `apt-get` lines).

The plan's commands become a pip command line, so every name, version and option is
checked to be one plausible argument: a repository cannot smuggle a second one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from precalc_assets.models.spec import ModelError
from precalc_assets.models.trust import redact

INSTALL_YML = "install.yml"
DOCKERFILE = "Dockerfile"

# A deployment's `python_version`: major.minor. A file's `python` may add a patch,
# which precalc ignores (any 3.10.x builds a 3.10 environment).
_MAJOR_MINOR = re.compile(r"^(\d+)\.(\d+)$")
_FILE_PYTHON = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?$")
# A distribution name with optional extras (`molfeat[transformer]`), and a version:
# letters, digits and `.+!*_-`, so never a space, a quote, an operator or a leading `-`.
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\[[A-Za-z0-9._-]+(?:,[A-Za-z0-9._-]+)*\])?"
_VERSION = r"[A-Za-z0-9][A-Za-z0-9.+!*_-]*"
_NAME_RE = re.compile(rf"^{_NAME}$")
_VERSION_RE = re.compile(rf"^{_VERSION}$")
_PINNED_RE = re.compile(rf"^{_NAME}==={_VERSION}$|^{_NAME}=={_VERSION}$")
_SPECIFIER = rf"(?:===|==|~=|!=|>=|<=|>|<){_VERSION}"
_RANGED_RE = re.compile(rf"^{_NAME}(?:{_SPECIFIER}(?:,{_SPECIFIER})*)?$")
_GIT_RE = re.compile(r"^git\+(?:https|ssh)://[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]+$")
_URL_RE = re.compile(r"^https?://[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]+$")
# An option's value (an index URL, a host, `:all:`): one argument, no space or quote.
_VALUE_RE = re.compile(r"^[^\s\"'`$-][^\s\"'`$]*$")
# The Python of a Dockerfile's base image: `...-py310`, `...-py3.10`, `python:3.11-slim`.
_FROM_PY = re.compile(r"(?<![A-Za-z])py(\d)\.?(\d{1,2})(?!\d)")
_FROM_PYTHON = re.compile(r"(?<![A-Za-z])python[:-]?(\d)\.(\d{1,2})(?!\d)")

# pip options that change what gets installed: kept (short forms spelt long, so two
# spellings share an environment).
_KEPT_WITH_VALUE = {
    "-i": "--index-url",
    "--index-url": "--index-url",
    "--extra-index-url": "--extra-index-url",
    "-f": "--find-links",
    "--find-links": "--find-links",
    "--trusted-host": "--trusted-host",
    "--no-binary": "--no-binary",
    "--only-binary": "--only-binary",
}
_KEPT_FLAGS = {
    "--no-deps": "--no-deps",
    "--pre": "--pre",
    "--no-index": "--no-index",
    "--prefer-binary": "--prefer-binary",
    "--no-build-isolation": "--no-build-isolation",
    "-I": "--ignore-installed",
    "--ignore-installed": "--ignore-installed",
    "--force-reinstall": "--force-reinstall",
    "--use-pep517": "--use-pep517",
    "--no-use-pep517": "--no-use-pep517",
}
# Options about how pip talks or where a Docker image keeps things: dropped (`--user`
# too: the environment is a venv, where the hub's image had root's site-packages).
_DROPPED_FLAGS = {
    "--no-cache-dir",
    "--quiet",
    "--verbose",
    "--upgrade",
    "--user",
    "--no-warn-script-location",
    "--no-warn-conflicts",
    "--disable-pip-version-check",
    "--no-input",
    "--no-color",
    "--break-system-packages",
    "--isolated",
}
_DROPPED_SHORT = re.compile(r"^-[qvU]+$")
_DROPPED_WITH_VALUE = {
    "--progress-bar",
    "--root-user-action",
    "--timeout",
    "--default-timeout",
    "--retries",
    "--cache-dir",
    "--exists-action",
    "--log",
    "--upgrade-strategy",
}
# Options that install from files of the repository, which precalc does not read.
_FILE_OPTIONS = {
    "-r": "a requirements file",
    "--requirement": "a requirements file",
    "-c": "a constraints file",
    "--constraint": "a constraints file",
    "-e": "a directory in editable mode",
    "--editable": "a directory in editable mode",
}
_CONDA_TOOLS = {"conda", "mamba", "micromamba"}
# Every Dockerfile instruction; anything else (a heredoc's body, a typo) is warned about.
_DOCKER_KEYWORDS = {"FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY"}
_DOCKER_KEYWORDS |= {"ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL"}
_DOCKER_KEYWORDS |= {"HEALTHCHECK", "SHELL"}
_ACCEPTED_FORMS = (
    'accepted forms: ["pip", name, version, *pip options] (version "" for unpinned), '
    '["pip", "git+https://..."], or a string "pip install name==version [options]"'
)
_MODELS_FILE_ESCAPE = (
    'or give the model "python": "/path/to/env/bin/python" of an environment built by hand '
    "in the deployment's models file"
)
_WHERE_CHARS = 200


@dataclass(frozen=True)
class PipInstall:
    """One pip command of the repository, run in order as the hub runs it."""

    requirements: tuple[str, ...]
    options: tuple[str, ...] = ()
    where: str = ""


@dataclass(frozen=True)
class InstallPlan:
    """The environment a repository declares: its Python and its pip commands in order."""

    python: str
    installs: tuple[PipInstall, ...]
    source: str
    warnings: tuple[str, ...] = ()

    def key(self) -> str:
        """What identifies the environment: Python and the pip commands, not where they were
        read, so two repositories with the same pins share one environment."""
        data = {
            "python": self.python,
            "installs": [
                {"requirements": list(i.requirements), "options": list(i.options)}
                for i in self.installs
            ],
        }
        text = json.dumps(data, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def read_install_plan(repo: Path, model_id: str, python_version: str | None = None) -> InstallPlan:
    """The plan of the repository at `repo` (absolute): its `install.yml` when present,
    else its Dockerfile. `python_version` (the deployment's "X.Y") replaces the file's."""
    say = f"model '{model_id}'"
    if python_version is not None and not (
        isinstance(python_version, str) and _MAJOR_MINOR.match(python_version)
    ):
        raise ModelError(
            f'{say}: "python_version" {python_version!r} in the deployment\'s models file must '
            'be a major.minor version string, like "3.10"'
        )
    if not repo.is_dir():
        raise ModelError(f"{say}: the repository {repo} is not a directory; check its path")
    install_yml, dockerfile = repo / INSTALL_YML, repo / DOCKERFILE
    if install_yml.is_file():
        return _Reader(model_id, install_yml, python_version).install_yml()
    if dockerfile.is_file():
        return _Reader(model_id, dockerfile, python_version).dockerfile()
    raise ModelError(
        f"{say}: the repository {repo} has neither {INSTALL_YML} nor {DOCKERFILE}, so precalc "
        'cannot build its environment; add one (install.yml: python: "3.12" and commands: '
        f'["pip", name, version] entries), {_MODELS_FILE_ESCAPE}'
    )


class _Reader:
    """One file being read into a plan, with the warnings gathered on the way."""

    def __init__(self, model_id: str, path: Path, python_version: str | None) -> None:
        self.model_id = model_id
        self.path = path
        self.source = os.path.abspath(path)
        self.override = python_version
        self.python = python_version or ""
        self.warnings: list[str] = []

    def fail(self, problem: str) -> ModelError:
        return ModelError(redact(f"model '{self.model_id}': {self.source} {problem}"))

    def text(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(f"is not UTF-8 text ({exc.reason}); save it as UTF-8") from None
        except OSError as exc:
            raise self.fail(f"cannot be read ({exc.strerror or exc})") from None

    def plan(self, installs: list[PipInstall]) -> InstallPlan:
        return InstallPlan(
            python=self.python,
            installs=tuple(installs),
            source=self.source,
            warnings=tuple(redact(w) for w in self.warnings),
        )

    # install.yml

    def install_yml(self) -> InstallPlan:
        text = self.text()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise self.fail(f"is not valid YAML ({_yaml_problem(exc)}); fix the file") from None
        if not isinstance(data, dict):
            what = "empty" if data is None else f"a YAML {type(data).__name__}, not a mapping"
            raise self.fail(
                f'is {what}; it must be a mapping with python: "3.12" and commands: '
                '[["pip", name, version], ...]'
            )
        if self.override is None:
            self.python = self.file_python(data)
        if "commands" not in data:
            raise self.fail(
                'has no `commands` (a list of entries like ["pip", "rdkit", "2022.9.5"]); add it'
            )
        commands = data["commands"]
        if commands is None:
            commands = []
        if not isinstance(commands, list):
            raise self.fail(
                f"`commands` is a YAML {type(commands).__name__}, not a list of entries like "
                '["pip", "rdkit", "2022.9.5"]; make it a list'
            )
        installs = []
        for number, entry in enumerate(commands, 1):
            installs.extend(self.yml_entry(number, entry))
        if not installs:
            self.warnings.append(
                f"{INSTALL_YML} has no pip entry: the environment has the standard library "
                "and pip only"
            )
        return self.plan(installs)

    def file_python(self, data: dict[str, Any]) -> str:
        if "python" not in data:
            raise self.fail(
                'has no `python` (the Python version, a string like python: "3.12"); add it, '
                'or give "python_version" in the deployment\'s models file'
            )
        value = data["python"]
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise self.fail(
                f"`python` is the number {value!r}, not a string: YAML reads an unquoted 3.10 as "
                'the number 3.1; quote it, like python: "3.10"'
            )
        match = _FILE_PYTHON.match(value) if isinstance(value, str) else None
        if not match:
            raise self.fail(f'`python` is {value!r}; it must be a version string like "3.12"')
        python = f"{match[1]}.{match[2]}"
        if python != value:
            self.warnings.append(
                f'{INSTALL_YML}: python "{value}" is read as "{python}" (any {python}.x)'
            )
        return python

    def yml_entry(self, number: int, entry: Any) -> list[PipInstall]:
        shown = _shorten(json.dumps(entry, default=str))
        where = f"{INSTALL_YML} entry {number} {shown}"
        if isinstance(entry, str):
            unknown = f"entry {number} of unknown form: {shown}"
            return self.shell_text(entry, where, f"entry {number} {shown}", unknown)
        if not isinstance(entry, list) or not entry:
            raise self.fail(f"entry {number} of unknown form: {shown}; {_ACCEPTED_FORMS}")
        for item in entry:
            if isinstance(item, int | float) and not isinstance(item, bool):
                raise self.fail(
                    f"entry {number} {shown}: {item!r} is a YAML number, not a string (an "
                    'unquoted 1.10 is read as 1.1); quote it, like "1.10"'
                )
            if not isinstance(item, str):
                raise self.fail(
                    f"entry {number} of unknown form: {shown} holds {item!r}, not a string; "
                    f"{_ACCEPTED_FORMS}"
                )
        head = entry[0].strip().lower()
        if head in _CONDA_TOOLS:
            raise self.conda(f"entry {number} {shown}")
        if head != "pip" or len(entry) < 2:
            raise self.fail(f"entry {number} of unknown form: {shown}; {_ACCEPTED_FORMS}")
        name = entry[1]
        if name.startswith("git+"):
            requirement = self.git_url(name, f"entry {number} {shown}", where)
            option_items = [item for item in entry[2:] if item != ""]
        elif len(entry) == 2:
            raise self.fail(
                f"entry {number} {shown} must include a version: "
                f'["pip", "{name}", "<version>"] ("" for an unpinned package), or a '
                '"git+https://..." URL'
            )
        else:
            requirement = self.pinned(name, entry[2], f"entry {number} {shown}", where)
            option_items = entry[3:]
        options, stray = self.options(option_items, f"entry {number} {shown}")
        if stray:
            raise self.fail(
                f"entry {number} {shown}: {stray[0]!r} is not a pip option; an entry installs "
                "one package: put each package in an entry of its own"
            )
        return [PipInstall((requirement,), tuple(options), redact(where))]

    def pinned(self, name: str, version: str, entry: str, where: str) -> str:
        if not _NAME_RE.match(name):
            raise self.fail(
                f"{entry}: {name!r} is not a package name (letters, digits, '.', '_', '-', "
                "optional [extras]); fix the entry"
            )
        if version == "":
            self.warnings.append(
                f'{where}: {name} is not pinned (its version is ""): the environment gets '
                "whatever the index offers when it is built"
            )
            return name
        if not _VERSION_RE.match(version):
            raise self.fail(
                f"{entry}: {version!r} is not a version (letters, digits and '.+!*_-' only: "
                'no spaces, quotes or operators, like "2022.9.5"); fix the entry'
            )
        return f"{name}=={version}"

    def git_url(self, url: str, entry: str, where: str) -> str:
        if not _GIT_RE.match(url):
            raise self.fail(
                f"{entry}: {url!r} is not a git URL precalc accepts "
                "(git+https://host/owner/repo.git[@commit], without spaces or quotes)"
            )
        if "@" not in url.split("://", 1)[1].split("/", 1)[-1]:
            self.warnings.append(
                f"{where}: {url} is not pinned to a commit (@<commit>): the environment gets "
                "whatever the branch holds when it is built"
            )
        return url

    def conda(self, entry: str) -> ModelError:
        python = self.python or "X.Y"
        return self.fail(
            f"{entry} is a conda install: precalc builds pip environments only. A deployment "
            "gets a conda environment by building it itself (e.g. conda create -p "
            f"/opt/envs/{self.model_id} python={python} and the repository's packages) and "
            f'giving the model "python": "/opt/envs/{self.model_id}/bin/python" in the '
            "deployment's models file"
        )

    # pip command lines (an install.yml string entry, a Dockerfile RUN)

    def shell_text(
        self, text: str, where: str, entry: str, unknown: str | None, prefix: str = ""
    ) -> list[PipInstall]:
        """The pip installs of one shell command line. Other commands are refused, saying
        `unknown` (install.yml), or when it is None warned about (a Dockerfile). When the
        line holds several commands, each install's `where` is `prefix` and its command."""
        try:
            lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            lexer.commenters = ""
            tokens = list(lexer)
        except ValueError as exc:
            raise self.fail(f"{entry}: cannot be read as a shell command ({exc})") from None
        return self.commands(_split_commands(tokens), where, entry, unknown, prefix)

    def commands(
        self,
        commands: list[list[str]],
        where: str,
        entry: str,
        unknown: str | None,
        prefix: str = "",
    ) -> list[PipInstall]:
        installs = []
        several = len(commands) > 1
        for command in commands:
            args = _pip_install_args(command)
            shown = shlex.join(command)
            if args is not None:
                at = _shorten(prefix + shown) if several and prefix else where
                installs.append(self.pip_command(args, at, entry))
            elif _is_conda_install(command):
                raise self.conda(entry)
            elif unknown is not None:
                raise self.fail(
                    f"{unknown} (`{_shorten(shown)}` is not a pip install); {_ACCEPTED_FORMS}"
                )
            else:
                self.warnings.append(
                    f"{where.split(':', 1)[0]}: `{_shorten(shown)}` is not reproduced "
                    "(precalc installs only the pip packages)"
                )
        return installs

    def pip_command(self, args: list[str], where: str, entry: str) -> PipInstall:
        options, specs = self.options(args, entry)
        if not specs:
            raise self.fail(f"{entry}: the pip install names no package; name one, like x==1.0")
        requirements = tuple(self.spec(spec, entry, where) for spec in specs)
        return PipInstall(requirements, tuple(options), redact(where))

    def options(self, args: Sequence[str], entry: str) -> tuple[list[str], list[str]]:
        """The pip options of `args` that change what is installed (normalised), and the
        arguments that are not options; cosmetic options are dropped."""
        kept: list[str] = []
        rest: list[str] = []
        index = 0
        while index < len(args):
            arg = args[index]
            index += 1
            if not arg.startswith("-") or arg == "-":
                rest.append(arg)
                continue
            name, has_value, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
            takes_value = name in _KEPT_WITH_VALUE or name in _DROPPED_WITH_VALUE
            if name in _FILE_OPTIONS:
                raise self.fail(
                    f"{entry}: `pip install {arg}` installs {_FILE_OPTIONS[name]}, which precalc "
                    "does not read; write the pins themselves (pip install a==1 b==2, or "
                    f'install.yml entries ["pip", "a", "1"]), {_MODELS_FILE_ESCAPE}'
                )
            if takes_value and not has_value:
                if index >= len(args):
                    raise self.fail(f"{entry}: the pip option {arg} has no value; give it one")
                value = args[index]
                index += 1
            if name in _KEPT_WITH_VALUE:
                if not _VALUE_RE.match(value):
                    raise self.fail(
                        f"{entry}: {value!r} is not a value precalc accepts for {name} (one "
                        "argument without spaces or quotes); fix it"
                    )
                kept.extend((_KEPT_WITH_VALUE[name], value))
            elif name in _KEPT_FLAGS and not has_value:
                kept.append(_KEPT_FLAGS[name])
            elif takes_value or (
                not has_value and (name in _DROPPED_FLAGS or _DROPPED_SHORT.match(name))
            ):
                continue
            else:
                raise self.fail(
                    f"{entry}: precalc does not know the pip option {arg!r}, so it cannot tell "
                    "whether the environment would be the same; remove it, "
                    f"{_MODELS_FILE_ESCAPE}"
                )
        return kept, rest

    def spec(self, spec: str, entry: str, where: str) -> str:
        if any(c in spec for c in "$`"):
            raise self.fail(
                f"{entry}: {spec!r} uses shell expansion, which precalc does not reproduce; "
                "write the value itself"
            )
        if spec.startswith("git+"):
            return self.git_url(spec, entry, where)
        if _URL_RE.match(spec):
            return spec
        if spec.startswith((".", "/", "~", "file:")) or spec.endswith((".whl", ".tar.gz", ".zip")):
            raise self.fail(
                f"{entry}: {spec!r} is a local path, which precalc does not install (it builds "
                "from a package index); install a released version (name==version), "
                f"{_MODELS_FILE_ESCAPE}"
            )
        if _PINNED_RE.match(spec):
            return spec
        if _RANGED_RE.match(spec):
            self.warnings.append(
                f"{where}: {spec} is not pinned (name==version): the environment gets whatever "
                "the index offers when it is built"
            )
            return spec
        raise self.fail(
            f"{entry}: {spec!r} is not a package spec precalc accepts (name==version, "
            "name[extra]==version, git+https://...)"
        )

    # Dockerfile

    def dockerfile(self) -> InstallPlan:
        instructions = _dockerfile_instructions(self.text())
        if self.override is None:
            self.python = self.from_python(instructions)
        installs: list[PipInstall] = []
        for number, keyword, args in instructions:
            if keyword in ("ENV", "ARG") and "PIP_" in args:
                self.warnings.append(
                    f"{DOCKERFILE} line {number}: {keyword} {_shorten(args)} is not reproduced "
                    "(the build uses this machine's pip settings)"
                )
            elif keyword not in _DOCKER_KEYWORDS:
                self.warnings.append(
                    f"{DOCKERFILE} line {number}: `{_shorten(keyword)}` is not a Dockerfile "
                    "instruction (a RUN heredoc?); ignored"
                )
            if keyword != "RUN":
                continue
            args = _strip_run_flags(args)
            where = _shorten(f"{DOCKERFILE} line {number}: RUN {args}")
            entry = f"line {number} (RUN {_shorten(args)})"
            exec_form = _exec_form(args)
            if exec_form is not None:
                installs.extend(self.commands([exec_form], where, entry, None))
            else:
                prefix = f"{DOCKERFILE} line {number}: RUN "
                installs.extend(self.shell_text(args, where, entry, None, prefix))
        if not installs:
            self.warnings.append(
                f"{DOCKERFILE} has no pip install: the environment has the standard library "
                "and pip only"
            )
        return self.plan(installs)

    def from_python(self, instructions: list[tuple[int, str, str]]) -> str:
        froms = [(number, args) for number, keyword, args in instructions if keyword == "FROM"]
        for _, args in froms:
            for image in args.split():
                match = _FROM_PYTHON.search(image) or _FROM_PY.search(image)
                if match and not image.startswith("--"):
                    return f"{match[1]}.{match[2]}"
        seen = "; ".join(f"line {n}: FROM {args}" for n, args in froms) or "no FROM line"
        raise self.fail(
            f"does not say which Python the model needs ({_shorten(seen)}: no -py310, -py3.10 or "
            'python:3.10 tag); give "python_version": "3.10" (the version the model needs) in '
            "the deployment's models file"
        )


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"line {mark.line + 1}: {problem}" if mark is not None else problem


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _WHERE_CHARS else text[: _WHERE_CHARS - 3] + "..."


def _split_commands(tokens: list[str]) -> list[list[str]]:
    """Shell tokens cut into simple commands at `&&`, `;`, `|`..., without redirections."""
    commands: list[list[str]] = []
    current: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if set(token) <= set("&|;()"):
            if current:
                commands.append(current)
            current = []
        elif set(token) <= set("<>&|;()") and ("<" in token or ">" in token):
            # A redirection: drop it, its target and a file descriptor before it (`2>&1`).
            if current and current[-1].isdigit():
                current.pop()
            index += 1
        else:
            current.append(token)
    if current:
        commands.append(current)
    return commands


def _pip_install_args(command: list[str]) -> list[str] | None:
    """The arguments after `pip install` when `command` is one, else None."""
    head = os.path.basename(command[0])
    if re.match(r"^pip(?:3(?:\.\d+)?)?$", head) and command[1:2] == ["install"]:
        return command[2:]
    if re.match(r"^python(?:3(?:\.\d+)?)?$", head) and command[1:4] == ["-m", "pip", "install"]:
        return command[4:]
    return None


def _is_conda_install(command: list[str]) -> bool:
    if os.path.basename(command[0]) not in _CONDA_TOOLS:
        return False
    rest = [arg for arg in command[1:] if not arg.startswith("-")]
    return bool(rest) and (rest[0] in ("install", "create") or rest[:2] in (["env", "create"],))


def _dockerfile_instructions(text: str) -> list[tuple[int, str, str]]:
    """(first line number, KEYWORD, arguments) of each instruction, with `\\` continuation
    lines joined as Docker joins them, and comment lines skipped."""
    instructions = []
    start, parts = 0, []  # parts: the lines of an unfinished instruction
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not parts:
            start = number
        if line.endswith("\\"):
            parts.append(line[:-1])
            continue
        parts.append(line)
        instructions.append(_instruction(start, "".join(parts)))
        parts = []
    if parts:
        instructions.append(_instruction(start, "".join(parts)))
    return instructions


def _instruction(number: int, text: str) -> tuple[int, str, str]:
    keyword, _, args = text.strip().partition(" ")
    return number, keyword.upper(), args.strip()


def _strip_run_flags(args: str) -> str:
    """A RUN's arguments without BuildKit's own flags (`--mount=...`, `--network=...`)."""
    while args.startswith("--"):
        _, _, args = args.partition(" ")
        args = args.lstrip()
    return args


def _exec_form(args: str) -> list[str] | None:
    """The argv of an exec-form RUN (`RUN ["pip", "install", "x==1"]`), else None."""
    if not args.startswith("["):
        return None
    try:
        argv = json.loads(args)
    except json.JSONDecodeError:
        return None
    if isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv):
        return argv
    return None
