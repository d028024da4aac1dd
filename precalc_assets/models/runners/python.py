"""`python`: a callable of the code location's environment, `package.module:function`."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from rdkit import Chem

from precalc_assets.models.runners.base import Log, Runner, no_log
from precalc_assets.models.spec import ModelError, ModelSpec


class PythonRunner(Runner):
    """`{"runner": "python", "callable": "package.module:function"}`: the function gets
    the list of canonical SMILES and returns outputs in the same order."""

    name = "python"

    def __init__(self, spec: ModelSpec, log: Log = no_log):
        super().__init__(spec, log)
        target = spec.options.get("callable", "")
        module_name, _, attr = str(target).partition(":")
        if not module_name or not attr:
            raise ModelError(
                f"model {spec.model_id!r}: 'callable' must be 'package.module:function', "
                f"got {target!r}"
            )
        try:
            self.function: Callable[[list[str]], Any] = getattr(
                importlib.import_module(module_name), attr
            )
        except (ImportError, AttributeError) as exc:
            raise ModelError(
                f"model {spec.model_id!r}: cannot import {target!r} ({exc}); install the "
                "package that provides it in the code location's environment"
            ) from exc

    def predict(self, smiles: list[str], mols: list[Chem.Mol]) -> Any:
        return self.function(smiles)
