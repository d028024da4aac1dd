"""`rdkit`: the built-in models, run on the slice's own RDKit parse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pandas as pd
from rdkit import Chem

from precalc_assets.models.builtin import BUILTIN_FUNCTIONS
from precalc_assets.models.options import RunnerOptions, option
from precalc_assets.models.runners.base import Log, Runner, no_log
from precalc_assets.models.spec import ModelError, ModelSpec


@dataclass(frozen=True, kw_only=True)
class RdkitOptions(RunnerOptions):
    """Which built-in function computes the model; a request's other options are kept."""

    open: ClassVar[bool] = True

    function: str | None = option(None)  # None: the function named like the model


class RdkitRunner(Runner):
    name = "rdkit"
    options_class = RdkitOptions
    needs_mols = True

    def __init__(self, spec: ModelSpec, log: Log = no_log):
        super().__init__(spec, log)
        options = self.parse_options(spec.model_id, spec.options)
        function = spec.model_id if options.function is None else options.function
        if function not in BUILTIN_FUNCTIONS:
            raise ModelError(
                f"model {spec.model_id!r}: no built-in RDKit function {function!r}; "
                f"available: {', '.join(sorted(BUILTIN_FUNCTIONS))}"
            )
        self.function = BUILTIN_FUNCTIONS[function]

    def predict(self, smiles: list[str], mols: list[Chem.Mol]) -> pd.DataFrame:
        return self.function(mols)
