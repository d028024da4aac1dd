"""The interface every runner implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from rdkit import Chem

from precalc_assets.models.spec import ModelSpec


class Runner(ABC):
    """Turns a list of molecules into a model's outputs, one row per molecule."""

    name: ClassVar[str]

    def __init__(self, spec: ModelSpec):
        self.spec = spec

    @abstractmethod
    def predict(self, smiles: list[str], mols: list[Chem.Mol]) -> Any:
        """Outputs for each molecule, same order: a DataFrame, dict of columns or records."""
