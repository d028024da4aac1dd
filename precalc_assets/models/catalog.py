"""Which model an ID means: a built-in, or a spec given in its request file."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from precalc_assets.chem import MAX_SMILES_LENGTH_CEILING
from precalc_assets.ids import InvalidIdError, validate_id
from precalc_assets.models.builtin import BUILTIN_SPECS
from precalc_assets.models.spec import ModelError, ModelSpec, spec_from_request
from precalc_assets.models.tables import item_size
from precalc_assets.quality.settings import check_settings
from precalc_assets.stores.dynamodb import ITEM_SIZE_LIMIT

# A model request is a small JSON object (runner, columns, checks); anything larger,
# or nested deeper, is refused before it is decoded any further.
MAX_REQUEST_BYTES = 1 << 20
MAX_REQUEST_DEPTH = 32


def builtin_ids() -> list[str]:
    return sorted(BUILTIN_SPECS)


def resolve_spec(
    model_id: str, request: dict[str, Any] | None = None, source: str = ""
) -> ModelSpec:
    """A request with a `runner` defines the model; a bare one must name a built-in."""
    source = source or f"model {model_id!r}"
    try:
        validate_id(model_id, "model ID")
    except InvalidIdError as exc:
        raise ModelError(f"{source}: {exc}") from None
    if request and "runner" in request:
        spec = spec_from_request(model_id, request, source)
    elif model_id in BUILTIN_SPECS:
        spec = BUILTIN_SPECS[model_id]
        if request and request.get("checks"):  # a built-in with its own thresholds
            if not isinstance(request["checks"], dict):
                raise ModelError(f"{source}: 'checks' must be an object, got {request['checks']!r}")
            spec = replace(spec, checks={**spec.checks, **request["checks"]})
    else:
        raise ModelError(
            f"{source}: unknown model ID {model_id!r}. Built-in models: "
            f"{', '.join(builtin_ids())}; for any other model give a spec: "
            '{"runner": "python", "callable": "pkg.mod:fn", '
            '"columns": [{"name": "score", "dtype": "float"}]}'
        )
    try:
        check_settings(spec, source)  # bad thresholds fail at registration, not in a check
    except ModelError:
        raise
    except (TypeError, ValueError, ArithmeticError) as exc:  # e.g. int(Infinity)
        raise ModelError(
            f"{source}: model {model_id!r} has unusable 'checks' settings "
            f"({type(exc).__name__}: {exc}); fix them (see the model request format)"
        ) from None
    _check_item_size(spec, source)
    return spec


def _check_item_size(spec: ModelSpec, source: str) -> None:
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


def parse_request(model_id: str, payload: bytes | str, source: str) -> ModelSpec:
    """Validate a model request file's bytes (`inputs/models/<id>.json`).

    Anything wrong with the request, however broken the file, is a `ModelError` naming
    `source` and the fix (the sensor skips the file and goes on).
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
    return resolve_spec(model_id, request, source)
