"""How `precalc serve` answers errors: always `{"error": ...}` (`lookup_json.ErrorBody`),
as the Lambda does, and a bad request is a 400, never FastAPI's 422 (nor in the docs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from precalc_assets.serving.lookup_json import ErrorBody
from precalc_assets.serving.requests import BAD_REQUEST, RequestError


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(ErrorBody(message).to_json(), status_code=status, headers=headers)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    return error_response(exc.status_code, str(exc.detail), exc.headers)


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Every 4xx is a 400 with a message, as from the other faces; never a 422.
    problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return error_response(BAD_REQUEST, problems)


async def _bad_request(request: Request, exc: RequestError) -> JSONResponse:
    """A request the lookup's parser refused (`serving.requests`): its status and message."""
    return error_response(exc.status, str(exc))


def answer_errors_as_json(app: FastAPI) -> None:
    """Every error of `app` answered `{"error": ...}`, and no 422 in its OpenAPI docs."""
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(RequestError, _bad_request)
    _without_422(app)


def _without_422(app: FastAPI) -> None:
    """Drop FastAPI's default 422 from the docs: this API answers bad requests with 400."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached by FastAPI; stripping it again is cheap
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
