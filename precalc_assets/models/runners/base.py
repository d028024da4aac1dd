"""The interface every runner implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol

from rdkit import Chem

from precalc_assets.models.card import ModelCard
from precalc_assets.models.options import OptionError, RunnerOptions
from precalc_assets.models.spec import ModelError, ModelSpec

Log = Callable[[str], None]


def no_log(message: str) -> None:
    """The default log of a runner used outside a Dagster run."""


Answered = Callable[[int], None]  # molecules a model has just answered (a batch): progress


def no_answer(molecules: int) -> None:
    """The default: nobody follows the runner's progress."""


class Stream(Protocol):
    """A SMILES model given a slice a part at a time, as its molecules are prepared, and
    asked for all of their outputs at the end (in the order given)."""

    def add(self, smiles: list[str]) -> None: ...

    def result(self) -> Any: ...


class _Gathered:
    """The stream of a runner that needs the whole slice: gathered, then predicted."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.smiles: list[str] = []

    def add(self, smiles: list[str]) -> None:
        self.smiles += smiles

    def result(self) -> Any:
        return self.runner.predict(self.smiles, [])


class Runner(ABC):
    """Turns a list of molecules into a model's outputs, one row per molecule."""

    name: ClassVar[str]  # what a model request names it by: the registry's only name for it
    options_class: ClassVar[type[RunnerOptions]]  # its options, declared beside it
    # Whether `predict` reads the RDKit mols; a runner that only reads SMILES is given
    # a whole slice at once, so it can batch and run concurrently.
    needs_mols: ClassVar[bool] = False

    def __init__(self, spec: ModelSpec, log: Log = no_log):
        self.spec = spec
        self.log = log
        # Told of each batch as it is answered (`model_stream` sets it), so `precalc run`
        # shows progress within a partition; a runner without batches says nothing.
        self.answered: Answered = no_answer

    @classmethod
    def parse_options(
        cls, model_id: str, given: Mapping[str, Any], source: str = ""
    ) -> RunnerOptions:
        """The model's options, typed; a `ModelError` naming `source`, the model, the
        option and the fix for one this runner cannot use."""
        where = f"{source}: model {model_id!r}" if source else f"model {model_id!r}"
        unknown = cls.options_class.undeclared(given)
        if unknown:
            raise ModelError(
                f"{where}: unknown option(s) {unknown}; the {cls.name} runner accepts "
                f"{', '.join(cls.options_class.declared())}"
            )
        try:
            return cls.options_class.parse(given)
        except OptionError as exc:
            fix = cls.options_class.fix(exc.option).format(model_id=model_id)
            raise ModelError(f"{where}: {exc}{f'; {fix}' if fix else ''}") from None

    @classmethod
    def check_options(
        cls, model_id: str, options: Mapping[str, Any], source: str
    ) -> RunnerOptions | None:
        """The options, typed, once checked at registration (before anything runs); a
        `ModelError` naming `source` and the fix for one this runner cannot use. None
        here: a `python` or `rdkit` model's options are read when it runs, as the
        callable is imported only then."""
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

    @contextmanager
    def stream(self) -> Iterator[Stream]:
        """The model over molecules given a part at a time (SMILES only). A batched
        runner starts on each batch as soon as it is full, while the rest is prepared."""
        yield _Gathered(self)
