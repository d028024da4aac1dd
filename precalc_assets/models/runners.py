"""Runners turn a list of molecules into a DataFrame of a model's declared columns.

The HTTP (served Ersilia model) and command (`run.sh in.csv out.csv`) runners of
DESIGN §5 plug in here by implementing `Runner`.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import pandas as pd
from rdkit import Chem

from precalc_assets.models.rdkit_models import BUILTIN_FUNCTIONS
from precalc_assets.models.spec import ModelError, ModelSpec


class Runner(ABC):
    def __init__(self, spec: ModelSpec):
        self.spec = spec

    @abstractmethod
    def predict(self, smiles: list[str], mols: list[Chem.Mol]) -> Any:
        """Outputs for each molecule, same order: a DataFrame, dict of columns or records."""


class RdkitRunner(Runner):
    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        name = spec.options.get("function", spec.model_id)
        if name not in BUILTIN_FUNCTIONS:
            raise ModelError(
                f"model {spec.model_id!r}: no built-in RDKit function {name!r}; "
                f"available: {', '.join(sorted(BUILTIN_FUNCTIONS))}"
            )
        self.function = BUILTIN_FUNCTIONS[name]

    def predict(self, smiles: list[str], mols: list[Chem.Mol]) -> pd.DataFrame:
        return self.function(mols)


class PythonRunner(Runner):
    """`{"runner": "python", "callable": "package.module:function"}`: the function gets
    the list of canonical SMILES and returns outputs in the same order."""

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
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


RUNNER_CLASSES: dict[str, type[Runner]] = {"rdkit": RdkitRunner, "python": PythonRunner}


def runner_for(spec: ModelSpec) -> Runner:
    cls = RUNNER_CLASSES.get(spec.runner)
    if cls is None:
        raise ModelError(
            f"model {spec.model_id!r}: runner {spec.runner!r} is not available in this "
            f"version (available: {', '.join(sorted(RUNNER_CLASSES))})"
        )
    return cls(spec)


def run_model(
    spec: ModelSpec, smiles: list[str], mols: list[Chem.Mol], where: str = ""
) -> pd.DataFrame:
    """Run a model and check its answer has one row per input and every declared column."""
    if not smiles:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in spec.column_names})
    try:
        raw = runner_for(spec).predict(smiles, mols)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"model {spec.model_id!r} failed{where}: {type(exc).__name__}: {exc}. Nothing of "
            "this partition was published; fix the model and re-run it."
        ) from exc
    try:
        frame = raw if isinstance(raw, pd.DataFrame) else pd.DataFrame(raw)
    except (TypeError, ValueError) as exc:
        raise ModelError(
            f"model {spec.model_id!r} returned {type(raw).__name__} that is not a table"
            f"{where} ({exc}); a model must return a DataFrame, a dict of equal-length "
            "columns or a list of records"
        ) from exc
    if len(frame) != len(smiles):
        raise ModelError(
            f"model {spec.model_id!r} returned {len(frame)} rows for {len(smiles)} "
            f"molecules{where}; a model must return exactly one row per input"
        )
    missing = [c for c in spec.column_names if c not in frame.columns]
    if missing:
        raise ModelError(
            f"model {spec.model_id!r} did not return its declared columns {missing}{where} "
            f"(it returned {list(frame.columns)}); fix the model or its 'columns' spec"
        )
    return frame[spec.column_names].reset_index(drop=True)
