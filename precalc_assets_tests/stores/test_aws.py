"""The AWS errors both backends report alike: one helper, service-specific wording, and
never a credential in the message (moto server over loopback, errors injected)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from precalc_assets.stores.aws import client_config, client_location
from precalc_assets.stores.errors import StoreError
from precalc_assets.stores.factory import open_object_store, open_serving_table
from precalc_assets_tests.store_data import MODEL, dynamodb_error_response, s3_error_response

SECRET = "not-a-real-secret-but-it-must-never-be-printed"


def test_client_config_is_standard_mode_retries_and_a_large_pool() -> None:
    default = client_config()
    assert default.retries == {"max_attempts": 10, "mode": "standard"}
    assert default.max_pool_connections == 32
    custom = client_config(max_attempts=3, max_pool_connections=4)
    assert (custom.retries, custom.max_pool_connections) == (
        {"max_attempts": 3, "mode": "standard"},
        4,
    )


def test_client_location_hides_userinfo_of_the_endpoint() -> None:
    client = SimpleNamespace(
        meta=SimpleNamespace(region_name="eu-west-1", endpoint_url=f"http://me:{SECRET}@h:9")
    )
    assert client_location(client) == "region eu-west-1, endpoint http://h:9"


class Backend:
    """One AWS backend: how to build its client, call it once, and fake an error reply."""

    def __init__(
        self,
        service: str,
        event: str,
        fake: Callable[[Any, int, str], AWSResponse],
        call: Callable[[Any, str], object],
        target: str,
        resource: str,
        url: str,
        local_alternative: str,
    ) -> None:
        self.service, self.event, self.fake, self.call = service, event, fake, call
        self.target, self.resource, self.url = target, resource, url
        self.local_alternative = local_alternative

    def client(self, **kwargs: Any) -> Any:
        """A client from a fresh session: the default session caches credentials."""
        config = client_config(max_attempts=0)
        return boto3.session.Session().client(self.service, config=config, **kwargs)


S3 = Backend(
    "s3",
    "before-send.s3.GetObject",
    s3_error_response,
    lambda client, name: open_object_store(f"s3://{name}/p", s3_client=client).get_bytes("k"),
    "s3://some-store/p/k",
    "S3 bucket 'some-store'",
    "storage URL s3://some-store/p",
    "file:// PRECALC_STORAGE_URL",
)
DYNAMODB = Backend(
    "dynamodb",
    "before-send.dynamodb.BatchGetItem",
    dynamodb_error_response,
    lambda client, name: open_serving_table(f"dynamodb://{name}", dynamodb_client=client).get_many(
        MODEL, ["K"]
    ),
    "DynamoDB table 'some-store'",
    "DynamoDB table 'some-store'",
    "serving URL dynamodb://some-store",
    "sqlite:/// PRECALC_SERVING_URL",
)
BACKENDS = pytest.mark.parametrize("backend", [S3, DYNAMODB], ids=["s3", "dynamodb"])


@pytest.fixture
def secret_env(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    return aws_env


def _message(backend: Backend, client: Any) -> str:
    with pytest.raises(StoreError) as err:
        backend.call(client, "some-store")
    message = str(err.value)
    assert SECRET not in message
    assert backend.url in message
    return message


@BACKENDS
@pytest.mark.parametrize(
    ("status", "code"), [(403, "AccessDenied"), (400, "AccessDeniedException")]
)
def test_access_denied_says_what_to_check(
    secret_env: str, backend: Backend, status: int, code: str
) -> None:
    client = backend.client()
    client.meta.events.register(
        backend.event, lambda request, **_: backend.fake(request, status, code)
    )
    message = _message(backend, client)
    assert message.startswith(f"Access denied to {backend.resource} ({code};")
    assert "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY" in message and "task role" in message
    assert "region us-east-1" in message and secret_env in message


@BACKENDS
def test_other_client_errors_name_code_and_say_rerun_is_safe(
    secret_env: str, backend: Backend
) -> None:
    client = backend.client()
    client.meta.events.register(
        backend.event, lambda request, **_: backend.fake(request, 400, "ValidationException")
    )
    message = _message(backend, client)
    assert "Could not read" in message and backend.target in message
    assert "ValidationException" in message and "re-running is safe" in message


@BACKENDS
def test_network_errors_name_the_endpoint(secret_env: str, backend: Backend) -> None:
    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    message = _message(backend, backend.client(endpoint_url=closed))
    assert (
        backend.target in message and closed in message and "AWS_ENDPOINT_URL/AWS_REGION" in message
    )
    assert "re-running is safe" in message


@BACKENDS
def test_missing_credentials_say_what_to_set(
    aws_env: str, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    message = _message(backend, backend.client())
    assert message.startswith("No AWS credentials found to read")
    assert backend.target in message
    assert "AWS_PROFILE" in message and backend.local_alternative in message
