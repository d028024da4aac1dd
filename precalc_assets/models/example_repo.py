"""An example model repository in the hub's template layout, written without network
access: a first `command` model to try before cloning a real one.

It computes the molecular weight (RDKit `Descriptors.MolWt`), as the hub's eos3b5e does,
and declares its environment as the template does (`install.yml`: this machine's Python
and the RDKit version installed here, so its examples hold on both sides). The files are
the ones the `command` runner reads from a real checkout: `metadata.yml`, `install.yml`,
`model/framework/run.sh`, `code/main.py`, `columns/run_columns.csv` and `examples/`.
"""

from __future__ import annotations

import csv
import sys
from importlib.metadata import version
from pathlib import Path

import yaml
from rdkit import Chem
from rdkit.Chem import Descriptors

EXAMPLES = ("CCO", "c1ccccc1", "CC(=O)Oc1ccccc1C(=O)O", "Cn1cnc2c1c(=O)n(C)c(=O)n2C")

_RUN_SH = 'python "$1/code/main.py" "$2" "$3"\n'

_MAIN_PY = '''"""Molecular weight of each input SMILES (the first row is a header); an empty
cell where RDKit cannot read the SMILES."""

import csv
import sys

from rdkit import Chem, RDLogger
from rdkit.Chem import Descriptors

RDLogger.DisableLog("rdApp.*")


def weight(smiles):
    mol = Chem.MolFromSmiles(smiles)
    return "" if mol is None else repr(Descriptors.MolWt(mol))


with open(sys.argv[1], newline="") as handle:
    smiles = [row[0] for row in list(csv.reader(handle))[1:] if row]
with open(sys.argv[2], "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["mol_weight"])
    writer.writerows([weight(s)] for s in smiles)
'''


class ExampleRepoError(ValueError):
    """The target folder cannot take the example repository."""


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def write_example_repo(path: Path) -> Path:
    """Write the repository at `path` (a new or empty folder; its name is the model's
    identifier) and return it resolved."""
    path = Path(path).resolve()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ExampleRepoError(
            f"{path} already exists and is not an empty folder: name a new folder "
            "for the example repository"
        )
    framework = path / "model" / "framework"
    (framework / "code").mkdir(parents=True, exist_ok=True)
    (framework / "code" / "main.py").write_text(_MAIN_PY)
    (framework / "run.sh").write_text(_RUN_SH)
    card = {
        "Identifier": path.name,
        "Slug": "molecular-weight",
        "Title": "Molecular weight (example repository)",
        "Task": "Regression",
        "Output": ["Value"],
        "Output Type": ["Float"],
        "Output Consistency": "Fixed",
    }
    (path / "metadata.yml").write_text(yaml.safe_dump(card, sort_keys=False))
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    (path / "install.yml").write_text(
        f'python: "{python}"\ncommands:\n    - ["pip", "rdkit", "{version("rdkit")}"]\n'
    )
    _write_rows(
        framework / "columns" / "run_columns.csv",
        [["name", "type", "direction", "description"], ["mol_weight", "float", "high", "MolWt"]],
    )
    examples = framework / "examples"
    weights = [repr(Descriptors.MolWt(Chem.MolFromSmiles(s))) for s in EXAMPLES]
    _write_rows(examples / "run_input.csv", [["smiles"], *([s] for s in EXAMPLES)])
    _write_rows(examples / "run_output.csv", [["mol_weight"], *([w] for w in weights)])
    return path
