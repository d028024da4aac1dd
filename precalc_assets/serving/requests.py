"""The JSON request of the HTTP faces (`precalc serve`, the Lambda) parsed, and answered.

The request and the answer are declared in `serving.lookup_json`: a superset of Ersilia's
lookup request `{"modelId", "inputKeyArray"}` (`modelIds`, `smilesArray` and
`computeMissing` may be added). It is parsed here by hand, not by pydantic, so every face
says the same of a bad request, and the Lambda needs no pydantic: every problem is a 4xx
with a message, never a 500 (a body too large, not JSON, nested too deeply or not text, a
wrong field). No message names the storage.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from precalc_assets.models.spec import ModelError
from precalc_assets.serving.formats import json_body
from precalc_assets.serving.lookup import (
    Answer,
    LookupInputError,
    UnknownModelError,
    lookup,
)
from precalc_assets.serving.lookup_json import FIELDS, ErrorBody, LookupRequest
from precalc_assets.stores.errors import StoreError
from precalc_assets.stores.object_store import ObjectStore
from precalc_assets.stores.serving_table import ServingTable

log = logging.getLogger(__name__)

MAX_INPUTS = 1_000  # per request, keys and SMILES together, over all its models
MAX_BODY_BYTES = 1 << 20
READ_ONLY = (
    "computeMissing is not available here: this endpoint only reads the serving table; "
    "ask again without it"
)
STORAGE_FAILED = "the serving table or storage failed; the server logged the detail"

OK, BAD_REQUEST, NOT_FOUND, TOO_LARGE, UNAVAILABLE = 200, 400, 404, 413, 503


class RequestError(ValueError):
    """A request that is not one: its HTTP status and a message saying what to do."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    def body(self) -> dict[str, Any]:
        return ErrorBody(str(self)).to_json()


def _text(value: str, name: str) -> str:
    """`value`, if it is text: JSON's "\\ud800" escapes decode to a lone surrogate, which
    neither RDKit nor a UTF-8 answer can take."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(
            BAD_REQUEST, f"{name!r} holds a lone surrogate escape (\\ud800-\\udfff), not text"
        ) from None
    return value


def _strings(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RequestError(BAD_REQUEST, f"{name!r} must be a list of strings")
    return [_text(v, name) for v in value]


def _decode(raw: str | bytes) -> Any:
    """The JSON value of a body; RequestError for one too large, not JSON, or nested
    deeper than the decoder's recursion limit (a 400, never a RecursionError's 500)."""
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        raise RequestError(TOO_LARGE, f"the body is over {MAX_BODY_BYTES:,} bytes")
    try:
        return json.loads(raw or b"null")
    except RecursionError:
        raise RequestError(
            BAD_REQUEST,
            "the body is nested too deeply to be a lookup request: a request is one JSON "
            "object of strings and lists of strings",
        ) from None
    except ValueError as exc:
        raise RequestError(BAD_REQUEST, f"the body is not JSON: {exc}") from None


def _request_object(raw: str | bytes | dict[str, Any] | None) -> dict[str, Any]:
    """The body as a JSON object of `LookupRequest`'s fields only; RequestError if not."""
    if isinstance(raw, str | bytes):
        raw = _decode(raw)
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
    return raw


def parse_request(raw: str | bytes | dict[str, Any] | None) -> LookupRequest:
    """The request of a body (text, bytes or already decoded); RequestError if it is not
    one. Checked in this order, so every face names the same first problem."""
    body = _request_object(raw)
    model_id = body.get("modelId")
    if "modelId" in body and not isinstance(model_id, str):
        raise RequestError(BAD_REQUEST, "'modelId' must be a string")
    model_id = None if model_id is None else _text(model_id, "modelId")
    model_ids = _strings(body, "modelIds")
    if model_id is None and not model_ids:
        raise RequestError(BAD_REQUEST, "name a model: 'modelId' (or 'modelIds')")
    keys, smiles = _strings(body, "inputKeyArray"), _strings(body, "smilesArray")
    models = {*model_ids} | ({model_id} if model_id is not None else set())
    inputs = (len(keys) + len(smiles)) * len(models)
    if inputs > MAX_INPUTS:
        raise RequestError(
            TOO_LARGE,
            f"{inputs:,} inputs x models in one request; at most {MAX_INPUTS:,}: split it",
        )
    compute = body.get("computeMissing", False)
    if not isinstance(compute, bool):
        raise RequestError(BAD_REQUEST, "'computeMissing' must be true or false")
    return LookupRequest(model_id, model_ids, keys, smiles, compute)


Compute = Callable[[Answer], None]


def answer(
    raw: str | bytes | dict[str, Any] | None,
    store: ObjectStore,
    table: ServingTable,
    compute: Compute | None = None,
    no_compute: str = READ_ONLY,
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of one request as it came (`answer_request` says the rest)."""
    try:
        request = parse_request(raw)
    except RequestError as exc:
        return exc.status, exc.body()
    return answer_request(request, store, table, compute, no_compute)


def answer_request(
    request: LookupRequest,
    store: ObjectStore,
    table: ServingTable,
    compute: Compute | None = None,
    no_compute: str = READ_ONLY,
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) of a parsed request; `compute` fills misses when asked to
    (None: this face does not compute, and saying computeMissing is a 400 whose message is
    `no_compute`). No answer names the storage behind it: the HTTP faces have no
    authentication, so a store's failure is logged and answered in general terms."""
    try:
        if request.computeMissing and compute is None:
            raise RequestError(BAD_REQUEST, no_compute)
        result = lookup(store, table, request.models, request.inputKeyArray, request.smilesArray)
        if request.computeMissing and compute is not None:
            compute(result)
    except RequestError as exc:
        return exc.status, exc.body()
    except UnknownModelError as exc:
        return NOT_FOUND, ErrorBody(exc.public).to_json()
    except LookupInputError as exc:
        return BAD_REQUEST, ErrorBody(str(exc)).to_json()
    except (StoreError, ModelError) as exc:
        log.warning("lookup: the serving table or storage failed: %s", exc)
        return UNAVAILABLE, ErrorBody(STORAGE_FAILED).to_json()
    return OK, json_body(result)
