"""The one lookup behind every face: Python, `precalc lookup`, `precalc serve`, the Lambda.

Inputs are InChIKeys or SMILES (canonicalised with the project's own rules, then keyed
by InChIKey), for one or more models. The answer has one row per input and model, in
input order (keys, then SMILES, when both are given), each with a status: `found`,
`missing`, `invalid` (with a reason) or `computed` (`serving.compute_missing`, when
the caller asks for misses to be computed).

Reading by key needs neither Dagster nor RDKit: the serving table (one batched read
per model: `BatchGetItem` of 100 keys, several in flight, or indexed SQLite queries) and
each model's published columns (`layout.served_columns`), which name the values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from precalc_assets import layout
from precalc_assets.ids import InvalidIdError, did_you_mean, id_list, validate_id
from precalc_assets.models.published_columns import served_columns
from precalc_assets.models.spec import OutputColumn
from precalc_assets.stores.object_store import ObjectStore
from precalc_assets.stores.serving_table import ServingItem, ServingTable

FOUND = "found"
MISSING = "missing"
INVALID = "invalid"
COMPUTED = "computed"
STATUSES = (FOUND, MISSING, INVALID, COMPUTED)

KEY = "key"
SMILES = "smiles"

# A standard InChIKey: 14 letters, 10 letters (the last two say standard and version),
# one protonation letter.
INCHIKEY_PATTERN = re.compile(r"^[A-Z]{14}-[A-Z]{10}-[A-Z]$")


class LookupInputError(ValueError):
    """A request that cannot be answered as asked (a malformed key, an unknown model);
    the message names the input and what to do. Faces turn it into a 4xx / exit code."""


class UnknownModelError(LookupInputError):
    """A model that is not registered: the message names the registered ones.

    `str()` also says where it was looked for (the storage URL), for a trusted local user
    (`precalc lookup`); `public` does not, for the HTTP faces, which have no
    authentication and must not tell anyone the bucket, prefix or path behind them."""

    def __init__(self, model_id: str, why: str, registered: Sequence[str], where: str = "") -> None:
        self.model_id, self.why, self.where = model_id, why, where
        self.registered = list(registered)
        super().__init__(self._message(f"{why} in {where}" if where else why))

    @property
    def public(self) -> str:
        """The message without the storage location."""
        return self._message(self.why)

    def _message(self, why: str) -> str:
        return (
            f"model {self.model_id!r}{did_you_mean(self.model_id, self.registered)}: {why}; "
            f"registered models: {id_list(self.registered)}. "
            "Check the model ID, or register the model with `precalc add-model`"
        )

    def __reduce__(self) -> tuple[Any, ...]:  # picklable with its fields
        return (type(self), (self.model_id, self.why, self.registered, self.where))


@dataclass(frozen=True)
class Query:
    """One input as the caller gave it."""

    text: str
    kind: str  # KEY or SMILES


@dataclass
class Row:
    """One input x model in the answer."""

    input: str
    model_id: str
    status: str
    key: str = ""
    smiles: str = ""
    values: list[Any] | None = None  # the item's `Precalculation`, flat, as stored
    outputs: dict[str, Any] | None = None  # the same values by column name
    reason: str = ""


@dataclass
class ModelAnswer:
    """The rows of one model, in input order, and the columns that name its values."""

    model_id: str
    columns: tuple[OutputColumn, ...]
    rows: list[Row] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        return [r.input for r in self.rows if r.status == MISSING]


@dataclass
class Answer:
    models: list[ModelAnswer]

    @property
    def rows(self) -> list[Row]:
        return [row for model in self.models for row in model.rows]


def check_key(text: str, position: int) -> str:
    key = text.strip() if isinstance(text, str) else text
    if not isinstance(key, str) or not INCHIKEY_PATTERN.fullmatch(key):
        raise LookupInputError(
            f"input {position}: {text!r} is not an InChIKey (27 characters, "
            "XXXXXXXXXXXXXX-YYYYYYYYFV-P, upper-case letters); look molecules up by SMILES "
            "to have them keyed for you"
        )
    return key


def queries(keys: Sequence[str] = (), smiles: Sequence[str] = ()) -> list[Query]:
    """The inputs in order, keys first; a malformed key is an error naming its position."""
    found = [Query(check_key(k, i), KEY) for i, k in enumerate(keys)]
    for i, text in enumerate(smiles, start=len(found)):
        if not isinstance(text, str):
            raise LookupInputError(f"input {i}: a SMILES must be a string, got {text!r}")
        found.append(Query(text, SMILES))
    return found


def registered_models(store: ObjectStore) -> list[str]:
    return layout.registered_model_ids(i.key for i in store.list(layout.MODEL_REQUESTS))


def check_models(store: ObjectStore, model_ids: Sequence[str]) -> list[str]:
    """The models, each valid and registered; else an error naming the registered ones."""
    if not model_ids:
        raise LookupInputError("name at least one model to look up")
    registered = registered_models(store)
    for model_id in model_ids:
        if model_id in registered:
            continue
        try:
            validate_id(model_id, "model ID")
        except InvalidIdError as exc:
            raise UnknownModelError(model_id, str(exc), registered) from None
        where = f"{store.url} (no {layout.model_request(model_id)})"
        raise UnknownModelError(model_id, "not registered", registered, where)
    return list(dict.fromkeys(model_ids))


def by_name(columns: Sequence[OutputColumn], values: Sequence[Any]) -> dict[str, Any] | None:
    """An item's flat values by column name (a vector column gets its slice of them)."""
    if not columns or len(values) != sum(c.width() for c in columns):
        return None  # published under other columns: the flat values still say it all
    named: dict[str, Any] = {}
    start = 0
    for column in columns:
        width = column.width()
        named[column.name] = list(values[start : start + width]) if column.length else values[start]
        start += width
    return named


