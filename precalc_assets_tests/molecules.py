"""Real molecules for tests: RDKit's NCI sample, library files, and the identities the
contract says they get."""

from __future__ import annotations

from pathlib import Path

import rdkit

from precalc_assets.chem import identify

NCI_SAMPLE = Path(rdkit.__file__).parent / "Data" / "NCI" / "first_5K.smi"


def write_library(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def nci_lines(count: int, start: int = 0) -> list[str]:
    """Real molecules: lines of RDKit's NCI sample (SMILES + id)."""
    with NCI_SAMPLE.open() as handle:
        return [line.rstrip("\n") for line in handle][start : start + count]


def expected_molecules(lines: list[str]) -> dict[str, str]:
    """InChIKey -> canonical SMILES of the first row holding it (the contract)."""
    expected: dict[str, str] = {}
    for line in lines:
        token = line.split()[0] if line.strip() else ""
        mol, canonical, key, reason = identify(token)
        if not reason and key not in expected:
            expected[key] = canonical
    return expected
