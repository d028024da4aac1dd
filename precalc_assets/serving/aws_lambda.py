"""The AWS Lambda face of lookups: API Gateway proxy events in, `serving.requests` answers out.

Deployed by `deploy/lambda/template.yaml` behind a REST API (payload v1) with an API key;
HTTP API events (payload v2) are read too. The request and the response body are those of
every HTTP face (`serving.lookup_json`, parsed by `serving.requests`): Ersilia's
`{"modelId", "inputKeyArray"}` as is, plus `modelIds` and `smilesArray`. The function only
reads (its role can do nothing else), so `computeMissing` is refused with a 400.

The stores are opened once per container, on the first request (not at import, so a
misconfigured deployment answers a logged 500 rather than failing its init phase), and kept
for the next requests: clients and connections are reused while the container lives.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from functools import lru_cache
from typing import Any

from precalc_assets.deployment import Deployment, open_deployment
from precalc_assets.serving.lookup_json import ErrorBody
from precalc_assets.serving.requests import BAD_REQUEST, answer

log = logging.getLogger(__name__)

JSON_HEADERS = {"Content-Type": "application/json"}
METHOD_NOT_ALLOWED, INTERNAL_ERROR = 405, 500


@lru_cache(maxsize=1)
def serving() -> Deployment:
    """This container's stores, from the function's `PRECALC_*` environment. A failure is
    not cached: the next request tries again."""
    return open_deployment()


def response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    # Stored values are finite or null (`stores.values`), so strict JSON always works.
    return {
        "statusCode": status,
        "headers": {**JSON_HEADERS, **(headers or {})},
        "body": json.dumps(body, allow_nan=False),
    }


def method(event: dict[str, Any]) -> str | None:
    """The HTTP method of a v1 (`httpMethod`) or v2 (`requestContext.http.method`) event."""
    if isinstance(event.get("httpMethod"), str):
        return event["httpMethod"].upper()
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, dict) else None
    found = http.get("method") if isinstance(http, dict) else None
    return found.upper() if isinstance(found, str) else None


def body(event: dict[str, Any]) -> str | bytes | None:
    """The raw request body; API Gateway base64-encodes bodies it takes for binary."""
    raw = event.get("body")
    if raw is None or not event.get("isBase64Encoded"):
        return raw
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise ValueError("the body is marked base64-encoded but is not base64") from None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """One API Gateway proxy event: 200 with the lookup's JSON, a 4xx with a message for
    every bad request, and 500 with a generic message (detail only in the log) otherwise."""
    try:
        return _handle(event)
    except Exception:
        request_id = getattr(context, "aws_request_id", None)
        log.exception("lookup failed (request %s)", request_id)
        error = ErrorBody("internal error; the lookup service logged the detail").to_json()
        return response(
            INTERNAL_ERROR, {**error, **({"requestId": request_id} if request_id else {})}
        )


def _handle(event: Any) -> dict[str, Any]:
    verb = method(event) if isinstance(event, dict) else None
    if verb is None:
        return response(
            BAD_REQUEST,
            ErrorBody("not an API Gateway proxy event (no HTTP method in it)").to_json(),
        )
    if verb != "POST":
        return response(
            METHOD_NOT_ALLOWED,
            ErrorBody(f"{verb} is not allowed: POST a JSON lookup request").to_json(),
            {"Allow": "POST"},
        )
    try:
        raw = body(event)
    except ValueError as exc:
        return response(BAD_REQUEST, ErrorBody(str(exc)).to_json())
    stores = serving()
    status, answered = answer(raw, stores.store, stores.table, compute=None)
    return response(status, answered)
