"""Reading pip command lines of a hub repository's files into checked pip installs.

The plan's commands become a pip command line, so every name, version and option is
checked to be one plausible argument: a repository cannot smuggle a second one. What
precalc cannot reproduce faithfully (conda, requirement files, shell expansion) is
refused, saying what to do instead; what it leaves out is warned about.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from precalc_assets.models.pip_installs import InstallPlan, PipInstall
from precalc_assets.models.shown_text import redact
from precalc_assets.models.spec import ModelError

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
CONDA_TOOLS = {"conda", "mamba", "micromamba"}
ACCEPTED_FORMS = (
    'accepted forms: ["pip", name, version, *pip options] (version "" for unpinned), '
    '["pip", "git+https://..."], or a string "pip install name==version [options]"'
)
MODELS_FILE_ESCAPE = (
    'or give the model "python": "/path/to/env/bin/python" of an environment built by hand '
    "in the deployment's models file"
)
_WHERE_CHARS = 200


class PipReader:
    """One file being read into a plan, with the warnings gathered on the way; the readers
    of `install.yml` and of a Dockerfile add how their file is laid out."""

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
                at = shorten(prefix + shown) if several and prefix else where
                installs.append(self.pip_command(args, at, entry))
            elif _is_conda_install(command):
                raise self.conda(entry)
            elif unknown is not None:
                raise self.fail(
                    f"{unknown} (`{shorten(shown)}` is not a pip install); {ACCEPTED_FORMS}"
                )
            else:
                self.warnings.append(
                    f"{where.split(':', 1)[0]}: `{shorten(shown)}` is not reproduced "
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
                    f'install.yml entries ["pip", "a", "1"]), {MODELS_FILE_ESCAPE}'
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
                    f"{MODELS_FILE_ESCAPE}"
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
                f"{MODELS_FILE_ESCAPE}"
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


def shorten(text: str) -> str:
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
    if os.path.basename(command[0]) not in CONDA_TOOLS:
        return False
    rest = [arg for arg in command[1:] if not arg.startswith("-")]
    return bool(rest) and (rest[0] in ("install", "create") or rest[:2] in (["env", "create"],))
