"""`POST /lookup` and `GET /lookup` of `precalc serve`: the request of every HTTP face
(`lookup_json.LookupRequest`), parsed by `serving.requests` as for the Lambda, so a bad
request gets the same 4xx and message from both (never FastAPI's 422).

A web page can make a browser send requests to a loopback server, so `POST /lookup` takes
`Content-Type: application/json` only (a cross-site page cannot send that without a CORS
preflight, which this API does not grant), and `computeMissing` runs models only when the
server was started with `--allow-compute`.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter

from precalc_assets.deployment import Deployment
from precalc_assets.serving.compute_missing import compute_missing
from precalc_assets.serving.lookup import Answer
from precalc_assets.serving.lookup_json import (
    FIELDS,
    ErrorBody,
    LookupRequest,
    ModelLookup,
    SeveralModelsLookup,
)
from precalc_assets.serving.requests import (
    BAD_REQUEST,
    MAX_BODY_BYTES,
    MAX_INPUTS,
    Compute,
    RequestError,
    answer_request,
    parse_request,
)

UNSUPPORTED_MEDIA_TYPE = 415
JSON_MEDIA_TYPE = "application/json"
GET_PARAMS = ("model", "key", "smiles")
COMPUTE_OFF = (
    "computeMissing is off on this server: it only reads the serving table. Ask again "
    "without it, or start the server with `precalc serve --allow-compute` to let lookups "
    "run models on the molecules the table does not hold"
)

LOOKUP_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ModelLookup | SeveralModelsLookup,
        "description": "One row per input x model, in input order.",
    },
    400: {
        "model": ErrorBody,
        "description": "Not JSON, a malformed key or field, computeMissing on a server "
        "started without --allow-compute, a Host the server does not answer to.",
    },
    404: {"model": ErrorBody, "description": "A model that is not registered (named)."},
    413: {"model": ErrorBody, "description": f"Over {MAX_INPUTS:,} inputs x models."},
    503: {"model": ErrorBody, "description": "The serving table or storage failed."},
}
POST_RESPONSES: dict[int | str, dict[str, Any]] = {
    **LOOKUP_RESPONSES,
    UNSUPPORTED_MEDIA_TYPE: {
        "model": ErrorBody,
        "description": f"A Content-Type other than {JSON_MEDIA_TYPE}.",
    },
}
# FastAPI does not see the body read below: the docs get its schema from the declaration.
REQUEST_BODY = {
    "required": True,
    "content": {JSON_MEDIA_TYPE: {"schema": TypeAdapter(LookupRequest).json_schema()}},
}


async def _raw_body(request: Request) -> bytes:
    """The body, read no further than one byte over the limit: the parser says it is too
    large (413, its message), and a huge body is never held in memory."""
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            break
    return b"".join(chunks)


async def posted_request(request: Request) -> LookupRequest:
    """The request of a `POST /lookup`: a 415 unless sent as JSON, else as the Lambda
    parses it (a RequestError is answered with its status and message)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != JSON_MEDIA_TYPE:
        raise RequestError(
            UNSUPPORTED_MEDIA_TYPE,
            f"POST /lookup takes Content-Type: {JSON_MEDIA_TYPE} "
            f"(got {media_type[:100] or 'none'}); send the JSON request with that header",
        )
    return await run_in_threadpool(parse_request, await _raw_body(request))


async def queried_request(
    request: Request,
    model: Annotated[list[str] | None, Query(description="Model ID (repeatable).")] = None,
    key: Annotated[list[str] | None, Query(description="InChIKey (repeatable).")] = None,
    smiles: Annotated[list[str] | None, Query(description="SMILES (repeatable).")] = None,
) -> LookupRequest:
    """The request of a `GET /lookup`: its query string as the JSON request's fields."""
    unknown = sorted(set(request.query_params) - set(GET_PARAMS))
    if unknown:
        raise RequestError(
            BAD_REQUEST,
            f"unknown parameter(s) {unknown}; GET /lookup takes {', '.join(GET_PARAMS)} "
            f"(POST /lookup takes {', '.join(FIELDS)})",
        )
    return parse_request(
        {"modelIds": model or [], "inputKeyArray": key or [], "smilesArray": smiles or []}
    )


def lookup_router(serving: Deployment, allow_compute: bool) -> APIRouter:
    """The two routes over this deployment's serving table; misses are computed only with
    `allow_compute`."""
    router = APIRouter()
    compute = _computer(serving) if allow_compute else None

    async def answered(request: LookupRequest) -> JSONResponse:
        status, body = await run_in_threadpool(
            answer_request, request, serving.store, serving.table, compute, COMPUTE_OFF
        )
        return JSONResponse(body, status_code=status)

    @router.post(
        "/lookup",
        summary="Look molecules up (the JSON request of every HTTP face)",
        responses=POST_RESPONSES,
        openapi_extra={"requestBody": REQUEST_BODY},
    )
    async def post_lookup(
        lookup_request: Annotated[LookupRequest, Depends(posted_request)],
    ) -> JSONResponse:
        """Predictions of one or more models by InChIKey or SMILES: each row `found`,
        `missing`, `invalid` (with a reason) or `computed` (with `computeMissing`).
        The body must be sent as `Content-Type: application/json` (else 415)."""
        return await answered(lookup_request)

    @router.get("/lookup", summary="Look molecules up by query string", responses=LOOKUP_RESPONSES)
    async def get_lookup(
        lookup_request: Annotated[LookupRequest, Depends(queried_request)],
    ) -> JSONResponse:
        """The same answer as `POST /lookup` of those inputs. It only reads: misses are
        computed by `POST` with `computeMissing` (a GET must be safe to repeat or prefetch)."""
        return await answered(lookup_request)

    return router


def _computer(serving: Deployment) -> Compute:
    """Misses computed one request at a time: a model run takes the machine's cores and
    memory, and two at once would only compute the same molecules twice."""
    lock = threading.Lock()

    def compute(result: Answer) -> None:
        with lock:
            compute_missing(serving.store, serving.table, result, serving.policy)

    return compute
