"""The interface every runner implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from rdkit import Chem

from precalc_assets.models.card import ModelCard
from precalc_assets.models.spec import ModelSpec

Log = Callable[[str], None]


def no_log(message: str) -> None:
    """The default log of a runner used outside a Dagster run."""


class Runner(ABC):
    """Turns a list of molecules into a model's outputs, one row per molecule."""

    name: ClassVar[str]
    # Whether `predict` reads the RDKit mols; a runner that only reads SMILES is given
    # a whole slice at once, so it can batch and run concurrently.
    needs_mols: ClassVar[bool] = False

    def __init__(self, spec: ModelSpec, log: Log = no_log):
        self.spec = spec
        self.log = log

    @classmethod
    def check_options(cls, model_id: str, options: Mapping[str, Any], source: str) -> None:
        """Refuse, with a `ModelError` naming `source` and the fix, options this runner
        cannot use (checked at registration, before anything runs). None here."""
        return None

    @classmethod
    def describes_itself(cls, options: Mapping[str, Any]) -> bool:
        """Whether a model with these options says what it is (`describe`)."""
        return False

    @classmethod
    def describe(cls, model_id: str, options: Mapping[str, Any]) -> ModelCard | None:
        """The model's card, for runners whose models describe themselves."""
        return None

    @abstractmethod
    def predict(self, smiles: list[str], mols: list[Chem.Mol]) -> Any:
        """Outputs for each molecule, same order: a DataFrame, dict of columns or records."""
