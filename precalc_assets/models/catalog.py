"""Which model an ID means: a built-in, or a spec given in its request file."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from precalc_assets.ids import InvalidIdError, validate_id
from precalc_assets.models.builtin import BUILTIN_SPECS
from precalc_assets.models.spec import ModelError, ModelSpec, spec_from_request
from precalc_assets.quality.settings import check_settings


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
            spec = replace(spec, checks={**spec.checks, **request["checks"]})
    else:
        raise ModelError(
            f"{source}: unknown model ID {model_id!r}. Built-in models: "
            f"{', '.join(builtin_ids())}; for any other model give a spec: "
            '{"runner": "python", "callable": "pkg.mod:fn", '
            '"columns": [{"name": "score", "dtype": "float"}]}'
        )
    check_settings(spec, source)  # bad thresholds fail at registration, not in a check
    return spec


def parse_request(model_id: str, payload: bytes | str, source: str) -> ModelSpec:
    """Validate a model request file's bytes (`inputs/models/<id>.json`)."""
    text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    try:
        request = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ModelError(f"{source}: not valid JSON ({exc}); fix or remove the file") from None
    if not isinstance(request, dict):
        raise ModelError(
            f"{source}: a model request must be a JSON object, got {type(request).__name__}"
        )
    return resolve_spec(model_id, request, source)
