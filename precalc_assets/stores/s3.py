"""Object store in an S3 bucket, under an optional key prefix.

S3 writes are atomic by nature and ``list_objects_v2`` pages come in key order, so the
object-store contract holds without extra work here. Throttling (``SlowDown``), 5xx and
timeouts are retried by botocore (``aws.client_config``); what is left is turned into
messages that name the bucket, the URL and the endpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from functools import partial
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from precalc_assets.stores.aws import (
    AwsService,
    aws_error_code,
    aws_errors,
    client_location,
    endpoint_option,
    is_access_denied,
    translate_aws_error,
)
from precalc_assets.stores.errors import ObjectNotFound, StoreError
from precalc_assets.stores.object_store import ObjectInfo, ObjectStore, check_key, check_prefix
from precalc_assets.stores.urls import STORAGE_URL_FORMS

__all__ = ["S3ObjectStore"]

_S3 = AwsService(
    name="S3",
    local_alternative="a file:// PRECALC_STORAGE_URL",
    permissions="s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject",
)
# Codes of a missing object; a HEAD's 404 has no body, so its code is just "404".
_KEY_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
_BUCKET_NOT_FOUND = frozenset({"NoSuchBucket", "404", "NotFound"})


def _info(key: str, size: Any, etag: Any, last_modified: Any) -> ObjectInfo:
    return ObjectInfo(
        key=key, size=int(size or 0), etag=str(etag or "").strip('"'), last_modified=last_modified
    )


class S3ObjectStore(ObjectStore):
    """An S3 bucket and optional key prefix.

    Construction makes no AWS call (so definitions load offline); call ``check()`` to fail
    fast on a missing bucket or bad credentials.
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        if not bucket:
            raise StoreError(
                f"S3 bucket name is empty. Use a storage URL of the form {STORAGE_URL_FORMS}."
            )
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._key_prefix = self.prefix + "/" if self.prefix else ""
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._bucket_seen = False

    def _full(self, key: str) -> str:
        return self._key_prefix + check_key(key, self.url)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"

    # -- errors ---------------------------------------------------------------------------

    def _context(self) -> str:
        return f"storage URL {self.url}, {client_location(self._client)}"

    def _missing_bucket(self) -> StoreError:
        return StoreError(
            f"S3 bucket '{self.bucket}' does not exist ({self._context()}). Create it "
            f"(aws s3 mb s3://{self.bucket}{endpoint_option(self._client)}) or point "
            "PRECALC_STORAGE_URL at an existing bucket."
        )

    def _translate(
        self, exc: ClientError | BotoCoreError, action: str, key: str | None
    ) -> StoreError:
        if isinstance(exc, ClientError):
            code, status, _ = aws_error_code(exc)
            if code == "NoSuchBucket":
                return self._missing_bucket()
            if key is not None and (code in _KEY_NOT_FOUND or status == 404):
                # A GET's NoSuchKey is certain; a HEAD's bare 404 may mean a missing bucket.
                if code == "NoSuchKey" or self._bucket_exists():
                    return ObjectNotFound(key, self.url)
                return self._missing_bucket()
        return translate_aws_error(
            exc,
            _S3,
            action=action,
            target=self.uri(key) if key is not None else self.url,
            resource=f"S3 bucket '{self.bucket}'",
            context=self._context(),
        )

    def _errors(self, action: str, key: str | None = None) -> AbstractContextManager[None]:
        return aws_errors(partial(self._translate, action=action, key=key))

    def _head_bucket(self, *, denied_means_exists: bool) -> bool:
        """HEAD the bucket: False if it does not exist.

        Access denied raises, unless ``denied_means_exists`` (the caller only wants to
        tell a missing key from a missing bucket, and cannot: do not blame the bucket).
        """
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code, status, _ = aws_error_code(exc)
            if code in _BUCKET_NOT_FOUND or status == 404:
                return False
            if denied_means_exists and is_access_denied(code, status):
                return True
            raise self._translate(exc, "check", None) from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "check", None) from exc
        self._bucket_seen = True
        return True

    def _bucket_exists(self) -> bool:
        return self._bucket_seen or self._head_bucket(denied_means_exists=True)

    def check(self) -> None:
        """Fail fast with a clear message if the bucket is missing or not accessible."""
        if not self._head_bucket(denied_means_exists=False):
            raise self._missing_bucket()

    # -- operations -----------------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes) -> None:
        full = self._full(key)
        with self._errors("write", key):
            self._client.put_object(Bucket=self.bucket, Key=full, Body=data)

    def put_file(self, key: str, path: Path) -> None:
        full = self._full(key)
        if not Path(path).is_file():
            raise StoreError(
                f"Cannot read local file {path} to store as {self.uri(key)}: not a file."
            )
        with self._errors("upload", key):
            self._client.upload_file(str(path), self.bucket, full)

    def get_bytes(self, key: str) -> bytes:
        full = self._full(key)
        with self._errors("read", key):
            response = self._client.get_object(Bucket=self.bucket, Key=full)
            return response["Body"].read()

    def download(self, key: str, path: Path) -> None:
        full = self._full(key)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with self._errors("download", key):
            # Managed transfer: streamed to a temp file, ranged GETs for big objects.
            self._client.download_file(self.bucket, full, str(path))

    def head(self, key: str) -> ObjectInfo | None:
        full = self._full(key)
        try:
            with self._errors("inspect", key):
                r = self._client.head_object(Bucket=self.bucket, Key=full)
        except ObjectNotFound:
            return None
        self._bucket_seen = True
        return _info(key, r.get("ContentLength"), r.get("ETag"), r["LastModified"])

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        prefix = check_prefix(prefix, self.url)
        return self._list(self._key_prefix + prefix)

    def _list(self, full_prefix: str) -> Iterator[ObjectInfo]:
        cut = len(self._key_prefix)
        with self._errors("list"):
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
                for obj in page.get("Contents", ()):
                    yield _info(
                        obj["Key"][cut:], obj.get("Size"), obj.get("ETag"), obj["LastModified"]
                    )

    def delete(self, key: str) -> None:
        full = self._full(key)
        with self._errors("delete", key):
            self._client.delete_object(Bucket=self.bucket, Key=full)
