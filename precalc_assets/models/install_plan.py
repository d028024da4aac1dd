"""How a hub model repository declares its environment, read into pip commands.

A hub model runs in an environment of its own (its pins conflict with ours and with
other models'), which the hub builds from the repository's `install.yml` or, in older
repositories, from its Dockerfile's `RUN pip install` lines. Precalc builds the same
environment with pip (see `models.environments`), so this module reads those files into
a plan (`models.pip_installs`): a Python version and the pip commands in the hub's order.
`models.pip_reading` checks each command; `models.install_yml` and `models.dockerfile`
read each file's layout.
"""

from __future__ import annotations

import re
from pathlib import Path

from precalc_assets.models.dockerfile import DOCKERFILE, DockerfileReader
from precalc_assets.models.install_yml import INSTALL_YML, InstallYmlReader
from precalc_assets.models.pip_installs import InstallPlan
from precalc_assets.models.pip_reading import MODELS_FILE_ESCAPE
from precalc_assets.models.spec import ModelError

# A deployment's `python_version`: major.minor.
_MAJOR_MINOR = re.compile(r"^(\d+)\.(\d+)$")


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
        return InstallYmlReader(model_id, install_yml, python_version).read()
    if dockerfile.is_file():
        return DockerfileReader(model_id, dockerfile, python_version).read()
    raise ModelError(
        f"{say}: the repository {repo} has neither {INSTALL_YML} nor {DOCKERFILE}, so precalc "
        'cannot build its environment; add one (install.yml: python: "3.12" and commands: '
        f'["pip", name, version] entries), {MODELS_FILE_ESCAPE}'
    )
