"""Molecule identity: canonical SMILES, standard InChIKey, reject reasons."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import rdkit
from rdkit import Chem
from rdkit.Chem import Descriptors

from precalc_assets import chem
from precalc_assets.chem import (
    DEFAULT_MAX_SMILES_LENGTH,
    MAX_HEAVY_ATOMS,
    MAX_RING_CLOSURES,
    REJECT_DUPLICATE,
    REJECT_EMPTY,
    REJECT_NO_ATOMS,
    REJECT_NO_INCHIKEY,
    REJECT_TOO_COMPLEX,
    REJECT_TOO_LONG,
    REJECT_UNPARSEABLE,
    Molecule,
    canonicalize_rows,
    identify,
    identify_with_detail,
    mols_from_inputs,
    ring_closures,
    too_complex,
)
from precalc_assets_tests.molecules import nci_lines

INCHIKEY = re.compile(r"^[A-Z]{14}-[A-Z]{10}-[A-Z]$")
ETHANOL_KEY = "LFQSCWFLJHTTHZ-UHFFFAOYSA-N"
BENZENE_KEY = "UHOVQNZJYSORNB-UHFFFAOYSA-N"

REAL = [
    "CCO",
    "c1ccccc1",
    "CC(=O)Oc1ccccc1C(=O)O",  # aspirin
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",  # caffeine
    "C[C@H](N)C(=O)O",  # L-alanine
    "[Na+].[Cl-]",
    "[2H]C([2H])([2H])O",
    "O",
]


@pytest.mark.parametrize("smiles", REAL)
def test_identify_returns_rdkit_canonical_smiles_and_standard_inchikey(smiles: str) -> None:
    mol, canonical, key, reason = identify(smiles)
    reference = Chem.MolFromSmiles(smiles)
    assert reason == ""
    assert mol is not None and mol.GetNumAtoms() == reference.GetNumAtoms()
    assert canonical == Chem.MolToSmiles(reference)
    assert key == Chem.MolToInchiKey(reference)
    assert INCHIKEY.match(key)
    # canonical SMILES is a fixed point: identifying it again gives the same identity
    assert identify(canonical)[1:] == (canonical, key, "")


def test_known_inchikeys() -> None:
    assert identify("CCO")[2] == ETHANOL_KEY
    assert identify("c1ccccc1")[2] == BENZENE_KEY


@pytest.mark.parametrize(
    "spelling", ["CCO", "OCC", "C(O)C", "[CH3][CH2][OH]", "  CCO\t", "\nOCC\r\n"]
)
def test_spellings_of_one_molecule_share_identity(spelling: str) -> None:
    assert identify(spelling)[1:] == ("CCO", ETHANOL_KEY, "")


def test_kekule_and_aromatic_benzene_share_identity() -> None:
    assert identify("C1=CC=CC=C1")[1:] == identify("c1ccccc1")[1:]


def test_stereoisomers_have_different_keys() -> None:
    assert identify("C[C@H](N)C(=O)O")[2] != identify("C[C@@H](N)C(=O)O")[2]


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [
        (None, REJECT_EMPTY),
        ("", REJECT_EMPTY),
        ("   ", REJECT_EMPTY),
        ("\t\r\n", REJECT_EMPTY),
        ("C1CC", REJECT_UNPARSEABLE),  # unclosed ring
        ("C(", REJECT_UNPARSEABLE),
        ("xyz", REJECT_UNPARSEABLE),
        ("[R]", REJECT_UNPARSEABLE),
        ("c1cccc1", REJECT_UNPARSEABLE),  # cannot be kekulised
        (".", REJECT_UNPARSEABLE),
        ("smiles", REJECT_UNPARSEABLE),
        ("*", REJECT_NO_INCHIKEY),  # a dummy atom has no InChI
        ("\ud800C", REJECT_UNPARSEABLE),  # a lone surrogate (JSON "\\ud800"): no text
    ],
)
def test_rejects_carry_a_reason_and_nothing_else(smiles: str | None, reason: str) -> None:
    assert identify(smiles) == (None, "", "", reason)


def test_zero_atom_molecule_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    # No SMILES text that survives strip() parses to 0 atoms in this RDKit, but an empty
    # Mol (what MolFromSmiles("") returns) must never reach a model.
    monkeypatch.setattr(chem.Chem, "MolFromSmiles", lambda text: Chem.Mol())
    assert identify("C") == (None, "", "", REJECT_NO_ATOMS)


def test_canonicalize_rows_keeps_row_numbers_and_the_first_duplicate() -> None:
    rows = [
        (10, "OCC"),
        (11, ""),
        (12, "c1ccccc1"),
        (13, "C1CC"),
        (14, "CCO"),  # same molecule as row 10
        (15, None),
        (16, "C1=CC=CC=C1"),  # same molecule as row 12
        (17, "*"),
        (18, "CC(=O)O"),
    ]
    accepted, mols, rejected = canonicalize_rows(rows)  # type: ignore[arg-type]

    assert accepted == [
        Molecule(10, "CCO", ETHANOL_KEY, "OCC"),
        Molecule(12, "c1ccccc1", BENZENE_KEY, "c1ccccc1"),
        Molecule(18, "CC(=O)O", identify("CC(=O)O")[2], "CC(=O)O"),
    ]
    assert [Chem.MolToSmiles(m) for m in mols] == [m.smiles for m in accepted]
    assert [(r.row, r.input_smiles, r.reason) for r in rejected] == [
        (11, "", REJECT_EMPTY),
        (13, "C1CC", REJECT_UNPARSEABLE),
        (14, "CCO", REJECT_DUPLICATE),
        (15, "", REJECT_EMPTY),
        (16, "C1=CC=CC=C1", REJECT_DUPLICATE),
        (17, "*", REJECT_NO_INCHIKEY),
    ]
    details = {r.row: r.detail for r in rejected}
    assert details[14] == "same InChIKey as row 10"
    assert details[16] == "same InChIKey as row 12"


@pytest.mark.parametrize("copies", [1, 2, 5])
def test_canonicalize_rows_accounts_for_every_row_exactly_once(copies: int) -> None:
    rows = list(enumerate((REAL + ["", "C1CC", "*"]) * copies))
    accepted, mols, rejected = canonicalize_rows(rows)
    seen = [m.row for m in accepted] + [r.row for r in rejected]
    assert sorted(seen) == [row for row, _ in rows]
    assert len(mols) == len(accepted) == len(REAL)
    assert len({m.inchikey for m in accepted}) == len(accepted)
    # the survivors are the first copies
    assert [m.row for m in accepted] == list(range(len(REAL)))
    assert sum(r.reason == REJECT_DUPLICATE for r in rejected) == len(REAL) * (copies - 1)


def test_canonicalize_rows_of_nothing() -> None:
    assert canonicalize_rows([]) == ([], [], [])


def test_mols_from_inputs_gives_the_mols_of_canonicalize_rows_atom_for_atom() -> None:
    """A slice prepared earlier gives its models the very molecules of the first parse."""
    accepted, first, _ = canonicalize_rows([(i, f"  {s} ") for i, s in enumerate(REAL)])
    again = mols_from_inputs([m.input_smiles for m in accepted])
    assert [Chem.MolToInchiKey(m) for m in again] == [m.inchikey for m in accepted]
    for a, b in zip(first, again, strict=True):
        assert [x.GetSymbol() for x in a.GetAtoms()] == [x.GetSymbol() for x in b.GetAtoms()]
        assert Descriptors.MolWt(a) == Descriptors.MolWt(b)


# ------------------------------------------------------------------ SMILES length limit


def test_default_max_smiles_length_is_2000() -> None:
    assert DEFAULT_MAX_SMILES_LENGTH == 2_000
    assert REJECT_TOO_LONG == "too_long"


def test_a_100k_character_row_is_rejected_without_calling_rdkit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One such row used to take minutes in RDKit; now it never reaches it."""

    def never(*_: object) -> None:
        raise AssertionError("RDKit was asked to parse a row over the length limit")

    monkeypatch.setattr(chem.Chem, "MolFromSmiles", never)
    row = "C" * 100_000
    assert identify(row) == (None, "", "", REJECT_TOO_LONG)
    accepted, mols, rejected = canonicalize_rows([(7, row)])
    assert (accepted, mols) == ([], [])
    (reject,) = rejected
    assert (reject.row, reject.input_smiles, reject.reason) == (7, row, REJECT_TOO_LONG)
    assert "100,000 characters" in reject.detail and "2,000" in reject.detail
    assert "--max-smiles-length" in reject.detail


