"""Model repositories in the hub's template layout, built on disk for the `command`
runner's tests, shaped like the real ones (eos3b5e, eos8a4x, eos-template):

- `model/framework/run.sh` is `python $1/code/main.py $2 $3`: it runs whichever
  `python` comes first on its PATH, as the hub's own server runs it;
- the card is `metadata.json` (older repositories) or `metadata.yml` (the template);
- the environment is declared in `install.yml` (`python: "3.11"`, pip entries) or, in
  older repositories, only in the Dockerfile's `RUN pip install` lines;
- an output the model cannot compute is an empty cell.

Three models:
- `make_model_repo`: molecular weight (RDKit `Descriptors.MolWt`), with switchable faults;
- `make_descriptor_repo`: 50 RDKit descriptors (22 float, 28 integer), two of them
  Gasteiger charges that are NaN (an empty cell) for metal complexes;
- `make_fingerprint_repo`: Morgan counts, 2,048 integer columns, as eos5axz answers them
  (the wide model of `benchmarks/wide_model.py`).

Each run of a model appends `{"event": "start" | "end", "pid", "time", "molecules"}` lines
to `<repo>/calls.log` (read them with `read_calls`) and writes the process environment
it ran with, and its interpreter, to `<repo>/environ.json` (`read_environ`).
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from rdkit import Chem
from rdkit.Chem import Descriptors

EXAMPLE_SMILES = ("CCO", "c1ccccc1", "CC(=O)O", "CCN(CC)CC", "OC(=O)c1ccccc1O")
CALLS_LOG = "calls.log"
ENVIRON = "environ.json"
RUN_SH = 'python "$1/code/main.py" "$2" "$3"\n'
THIS_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

# Shared by both models: the call log and the environment report.
_RECORD_PY = """
def record(event, molecules):
    line = {"event": event, "pid": os.getpid(), "time": time.time(), "molecules": molecules}
    with open(os.path.join(REPO, "calls.log"), "a") as handle:
        handle.write(json.dumps(line) + "\\n")
    if event == "start":
        seen = {"environ": dict(os.environ), "executable": sys.executable}
        with open(os.path.join(REPO, "environ.json"), "w") as handle:
            json.dump(seen, handle)


def read_smiles(path):
    with open(path, newline="") as handle:
        return [row[0] for row in list(csv.reader(handle))[1:] if row]
"""

_MAIN_PY = (
    '''"""Molecular weight of each input SMILES; the first row is a header, whatever
its name."""

import csv
import json
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CONFIG = json.loads(open(os.path.join(os.path.dirname(__file__), "faults.json")).read())
'''
    + _RECORD_PY
    + """

def main(input_path, output_path):
    smiles = read_smiles(input_path)
    record("start", len(smiles))
    try:
        if CONFIG["hang_s"]:
            time.sleep(CONFIG["hang_s"])
        if CONFIG["exit_code"] is not None:
            for i in range(30):
                print(f"Traceback line {i} of a long story", file=sys.stderr)
            print("FATAL: this model cannot run here (exit_code fault)", file=sys.stderr)
            sys.exit(CONFIG["exit_code"])
        fail_on = CONFIG["fail_on"]
        if fail_on and any(fail_on in s for s in smiles):
            raise ValueError(f"cannot handle a molecule containing {fail_on!r}")
        from rdkit import Chem
        from rdkit.Chem import Descriptors

        rows = [[repr(Descriptors.MolWt(Chem.MolFromSmiles(s)))] for s in smiles]
        if CONFIG["empty_values"]:
            for i in range(1, len(rows), 2):
                rows[i] = [""]
        if CONFIG["wrong_rows"] and len(rows) > 1:
            rows = rows[:-1]
        with open(output_path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["mol_weight"])
            writer.writerows(rows)
    finally:
        record("end", len(smiles))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
