"""`rdkit`: the built-in models, run on the slice's own RDKit parse."""

from __future__ import annotations

import pandas as pd
from rdkit import Chem

from precalc_assets.models.builtin import BUILTIN_FUNCTIONS
from precalc_assets.models.runners.base import Log, Runner, no_log
from precalc_assets.models.spec import ModelError, ModelSpec


class RdkitRunner(Runner):
    name = "rdkit"
    needs_mols = True

    def __init__(self, spec: ModelSpec, log: Log = no_log):
        super().__init__(spec, log)
        function = spec.options.get("function", spec.model_id)
        if function not in BUILTIN_FUNCTIONS:
            raise ModelError(
                f"model {spec.model_id!r}: no built-in RDKit function {function!r}; "
                f"available: {', '.join(sorted(BUILTIN_FUNCTIONS))}"
            )
        self.function = BUILTIN_FUNCTIONS[function]

    def predict(self, smiles: list[str], mols: list[Chem.Mol]) -> pd.DataFrame:
        return self.function(mols)
