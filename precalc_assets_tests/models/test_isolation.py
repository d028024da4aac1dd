"""Someone else's program apart from ours: the process environment it gets, and its own
error found in what it printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from precalc_assets.models.isolation import error_line, installer_environ, model_environ

OURS = {
    "PATH": "/work/.venv/bin:/usr/bin",
    "HOME": "/root",
    "LANG": "en_GB.UTF-8",
    "TZ": "Europe/Madrid",
    "RDBASE": "/work/.venv/lib/python3.11/site-packages/rdkit",
    "PYTHONPATH": "/work",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_PROFILE": "prod",
    "PRECALC_STORAGE_URL": "s3://bucket",
    "DAGSTER_HOME": "/dagster",
    "VIRTUAL_ENV": "/work/.venv",
    "PIP_INDEX_URL": "https://pypi.example.com/simple",
    "HTTPS_PROXY": "http://proxy:3128",
    "SSL_CERT_FILE": "/etc/ssl/cert.pem",
    "HF_TOKEN": "named",
}


def test_a_model_gets_its_interpreter_first_a_fresh_home_and_only_what_is_named(tmp_path):
    environ = model_environ(
        tmp_path / "home",
        tmp_path,
        [Path("/envs/abc/bin")],
        env={"OMP_NUM_THREADS": "1"},
        pass_env=["HF_TOKEN", "NOT_SET_HERE"],
        ours=OURS,
    )
    assert environ == {
        "PATH": "/envs/abc/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path),
        "LANG": "en_GB.UTF-8",
        "TZ": "Europe/Madrid",
        "HF_TOKEN": "named",
        "OMP_NUM_THREADS": "1",
    }
    assert model_environ(tmp_path, tmp_path, ours={})["LANG"] == "C.UTF-8"


@pytest.mark.parametrize("name", ["RDBASE", "PYTHONPATH", "AWS_SECRET_ACCESS_KEY", "dagster_home"])
def test_a_forbidden_variable_is_never_given_even_when_named(tmp_path, name):
    environ = model_environ(tmp_path, tmp_path, env={name: "x"}, pass_env=[name.upper()], ours=OURS)
    assert name not in environ and name.upper() not in environ


def test_the_installer_gets_pips_settings_proxies_and_certificates_too(tmp_path):
    environ = installer_environ(tmp_path / "home", tmp_path, ours=OURS)
    assert environ["PIP_INDEX_URL"] == OURS["PIP_INDEX_URL"]
    assert environ["HTTPS_PROXY"] == OURS["HTTPS_PROXY"]
    assert environ["SSL_CERT_FILE"] == OURS["SSL_CERT_FILE"]
    assert not {"RDBASE", "PYTHONPATH", "AWS_SECRET_ACCESS_KEY", "HF_TOKEN"} & set(environ)


# What RDKit 2022.09 printed for a cobalt complex its parser refuses (eos3b5e's run.sh).
BOOST = """\
[08:00:21] Explicit valence for atom # 1 Co, 6, is greater than permitted
Traceback (most recent call last):
  File "/tmp/hub/eos3b5e/model/framework/code/main.py", line 27, in <module>
    outputs = molweight(smiles_list)
  File "/tmp/hub/eos3b5e/model/framework/code/main.py", line 18, in molweight
    return [MolWt(Chem.MolFromSmiles(smi)) for smi in smiles_list]
Boost.Python.ArgumentError: Python argument types in
    rdkit.Chem.rdMolDescriptors._CalcMolWt(NoneType)
did not match C++ signature:
    _CalcMolWt(RDKit::ROMol mol, bool onlyHeavy=False)
"""


@pytest.mark.parametrize(
    ("printed", "line"),
    [
        (
            "Traceback (most recent call last):\n  File 'x', line 1\nValueError: bad SMILES\n",
            "ValueError: bad SMILES",
        ),
        (
            BOOST,
            "Boost.Python.ArgumentError: Python argument types in "
            "rdkit.Chem.rdMolDescriptors._CalcMolWt(NoneType) did not match C++ signature: "
            "_CalcMolWt(RDKit::ROMol mol, bool onlyHeavy=False)",
        ),
        ("run.sh: line 1: MODEL_TOKEN: is not set\n", "run.sh: line 1: MODEL_TOKEN: is not set"),
        ("\n\n", ""),
        ("x" * 500, "x" * 297 + "..."),
    ],
)
def test_a_programs_own_error_is_its_last_exception_on_one_line(printed, line):
    assert error_line(printed) == line
