"""A served hub model's routes read as a card (as `models.repository` reads a repository's
files): `GET /run/columns/output` (its columns), `/card` (`Output Type`, `Identifier`,
`Slug`, `Output Consistency`), `/run/example/input` and `/run/example/output`.

The hub's server collapses `Output Type` to one type for every column (float + integer ->
`["Float"]`) and sends every value as that type: without the model repository's
`run_columns.csv` every column takes that type, with a warning saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from precalc_assets.models.card import HUB_DTYPES, ModelCard
from precalc_assets.models.casting import cast_records
from precalc_assets.models.shown_text import excerpt
from precalc_assets.models.spec import ModelError, OutputColumn

COLUMNS_ROUTE = "/run/columns/output"
CARD_ROUTE = "/card"
EXAMPLE_INPUT_ROUTE = "/run/example/input"
EXAMPLE_OUTPUT_ROUTE = "/run/example/output"


@dataclass(frozen=True)
class RouteAnswers:
    """What the model's server answered on each route (JSON, not yet checked)."""

    names: Any
    card: Any
    inputs: Any
    outputs: Any


@dataclass(frozen=True)
class _Server:
    """Which model at which address, for messages."""

    model_id: str
    shown: str  # the URL, without credentials

    def wrong(self, route: str, expected: str, got: Any) -> ModelError:
        return ModelError(
            f"model {self.model_id!r} at {self.shown}: GET {route} answered "
            f"{excerpt(str(got))}, not {expected}; is 'url' a hub model's server?"
        )


def _column_names(server: _Server, names: Any) -> list[str]:
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise server.wrong(COLUMNS_ROUTE, "a list of column names", names)
    return names


def _output_types(server: _Server, card: Any, names: list[str]) -> tuple[list[Any], list[str]]:
    """(the card's `Output Type`, one dtype per column)."""
    if not isinstance(card, dict):
        raise server.wrong(CARD_ROUTE, "an object", card)
    types = card.get("Output Type") or ["Float"]
    types = [types] if isinstance(types, str) else types
    if not isinstance(types, list) or len(types) not in (1, len(names)):
        raise server.wrong(CARD_ROUTE, f"an 'Output Type' of 1 or {len(names)} type(s)", types)
    dtypes = [HUB_DTYPES.get(str(t).lower()) for t in types]
    if None in dtypes:
        expected = f"an 'Output Type' of {', '.join(sorted(HUB_DTYPES))}"
        raise server.wrong(CARD_ROUTE, expected, types)
    known = [d for d in dtypes if d is not None]
    return types, known * len(names) if len(known) == 1 else known


def _examples(server: _Server, inputs: Any, outputs: Any) -> tuple[list[str], list[Any]]:
    """(the example SMILES, the example outputs by column name)."""
    if not isinstance(inputs, list):
        raise server.wrong(EXAMPLE_INPUT_ROUTE, "a list of SMILES", inputs)
    smiles = [i.get("input") if isinstance(i, dict) else i for i in inputs]
    if not all(isinstance(s, str) for s in smiles):
        raise server.wrong(EXAMPLE_INPUT_ROUTE, "a list of SMILES", inputs)
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise server.wrong(EXAMPLE_OUTPUT_ROUTE, "a list of records", outputs)
    if smiles and outputs and len(smiles) != len(outputs):
        expected = f"{len(smiles)} records (one per example input)"
        raise server.wrong(EXAMPLE_OUTPUT_ROUTE, expected, outputs)
    return smiles, outputs


def _typed_columns(
    server: _Server, names: list[str], typed: tuple[OutputColumn, ...]
) -> tuple[OutputColumn, ...]:
    """The server's columns with the per-column types of the model's run_columns.csv."""
    if [c.name for c in typed] != names:
        missing = [n for n in names if n not in {c.name for c in typed}]
        raise ModelError(
            f"model {server.model_id!r}: its 'run_columns' file does not list the columns "
            f"the server at {server.shown} answers, in its order (the server's first: "
            f"{names[:5]}; not in the file: {missing[:5]}); give the run_columns.csv of "
            "the model being served"
        )
    return typed


def served_card(
    model_id: str,
    shown: str,
    answers: RouteAnswers,
    typed: tuple[OutputColumn, ...] | None = None,
) -> ModelCard:
    """The card of what the model's server at `shown` answered (with the per-column
    types of `typed`, the model's run_columns.csv, when given); a `ModelError` naming
    the route for an answer it cannot read."""
    server = _Server(model_id, shown)
    names = _column_names(server, answers.names)
    types, dtypes = _output_types(server, answers.card, names)
    smiles, outputs = _examples(server, answers.inputs, answers.outputs)
    # One type for several columns is the server's collapsed Output Type (float +
    # integer -> Float): the columns' own types are in the model's run_columns.csv.
    collapsed = len(types) == 1 and len(names) > 1
    columns = tuple(OutputColumn(name, dtype) for name, dtype in zip(names, dtypes, strict=True))
    warnings: tuple[str, ...] = ()
    if typed is not None:
        columns, collapsed = _typed_columns(server, names, typed), False
    elif collapsed:
        warnings = (
            f"model {model_id!r} at {shown} answers its {len(names)} columns as one type "
            f"({types[0]}), so they are stored as {dtypes[0]}; for each column's own type "
            "give 'run_columns' (the model repository's run_columns.csv) in the "
            "deployment's models file, or declare 'columns'",
        )
    card = answers.card
    return ModelCard(
        source=shown,
        identifier=str(card.get("Identifier") or ""),
        slug=str(card.get("Slug") or ""),
        consistency=str(card.get("Output Consistency") or ""),
        columns=columns,
        example_inputs=tuple(smiles),
        example_outputs=cast_records(outputs, columns),
        collapsed_types=collapsed,
        warnings=warnings,
    )
