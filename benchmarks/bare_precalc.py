"""The same work as `precalc` for eos3b5e, as a plain single-process script: no Dagster.

For each row of a library CSV (header `smiles`): RDKit parse, canonical SMILES, standard
InChIKey; invalid rows and repeated InChIKeys dropped; `Descriptors.MolWt`. Per slice of
`--slice-size` rows: one Parquet file of (inchikey, smiles, mol_weight) and one SQLite
transaction of `executemany` upserts into a table with the serving layout of docs/contracts.md
(PK `INPUTKEY#<key>`, SK `MODELID#eos3b5e`, canonical SMILES, JSON list of outputs).

    python benchmarks/bare_precalc.py LIBRARY.csv OUT_DIR [--slice-size 10000]
    python benchmarks/bare_precalc.py LIBRARY.csv OUT_DIR --processes 2 [--models eos3b5e,...]

With `--processes N` (N >= 1) the slices are computed by a pool of N worker processes
(`multiprocessing`, spawn): each worker parses a slice once, computes every model of
`--models` (eos3b5e, morgan-fp2048, rdkit-physchem: the project's built-in functions,
written out here) on the same mols, drops repeats inside the slice, writes one zstd
Parquet file per model and encodes the JSON outputs; the parent only reads the CSV and
writes SQLite (one transaction per slice, `INSERT OR IGNORE` in file order, so the
file's first row of an InChIKey wins without a set of every key in memory).

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


# -- parallel mode ----------------------------------------------------------------------

PHYSCHEM = (
    "mol_logp",
    "tpsa",
    "h_donors",
    "h_acceptors",
    "rotatable_bonds",
    "ring_count",
    "fraction_csp3",
    "heavy_atoms",
)
INSERT_FIRST = "INSERT OR IGNORE INTO serving (pk, sk, smiles, precalculation) VALUES (?, ?, ?, ?)"
_FUNCS: dict = {}


def _init_worker(models: list[str]) -> None:
    from rdkit.Chem import Crippen, Lipinski, rdFingerprintGenerator, rdMolDescriptors

    RDLogger.DisableLog("rdApp.*")
    physchem = (
        Crippen.MolLogP,
        rdMolDescriptors.CalcTPSA,
        Lipinski.NumHDonors,
        Lipinski.NumHAcceptors,
        Lipinski.NumRotatableBonds,
        rdMolDescriptors.CalcNumRings,
        rdMolDescriptors.CalcFractionCSP3,
        Lipinski.HeavyAtomCount,
    )
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    table = {
        "eos3b5e": lambda m: [Descriptors.MolWt(m)],
        "morgan-fp2048": lambda m: generator.GetFingerprintAsNumPy(m),
        "rdkit-physchem": lambda m: [float(f(m)) for f in physchem],
    }
    _FUNCS.update({m: table[m] for m in models})


def _slice_work(job: tuple[int, list[str], str]) -> tuple[int, int, list[tuple]]:
    """One slice in a worker: parse once, every model, one Parquet file per model.
    Returns (rows, rejected, rows to upsert)."""
    import numpy as np

    index, chunk, out = job
    keys, smiles, seen, rejected = [], [], set(), 0
    values: dict[str, list] = {model: [] for model in _FUNCS}
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
        for model, fn in _FUNCS.items():  # every model on this parse; the mol is not kept
            values[model].append(fn(mol))
    rows: list[tuple] = []
    pks = ["INPUTKEY#" + k for k in keys]
    for model in _FUNCS:
        values_m = values.pop(model)
        columns = {"inchikey": pa.array(keys, pa.string()), "smiles": pa.array(smiles)}
        if model == "morgan-fp2048":
            flat = (
                np.stack(values_m).astype(np.uint8) if values_m else np.zeros((0, 2048), np.uint8)
            )
            columns["bits"] = pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), 2048)
            encoded = [json.dumps([v.tolist()], separators=(",", ":")) for v in values_m]
        elif model == "eos3b5e":
            columns["mol_weight"] = pa.array([v[0] for v in values_m], pa.float64())
            encoded = [json.dumps(v) for v in values_m]
        else:
            for i, name in enumerate(PHYSCHEM):
                columns[name] = pa.array([v[i] for v in values_m], pa.float64())
            encoded = [json.dumps(v, separators=(",", ":")) for v in values_m]
        pq.write_table(
            pa.table(columns), Path(out) / f"{model}-slice-{index:04d}.parquet", compression="zstd"
        )
        sk = "MODELID#" + model
        rows += zip(pks, [sk] * len(pks), smiles, encoded, strict=True)
    return len(chunk), rejected, rows


def precalculate_parallel(
    library: Path, out: Path, slice_size: int, processes: int, models: list[str]
) -> dict:
    import multiprocessing

    out.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(out / "serving.db", isolation_level=None)
    con.execute(SCHEMA)
    rows_in = rejected = written = 0
    jobs = ((i, chunk, str(out)) for i, chunk in enumerate(read_slices(library, slice_size)))
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=_init_worker, initargs=(models,)) as pool:
        for n, bad, rows in pool.imap(_slice_work, jobs):
            rows_in += n
            rejected += bad
            con.execute("BEGIN")
            before = con.total_changes
            con.executemany(INSERT_FIRST, rows)
            con.execute("COMMIT")
            written += con.total_changes - before
    con.close()
    return {"rows_in": rows_in, "rejected": rejected, "items": written, "models": models}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("library", type=Path, help="CSV with a `smiles` header")
    parser.add_argument("out", type=Path, help="folder for the Parquet files and serving.db")
    parser.add_argument("--slice-size", type=int, default=10_000)
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        help="worker processes (0: the original one-process loop)",
    )
    parser.add_argument("--models", default=MODEL_ID, help="comma-separated, with --processes")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.processes > 0:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        result = precalculate_parallel(
            args.library, args.out, args.slice_size, args.processes, models
        )
    else:
        result = precalculate(args.library, args.out, args.slice_size)
    result["seconds"] = round(time.perf_counter() - started, 3)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
