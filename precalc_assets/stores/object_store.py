"""The object-store interface: bytes under keys, with Parquet helpers.

Backends: ``local.LocalObjectStore`` (a directory; the embedded default, so everything
runs without a cloud account) and ``s3.S3ObjectStore`` (production, ``s3://bucket/prefix``).
Both obey the same contract (``docs/contracts.md``) so the same tests run against both:

- keys are ``/``-separated relative paths (no leading ``/``, no ``.``/``..``/empty parts);
- writes are atomic (a reader sees the old object or the new one, never half of one);
- ``list`` yields keys in S3 order (UTF-8 byte order), lazily.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from precalc_assets.stores.errors import StoreError

__all__ = [
    "PARQUET_COMPRESSION",
    "TMP_SUFFIX",
    "ObjectInfo",
    "ObjectStore",
    "check_key",
    "check_prefix",
]

PARQUET_COMPRESSION = "zstd"
# Suffix of the temp files of in-progress local writes: reserved, never a key.
TMP_SUFFIX = ".precalc-tmp"


@dataclass(frozen=True)
class ObjectInfo:
    """What a listing or a HEAD says about one object."""

    key: str
    size: int
    etag: str
    last_modified: datetime


def check_key(key: str, store_url: str) -> str:
    """``key`` if valid; rejects keys that could escape the store root or differ between
    backends."""
    if not isinstance(key, str) or not key:
        raise StoreError(
            f"Empty object key for store {store_url}; pass a relative key like 'a/b.parquet'."
        )
    _check_parts(key, store_url, what="key", allow_trailing_slash=False)
    if key.endswith(TMP_SUFFIX):
        raise StoreError(
            f"Object key '{key}' for store {store_url} ends with '{TMP_SUFFIX}', which is "
            "reserved for in-progress writes; choose another name."
        )
    return key


def check_prefix(prefix: str, store_url: str) -> str:
    """``prefix`` if valid: empty, or key parts with an optional trailing ``/``."""
    if not isinstance(prefix, str):
        raise StoreError(f"List prefix must be a string, got {prefix!r} (store {store_url}).")
    if prefix:
        _check_parts(prefix, store_url, what="prefix", allow_trailing_slash=True)
    return prefix


def _check_parts(value: str, store_url: str, *, what: str, allow_trailing_slash: bool) -> None:
    parts = value.split("/")
    if allow_trailing_slash and parts[-1] == "":
        parts = parts[:-1]
    bad = (
        value.startswith("/")
        or "\\" in value
        or "\x00" in value
        or any(p in ("", ".", "..") for p in parts)
    )
    if bad:
        raise StoreError(
            f"Invalid object {what} '{value}' for store {store_url}: {what}s are relative "
            "'/'-separated paths without a leading '/', backslashes, or empty, '.' or '..' "
            "parts. Use a key like 'predictions/model=m/slice=s.parquet'."
        )


class ObjectStore(ABC):
    """Bytes under keys, with Parquet helpers; see the module docstring for the contract."""

    url: str

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically (readers never see half an object)."""

    @abstractmethod
    def put_file(self, key: str, path: Path) -> None:
        """Upload a local file (streamed; multipart on S3)."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """Whole object in memory; ``ObjectNotFound`` if missing."""

    @abstractmethod
    def download(self, key: str, path: Path) -> None:
        """Stream an object to a local file (replaced atomically); ``ObjectNotFound`` if missing."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """Metadata of one object, or None if it does not exist."""

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``, in S3 key order.

        Lazy, so a caller (a sensor) can stop early.
        """

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; no error if it is missing (deletes are idempotent)."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """Full URI of a key, for metadata and for tools (DuckDB, Athena) that read it."""

    def write_parquet(self, key: str, table: pa.Table) -> None:
        """Write a table as one zstd-compressed Parquet object, atomically."""
        sink = io.BytesIO()
        pq.write_table(table, sink, compression=PARQUET_COMPRESSION)
        self.put_bytes(key, sink.getvalue())

    def read_parquet(self, key: str, columns: list[str] | None = None) -> pa.Table:
        """Read a Parquet object (optionally only some columns)."""
        return self._parquet_from(key, pa.BufferReader(self.get_bytes(key)), columns)

    def _parquet_from(self, key: str, source: Any, columns: list[str] | None) -> pa.Table:
        try:
            return pq.ParquetFile(source).read(columns=columns)
        except (pa.ArrowException, KeyError, ValueError) as exc:
            raise StoreError(
                f"Could not read Parquet object {self.uri(key)} (columns={columns}): {exc}. "
                "The object may be truncated or not Parquet; re-materialize the asset that "
                "writes it."
            ) from exc

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
