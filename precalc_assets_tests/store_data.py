"""Store contents for tests: unique AWS names, serving items, many objects at once, and
scripted S3/DynamoDB error replies."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from botocore.awsrequest import AWSResponse
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from precalc_assets.stores.object_store import ObjectInfo, ObjectStore
from precalc_assets.stores.s3 import S3ObjectStore
from precalc_assets.stores.serving_table import ServingItem


def unique_name(prefix: str = "test") -> str:
    """A lowercase name valid as an S3 bucket and a DynamoDB table, unique per call."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


MODEL = "eos3b5e"


def keys(infos: Iterable[ObjectInfo]) -> list[str]:
    return [info.key for info in infos]


def ikey(i: int) -> str:
    """A syntactically InChIKey-like, unique key."""
    return f"{i:014d}-UHFFFAOYSA-N"


def make_items(n: int, model: str = MODEL, value: float = 1.0, start: int = 0) -> list[ServingItem]:
    return [
        ServingItem(
            inchikey=ikey(i),
            model_id=model,
            smiles="C" * (1 + i % 5),
            outputs=(value + i,),
            slice_key="demo-0000",
            run_id="run-1",
            code_version="v1",
            timestamp="2025-01-01T00:00:00.000Z",
        )
        for i in range(start, start + n)
    ]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def s3_error_response(request: Any, status: int, code: str) -> AWSResponse:
    """What a ``before-send`` handler returns to fake an S3 error reply."""
    body = f"<Error><Code>{code}</Code><Message>injected {code}</Message></Error>".encode()
    return AWSResponse(request.url, status, {"Content-Type": "application/xml"}, _Raw(body))


def dynamodb_error_response(request: Any, status: int, code: str) -> AWSResponse:
    """What a ``before-send`` handler returns to fake a DynamoDB error reply."""
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code})
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    return AWSResponse(request.url, status, headers, _Raw(body.encode()))


def seed_objects(store: ObjectStore, names: list[str]) -> None:
    """Create many tiny objects fast.

    moto's server takes ~8 ms per PutObject, so on S3 the objects go straight into the
    in-process moto backend; listing them still goes over HTTP, page by page.
    """
    if not isinstance(store, S3ObjectStore):
        for name in names:
            store.put_bytes(name, b"x")
        return
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    store.put_bytes(names[0], b"x")  # one through the real API
    for name in names[1:]:
        backend.put_object(store.bucket, f"{store.prefix}/{name}", b"x")
