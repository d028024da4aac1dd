"""The same work as `precalc` for eos3b5e, as a plain single-process script: no Dagster.

For each row of a library CSV (header `smiles`): RDKit parse, canonical SMILES, standard
InChIKey; invalid rows and repeated InChIKeys dropped; `Descriptors.MolWt`. Per slice of
`--slice-size` rows: one Parquet file of (inchikey, smiles, mol_weight) and one SQLite
transaction of `executemany` upserts into a table with the serving layout of docs/contracts.md
(PK `INPUTKEY#<key>`, SK `MODELID#eos3b5e`, canonical SMILES, JSON list of outputs).

    python benchmarks/bare_precalc.py LIBRARY.csv OUT_DIR [--slice-size 10000]

Prints one JSON line: rows read, rows rejected, items written, seconds.
It is the baseline of `precalc_vs_bare.py`; it does only what any script would have to.
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from rdkit import Chem, RDLogger
from rdkit.Chem import Descriptors

MODEL_ID = "eos3b5e"
SCHEMA = """
CREATE TABLE IF NOT EXISTS serving (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    smiles TEXT,
    precalculation TEXT,
    PRIMARY KEY (pk, sk)
)
"""
UPSERT = "INSERT OR REPLACE INTO serving (pk, sk, smiles, precalculation) VALUES (?, ?, ?, ?)"


def read_slices(path: Path, size: int):
    """Lists of `size` SMILES from the `smiles` column (the last list may be shorter)."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        column = [h.strip().lower() for h in next(reader)].index("smiles")
        chunk: list[str] = []
        for row in reader:
            chunk.append(row[column] if column < len(row) else "")
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def precalculate(library: Path, out: Path, slice_size: int) -> dict:
    RDLogger.DisableLog("rdApp.*")
    out.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(out / "serving.db", isolation_level=None)
    con.execute(SCHEMA)
    sk = "MODELID#" + MODEL_ID
    seen: set[str] = set()
    rows_in = rejected = written = 0
    for index, chunk in enumerate(read_slices(library, slice_size)):
        keys, smiles, weights = [], [], []
        for text in chunk:
            mol = Chem.MolFromSmiles(text.strip()) if text.strip() else None
            if mol is None or mol.GetNumAtoms() == 0:
                rejected += 1
                continue
            key = Chem.MolToInchiKey(mol)
            if not key or key in seen:
                rejected += 1
                continue
            seen.add(key)
            keys.append(key)
            smiles.append(Chem.MolToSmiles(mol))
            weights.append(Descriptors.MolWt(mol))
        rows_in += len(chunk)
        table = pa.table(
            {
                "inchikey": pa.array(keys, type=pa.string()),
                "smiles": pa.array(smiles, type=pa.string()),
                "mol_weight": pa.array(weights, type=pa.float64()),
            }
        )
        pq.write_table(table, out / f"slice-{index:04d}.parquet", compression="zstd")
        con.execute("BEGIN")
        con.executemany(
            UPSERT,
            (
                ("INPUTKEY#" + k, sk, s, json.dumps([w]))
                for k, s, w in zip(keys, smiles, weights, strict=True)
            ),
        )
        con.execute("COMMIT")
        written += len(keys)
    con.close()
    return {"rows_in": rows_in, "rejected": rejected, "items": written}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("library", type=Path, help="CSV with a `smiles` header")
    parser.add_argument("out", type=Path, help="folder for the Parquet files and serving.db")
    parser.add_argument("--slice-size", type=int, default=10_000)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = precalculate(args.library, args.out, args.slice_size)
    result["seconds"] = round(time.perf_counter() - started, 3)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
