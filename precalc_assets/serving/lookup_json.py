"""The JSON request and answer of a lookup, declared once for every face.

`precalc serve` documents them in OpenAPI (pydantic reads these dataclasses as they are:
`__pydantic_config__`, and each field's docstring as its description), `serving.requests`
parses requests into `LookupRequest` for `precalc serve` and the Lambda, and every JSON
answer (`precalc serve`, the Lambda, `precalc lookup --format json`) is built from
`ModelLookup`. They are plain dataclasses, not pydantic models, because the Lambda's image
holds only what a lookup imports (`deploy/lambda/requirements.txt`): no pydantic.

The request is a superset of Ersilia's `{"modelId", "inputKeyArray"}` and the answer of
its response (`model_id`, `output: [{"smiles", "value"}]`); the field names are the wire's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any, ClassVar, Literal

from precalc_assets.serving.lookup import STATUSES, Answer, ModelAnswer, Row

Status = Literal[STATUSES]  # the lookup's statuses, an enum in the docs

EXAMPLES = [
    {"modelId": "eos3b5e", "inputKeyArray": ["BSYNRYMUTXBXSQ-UHFFFAOYSA-N"]},
    {"modelIds": ["eos3b5e"], "smilesArray": ["CCO"], "computeMissing": True},
]


def _request_schema(schema: dict[str, Any]) -> None:
    """The request's docs: `modelId` may be left out but is never null (null is a 400), so
    it is a string; descriptions on one line (their docstrings wrap); examples."""
    model_id = schema["properties"]["modelId"]
    model_id.pop("default", None)
    model_id.pop("anyOf", None)
    model_id["type"] = "string"
    for prop in schema["properties"].values():
        prop["description"] = " ".join(prop["description"].split())
    schema["examples"] = EXAMPLES


DOCUMENTED: dict[str, Any] = {"use_attribute_docstrings": True}


@dataclass(frozen=True)
class LookupRequest:
    """A lookup: Ersilia's `{"modelId", "inputKeyArray"}`, and more."""

    __pydantic_config__: ClassVar[dict[str, Any]] = {
        **DOCUMENTED,
        "extra": "forbid",
        "json_schema_extra": _request_schema,
    }

    modelId: str | None = None
    """A model ID (or `modelIds`)."""
    modelIds: list[str] = field(default_factory=list)
    """More model IDs."""
    inputKeyArray: list[str] = field(default_factory=list)
    """Standard InChIKeys."""
    smilesArray: list[str] = field(default_factory=list)
    """SMILES, canonicalised and keyed by InChIKey."""
    computeMissing: bool = False
    """Run the model on SMILES the table does not hold; they come back `computed`, and are
    served from then on (a 400 unless the server was started with `--allow-compute`)."""

    @property
    def models(self) -> list[str]:
        """`modelId`, then `modelIds`, as asked (duplicates are the lookup's to drop)."""
        return ([] if self.modelId is None else [self.modelId]) + self.modelIds


FIELDS = tuple(f.name for f in fields(LookupRequest))


@cache
def _optional(shape: type) -> tuple[str, ...]:
    """A shape's optional fields: those that default to None."""
    return tuple(f.name for f in fields(shape) if f.default is None)


def _fields_json(shape: Any) -> dict[str, Any]:
    """A shape's fields in declared order, the body's key order (a dataclass's `__init__`
    sets them in that order); an optional field is left out while it is None (a row has
    `reason` only when there is one). Shallow, for speed on 1,000-row answers: values are
    not copied, and nested shapes are their owner's to turn into JSON."""
    body = dict(vars(shape))
    for name in _optional(type(shape)):
        if body[name] is None:
            del body[name]
    return body


@dataclass
class LookupRow:
    """One input x model of the answer."""

    __pydantic_config__: ClassVar[dict[str, Any]] = DOCUMENTED

    input: str
    """The input as given."""
    key: str
    """Its InChIKey ('' when invalid)."""
    smiles: str
    """The canonical SMILES served ('' when unknown)."""
    status: Status
    value: list[Any] | None
    """The model's values, flat, as stored."""
    outputs: dict[str, Any] | None
    """The same values by column name."""
    reason: str | None = None
    """Why it is invalid or was not computed."""

    @classmethod
    def of(cls, row: Row) -> LookupRow:
        return cls(
            row.input, row.key, row.smiles, row.status, row.values, row.outputs, row.reason or None
        )

    def to_json(self) -> dict[str, Any]:
        return _fields_json(self)


@dataclass
class ModelLookup:
    """The answer for one model (its fields are also Ersilia's response)."""

    __pydantic_config__: ClassVar[dict[str, Any]] = DOCUMENTED

    model_id: str
    output: list[LookupRow]
    """One row per input, in input order."""
    missing: list[str]
    """The inputs the table does not hold."""

    @classmethod
    def of(cls, answer: ModelAnswer) -> ModelLookup:
        return cls(answer.model_id, [LookupRow.of(row) for row in answer.rows], answer.missing)

    def to_json(self) -> dict[str, Any]:
        return {**_fields_json(self), "output": [row.to_json() for row in self.output]}


@dataclass
class SeveralModelsLookup:
    """The answer when several models were asked for: one `ModelLookup` per model."""

    __pydantic_config__: ClassVar[dict[str, Any]] = DOCUMENTED

    results: list[ModelLookup]

    def to_json(self) -> dict[str, Any]:
        return {**_fields_json(self), "results": [model.to_json() for model in self.results]}


@dataclass(frozen=True)
class ErrorBody:
    """Every 4xx and 5xx answer of the HTTP faces."""

    __pydantic_config__: ClassVar[dict[str, Any]] = DOCUMENTED

    error: str
    """What is wrong with the request, and what to do."""

    def to_json(self) -> dict[str, Any]:
        return _fields_json(self)


def answer_shape(answer: Answer) -> ModelLookup | SeveralModelsLookup:
    """One model's answer, or `{"results": [...]}` of one per model when several were
    asked for: a one-model answer has Ersilia's fields at the top, where its clients read."""
    results = [ModelLookup.of(model) for model in answer.models]
    return results[0] if len(results) == 1 else SeveralModelsLookup(results)