"""
)

# (RDKit descriptor, the hub's type): stable across RDKit 2022.09-2026.09 on the examples.
DESCRIPTORS = (
    *(
        (name, "float")
        for name in (
            "MolWt", "ExactMolWt", "HeavyAtomMolWt", "MolLogP", "MolMR", "TPSA", "LabuteASA",
            "BalabanJ", "BertzCT", "Chi0", "Chi0n", "Chi0v", "Chi1", "Chi1n", "Chi1v",
            "Kappa1", "Kappa2", "Kappa3", "HallKierAlpha", "FractionCSP3",
            "MaxPartialCharge", "MinPartialCharge",
        )
    ),
    *(
        (name, "integer")
        for name in (
            "HeavyAtomCount", "NHOHCount", "NOCount", "NumHeteroatoms", "NumRotatableBonds",
            "NumValenceElectrons", "NumAromaticRings", "NumAliphaticRings",
            "NumSaturatedRings", "RingCount", "NumRadicalElectrons", "fr_halogen",
            "fr_benzene", "fr_ester", "fr_ether", "fr_amide", "fr_Al_OH", "fr_Ar_OH",
            "fr_COO", "fr_nitro", "fr_sulfonamd", "fr_prisulfonamd", "fr_NH2", "fr_ketone",
            "fr_aldehyde", "fr_C_O", "fr_pyridine", "fr_phenol",
        )
    ),
)  # fmt: skip
# The two columns a metal complex leaves empty (Gasteiger charges are NaN for it).
GASTEIGER = ("maxpartialcharge", "minpartialcharge")
# Its examples, computed here with our RDKit, as its author's would be with theirs: they
# hold no primary sulfonamide, whose `fr_prisulfonamd` RDKit 2022.09 counts 0 and 2026.09
# counts 1 (so an RDKit reading another version's data files is caught by values only).
DESCRIPTOR_EXAMPLES = (
    "CCO",
    "c1ccccc1",
    "CC(=O)Oc1ccccc1C(=O)O",
    "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
)

_DESCRIPTORS_PY = (
    '''"""RDKit descriptors of each input SMILES, as the hub's eos8a4x computes them."""

import csv
import json
import math
import os
import sys
import time

from rdkit import Chem
from rdkit.Chem import Descriptors

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
COLUMNS = COLUMNS_JSON
'''
    + _RECORD_PY
    + """

def value(mol, name, kind):
    number = getattr(Descriptors, name)(mol)
    if kind == "integer":
        return str(int(number))
    return "" if math.isnan(number) or math.isinf(number) else repr(float(number))


def main(input_path, output_path):
    smiles = read_smiles(input_path)
    record("start", len(smiles))
    try:
        rows = []
        for text in smiles:
            mol = Chem.MolFromSmiles(text)
            if mol is None:
                raise ValueError(f"RDKit cannot read the SMILES {text!r}")
            rows.append([value(mol, name, kind) for name, kind in COLUMNS])
        with open(output_path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([name.lower() for name, _ in COLUMNS])
            writer.writerows(rows)
    finally:
        record("end", len(smiles))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
"""
)

_SCORE_PY = '''"""A model outside any repository: `score.py input.csv output.csv`. Writes the
molecular weight (empty for a SMILES RDKit cannot read), the input text itself and the
working directory, one row per input row after the header."""

import csv
import os
import sys

from rdkit import Chem, RDLogger
from rdkit.Chem import Descriptors

RDLogger.DisableLog("rdApp.*")

with open(sys.argv[1], newline="") as handle:
    smiles = [row[0] for row in list(csv.reader(handle))[1:] if row]
rows = []
for s in smiles:
    mol = Chem.MolFromSmiles(s)
    rows.append(["" if mol is None else repr(Descriptors.MolWt(mol)), s, os.getcwd()])
