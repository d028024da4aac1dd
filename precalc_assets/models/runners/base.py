"""The interface every runner implements, and what a model can say about itself."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from rdkit import Chem

from precalc_assets.models.spec import ModelSpec, OutputColumn

Log = Callable[[str], None]
# Output types as hub models name them (card `Output Type`, `run_columns.csv` type),
# lower-cased, to the project's dtypes.
HUB_DTYPES = {"float": "float", "integer": "int", "string": "str", "boolean": "bool"}


def no_log(message: str) -> None:
    """The default log of a runner used outside a Dagster run."""


@dataclass(frozen=True)
class ModelCard:
    """What a served model (its routes) or a model repository (its files) says about
    itself: registration checks declared columns against it and runs the examples."""

    source: str  # the URL or the repository path, for messages
    identifier: str = ""
    slug: str = ""
    consistency: str = ""  # "Fixed" or "Variable" (hub metadata), "" when not said
    columns: tuple[OutputColumn, ...] = ()  # names and dtypes, in the model's order
    example_inputs: tuple[str, ...] = ()
    example_outputs: tuple[Mapping[str, Any], ...] = ()  # by column name, input order

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["columns"] = [{"name": c.name, "dtype": c.dtype} for c in self.columns]
        data["example_outputs"] = [dict(o) for o in self.example_outputs]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        return cls(
            source=str(data.get("source", "")),
            identifier=str(data.get("identifier", "")),
            slug=str(data.get("slug", "")),
            consistency=str(data.get("consistency", "")),
            columns=tuple(OutputColumn(c["name"], c["dtype"]) for c in data.get("columns", ())),
            example_inputs=tuple(data.get("example_inputs", ())),
            example_outputs=tuple(data.get("example_outputs", ())),
        )


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
