"""Reading an older hub repository's Dockerfile (`FROM ...-py310`, `RUN pip install`
lines) into an install plan; its other lines are warned about, not reproduced."""

from __future__ import annotations

import json
import re

from precalc_assets.models.pip_installs import InstallPlan, PipInstall
from precalc_assets.models.pip_reading import PipReader, shorten

DOCKERFILE = "Dockerfile"

# The Python of a Dockerfile's base image: `...-py310`, `...-py3.10`, `python:3.11-slim`.
_FROM_PY = re.compile(r"(?<![A-Za-z])py(\d)\.?(\d{1,2})(?!\d)")
_FROM_PYTHON = re.compile(r"(?<![A-Za-z])python[:-]?(\d)\.(\d{1,2})(?!\d)")
# Every Dockerfile instruction; anything else (a heredoc's body, a typo) is warned about.
_DOCKER_KEYWORDS = {"FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY"}
_DOCKER_KEYWORDS |= {"ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL"}
_DOCKER_KEYWORDS |= {"HEALTHCHECK", "SHELL"}


class DockerfileReader(PipReader):
    """A Dockerfile being read: its base image's Python, then each RUN in order."""

    def read(self) -> InstallPlan:
        instructions = _dockerfile_instructions(self.text())
        if self.override is None:
            self.python = self.from_python(instructions)
        installs: list[PipInstall] = []
        for number, keyword, args in instructions:
            if keyword in ("ENV", "ARG") and "PIP_" in args:
                self.warnings.append(
                    f"{DOCKERFILE} line {number}: {keyword} {shorten(args)} is not reproduced "
                    "(the build uses this machine's pip settings)"
                )
            elif keyword not in _DOCKER_KEYWORDS:
                self.warnings.append(
                    f"{DOCKERFILE} line {number}: `{shorten(keyword)}` is not a Dockerfile "
                    "instruction (a RUN heredoc?); ignored"
                )
            if keyword != "RUN":
                continue
            args = _strip_run_flags(args)
            where = shorten(f"{DOCKERFILE} line {number}: RUN {args}")
            entry = f"line {number} (RUN {shorten(args)})"
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
            f"does not say which Python the model needs ({shorten(seen)}: no -py310, -py3.10 or "
            'python:3.10 tag); give "python_version": "3.10" (the version the model needs) in '
            "the deployment's models file"
        )


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