with open(sys.argv[2], "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["mol_weight", "echo", "cwd"])
    writer.writerows(rows)
'''


def mol_weight(smiles: str) -> float:
    return Descriptors.MolWt(Chem.MolFromSmiles(smiles))


def _write_csv(path: Path, rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def write_card(path: Path, card: str | None, fields: dict[str, Any]) -> None:
    """The repository's card: `metadata.json`, `metadata.yml` (the template's) or none."""
    if card == "json":
        (path / "metadata.json").write_text(json.dumps(fields, indent=4))
    elif card == "yml":
        (path / "metadata.yml").write_text(yaml.safe_dump(fields, sort_keys=False))
    elif card is not None:
        raise ValueError(f"card must be 'json', 'yml' or None, got {card!r}")


def write_install(
    path: Path, install: str | None, pins: Sequence[tuple[str, str]], python: str
) -> None:
    """How the repository declares its environment: `install.yml` (the template's),
    only a Dockerfile (older repositories), or nothing."""
    if install == "yml":
        entries = "".join(f'    - ["pip", "{name}", "{version}"]\n' for name, version in pins)
        (path / "install.yml").write_text(f'python: "{python}"\ncommands:\n{entries}')
    elif install == "dockerfile":
        tag = python.replace(".", "")
        lines = [f"FROM bentoml/model-server:0.11.0-py{tag}", "MAINTAINER ersilia", ""]
        lines += [f"RUN pip install {name}=={version}" for name, version in pins]
        lines += ["", "WORKDIR /repo", "COPY . /repo", ""]
        (path / "Dockerfile").write_text("\n".join(lines))
    elif install is not None:
        raise ValueError(f"install must be 'yml', 'dockerfile' or None, got {install!r}")


def make_model_repo(
    path: Path,
    *,
    fail_on: str | None = None,
    exit_code: int | None = None,
    hang_s: float = 0,
    wrong_rows: bool = False,
    empty_values: bool = False,
    consistency: str = "Fixed",
    broken_examples: bool = False,
    examples: bool = True,
    examples_header: str = "input",
    examples_key: bool = False,
    column_type: str = "float",
    slug: str | None = None,
    card: str | None = "json",
    install: str | None = None,
    pins: Sequence[tuple[str, str]] = (),
    python: str = THIS_PYTHON,
    run_sh: bool = True,
    run_columns: bool = True,
) -> Path:
    """Write a template-layout repository at `path` (its name is the model's identifier)
    and return `path`.

    Faults of the model (each run is one batch):
    - `fail_on`: a batch holding a SMILES that contains this substring raises
      `ValueError: cannot handle a molecule containing '<fail_on>'` (a traceback on
      stderr, exit 1);
    - `exit_code`: always exit with it, after 31 lines of stderr;
    - `hang_s`: sleep this long first;
    - `wrong_rows`: a batch of more than one molecule gets one row less (a single
      molecule is answered right, so halving recovers every value);
    - `empty_values`: an empty cell for every other row (rows 2, 4, ... of a batch).

    Files: `broken_examples` makes the example outputs differ from what the model
    computes (+1.0); `examples=False` writes no examples folder; `examples_header`
    names the example input column and `examples_key` adds a `key` column before it
    (and `key,input` columns before the outputs); `column_type` is the type written
    in `run_columns.csv`; `card` is "json", "yml" or None; `install` ("yml",
    "dockerfile" or None) declares `pins` for Python `python`; `run_sh=False` and
    `run_columns=False` leave out those files. Without `install`, run it with a given
    `"python"` (`own_python`).
    """
    path = Path(path).resolve()
    framework = path / "model" / "framework"
    code = framework / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "main.py").write_text(_MAIN_PY)
    faults = {
        "fail_on": fail_on,
        "exit_code": exit_code,
        "hang_s": hang_s,
        "wrong_rows": wrong_rows,
        "empty_values": empty_values,
    }
    (code / "faults.json").write_text(json.dumps(faults, indent=2))
    if run_sh:
        (framework / "run.sh").write_text(RUN_SH)
    if run_columns:
        _write_csv(
            framework / "columns" / "run_columns.csv",
            [
                ["name", "type", "direction", "description"],
                ["mol_weight", column_type, "high", "Molecular weight"],
            ],
        )
    write_card(
        path,
        card,
        {
            "Identifier": path.name,
            "Slug": slug if slug is not None else f"{path.name}-molecular-weight",
            "Title": "Molecular weight (test model)",
            "Task": "Regression",
            "Output Consistency": consistency,
            "Output Type": ["Float"],
        },
    )
    write_install(path, install, pins, python)
    if examples:
        folder = framework / "examples"
        key = ["key"] if examples_key else []
        inputs = [[*key, examples_header]]
        outputs = [[*key, *(["input"] if examples_key else []), "mol_weight"]]
        for i, smiles in enumerate(EXAMPLE_SMILES):
            weight = mol_weight(smiles) + (1.0 if broken_examples else 0.0)
            row_key = [f"key-{i}"] if examples_key else []
            inputs.append([*row_key, smiles])
            outputs.append([*row_key, *([smiles] if examples_key else []), repr(weight)])
        _write_csv(folder / "run_input.csv", inputs)
        _write_csv(folder / "run_output.csv", outputs)
    return path


def descriptor_cell(mol: Chem.Mol, name: str, kind: str) -> str:
    """One output cell as the descriptor model writes it (with this process's RDKit)."""
    number = getattr(Descriptors, name)(mol)
    if kind == "integer":
        return str(int(number))
    return "" if math.isnan(number) or math.isinf(number) else repr(float(number))


def make_descriptor_repo(
    path: Path,
    *,
    card: str | None = "yml",
    install: str | None = "yml",
    pins: Sequence[tuple[str, str]] = (),
    python: str = THIS_PYTHON,
) -> Path:
    """Write a wide descriptor model (50 columns, 22 float and 28 integer, lower-cased
    names as eos8a4x has them) at `path`; return `path`. A SMILES its RDKit cannot
    read fails its batch with `ValueError: RDKit cannot read the SMILES '<smiles>'`."""
    path = Path(path).resolve()
    framework = path / "model" / "framework"
    (framework / "code").mkdir(parents=True, exist_ok=True)
    columns = json.dumps([list(c) for c in DESCRIPTORS])
    (framework / "code" / "main.py").write_text(_DESCRIPTORS_PY.replace("COLUMNS_JSON", columns))
    (framework / "run.sh").write_text(RUN_SH)
    _write_csv(
        framework / "columns" / "run_columns.csv",
        [["name", "type", "direction", "description"]]
        + [[name.lower(), kind, "high", f"RDKit {name}"] for name, kind in DESCRIPTORS],
    )
    write_card(
        path,
        card,
        {
            "Identifier": path.name,
            "Slug": "rdkit-descriptors-50",
            "Title": "Fifty RDKit descriptors (test model)",
            "Task": "Representation",
            "Output": ["Value"],
            "Output Dimension": len(DESCRIPTORS),
            "Output Consistency": "Fixed",
        },
    )
    write_install(path, install, pins, python)
    outputs = [[name.lower() for name, _ in DESCRIPTORS]]
    for smiles in DESCRIPTOR_EXAMPLES:
        mol = Chem.MolFromSmiles(smiles)
        outputs.append([descriptor_cell(mol, name, kind) for name, kind in DESCRIPTORS])
    _write_csv(
        framework / "examples" / "run_input.csv", [["smiles"], *([s] for s in DESCRIPTOR_EXAMPLES)]
    )
    _write_csv(framework / "examples" / "run_output.csv", outputs)
    return path


_FINGERPRINT_PY = '''"""Morgan count fingerprints (radius 2) of each input SMILES, BITS integer
columns; a SMILES RDKit cannot read is a row of empty cells."""

import csv
import sys

import numpy as np
from rdkit import Chem, RDLogger
from rdkit.Chem import rdFingerprintGenerator

RDLogger.DisableLog("rdApp.*")
GENERATOR = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=BITS)

