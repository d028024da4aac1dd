"""A hub model's own examples: run at registration and at the start of every run, so
a model that cannot reproduce them is refused before it computes anything, and their
fingerprint is part of the code version (a model changed behind the same URL or
repository makes its partitions `stale`, never silently mixed)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from precalc_assets.models.card import ModelCard
from precalc_assets.models.runners import run_model
from precalc_assets.models.runners.base import Log, no_log
from precalc_assets.models.spec import DETAIL_COLUMN, REASON_COLUMN, ModelSpec

# Example outputs are the model's own text, often rounded: compare floats this loosely.
EXAMPLE_RTOL = 1e-4
EXAMPLE_ATOL = 1e-6
SHOWN_DIFFERENCES = 10
VARIABLE = "variable"  # `Output Consistency` of a model whose outputs may vary per run


def fingerprint(card: ModelCard) -> str:
    """A hash of what the model says it is and answers on its examples ("" if nothing)."""
    if not (card.identifier or card.example_inputs):
        return ""
    payload = {
        "identifier": card.identifier,
        "slug": card.slug,
        "inputs": list(card.example_inputs),
        "outputs": [dict(o) for o in card.example_outputs],
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Difference:
    example: str
    column: str
    expected: Any
    answered: Any


@dataclass(frozen=True)
class ExampleCheck:
    """How the model's answers on its examples compare with the examples' outputs."""

    model_id: str
    compared: int
    differences: tuple[Difference, ...]
    variable: bool  # `Output Consistency: Variable`: a difference is a warning

    @property
    def passed(self) -> bool:
        return not self.differences

    @property
    def severity(self) -> str:
        return "ok" if self.passed else ("warn" if self.variable else "error")

    def markdown(self) -> str:
        lines = ["| example | column | expected | answered |", "|---|---|---|---|"]
        lines += [
            f"| `{d.example}` | {d.column} | {d.expected!r} | {d.answered!r} |"
            for d in self.differences[:SHOWN_DIFFERENCES]
        ]
        more = len(self.differences) - SHOWN_DIFFERENCES
        return "\n".join(lines + ([f"\n... and {more} more"] if more > 0 else []))

    def summary(self) -> str:
        if self.passed:
            return f"model {self.model_id!r} reproduced its {self.compared} example(s)"
        return (
            f"model {self.model_id!r} does not reproduce its own examples: "
            f"{len(self.differences)} difference(s) over {self.compared} example(s)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "compared": self.compared,
            "severity": self.severity,
            "differences": [vars(d) for d in self.differences[:SHOWN_DIFFERENCES]],
        }


def _same(expected: Any, answered: Any, dtype: str) -> bool:
    if expected is None or answered is None:
        return expected is None and answered is None
    if dtype in ("float", "int"):
        try:
            a, b = float(expected), float(answered)
        except (TypeError, ValueError):
            return False
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=EXAMPLE_RTOL, abs_tol=EXAMPLE_ATOL)
    return str(expected) == str(answered)


def check_examples(spec: ModelSpec, card: ModelCard, log: Log = no_log) -> ExampleCheck | None:
    """Run the model on the card's example inputs; None when it has no usable examples."""
    inputs = list(card.example_inputs)
    if not inputs or len(card.example_outputs) != len(inputs):
        return None
    frame = run_model(spec, inputs, [], where=" on its own examples", log=log)
    differences = []
    for i, (example, expected) in enumerate(zip(inputs, card.example_outputs, strict=True)):
        reason = frame[REASON_COLUMN].iloc[i] if REASON_COLUMN in frame else None
        failure = f"{reason}: {frame[DETAIL_COLUMN].iloc[i]}" if isinstance(reason, str) else None
        for column in spec.columns:
            if column.name not in expected:
                continue
            answered = frame[column.name].iloc[i]
            answered = answered.item() if hasattr(answered, "item") else answered
            if answered is pd.NA or (isinstance(answered, float) and math.isnan(answered)):
                answered = None  # null, as the card's empty example output is
            if failure or not _same(expected[column.name], answered, column.dtype):
                differences.append(
                    Difference(example, column.name, expected[column.name], failure or answered)
                )
    return ExampleCheck(
        spec.model_id, len(inputs), tuple(differences), card.consistency.lower() == VARIABLE
    )