def test_the_limit_counts_the_stripped_text_and_is_inclusive() -> None:
    at_limit = "C" * 10
    assert identify(f"  {at_limit}\t", max_length=10)[3] == ""
    assert identify(at_limit + "C", max_length=10)[3] == REJECT_TOO_LONG
    accepted, _, rejected = canonicalize_rows([(0, at_limit), (1, "CCO" * 4)], max_length=10)
    assert [m.row for m in accepted] == [0]
    assert [(r.row, r.reason) for r in rejected] == [(1, REJECT_TOO_LONG)]
    assert rejected[0].detail.startswith(
        "SMILES of 12 characters, more than the library's limit of 10"
    )


def test_a_canonical_smiles_longer_than_the_limit_is_rejected_too() -> None:
    """What is served is the canonical SMILES, which can be longer than the input
    (a chain of benzene rings gains a bond and branches per ring)."""
    row = "c1ccccc1" * 20
    canonical = Chem.MolToSmiles(Chem.MolFromSmiles(row))
    assert len(canonical) > len(row)
    assert identify(row, max_length=len(canonical))[1] == canonical
    assert identify(row, max_length=len(row)) == (None, "", "", REJECT_TOO_LONG)
    (reject,) = canonicalize_rows([(0, row)], max_length=len(row))[2]
    assert reject.detail.startswith(f"canonical SMILES of {len(canonical)} characters")


