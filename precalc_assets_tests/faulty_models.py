"""Models that misbehave on purpose, registered through the `python` runner in tests."""

from __future__ import annotations

import os

import numpy as np
from rdkit import Chem
from rdkit.Chem import Descriptors

FAIL_SWITCH = "PRECALC_TEST_MODEL_FAILS"


def weight_or_crash(smiles: list[str]) -> dict[str, list[float]]:
    """Molecular weight, but raises halfway through while the switch is on."""
    out = []
    for i, s in enumerate(smiles):
        if os.environ.get(FAIL_SWITCH) and i == len(smiles) // 2:
            raise RuntimeError("model crashed halfway through the slice")
        out.append(Descriptors.MolWt(Chem.MolFromSmiles(s)))
    return {"mol_weight": out}


def one_row_short(smiles: list[str]) -> dict[str, list[float]]:
    """A row short on a batch of more than 10 molecules (its trial at registration, on
    fewer, passes)."""
    return {"mol_weight": [1.0] * (len(smiles) - (len(smiles) > 10))}


def nan_for_nitrogen(smiles: list[str]) -> dict[str, list[float]]:
    """NaN for every molecule with a nitrogen: those rows must be quarantined."""
    return {"score": [np.nan if "N" in s.upper() else float(len(s)) for s in smiles]}


def noisy_weight(smiles: list[str]) -> dict[str, list[float]]:
    """Molecular weight plus random noise: a model that is not deterministic."""
    noise = np.random.default_rng().normal(0, 1.0, len(smiles))
    return {
        "mol_weight": [
            Descriptors.MolWt(Chem.MolFromSmiles(s)) + n for s, n in zip(smiles, noise, strict=True)
        ]
    }


def negative_weight(smiles: list[str]) -> dict[str, list[float]]:
    """Minus the molecular weight: every row breaks a declared `min: 0`."""
    return {"weight": [-Descriptors.MolWt(Chem.MolFromSmiles(s)) for s in smiles]}


# Floats the serving table cannot hold exactly: too large (held as null) or too small
# (held as 0), the largest double and the smallest subnormal among them.
UNSTORABLE = (1e126, -1.797e308, 1e-200, 5e-324)


def unstorable_numbers(smiles: list[str]) -> dict[str, list[float]]:
    """`score` (not nullable) beyond the serving table's range for molecules with a
    nitrogen, `extra` (nullable) for the others with an oxygen; the rest in range."""
    score, extra = [], []
    for i, s in enumerate(smiles):
        wild = UNSTORABLE[i % len(UNSTORABLE)]
        score.append(wild if "N" in s.upper() else float(len(s)))
        extra.append(wild if "N" not in s.upper() and "O" in s.upper() else 0.5)
    return {"score": score, "extra": extra}
