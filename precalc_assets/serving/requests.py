"""The JSON request of the HTTP faces (`precalc serve`, the Lambda), and their answer.

The body is a superset of Ersilia's lookup request `{"modelId", "inputKeyArray"}`:
`modelIds` (several models), `smilesArray` (look up by SMILES) and `computeMissing`
may be added. Every problem is a 4xx with a message, never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from precalc_assets.models.spec import ModelError
from precalc_assets.serving.formats import json_body
from precalc_assets.serving.lookup import (
    Answer,
    LookupInputError,
    UnknownModelError,
    lookup,
)
from precalc_assets.stores.errors import StoreError
from precalc_assets.stores.object_store import ObjectStore
from precalc_assets.stores.serving_table import ServingTable

MAX_INPUTS = 1_000  # per request, keys and SMILES together, over all its models
MAX_BODY_BYTES = 1 << 20
FIELDS = ("modelId", "modelIds", "inputKeyArray", "smilesArray", "computeMissing")

OK, BAD_REQUEST, NOT_FOUND, TOO_LARGE, UNAVAILABLE = 200, 400, 404, 413, 503


class RequestError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class LookupRequest:
    models: list[str]
    keys: list[str] = field(default_factory=list)
    smiles: list[str] = field(default_factory=list)
    compute_missing: bool = False


def _strings(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RequestError(BAD_REQUEST, f"{name!r} must be a list of strings")
    return value


def parse_request(raw: str | bytes | dict[str, Any] | None) -> LookupRequest:
    """The request of a body (text, bytes or already decoded); RequestError if it is not one."""
    if isinstance(raw, str | bytes):
        if len(raw) > MAX_BODY_BYTES:
            raise RequestError(TOO_LARGE, f"the body is over {MAX_BODY_BYTES:,} bytes")
        try:
            raw = json.loads(raw or b"null")
        except ValueError as exc:
            raise RequestError(BAD_REQUEST, f"the body is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise RequestError(
            BAD_REQUEST,
            'the body must be a JSON object, e.g. {"modelId": "eos3b5e", "inputKeyArray": [...]}',
        )
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise RequestError(
            BAD_REQUEST, f"unknown field(s) {unknown}; a request may hold {', '.join(FIELDS)}"
        )
    models = [raw["modelId"]] if "modelId" in raw else []
    if not all(isinstance(m, str) for m in models):
        raise RequestError(BAD_REQUEST, "'modelId' must be a string")
    models += _strings(raw, "modelIds")
    if not models:
        raise RequestError(BAD_REQUEST, "name a model: 'modelId' (or 'modelIds')")
    keys, smiles = _strings(raw, "inputKeyArray"), _strings(raw, "smilesArray")
    inputs = (len(keys) + len(smiles)) * len(set(models))
    if inputs > MAX_INPUTS:
        raise RequestError(
            TOO_LARGE,
            f"{inputs:,} inputs x models in one request; at most {MAX_INPUTS:,}: split it",
        )
    compute = raw.get("computeMissing", False)
    if not isinstance(compute, bool):
        raise RequestError(BAD_REQUEST, "'computeMissing' must be true or false")
    return LookupRequest(models, keys, smiles, compute)


Compute = Callable[[Answer], None]


def answer(
    raw: str | bytes | dict[str, Any] | None,
    store: ObjectStore,
    table: ServingTable,
    compute: Compute | None = None,
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of one request; `compute` fills misses when asked to
    (None: this face does not compute, and saying computeMissing is a 400)."""
    try:
        request = parse_request(raw)
        if request.compute_missing and compute is None:
            raise RequestError(
                BAD_REQUEST,
                "computeMissing is not available here: this endpoint only reads the serving "
                "table; ask again without it",
            )
        result = lookup(store, table, request.models, request.keys, request.smiles)
        if request.compute_missing and compute is not None:
            compute(result)
    except RequestError as exc:
        return exc.status, {"error": str(exc)}
    except UnknownModelError as exc:
        return NOT_FOUND, {"error": str(exc)}
    except LookupInputError as exc:
        return BAD_REQUEST, {"error": str(exc)}
    except (StoreError, ModelError) as exc:
        return UNAVAILABLE, {"error": f"the serving table or storage failed: {exc}"}
    return OK, json_body(result)
