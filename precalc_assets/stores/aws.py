"""What the two AWS backends (S3 objects, DynamoDB serving table) share.

- ``client_config``: botocore retries (standard mode) so no backend hand-rolls retry loops
  for throttling, 5xx or timeouts;
- ``aws_error_code`` and ``translate_aws_error``: botocore errors turned into
  ``StoreError`` messages that name the bucket/table, the store URL, region and endpoint,
  and say what to set or check. The cases both services share are written here once;
  each backend handles its own (missing bucket/key, missing table) before calling it.

Messages never include credentials: they name the environment variables to set, never
their values, and an endpoint URL is shown without any ``user:password@`` part.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from precalc_assets.stores.errors import StoreError

__all__ = [
    "ACCESS_DENIED_CODES",
    "AwsService",
    "aws_error_code",
    "aws_errors",
    "client_config",
    "client_location",
    "is_access_denied",
    "translate_aws_error",
]

# Error codes meaning "these credentials may not do this", from S3 (and S3-compatible
# servers) and DynamoDB.
ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "403",
        "Forbidden",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidToken",
        "AllAccessDisabled",
    }
)


def client_config(max_attempts: int = 10, max_pool_connections: int = 32) -> Config:
    """Botocore config for S3 and DynamoDB clients.

    Standard retry mode retries throttling (S3 ``SlowDown``, DynamoDB
    ``ProvisionedThroughputExceeded``), 5xx and timeouts with backoff. ``max_attempts`` has
    botocore's meaning: retries after the first attempt. The pool is larger than
    botocore's default of 10 so parallel writers never wait for a connection.
    """
    return Config(
        retries={"max_attempts": max_attempts, "mode": "standard"},
        max_pool_connections=max_pool_connections,
    )


def aws_error_code(exc: ClientError) -> tuple[str, int | None, str]:
    """(error code, HTTP status, message) of a botocore ClientError."""
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    err = response.get("Error") or {}
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return str(err.get("Code", "")), status, str(err.get("Message", ""))


def is_access_denied(code: str, status: int | None) -> bool:
    return code in ACCESS_DENIED_CODES or status == 403


def client_location(client: Any) -> str:
    """``region R, endpoint E`` of a boto3 client, for error messages."""
    meta = getattr(client, "meta", None)
    region = getattr(meta, "region_name", None)
    endpoint = getattr(meta, "endpoint_url", None)
    return f"region {region}, endpoint {_without_userinfo(endpoint)}"


def endpoint_option(client: Any) -> str:
    """` --endpoint-url E` for an `aws` command hint when the client talks to a server of
    its own (moto, LocalStack), "" for AWS itself."""
    endpoint = _without_userinfo(getattr(getattr(client, "meta", None), "endpoint_url", None))
    if not endpoint or urlsplit(endpoint).hostname.endswith(".amazonaws.com"):
        return ""
    return f" --endpoint-url {endpoint}"


def _without_userinfo(url: str | None) -> str | None:
    if not url or "@" not in url:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


@dataclass(frozen=True)
class AwsService:
    """How error messages speak of one service."""

    name: str  # "S3"
    local_alternative: str  # what to use instead for local runs
    permissions: str  # the IAM actions the backend needs


def translate_aws_error(
    exc: ClientError | BotoCoreError,
    service: AwsService,
    *,
    action: str,
    target: str,
    resource: str,
    context: str,
) -> StoreError:
    """The error both services report alike.

    ``action`` is a verb phrase ("write", "read from"), ``target`` what it acted on (an
    object URI, "DynamoDB table 't'"), ``resource`` what access was denied to ("S3 bucket
    'b'"), ``context`` the store URL, region and endpoint.
    """
    if isinstance(exc, NoCredentialsError):
        return StoreError(
            f"No AWS credentials found to {action} {target} ({context}). Set AWS_PROFILE or "
            f"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use {service.local_alternative} for "
            "local runs."
        )
    if isinstance(exc, BotoCoreError):
        return StoreError(
            f"Could not {action} {target} ({context}): {exc}. Check AWS_ENDPOINT_URL/AWS_REGION "
            "and the network; re-running is safe."
        )
    code, status, message = aws_error_code(exc)
    if is_access_denied(code, status):
        return StoreError(
            f"Access denied to {resource} ({code or status}; {context}). Check the AWS "
            "credentials boto3 uses (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or "
            f"the instance/task role) and that they allow {service.permissions} on it."
        )
    return StoreError(
        f"Could not {action} {target} ({service.name} error {code or status}: {message}; "
        f"{context}). botocore already retried throttling and 5xx errors; check the request "
        "and re-run (writes are idempotent, so re-running is safe)."
    )


@contextmanager
def aws_errors(translate: Callable[[ClientError | BotoCoreError], StoreError]) -> Iterator[None]:
    """Raise ``translate(exc)`` for a botocore error in the block.

    Also when boto3 wrapped it: managed transfers raise ``S3UploadFailedError`` from the
    ClientError.
    """
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc) from exc
    except Exception as exc:
        inner = exc.__context__
        if not isinstance(exc, StoreError) and isinstance(inner, ClientError | BotoCoreError):
            raise translate(inner) from exc
        raise