# ------------------------------------------------------------------ CPU budget (too_complex)

# 100 fused adamantane cages: 1,800 characters (under the length limit), 1,000 heavy atoms
# and 300 ring closures; RDKit parses it in ~20 ms, its InChI takes 1.4-14 s.
ADAMANTANES = "C1C2CC3CC1CC(C2)C3" * 100
RDKIT_DATA = Path(rdkit.__file__).parent / "Data"


def test_a_too_complex_molecule_is_rejected_fast_without_inchi_or_canonical_smiles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(*_: object) -> None:
        raise AssertionError("a too complex molecule reached InChI or the canonical SMILES")

    monkeypatch.setattr(chem.Chem, "MolToInchiKey", never)
    monkeypatch.setattr(chem.Chem, "MolToSmiles", never)
    assert identify(ADAMANTANES) == (None, "", "", REJECT_TOO_COMPLEX)
    accepted, mols, rejected = canonicalize_rows([(3, ADAMANTANES)] * 3)
    assert (accepted, mols) == ([], [])
    assert [(r.row, r.reason) for r in rejected] == [(3, REJECT_TOO_COMPLEX)] * 3
    assert rejected[0].detail == (
        "1,000 heavy atoms, more than the limit of 500; 300 ring closures, more than the "
        "limit of 64; its InChI could take seconds to hours"
    )


def test_the_limits_are_inclusive_and_each_is_named_alone() -> None:
    assert (MAX_HEAVY_ATOMS, MAX_RING_CLOSURES) == (500, 64)
    at_ring_limit = "C1CC1" * MAX_RING_CLOSURES  # cyclopropanes, each one ring closure
    assert ring_closures(Chem.MolFromSmiles(at_ring_limit)) == MAX_RING_CLOSURES
    assert identify(at_ring_limit)[3] == ""
    _, _, _, reason, detail = identify_with_detail(at_ring_limit + "C1CC1")
    assert (reason, detail) == (
        REJECT_TOO_COMPLEX,
        "65 ring closures, more than the limit of 64; its InChI could take seconds to hours",
    )
    assert identify("C" * MAX_HEAVY_ATOMS)[3] == ""
    _, _, _, reason, detail = identify_with_detail("C" * (MAX_HEAVY_ATOMS + 1))
    assert reason == REJECT_TOO_COMPLEX
    assert (
        detail
        == "501 heavy atoms, more than the limit of 500; its InChI could take seconds to hours"
    )
    # Ring closures of a salt add up over its fragments; hydrogens are not heavy atoms.
    assert ring_closures(Chem.MolFromSmiles("c1ccccc1.C1CC1.[Na+]")) == 2
    assert too_complex(Chem.MolFromSmiles("[2H]C([2H])([2H])O")) == ""


def _real_molecules() -> dict[str, list[str]]:
    nci = [line.split()[0] for line in (RDKIT_DATA / "NCI" / "first_5K.smi").open() if line.strip()]
    with (RDKIT_DATA / "Pains" / "test_data" / "wehi_mols.csv").open(newline="") as handle:
        wehi = [row[0] for row in csv.reader(handle)]
    return {"nci": nci, "wehi": wehi}


def test_real_molecules_are_far_within_the_budget() -> None:
    """RDKit's NCI sample (4,999 rows, 8 unparseable) and the 10,000 WEHI molecules of its
    PAINS tests: none is too complex, none is even at half a limit."""
    for name, texts in _real_molecules().items():
        mols = [m for m in (Chem.MolFromSmiles(t) for t in texts) if m is not None]
        assert len(mols) == {"nci": 4_991, "wehi": 10_000}[name]
        assert [Chem.MolToSmiles(m) for m in mols if too_complex(m)] == []
        assert max(m.GetNumHeavyAtoms() for m in mols) < MAX_HEAVY_ATOMS // 2
        assert max(ring_closures(m) for m in mols) < MAX_RING_CLOSURES // 2


def test_fragments_are_counted_only_where_the_bonds_could_exceed_the_limit() -> None:
    """The shortcut (ring closures <= bonds) decides as the full count does: on every
    parsed NCI molecule, on molecules near the limit with and without fragments."""
    nci = [Chem.MolFromSmiles(line.split()[0]) for line in nci_lines(4999)]
    near = ["C1CC1" * 64, "C1CC1" * 65, "C1CC1" * 64 + "." + "C" * 10, "C" * 200 + "." + "CC"]
    mols = [m for m in nci if m is not None] + [Chem.MolFromSmiles(s) for s in near]
    for mol in mols:
        rings_over = ring_closures(mol) > MAX_RING_CLOSURES
        assert ("ring closures" in too_complex(mol)) == rings_over, Chem.MolToSmiles(mol)
    assert sum("ring closures" in too_complex(m) for m in mols) == 1
