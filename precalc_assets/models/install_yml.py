"""Reading a hub repository's `install.yml` (python: "3.12", commands: entries like
["pip", "rdkit", "2022.9.5"]) into an install plan."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from precalc_assets.models.pip_installs import InstallPlan, PipInstall
from precalc_assets.models.pip_reading import (
    ACCEPTED_FORMS,
    CONDA_TOOLS,
    PipReader,
    shorten,
)
from precalc_assets.models.shown_text import redact

INSTALL_YML = "install.yml"

# A file's `python` may add a patch, which precalc ignores (any 3.10.x builds a 3.10
# environment).
_FILE_PYTHON = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?$")


class InstallYmlReader(PipReader):
    """An `install.yml` being read: its Python, then each entry in order."""

    def read(self) -> InstallPlan:
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
        shown = shorten(json.dumps(entry, default=str))
        where = f"{INSTALL_YML} entry {number} {shown}"
        if isinstance(entry, str):
            unknown = f"entry {number} of unknown form: {shown}"
            return self.shell_text(entry, where, f"entry {number} {shown}", unknown)
        if not isinstance(entry, list) or not entry:
            raise self.fail(f"entry {number} of unknown form: {shown}; {ACCEPTED_FORMS}")
        for item in entry:
            if isinstance(item, int | float) and not isinstance(item, bool):
                raise self.fail(
                    f"entry {number} {shown}: {item!r} is a YAML number, not a string (an "
                    'unquoted 1.10 is read as 1.1); quote it, like "1.10"'
                )
            if not isinstance(item, str):
                raise self.fail(
                    f"entry {number} of unknown form: {shown} holds {item!r}, not a string; "
                    f"{ACCEPTED_FORMS}"
                )
        head = entry[0].strip().lower()
        if head in CONDA_TOOLS:
            raise self.conda(f"entry {number} {shown}")
        if head != "pip" or len(entry) < 2:
            raise self.fail(f"entry {number} of unknown form: {shown}; {ACCEPTED_FORMS}")
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


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"line {mark.line + 1}: {problem}" if mark is not None else problem
