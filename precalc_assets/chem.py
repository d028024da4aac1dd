"""RDKit molecule identity: canonical SMILES, standard InChIKey and reject reasons.

Pure functions, no Dagster: key = standard InChIKey, input = canonical SMILES;
unparseable, empty, too long, too complex or key-less inputs are rejected with a reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rdkit import Chem, RDLogger
from rdkit.Chem import BRICS

# RDKit prints a line per unparseable SMILES; rejects are reported as data instead.
RDLogger.DisableLog("rdApp.*")

REJECT_EMPTY = "empty"
REJECT_UNPARSEABLE = "unparseable"
REJECT_NO_ATOMS = "no_atoms"
REJECT_NO_INCHIKEY = "no_inchikey"
REJECT_DUPLICATE = "duplicate_inchikey"
REJECT_TOO_LONG = "too_long"
REJECT_TOO_COMPLEX = "too_complex"

# SMILES longer than this (characters, surrounding whitespace excluded) are rejected
# before RDKit sees them: a 100,000-character row takes minutes to parse. The canonical
# SMILES, which is what is served, is held to the same limit. A library may choose its
# own limit at registration, up to MAX_SMILES_LENGTH_CEILING: RDKit's canonical SMILES
# of a ~19,000-atom chain overflows the C stack and kills the process, and serving
# items must fit DynamoDB's item limit with a SMILES this long.
DEFAULT_MAX_SMILES_LENGTH = 2_000
MAX_SMILES_LENGTH_CEILING = 10_000
_OVER_LIMIT = "more than the library's limit of {:,} (precalc add-library --max-smiles-length)"

# A CPU budget per molecule, checked on the parse (which is cheap) before the InChIKey and
# the canonical SMILES (which are not). InChI's cost grows steeply with ring closures and
# atoms: 300 ring closures of fused cages (`'C1C2CC3CC1CC(C2)C3' * 100`, 1,800 characters)
# cost 1.4-14 s; at these limits the worst shapes found cost ~70 ms (figures in
# docs/contracts.md, section 4). Real molecules stay far below: the 4,991 parsed molecules of
# RDKit's NCI sample have at most 122 heavy atoms and 15 ring closures, peptide and
# antisense drugs under 460 heavy atoms, fullerenes 31-43 ring closures.
MAX_HEAVY_ATOMS = 500
MAX_RING_CLOSURES = 64  # bonds - atoms + fragments: the rings a spanning tree leaves open


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


def _identify(smiles: str | None, max_length: int) -> tuple[Chem.Mol | None, str, str, str, str]:
    """`identify`, plus the reject's detail (the length, size or rings, and the limit)."""
    text = (smiles or "").strip()
    if not text:
        return None, "", "", REJECT_EMPTY, ""
    if len(text) > max_length:  # before RDKit: parsing a huge row takes minutes
        detail = f"SMILES of {len(text):,} characters, {_OVER_LIMIT.format(max_length)}"
        return None, "", "", REJECT_TOO_LONG, detail
    try:
        mol = Chem.MolFromSmiles(text)
    except UnicodeEncodeError:  # a lone surrogate (JSON's "\ud800", argv's bad bytes)
        mol = None
    if mol is None:
        return None, "", "", REJECT_UNPARSEABLE, ""
    if mol.GetNumAtoms() == 0:
        return None, "", "", REJECT_NO_ATOMS, ""
    detail = too_complex(mol)
    if detail:  # before InChI: keying such a molecule takes seconds to hours
        return None, "", "", REJECT_TOO_COMPLEX, detail
    key = Chem.MolToInchiKey(mol)
    if not key:
        return None, "", "", REJECT_NO_INCHIKEY, ""
    canonical = Chem.MolToSmiles(mol)
    if len(canonical) > max_length:  # what is served must respect the limit too
        detail = (
            f"canonical SMILES of {len(canonical):,} characters, {_OVER_LIMIT.format(max_length)}"
        )
        return None, "", "", REJECT_TOO_LONG, detail
    return mol, canonical, key, "", ""


def identify(
    smiles: str | None, max_length: int = DEFAULT_MAX_SMILES_LENGTH
) -> tuple[Chem.Mol | None, str, str, str]:
    """Parse one SMILES: (mol, canonical SMILES, InChIKey, reject reason or "")."""
    return _identify(smiles, max_length)[:4]


def identify_with_detail(
    smiles: str | None, max_length: int = DEFAULT_MAX_SMILES_LENGTH
) -> tuple[Chem.Mol | None, str, str, str, str]:
    """`identify`, plus the reject's detail (the limit a too long or too complex input
    broke), for callers that show it, such as lookups."""
    return _identify(smiles, max_length)


