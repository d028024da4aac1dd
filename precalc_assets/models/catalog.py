"""Which model an ID means: a built-in, or a spec from a request (checked against the
model's card, when the model describes itself). Its `checks` are read by quality, which
registration (`inputs.model_requests`) asks before it accepts a request."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from precalc_assets.chem import MAX_SMILES_LENGTH_CEILING
from precalc_assets.ids import InvalidIdError, validate_id
from precalc_assets.models.builtin import BUILTIN_SPECS
from precalc_assets.models.card import ModelCard
from precalc_assets.models.examples import fingerprint
from precalc_assets.models.runners import RUNNER_CLASSES, option_reach
from precalc_assets.models.spec import (
    HUB_RUNNERS,
    SPEC_KEYS,
    ModelError,
    ModelSpec,
    parse_columns,
    with_nullability,
)
from precalc_assets.models.tables import item_size
from precalc_assets.stores.dynamodb import ITEM_SIZE_LIMIT

# A model request is a small JSON object (runner, columns, checks); anything larger,
# or nested deeper, is refused before it is decoded any further.
MAX_REQUEST_BYTES = 1 << 20
MAX_REQUEST_DEPTH = 32


def builtin_ids() -> list[str]:
    return sorted(BUILTIN_SPECS)


NUMERIC = ("float", "int")


def _checked_id(model_id: str, source: str) -> None:
    try:
        validate_id(model_id, "model ID")
    except InvalidIdError as exc:
        raise ModelError(f"{source}: {exc}") from None


def spec_from_request(model_id: str, request: dict[str, Any], source: str) -> ModelSpec:
    """Build a spec from a model request `{"runner": ..., "columns": [...], ...}`."""
    _checked_id(model_id, source)
    runner = request.get("runner")
    if runner not in RUNNER_CLASSES:
        raise ModelError(
            f"{source}: model {model_id!r} has runner {runner!r}; use one of "
            f"{', '.join(RUNNER_CLASSES)} (or omit the spec for a built-in model)"
        )
    options = {k: v for k, v in request.items() if k not in SPEC_KEYS}
    columns = parse_columns(model_id, request.get("columns"), source, runner in HUB_RUNNERS)
    return ModelSpec(
        model_id=model_id,
        runner=runner,
        columns=with_nullability(model_id, columns, request, source),
        options=options,
        description=str(request.get("description", "")),
        version=str(request.get("version", "1")),
        checks=request.get("checks") or {},
        option_reach=option_reach(options),
    )


def _compatible(declared: str, described: str, collapsed: bool) -> bool:
    """Whether a declared dtype fits what the card says; a server's collapsed type says
    only "a number" (an integer column is answered as Float)."""
    if declared == described or (declared == "float" and described == "int"):
        return True
    return collapsed and declared in NUMERIC and described in NUMERIC


def _columns_from_card(
    model_id: str, request: dict[str, Any], card: ModelCard, source: str
) -> list[Any]:
    """The request's columns, cross-checked against the card; the card's when none."""
    if not request.get("columns"):
        if not card.columns:
            raise ModelError(
                f"{source}: model {model_id!r} does not say which columns it answers "
                f'({card.source}); declare them: "columns": [{{"name": ..., "dtype": ...}}]'
            )
        return [{"name": c.name, "dtype": c.dtype} for c in card.columns]
    if not card.columns:
        return request["columns"]
    described = {c.name: c for c in card.columns}
    for column in request["columns"]:
        name = column if isinstance(column, str) else column.get("name")
        dtype = "float" if isinstance(column, str) else column.get("dtype", "float")
        if name not in described:
            raise ModelError(
                f"{source}: model {model_id!r} declares column {name!r}, which the model "
                f"does not answer ({card.source} answers {list(described)}); fix 'columns'"
            )
        if not _compatible(dtype, described[name].dtype, card.collapsed_types):
            raise ModelError(
                f"{source}: column {name!r} of model {model_id!r} is declared {dtype}, but "
                f"the model's card says {described[name].dtype} ({card.source}); fix "
                "its 'dtype'"
            )
    return request["columns"]


def _spec_of_runner(
    model_id: str, request: dict[str, Any], source: str, card: ModelCard | None
) -> ModelSpec:
    cls = RUNNER_CLASSES.get(request["runner"])  # an unknown one: spec_from_request says so
    if card is not None:
        request = {**request, "columns": _columns_from_card(model_id, request, card, source)}
    elif cls is not None and cls.describes_itself(request) and not request.get("columns"):
        raise ModelError(
            f"{source}: model {model_id!r} has no 'columns' and has not described itself "
            f"yet; register it with `precalc add-model {model_id} --spec <file>` (which "
            "asks the model), or declare its columns"
        )
    spec = spec_from_request(model_id, request, source)
    if cls is not None:
        cls.check_options(model_id, spec.options, source)
    if card is None:
        return spec
    return replace(spec, fingerprint=fingerprint(card))


def spec_for(
    model_id: str,
    request: dict[str, Any] | None = None,
    source: str = "",
    card: ModelCard | None = None,
) -> ModelSpec:
    """A request with a `runner` defines the model; a bare one must name a built-in.

    `card` is what the model said of itself (a served model, a repository): its
    columns are used when the request declares none, and checked against when it does.
    Not yet refused for what it would do later: registration
    (`inputs.model_requests.resolve_spec`) checks its `checks`, says what a `Variable`
    model's reproducibility check is, then checks its serving items' size.
    """
    source = source or f"model {model_id!r}"
    _checked_id(model_id, source)
    if request and "runner" in request:
        spec = _spec_of_runner(model_id, request, source, card)
    elif model_id in BUILTIN_SPECS:
        spec = BUILTIN_SPECS[model_id]
        if request and request.get("checks"):  # a built-in with its own thresholds
            if not isinstance(request["checks"], dict):
                raise ModelError(f"{source}: 'checks' must be an object, got {request['checks']!r}")
            spec = replace(spec, checks={**spec.checks, **request["checks"]})
    else:
        raise ModelError(
            f"{source}: unknown model ID {model_id!r}. Built-in models: "
            f"{', '.join(builtin_ids())}; for a served model give "
            '{"runner": "http", "url": "http://host:port"}; a model repository or a '
            "python callable is declared in the deployment's models file "
            f"(`precalc add-model {model_id} --spec <file>`)"
        )
    return spec


def check_item_size(spec: ModelSpec, source: str) -> None:
    """Refuse a model whose serving items could exceed DynamoDB's item limit: every
    partition of it would fail at publication."""
    size = item_size(spec)
    if not size.fits:
        raise ModelError(
            f"{source}: model {spec.model_id!r} could publish serving items of "
            f"{size.item_bytes:,} bytes ({size.output_values:,} output values, a "
            f"{MAX_SMILES_LENGTH_CEILING:,}-character SMILES, keys and attributes), more "
            f"than DynamoDB's item limit of {ITEM_SIZE_LIMIT:,} bytes; declare at most "
            f"{size.numbers_that_fit:,} output values in all (fewer or shorter vectors), "
            "or split the model"
        )


def check_request_size(size: int, source: str) -> None:
    """Refuse a model request larger than `MAX_REQUEST_BYTES`."""
    if size > MAX_REQUEST_BYTES:
        raise ModelError(
            f"{source}: the model request is {size:,} bytes, more than the limit of "
            f"{MAX_REQUEST_BYTES:,}; a request is a small JSON object "
            '({"runner": ..., "columns": [...]}): check that this is the right file'
        )


def _too_deep(source: str) -> ModelError:
    return ModelError(
        f"{source}: JSON nested more than {MAX_REQUEST_DEPTH} levels deep; a model request "
        'is a shallow object ({"runner": ..., "columns": [...], "checks": {...}})'
    )


def _depth(value: Any) -> int:
    """How deeply JSON arrays and objects nest in `value` (iteratively: no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def decode_request(payload: bytes | str, source: str) -> dict[str, Any]:
    """A model request file's bytes (`inputs/models/<id>.json`) as a JSON object.

    Anything wrong with the file, however broken, is a `ModelError` naming `source`
    and the fix (the sensor skips the file and goes on).
    """
    check_request_size(len(payload), source)
    try:
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    except UnicodeDecodeError as exc:
        raise ModelError(
            f"{source}: not UTF-8 text ({exc}); save the request as UTF-8 JSON"
        ) from None
    try:
        request = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ModelError(f"{source}: not valid JSON ({exc}); fix or remove the file") from None
    except RecursionError:  # nested far too deeply for the decoder
        raise _too_deep(source) from None
    if _depth(request) > MAX_REQUEST_DEPTH:  # deep enough to break what reads it later
        raise _too_deep(source)
    if not isinstance(request, dict):
        raise ModelError(
            f"{source}: a model request must be a JSON object, got {type(request).__name__}"
        )
    return request
