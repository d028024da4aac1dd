"""Model repositories in the hub's template layout, built on disk for the `command`
runner's tests: a molecular-weight model (RDKit `Descriptors.MolWt`) with switchable
faults, run as a real subprocess through `model/framework/run.sh`.

Each run of the model appends `{"event": "start" | "end", "pid", "time", "molecules"}`
lines to `<repo>/calls.log` (read them with `read_calls`).
"""

from __future__ import annotations

import csv
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from rdkit import Chem
from rdkit.Chem import Descriptors

EXAMPLE_SMILES = ("CCO", "c1ccccc1", "CC(=O)O", "CCN(CC)CC", "OC(=O)c1ccccc1O")
CALLS_LOG = "calls.log"

_MAIN_PY = '''"""Molecular weight of each input SMILES; the first row is a header, whatever
its name."""

import csv
import json
import os
import sys
import time
from pathlib import Path

CONFIG = json.loads((Path(__file__).parent / "faults.json").read_text())


def record(event, molecules):
    line = {"event": event, "pid": os.getpid(), "time": time.time(), "molecules": molecules}
    with open(CONFIG["calls_log"], "a") as handle:
        handle.write(json.dumps(line) + "\\n")


def main(input_path, output_path):
    with open(input_path, newline="") as handle:
        smiles = [row[0] for row in list(csv.reader(handle))[1:] if row]
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
            print(f"ERROR: cannot handle a molecule containing {fail_on!r}", file=sys.stderr)
            sys.exit(1)
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
'''

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
    metadata: bool = True,
    run_sh: bool = True,
    run_columns: bool = True,
) -> Path:
    """Write a template-layout repository at `path` (its name is the model's identifier)
    and return `path`.

    Faults of the model (each run is one batch):
    - `fail_on`: exit 1 for a batch holding a SMILES that contains this substring;
    - `exit_code`: always exit with it, after 31 lines of stderr;
    - `hang_s`: sleep this long first;
    - `wrong_rows`: a batch of more than one molecule gets one row less (a single
      molecule is answered right, so halving recovers every value);
    - `empty_values`: an empty cell for every other row (rows 2, 4, ... of a batch).

    Files: `broken_examples` makes the example outputs differ from what the model
    computes (+1.0); `examples=False` writes no examples folder; `examples_header`
    names the example input column and `examples_key` adds a `key` column before it
    (and `key,input` columns before the outputs); `column_type` is the type written
    in `run_columns.csv`; `metadata=False`, `run_sh=False`, `run_columns=False` leave
    out `metadata.json`, `run.sh` or `run_columns.csv`.
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
        "calls_log": str(path / CALLS_LOG),
    }
    (code / "faults.json").write_text(json.dumps(faults, indent=2))
    if run_sh:
        (framework / "run.sh").write_text(
            f'{shlex.quote(sys.executable)} "$1/code/main.py" "$2" "$3"\n'
        )
    if run_columns:
        _write_csv(
            framework / "columns" / "run_columns.csv",
            [
                ["name", "type", "direction", "description"],
                ["mol_weight", column_type, "high", "Molecular weight"],
            ],
        )
    if metadata:
        card = {
            "Identifier": path.name,
            "Slug": slug if slug is not None else f"{path.name}-molecular-weight",
            "Title": "Molecular weight (test model)",
            "Task": "Regression",
            "Output Consistency": consistency,
            "Output Type": ["Float"],
        }
        (path / "metadata.json").write_text(json.dumps(card, indent=4))
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


def read_calls(repo: Path) -> list[dict[str, Any]]:
    """The `start`/`end` events of every run of the repository's model, in log order."""
    log = Path(repo) / CALLS_LOG
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def make_score_script(path: Path) -> Path:
    """Write `score.py` (taking `input.csv output.csv`; columns `mol_weight`, `echo`,
    `cwd`) at `path`, or inside it when `path` is a directory; return the script."""
    path = Path(path).resolve()
    script = path / "score.py" if path.is_dir() else path
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(_SCORE_PY)
    return script
