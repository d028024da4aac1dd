"""Object storage behind one small interface: a local directory or an S3 bucket/prefix.

The embedded default (DESIGN §3) is a local directory so everything runs without a cloud
account; production points ``PRECALC_STORAGE_URL`` at ``s3://bucket/prefix``. Both
backends obey the same contract so the same tests run against both:

- keys are ``/``-separated relative paths (no leading ``/``, no ``.``/``..``/empty parts);
- writes are atomic (a reader sees the old object or the new one, never half of one);
- ``list`` yields keys in S3 order (UTF-8 byte order), lazily, after an optional cursor.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from precalc_assets.stores.errors import ObjectNotFound, StoreError

__all__ = [
    "LocalObjectStore",
    "ObjectInfo",
    "ObjectStore",
    "S3ObjectStore",
    "open_object_store",
    "s3_client_config",
]

PARQUET_COMPRESSION = "zstd"
_ACCEPTED_FORMS = "file:///absolute/path, a plain local path, or s3://bucket[/prefix]"
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Temp files of in-progress local writes: hidden, and never listed.
_TMP_SUFFIX = ".precalc-tmp"
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class ObjectInfo:
    """What a listing or a HEAD says about one object."""

    key: str
    size: int
    etag: str
    last_modified: datetime


def s3_client_config(max_attempts: int = 10, mode: str = "standard") -> Config:
    """Botocore config that retries S3 ``SlowDown``/5xx/timeouts with backoff.

    Retries are botocore's (standard mode understands S3 throttling codes), so no code
    here hand-rolls retry loops for S3. ``max_attempts`` has botocore's meaning: retries
    after the first attempt.
    """
    return Config(
        retries={"max_attempts": max_attempts, "mode": mode},
        max_pool_connections=32,
    )


def _check_key(key: str, store_url: str) -> str:
    """Reject keys that could escape the store root or differ between backends."""
    if not isinstance(key, str) or not key:
        raise StoreError(
            f"Empty object key for store {store_url}; pass a relative key like 'a/b.parquet'."
        )
    _check_parts(key, store_url, what="key", allow_trailing_slash=False)
    if key.endswith(_TMP_SUFFIX):
        raise StoreError(
            f"Object key '{key}' for store {store_url} ends with '{_TMP_SUFFIX}', which is "
            "reserved for in-progress writes; choose another name."
        )
    return key


def _check_prefix(prefix: str, store_url: str) -> str:
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


def _path_from_url_rest(rest: str) -> Path:
    """Path from what follows ``scheme://``.

    ``/abs/path`` is absolute; ``/./rel`` or ``/../rel`` (what ``file://$PRECALC_HOME`` gives
    with the default relative ``PRECALC_HOME=./.precalc``) and ``rel`` are relative to the
    working directory.
    """
    rest = unquote(rest)
    if rest.startswith(("/./", "/../")):
        rest = rest[1:]
    elif rest.startswith("/"):
        rest = "/" + rest.lstrip("/")
    return Path(rest).expanduser().resolve()


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
    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``, sorted by key, strictly after ``start_after``.

        Lazy: a sensor can stop early, and a cursor (``start_after``) keeps ticks cheap.
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
        data = self.get_bytes(key)
        return self._parquet_from(key, pa.BufferReader(data), columns)

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


class LocalObjectStore(ObjectStore):
    """A directory on local disk: the embedded default, and what tests run first."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = "file://" + quote(str(self.root), safe="/=+,:@")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Cannot create local storage directory {self.root} ({exc}). Choose a writable "
                "PRECALC_STORAGE_URL or PRECALC_HOME."
            ) from exc
        # (inode, mtime_ns, size) -> md5, so repeated listings do not re-hash big files.
        self._etag_cache: dict[str, tuple[int, int, int, str]] = {}

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key, self.url)

    def uri(self, key: str) -> str:
        return self.url + "/" + quote(_check_key(key, self.url), safe="/=+,:@")

    # -- writes ---------------------------------------------------------------------------

    def _atomic_write(self, target: Path, write: Callable[[IO[bytes]], None]) -> None:
        """Write to a hidden temp file next to ``target``, fsync, then ``os.replace``."""
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise self._conflict(target, exc) from exc
        tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}{_TMP_SUFFIX}"
        try:
            with open(tmp, "xb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, IsADirectoryError):
                raise self._conflict(target, exc) from exc
            raise

    def _conflict(self, target: Path, exc: OSError) -> StoreError:
        # S3 can hold both "a/b" and "a/b/c"; a directory tree cannot.
        return StoreError(
            f"Cannot write {target} in local store {self.url}: a key and a 'directory' of "
            f"keys would share a path ({exc.strerror}). Use keys that are not prefixes of "
            "other keys plus '/'."
        )

    def put_bytes(self, key: str, data: bytes) -> None:
        self._atomic_write(self._path(key), lambda fh: fh.write(data))

    def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        try:
            src = open(path, "rb")  # noqa: SIM115 - closed below, opened first to fail early
        except OSError as exc:
            raise StoreError(
                f"Cannot read local file {path} to store as {self.uri(key)}: {exc}."
            ) from exc
        with src:
            self._atomic_write(target, lambda fh: shutil.copyfileobj(src, fh, _COPY_CHUNK))

    def write_parquet(self, key: str, table: pa.Table) -> None:
        # Straight to the temp file: no in-memory copy of the encoded table.
        self._atomic_write(
            self._path(key),
            lambda fh: pq.write_table(table, fh, compression=PARQUET_COMPRESSION),
        )

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    # -- reads ----------------------------------------------------------------------------

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(key, self.url) from exc

    def download(self, key: str, path: Path) -> None:
        source = self._path(key)
        try:
            src = open(source, "rb")  # noqa: SIM115 - closed below
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(key, self.url) from exc
        with src:
            self._atomic_write(Path(path), lambda fh: shutil.copyfileobj(src, fh, _COPY_CHUNK))

    def read_parquet(self, key: str, columns: list[str] | None = None) -> pa.Table:
        path = self._path(key)
        try:
            source = pa.OSFile(str(path))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(key, self.url) from exc
        with source:
            return self._parquet_from(key, source, columns)

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not path.is_file():
            return None
        return self._info(key, path, st)

    def _info(self, key: str, path: Path | str, st: os.stat_result) -> ObjectInfo:
        return ObjectInfo(
            key=key,
            size=st.st_size,
            etag=self._etag(str(path), st),
            last_modified=datetime.fromtimestamp(st.st_mtime, tz=UTC),
        )

    def _etag(self, path: str, st: os.stat_result) -> str:
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._etag_cache.get(path)
        if cached is not None and cached[:3] == stamp:
            return cached[3]
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as fh:
            while chunk := fh.read(_COPY_CHUNK):
                digest.update(chunk)
        etag = digest.hexdigest()
        if len(self._etag_cache) > 50_000:
            self._etag_cache.clear()
        self._etag_cache[path] = (*stamp, etag)
        return etag

    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[ObjectInfo]:
        prefix = _check_prefix(prefix, self.url)
        head, sep, _ = prefix.rpartition("/")
        rel = head + sep  # deepest directory the prefix names, e.g. "predictions/model=m/"
        return self._walk(self.root / head if head else self.root, rel, prefix, start_after)

    def _walk(
        self, directory: Path, rel: str, prefix: str, start_after: str | None
    ) -> Iterator[ObjectInfo]:
        """Depth-first walk in S3 key order.

        Sorting siblings by ``name`` for files and ``name + "/"`` for directories yields
        keys in global lexicographic order ("a-b" < "a/x" < "a0"), so listing can be lazy.
        """
        try:
            with os.scandir(directory) as it:
                entries = []
                for entry in it:
                    if entry.name.startswith(".") and entry.name.endswith(_TMP_SUFFIX):
                        continue
                    is_dir = entry.is_dir(follow_symlinks=False)
                    entries.append((entry.name + "/" if is_dir else entry.name, is_dir, entry))
        except (FileNotFoundError, NotADirectoryError):
            return
        entries.sort(key=lambda e: e[0])
        for name, is_dir, entry in entries:
            key = rel + name
            if is_dir:
                if not (key.startswith(prefix) or prefix.startswith(key)):
                    continue
                if (
                    start_after is not None
                    and key < start_after
                    and not start_after.startswith(key)
                ):
                    continue  # the whole subtree sorts before the cursor
                yield from self._walk(Path(entry.path), key, prefix, start_after)
                continue
            if not key.startswith(prefix) or (start_after is not None and key <= start_after):
                continue
            try:
                if not entry.is_file():
                    continue
                st = entry.stat()
            except FileNotFoundError:  # deleted while listing
                continue
            yield self._info(key, entry.path, st)


# Error codes seen from S3 and S3-compatible servers.
_S3_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_S3_ACCESS = {
    "AccessDenied",
    "403",
    "Forbidden",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "AllAccessDisabled",
}


def aws_error_code(exc: ClientError) -> tuple[str, int | None, str]:
    """(error code, HTTP status, message) of a botocore ClientError."""
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    err = response.get("Error") or {}
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return str(err.get("Code", "")), status, str(err.get("Message", ""))


class S3ObjectStore(ObjectStore):
    """An S3 bucket and optional key prefix.

    Construction makes no AWS call (so definitions load offline); call ``check()`` to fail
    fast on a missing bucket or bad credentials.
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        if not bucket:
            raise StoreError(
                f"S3 bucket name is empty. Use a storage URL of the form {_ACCEPTED_FORMS}."
            )
        self._client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._key_prefix = self.prefix + "/" if self.prefix else ""
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._bucket_seen = False

    @property
    def client(self) -> Any:
        return self._client

    def _full(self, key: str) -> str:
        return self._key_prefix + _check_key(key, self.url)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"

    @property
    def _endpoint(self) -> str:
        return str(getattr(self._client.meta, "endpoint_url", "unknown"))

    # -- errors ---------------------------------------------------------------------------

    def _missing_bucket(self) -> StoreError:
        return StoreError(
            f"S3 bucket '{self.bucket}' does not exist (storage URL {self.url}, endpoint "
            f"{self._endpoint}). Create it (aws s3 mb s3://{self.bucket}) or point "
            "PRECALC_STORAGE_URL at an existing bucket."
        )

    def _access_denied(self, code: str) -> StoreError:
        return StoreError(
            f"Access denied to S3 bucket '{self.bucket}' ({code}; storage URL {self.url}, "
            f"endpoint {self._endpoint}). Check the AWS credentials boto3 uses (AWS_PROFILE, "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or the instance/task role) and that they "
            "allow s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject on it."
        )

    def _translate(self, exc: Exception, action: str, key: str | None) -> StoreError:
        where = self.uri(key) if key is not None else self.url
        if isinstance(exc, NoCredentialsError):
            return StoreError(
                f"No AWS credentials found to {action} {where}. Set AWS_PROFILE or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or use a file:// PRECALC_STORAGE_URL "
                "for local runs)."
            )
        if isinstance(exc, BotoCoreError):
            return StoreError(
                f"Could not {action} {where} at S3 endpoint {self._endpoint}: {exc}. Check "
                "AWS_ENDPOINT_URL/AWS_REGION and the network; re-running is safe."
            )
        if not isinstance(exc, ClientError):  # pragma: no cover - defensive
            return StoreError(f"Could not {action} {where}: {exc}")
        code, status, message = aws_error_code(exc)
        if code == "NoSuchBucket":
            return self._missing_bucket()
        if code in _S3_ACCESS or status == 403:
            return self._access_denied(code or str(status))
        if key is not None and (code in _S3_NOT_FOUND or status == 404):
            return ObjectNotFound(key, self.url)
        return StoreError(
            f"Could not {action} {where} (S3 error {code or status}: {message}; endpoint "
            f"{self._endpoint}). botocore already retried throttling and 5xx errors; check the "
            "request and re-run (writes are idempotent)."
        )

    @contextmanager
    def _errors(self, action: str, key: str | None = None) -> Iterator[None]:
        try:
            yield
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, action, key) from exc
        except Exception as exc:
            # boto3's managed transfers wrap the ClientError (S3UploadFailedError).
            inner = exc.__context__
            if isinstance(inner, ClientError | BotoCoreError):
                raise self._translate(inner, action, key) from exc
            raise

    def _bucket_exists(self) -> bool:
        """Tell a missing key from a missing bucket after a body-less 404 (HEAD)."""
        if self._bucket_seen:
            return True
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code, status, _ = aws_error_code(exc)
            if code in {"NoSuchBucket", "404", "NotFound"} or status == 404:
                return False
            if code in _S3_ACCESS or status == 403:
                return True  # cannot tell; do not blame the bucket
            raise self._translate(exc, "check bucket of", None) from exc
        self._bucket_seen = True
        return True

    def _is_not_found(self, exc: ClientError) -> bool:
        code, status, _ = aws_error_code(exc)
        return code in _S3_NOT_FOUND or status == 404

    def check(self) -> None:
        """Fail fast with a clear message if the bucket is missing or not accessible."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code, status, _ = aws_error_code(exc)
            if code in {"NoSuchBucket", "404", "NotFound"} or status == 404:
                raise self._missing_bucket() from exc
            raise self._translate(exc, "check", None) from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "check", None) from exc
        self._bucket_seen = True

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
        try:
            # Managed transfer: streamed to a temp file, ranged GETs for big objects.
            self._client.download_file(self.bucket, full, str(path))
        except ClientError as exc:
            if self._is_not_found(exc) and not self._bucket_exists():
                raise self._missing_bucket() from exc
            raise self._translate(exc, "download", key) from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "download", key) from exc

    def head(self, key: str) -> ObjectInfo | None:
        full = self._full(key)
        try:
            r = self._client.head_object(Bucket=self.bucket, Key=full)
        except ClientError as exc:
            if self._is_not_found(exc):
                if not self._bucket_exists():
                    raise self._missing_bucket() from exc
                return None
            raise self._translate(exc, "inspect", key) from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "inspect", key) from exc
        self._bucket_seen = True
        return ObjectInfo(
            key=key,
            size=int(r.get("ContentLength", 0)),
            etag=str(r.get("ETag", "")).strip('"'),
            last_modified=r["LastModified"],
        )

    def list(self, prefix: str = "", start_after: str | None = None) -> Iterator[ObjectInfo]:
        prefix = _check_prefix(prefix, self.url)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._key_prefix + prefix}
        if start_after is not None:
            kwargs["StartAfter"] = self._key_prefix + start_after
        return self._list(kwargs)

    def _list(self, kwargs: dict[str, Any]) -> Iterator[ObjectInfo]:
        cut = len(self._key_prefix)
        with self._errors("list", None):
            for page in self._client.get_paginator("list_objects_v2").paginate(**kwargs):
                for obj in page.get("Contents", ()):
                    yield ObjectInfo(
                        key=obj["Key"][cut:],
                        size=int(obj.get("Size", 0)),
                        etag=str(obj.get("ETag", "")).strip('"'),
                        last_modified=obj["LastModified"],
                    )

    def delete(self, key: str) -> None:
        full = self._full(key)
        with self._errors("delete", key):
            self._client.delete_object(Bucket=self.bucket, Key=full)

    def read_parquet(self, key: str, columns: list[str] | None = None) -> pa.Table:
        return self._parquet_from(key, pa.BufferReader(self.get_bytes(key)), columns)