Canonicalise = Callable[[str], tuple[str, str, str]]


def _canonicaliser() -> Canonicalise:
    """SMILES -> (canonical SMILES, InChIKey, why it is rejected or ""), with the library's
    rules. RDKit is imported here, only for lookups by SMILES."""
    from precalc_assets.chem import identify_with_detail

    def canonical(text: str) -> tuple[str, str, str]:
        _, smiles, key, reason, detail = identify_with_detail(text)
        why = f"SMILES rejected: {reason}" if reason else ""
        return smiles, key, f"{why} ({detail})" if detail else why

    return canonical


def keyed(inputs: Sequence[Query]) -> list[tuple[str, str, str]]:
    """Per input: (InChIKey or "", canonical SMILES or "", reason it is invalid or "").
    Each distinct SMILES is identified once: a request repeating a costly one pays once."""
    canonical = _canonicaliser() if any(q.kind == SMILES for q in inputs) else None
    identified: dict[str, tuple[str, str, str]] = {}  # stripped text -> (key, SMILES, reason)
    out = []
    for query in inputs:
        if query.kind == KEY:
            out.append((query.text, "", ""))
            continue
        assert canonical is not None
        text = query.text.strip()  # identify strips it too: one identity per stripped text
        if text not in identified:
            smiles, key, reason = canonical(text)
            identified[text] = (key, smiles, reason)
        out.append(identified[text])
    return out


def lookup(
    store: ObjectStore,
    table: ServingTable,
    model_ids: Sequence[str],
    keys: Sequence[str] = (),
    smiles: Sequence[str] = (),
) -> Answer:
    """Every input x model from the serving table: found, missing or invalid."""
    models = check_models(store, model_ids)
    inputs = queries(keys, smiles)
    identities = keyed(inputs)
    wanted = list(dict.fromkeys(key for key, _, reason in identities if key and not reason))
    answers = []
    for model_id in models:
        columns = served_columns(store, model_id)
        items = table.get_many(model_id, wanted) if wanted else {}
        answer = ModelAnswer(model_id, columns)
        for query, (key, canonical, reason) in zip(inputs, identities, strict=True):
            answer.rows.append(_row(query, model_id, key, canonical, reason, items.get(key)))
        for row in answer.rows:
            if row.values is not None:
                row.outputs = by_name(columns, row.values)
        answers.append(answer)
    return Answer(answers)


def _row(
    query: Query, model_id: str, key: str, canonical: str, reason: str, item: ServingItem | None
) -> Row:
    if reason:
        return Row(query.text, model_id, INVALID, reason=reason)
    if item is None:
        return Row(query.text, model_id, MISSING, key=key, smiles=canonical)
    return Row(query.text, model_id, FOUND, key=key, smiles=item.smiles, values=list(item.outputs))
