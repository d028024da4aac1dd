"""Stores from URLs (the forms are in ``docs/contracts.md``).

- storage: ``file:///abs/path`` (or ``file://./rel``), a plain local path, ``s3://bucket[/prefix]``;
- serving: ``sqlite:///abs/path.db`` (or ``sqlite:///./rel.db``), ``dynamodb://table-name``.

Nothing here calls AWS: clients are only built. A caller (a resource, a
test) may pass its own client; otherwise one comes from boto3's default chain (region,
endpoint and credentials from the environment) with ``aws.client_config()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3

from precalc_assets.stores.aws import client_config
from precalc_assets.stores.dynamodb import DynamoServingTable, valid_table_name
from precalc_assets.stores.errors import StoreError
from precalc_assets.stores.local import LocalObjectStore
from precalc_assets.stores.object_store import ObjectStore
from precalc_assets.stores.s3 import S3ObjectStore
from precalc_assets.stores.serving_table import ServingTable
from precalc_assets.stores.sqlite import SqliteServingTable
from precalc_assets.stores.urls import (
    SERVING_URL_FORMS,
    STORAGE_URL_FORMS,
    path_from_url,
    split_url,
)

__all__ = ["open_object_store", "open_serving_table"]


@dataclass(frozen=True)
class _UrlKind:
    """One kind of store URL, for parsing and for error messages."""

    name: str
    forms: str
    env: str

    def parse(self, url: Any) -> tuple[str, str, str]:
        """(stripped URL, scheme, rest)."""
        if not isinstance(url, str) or not url.strip():
            raise StoreError(f"Empty {self.name} URL. Accepted forms: {self.forms}.")
        url = url.strip()
        return (url, *split_url(url))

    def invalid(self, url: str, problem: str) -> StoreError:
        return StoreError(
            f"{self.name.capitalize()} URL {url!r} {problem}. Accepted forms: {self.forms}."
        )

    def unsupported(self, url: str, scheme: str) -> StoreError:
        what = f"scheme '{scheme}'" if scheme else "no scheme"
        return StoreError(
            f"Unsupported {self.name} URL {url!r} ({what}). Accepted forms: {self.forms}. "
            f"Set {self.env} accordingly."
        )


_STORAGE = _UrlKind("storage", STORAGE_URL_FORMS, "PRECALC_STORAGE_URL")
_SERVING = _UrlKind("serving", SERVING_URL_FORMS, "PRECALC_SERVING_URL")


def open_object_store(url: str, s3_client: Any = None) -> ObjectStore:
    """Object store for a storage URL."""
    url, scheme, rest = _STORAGE.parse(url)
    if not scheme:
        return LocalObjectStore(rest)
    if scheme == "file":
        if not rest:
            raise _STORAGE.invalid(url, "has no path")
        return LocalObjectStore(path_from_url(rest))
    if scheme == "s3":
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise _STORAGE.invalid(url, "has no bucket name")
        if s3_client is None:
            s3_client = boto3.client("s3", config=client_config())
        return S3ObjectStore(s3_client, bucket, prefix)
    raise _STORAGE.unsupported(url, scheme)


def open_serving_table(
    url: str, dynamodb_client: Any = None, write_threads: int = 8
) -> ServingTable:
    """Serving table for a serving URL; ``write_threads`` parallel requests on DynamoDB."""
    url, scheme, rest = _SERVING.parse(url)
    if scheme == "sqlite":
        if not rest.strip("/"):
            raise _SERVING.invalid(url, "has no path")
        return SqliteServingTable(path_from_url(rest))
    if scheme == "dynamodb":
        if not valid_table_name(rest):
            raise _SERVING.invalid(
                url,
                "does not name a valid DynamoDB table (3-255 characters of letters, digits, "
                "'_', '.', '-')",
            )
        if dynamodb_client is None:
            dynamodb_client = boto3.client("dynamodb", config=client_config())
        return DynamoServingTable(dynamodb_client, rest, max_workers=write_threads)
    raise _SERVING.unsupported(url, scheme)