def ring_closures(mol: Chem.Mol) -> int:
    """Bonds - atoms + fragments (the cyclomatic number): the ring-closure bonds of the
    molecule however it was written, counted in linear time (no ring perception)."""
    return mol.GetNumBonds() - mol.GetNumAtoms() + len(Chem.GetMolFrags(mol))


def too_complex(mol: Chem.Mol) -> str:
    """Why keying `mol` would cost too much ("" if it would not): its heavy atoms and ring
    closures against MAX_HEAVY_ATOMS and MAX_RING_CLOSURES."""
    over = []
    heavy = mol.GetNumHeavyAtoms()
    if heavy > MAX_HEAVY_ATOMS:
        over.append(f"{heavy:,} heavy atoms, more than the limit of {MAX_HEAVY_ATOMS:,}")
    # Ring closures are at most the bonds (a molecule has no more fragments than atoms):
    # a usual molecule, under the limit in bonds, is decided without counting fragments.
    closures = ring_closures(mol) if mol.GetNumBonds() > MAX_RING_CLOSURES else 0
    if closures > MAX_RING_CLOSURES:
        over.append(f"{closures:,} ring closures, more than the limit of {MAX_RING_CLOSURES:,}")
    if not over:
        return ""
    return "; ".join([*over, "its InChI could take seconds to hours"])


def canonicalize_rows(
    rows: list[tuple[int, str]],
    first_row: dict[str, int] | None = None,
    max_length: int = DEFAULT_MAX_SMILES_LENGTH,
) -> tuple[list[Molecule], list[Chem.Mol], list[Rejected]]:
    """Identify every (row number, SMILES); keep the first row of each InChIKey.

    Returns the accepted molecules, their RDKit mols (same order) and the rejected rows
    with a reason. The mols are the parse that gave the key, as `mols_from_inputs` gives
    again for a slice prepared earlier: a model sees the same molecule, atom for atom
    (and gives the same floats, to the last bit), whichever way its slice was prepared,
    and no molecule is parsed twice. Pass the same `first_row` dict to successive chunks
    of one slice so duplicates are caught across chunks (an RDKit mol costs ~28 KB, so a
    slice is processed in chunks, never all mols at once).
    Rows longer than `max_length` characters are rejected as `too_long` unparsed.
    """
    accepted: list[Molecule] = []
    mols: list[Chem.Mol] = []
    rejected: list[Rejected] = []
    first_row = {} if first_row is None else first_row
    for row, raw in rows:
        mol, canonical, key, reason, detail = _identify(raw, max_length)
        if reason:
            rejected.append(Rejected(row, raw or "", reason, detail))
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


def mols_from_inputs(inputs: list[str]) -> list[Chem.Mol]:
    """Parse again the input text of rows `canonicalize_rows` accepted (they always
    parse): the same mols, atom for atom, as it gave."""
    return [Chem.MolFromSmiles(text.strip()) for text in inputs]


def fragment_smiles(
    smiles: Iterable[str], limit: int, max_heavy_atoms: int | None = None
) -> list[str]:
    """Unique BRICS fragments of `smiles`, capped with hydrogens, canonical, first-seen order.

    A deterministic "clearly different chemical space" made of real chemistry (smaller,
    simpler molecules than the library they come from), used to demonstrate and test the
    drift check. Every BRICS bond is broken at once (`BreakBRICSBonds`, the leaves of
    `BRICSDecompose` in linear time: the full decomposition enumerates intermediates and
    is ~20x slower). Fragments that do not sanitise or have fewer than 3 heavy atoms are
    skipped, and so are those above `max_heavy_atoms` (10 gives a fragment-like library,
    clearly apart from drug-like molecules); at most `limit` are returned.
    """
    found: dict[str, None] = {}
    if limit <= 0:
        return []
    for text in smiles:
        mol = Chem.MolFromSmiles((text or "").strip())
        if mol is None or mol.GetNumAtoms() == 0:
            continue
        broken = BRICS.BreakBRICSBonds(mol)
        for frag in Chem.GetMolFrags(broken, asMols=True, sanitizeFrags=False):
            editable = Chem.RWMol(frag)
            for atom in editable.GetAtoms():
                if atom.GetAtomicNum() == 0:  # BRICS attachment point: cap with hydrogen
                    atom.SetAtomicNum(1)
                    atom.SetIsotope(0)
            try:
                capped = Chem.RemoveHs(editable.GetMol())
                Chem.SanitizeMol(capped)
            except Exception:  # noqa: BLE001 - RDKit raises several types; skip the fragment
                continue
            heavy = capped.GetNumHeavyAtoms()
            if heavy < 3 or (max_heavy_atoms is not None and heavy > max_heavy_atoms):
                continue
            canonical = Chem.MolToSmiles(capped)
            if canonical not in found and Chem.MolFromSmiles(canonical) is not None:
                found[canonical] = None
                if len(found) >= limit:
                    return list(found)
    return list(found)
