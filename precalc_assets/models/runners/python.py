"""`python`: a callable of the code location's environment, `package.module:function`."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from rdkit import Chem

from precalc_assets.models.options import RunnerOptions, option
from precalc_assets.models.runners.base import Log, Runner, no_log
from precalc_assets.models.spec import ModelError, ModelSpec


def _callable_problem(name: str, value: Any) -> str:
    module_name, _, attr = str(value).partition(":")
    if not module_name or not attr:
        return f"{name!r} must be 'package.module:function', got {value!r}"
    return ""


@dataclass(frozen=True, kw_only=True)
class PythonOptions(RunnerOptions):
    """The callable; a request's other options are the model's own (checked when the
    model runs, as the callable is imported only then)."""

    open: ClassVar[bool] = True

    callable: str = option(check=_callable_problem)


class PythonRunner(Runner):
    """`{"runner": "python", "callable": "package.module:function"}`: the function gets
    the list of canonical SMILES and returns outputs in the same order."""

    name = "python"
    options_class = PythonOptions

    def __init__(self, spec: ModelSpec, log: Log = no_log):
        super().__init__(spec, log)
        target = self.parse_options(spec.model_id, spec.options).callable
        module_name, _, attr = target.partition(":")
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
