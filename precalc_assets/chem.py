"""RDKit molecule identity: canonical SMILES, standard InChIKey and reject reasons.

Pure functions, no Dagster. DESIGN §4: key = standard InChIKey, input = canonical
SMILES; unparseable, empty or key-less inputs are rejected with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdkit import Chem, RDLogger

# RDKit prints a line per unparseable SMILES; rejects are reported as data instead.
RDLogger.DisableLog("rdApp.*")

REJECT_EMPTY = "empty"
REJECT_UNPARSEABLE = "unparseable"
REJECT_NO_ATOMS = "no_atoms"
REJECT_NO_INCHIKEY = "no_inchikey"
REJECT_DUPLICATE = "duplicate_inchikey"


@dataclass(frozen=True, slots=True)
class Molecule:
    """One accepted library row."""

    row: int
    smiles: str
    inchikey: str
    input_smiles: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """One rejected library row and why, so a user can fix the source file."""

    row: int
    input_smiles: str
    reason: str
    detail: str = ""


def identify(smiles: str | None) -> tuple[Chem.Mol | None, str, str, str]:
    """Parse one SMILES: (mol, canonical SMILES, InChIKey, reject reason or "")."""
    text = (smiles or "").strip()
    if not text:
        return None, "", "", REJECT_EMPTY
    mol = Chem.MolFromSmiles(text)
    if mol is None:
        return None, "", "", REJECT_UNPARSEABLE
    if mol.GetNumAtoms() == 0:
        return None, "", "", REJECT_NO_ATOMS
    key = Chem.MolToInchiKey(mol)
    if not key:
        return None, "", "", REJECT_NO_INCHIKEY
    return mol, Chem.MolToSmiles(mol), key, ""


def canonicalize_rows(
    rows: list[tuple[int, str]],
    first_row: dict[str, int] | None = None,
) -> tuple[list[Molecule], list[Chem.Mol], list[Rejected]]:
    """Identify every (row number, SMILES); keep the first row of each InChIKey.

    Returns the accepted molecules, their RDKit mols (same order, so models can reuse
    the parse) and the rejected rows with a reason. Pass the same `first_row` dict to
    successive chunks of one slice so duplicates are caught across chunks (an RDKit
    mol costs ~28 KB, so a slice is processed in chunks, never all mols at once).
    """
    accepted: list[Molecule] = []
    mols: list[Chem.Mol] = []
    rejected: list[Rejected] = []
    first_row = {} if first_row is None else first_row
    for row, raw in rows:
        mol, canonical, key, reason = identify(raw)
        if reason:
            rejected.append(Rejected(row, raw or "", reason))
            continue
        if key in first_row:
            rejected.append(
                Rejected(row, raw, REJECT_DUPLICATE, f"same InChIKey as row {first_row[key]}")
            )
            continue
        first_row[key] = row
        accepted.append(Molecule(row, canonical, key, raw))
        mols.append(mol)
    return accepted, mols, rejected


def mols_from_smiles(smiles: list[str]) -> list[Chem.Mol]:
    """Re-parse canonical SMILES already accepted by `identify` (they always parse)."""
    return [Chem.MolFromSmiles(s) for s in smiles]
