"""Built-in offline models computed with RDKit: deterministic, no network."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from rdkit import Chem
from rdkit.Chem import Crippen, Descriptors, Lipinski, rdFingerprintGenerator, rdMolDescriptors

from precalc_assets.models.spec import ModelSpec, OutputColumn

MORGAN_BITS = 2048


def molecular_weight(mols: list[Chem.Mol]) -> pd.DataFrame:
    return pd.DataFrame({"mol_weight": np.fromiter((Descriptors.MolWt(m) for m in mols), float)})


def morgan_fingerprint(mols: list[Chem.Mol]) -> pd.DataFrame:
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=MORGAN_BITS)
    return pd.DataFrame({"bits": [generator.GetFingerprintAsNumPy(m) for m in mols]})


PHYSCHEM = {
    "mol_logp": Crippen.MolLogP,
    "tpsa": rdMolDescriptors.CalcTPSA,
    "h_donors": Lipinski.NumHDonors,
    "h_acceptors": Lipinski.NumHAcceptors,
    "rotatable_bonds": Lipinski.NumRotatableBonds,
    "ring_count": rdMolDescriptors.CalcNumRings,
    "fraction_csp3": rdMolDescriptors.CalcFractionCSP3,
    "heavy_atoms": Lipinski.HeavyAtomCount,
}


def physchem_descriptors(mols: list[Chem.Mol]) -> pd.DataFrame:
    return pd.DataFrame(
        {name: np.fromiter((fn(m) for m in mols), float) for name, fn in PHYSCHEM.items()}
    )


BUILTIN_FUNCTIONS: dict[str, Callable[[list[Chem.Mol]], pd.DataFrame]] = {
    "eos3b5e": molecular_weight,
    "morgan-fp2048": morgan_fingerprint,
    "rdkit-physchem": physchem_descriptors,
}

BUILTIN_SPECS: dict[str, ModelSpec] = {
    "eos3b5e": ModelSpec(
        model_id="eos3b5e",
        runner="rdkit",
        columns=(OutputColumn("mol_weight", "float", min=0.0),),
        options={"function": "eos3b5e"},
        description="Molecular weight (RDKit Descriptors.MolWt), Ersilia's eos3b5e.",
    ),
    "morgan-fp2048": ModelSpec(
        model_id="morgan-fp2048",
        runner="rdkit",
        columns=(OutputColumn("bits", "int", length=MORGAN_BITS, min=0, max=1),),
        options={"function": "morgan-fp2048"},
        description="Morgan fingerprint, radius 2, 2048 bits (RDKit generator).",
    ),
    "rdkit-physchem": ModelSpec(
        model_id="rdkit-physchem",
        runner="rdkit",
        columns=tuple(
            OutputColumn(name, "float", min=None if name == "mol_logp" else 0.0)
            for name in PHYSCHEM
        ),
        options={"function": "rdkit-physchem"},
        description="Eight RDKit physico-chemical descriptors (logP, TPSA, H-bond counts, ...).",
    ),
}