def open_object_store(url: str, s3_client: Any = None) -> ObjectStore:
    """Object store for a storage URL: ``file://...`` or a plain path, or ``s3://bucket[/prefix]``.

    ``s3_client`` lets Dagster's ``S3Resource`` (or a test) supply the client; otherwise one
    is built from boto3's default chain with ``s3_client_config()``.
    """
    if not isinstance(url, str) or not url.strip():
        raise StoreError(f"Empty storage URL. Accepted forms: {_ACCEPTED_FORMS}.")
    url = url.strip()
    match = _SCHEME_RE.match(url)
    if match is None:
        return LocalObjectStore(Path(url))
    scheme = match.group(1).lower()
    rest = url[match.end() :]
    if scheme == "file":
        if not rest:
            raise StoreError(f"Storage URL {url!r} has no path. Accepted forms: {_ACCEPTED_FORMS}.")
        return LocalObjectStore(_path_from_url_rest(rest))
    if scheme == "s3":
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise StoreError(
                f"Storage URL {url!r} has no bucket name. Accepted forms: {_ACCEPTED_FORMS}."
            )
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3", config=s3_client_config())
        return S3ObjectStore(s3_client, bucket, prefix)
    raise StoreError(
        f"Unsupported storage URL {url!r} (scheme '{scheme}'). Accepted forms: {_ACCEPTED_FORMS}. "
        "Set PRECALC_STORAGE_URL accordingly."
    )
