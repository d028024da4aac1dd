"""What only the S3 object store has to get right: a missing bucket named as such,
botocore's retries, and access errors that say what to check (moto server over loopback)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.retries.standard import ExponentialBackoff

from precalc_assets.stores.aws import client_config
from precalc_assets.stores.errors import StoreError
from precalc_assets.stores.factory import open_object_store
from precalc_assets_tests.store_data import s3_error_response


def test_missing_bucket_is_named(s3_client: Any, tmp_path: Path) -> None:
    bucket = f"missing-{uuid.uuid4().hex[:16]}"
    store = open_object_store(f"s3://{bucket}/x", s3_client=s3_client)
    with pytest.raises(StoreError) as err:
        store.check()
    message = str(err.value)
    assert f"S3 bucket '{bucket}' does not exist" in message
    assert f"storage URL s3://{bucket}/x" in message
    endpoint = s3_client.meta.endpoint_url  # the local server: the hint must name it
    assert f"aws s3 mb s3://{bucket} --endpoint-url {endpoint})" in message
    assert "PRECALC_STORAGE_URL" in message

    src = tmp_path / "f"
    src.write_bytes(b"1")
    for op in (
        lambda: store.put_bytes("k", b"1"),
        lambda: store.get_bytes("k"),
        lambda: store.head("k"),
        lambda: store.exists("k"),
        lambda: list(store.list("")),
        lambda: store.delete("k"),
        lambda: store.download("k", tmp_path / "out"),
        lambda: store.put_file("k", src),
        lambda: store.read_parquet("k"),
    ):
        with pytest.raises(StoreError, match=f"S3 bucket '{bucket}' does not exist"):
            op()


@pytest.fixture
def fast_botocore_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep botocore's retry decisions but shrink its sleeps (SlowDown backs off ~1-2 s)."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.01)


def test_s3_slowdown_and_5xx_are_retried_by_botocore(
    aws_env: str, s3_bucket: str, fast_botocore_backoff: None
) -> None:
    client = boto3.client("s3", config=client_config(max_attempts=5))
    attempts: list[int] = []

    def flaky(request: Any, **_: Any) -> AWSResponse | None:
        attempts.append(1)
        if len(attempts) == 1:
            return s3_error_response(request, 503, "SlowDown")
        if len(attempts) == 2:
            return s3_error_response(request, 500, "InternalError")
        return None  # let the real request through

    client.meta.events.register("before-send.s3.PutObject", flaky)
    store = open_object_store(f"s3://{s3_bucket}", s3_client=client)
    store.put_bytes("retried.txt", b"ok")

    assert len(attempts) == 3
    assert store.get_bytes("retried.txt") == b"ok"


def test_s3_persistent_slowdown_becomes_store_error(
    aws_env: str, s3_bucket: str, fast_botocore_backoff: None
) -> None:
    client = boto3.client("s3", config=client_config(max_attempts=3))
    calls: list[int] = []

    def always_slow(request: Any, **_: Any) -> AWSResponse:
        calls.append(1)
        return s3_error_response(request, 503, "SlowDown")

    client.meta.events.register("before-send.s3.PutObject", always_slow)
    store = open_object_store(f"s3://{s3_bucket}", s3_client=client)
    with pytest.raises(StoreError, match="SlowDown") as err:
        store.put_bytes("k.txt", b"x")
    assert f"s3://{s3_bucket}/k.txt" in str(err.value)
    assert len(calls) == 4  # botocore's max_attempts counts retries after the first try


def test_s3_access_denied_names_bucket_and_credentials(aws_env: str, s3_bucket: str) -> None:
    client = boto3.client("s3", config=client_config())
    client.meta.events.register(
        "before-send.s3.GetObject",
        lambda request, **_: s3_error_response(request, 403, "AccessDenied"),
    )
    store = open_object_store(f"s3://{s3_bucket}", s3_client=client)
    with pytest.raises(StoreError) as err:
        store.get_bytes("k")
    assert f"Access denied to S3 bucket '{s3_bucket}'" in str(err.value)
    assert "AWS_ACCESS_KEY_ID" in str(err.value)
