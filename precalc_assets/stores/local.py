"""Object store on local disk: the embedded default, and what tests run first.

Writes go to a hidden temp file next to the target, are fsynced, then ``os.replace``d, so
they are atomic; the walk behind ``list`` yields keys in S3 order, lazily.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq

from precalc_assets.stores.errors import ObjectNotFound, StoreError
from precalc_assets.stores.object_store import (
    PARQUET_COMPRESSION,
    TMP_SUFFIX,
    ObjectInfo,
    ObjectStore,
    check_key,
    check_prefix,
)

__all__ = ["LocalObjectStore"]

_COPY_CHUNK = 1 << 20
_URL_SAFE = "/=+,:@"
# What opening a key's path raises when there is no object under the key.
_MISSING = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


class LocalObjectStore(ObjectStore):
    """A directory on local disk."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()
        self.url = "file://" + quote(str(self.root), safe=_URL_SAFE)
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
        return self.root / check_key(key, self.url)

    def uri(self, key: str) -> str:
        return self.url + "/" + quote(check_key(key, self.url), safe=_URL_SAFE)

    # -- writes ---------------------------------------------------------------------------

    def _atomic_write(self, target: Path, write: Callable[[IO[bytes]], None]) -> None:
        """Write to a hidden temp file next to ``target``, fsync, then ``os.replace``."""
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise self._conflict(target, exc) from exc
        tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}{TMP_SUFFIX}"
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
        except _MISSING as exc:
            raise ObjectNotFound(key, self.url) from exc

    def download(self, key: str, path: Path) -> None:
        source = self._path(key)
        try:
            src = open(source, "rb")  # noqa: SIM115 - closed below
        except _MISSING as exc:
            raise ObjectNotFound(key, self.url) from exc
        with src:
            self._atomic_write(Path(path), lambda fh: shutil.copyfileobj(src, fh, _COPY_CHUNK))

    def read_parquet(self, key: str, columns: list[str] | None = None) -> pa.Table:
        # Straight from the file: no in-memory copy of the whole object.
        path = self._path(key)
        try:
            source = pa.OSFile(str(path))
        except _MISSING as exc:
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
        """MD5 of the content, like S3's ETag of a single-part upload."""
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

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        prefix = check_prefix(prefix, self.url)
        head, sep, _ = prefix.rpartition("/")
        rel = head + sep  # deepest directory the prefix names, e.g. "predictions/model=m/"
        return self._walk(self.root / head if head else self.root, rel, prefix)

    def _walk(self, directory: Path, rel: str, prefix: str) -> Iterator[ObjectInfo]:
        """Depth-first walk in S3 key order.

        Sorting siblings by ``name`` for files and ``name + "/"`` for directories yields
        keys in global lexicographic order ("a-b" < "a/x" < "a0"), so listing can be lazy.
        """
        try:
            with os.scandir(directory) as it:
                entries = []
                for entry in it:
                    if entry.name.startswith(".") and entry.name.endswith(TMP_SUFFIX):
                        continue
                    is_dir = entry.is_dir(follow_symlinks=False)
                    entries.append((entry.name + "/" if is_dir else entry.name, is_dir, entry))
        except (FileNotFoundError, NotADirectoryError):
            return
        entries.sort(key=lambda e: e[0])
        for name, is_dir, entry in entries:
            key = rel + name
            if is_dir:
                if key.startswith(prefix) or prefix.startswith(key):
                    yield from self._walk(Path(entry.path), key, prefix)
                continue
            if not key.startswith(prefix):
                continue
            try:
                if not entry.is_file():
                    continue
                st = entry.stat()
            except FileNotFoundError:  # deleted while listing
                continue
            yield self._info(key, entry.path, st)