with open(sys.argv[1], newline="") as handle:
    smiles = [row[0] for row in list(csv.reader(handle))[1:] if row]
with open(sys.argv[2], "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow([f"dim_{i:04d}" for i in range(BITS)])
    for text in smiles:
        mol = Chem.MolFromSmiles(text)
        counts = GENERATOR.GetCountFingerprintAsNumPy(mol) if mol is not None else None
        writer.writerow([""] * BITS if counts is None else counts.astype(np.int64).tolist())
'''


def make_fingerprint_repo(path: Path, bits: int = 2048) -> Path:
    """Write a wide model (Morgan counts, `bits` integer columns) at `path`, run with
    whichever `python` has RDKit (no pins); return `path`."""
    path = Path(path).resolve()
    framework = path / "model" / "framework"
    (framework / "code").mkdir(parents=True, exist_ok=True)
    (framework / "code" / "main.py").write_text(_FINGERPRINT_PY.replace("BITS", str(bits)))
    (framework / "run.sh").write_text(RUN_SH)
    names = [f"dim_{i:04d}" for i in range(bits)]
    _write_csv(
        framework / "columns" / "run_columns.csv",
        [["name", "type", "direction", "description"]]
        + [[name, "integer", "", "Morgan count"] for name in names],
    )
    write_card(
        path,
        "yml",
        {
            "Identifier": path.name,
            "Slug": "morgan-counts",
            "Title": "Morgan count fingerprints (test model)",
            "Output Dimension": bits,
            "Output Consistency": "Fixed",
        },
    )
    _write_csv(
        framework / "examples" / "run_input.csv", [["smiles"], *([s] for s in EXAMPLE_SMILES)]
    )
    return path


def own_python(repo: Path, **options: Any) -> dict[str, Any]:
    """A `command` request running `repo` with this process's own interpreter (its
    environment has RDKit): no environment to build."""
    return {"runner": "command", "repo": str(repo), "python": sys.executable, **options}


def read_calls(repo: Path) -> list[dict[str, Any]]:
    """The `start`/`end` events of every run of the repository's model, in log order."""
    log = Path(repo) / CALLS_LOG
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def read_environ(repo: Path) -> dict[str, Any]:
    """What the model's last run saw: `{"environ": {...}, "executable": ...}`."""
    return json.loads((Path(repo) / ENVIRON).read_text())


def make_score_script(path: Path) -> Path:
    """Write `score.py` (taking `input.csv output.csv`; columns `mol_weight`, `echo`,
    `cwd`) at `path`, or inside it when `path` is a directory; return the script."""
    path = Path(path).resolve()
    script = path / "score.py" if path.is_dir() else path
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(_SCORE_PY)
    return script
