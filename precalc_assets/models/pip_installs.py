"""The environment a hub repository declares, as precalc reads it: a Python version and
the pip commands in the hub's order (read by `models.install_plan`, built by
`models.environments`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


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
