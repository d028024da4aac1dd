"""What only the local object store has to get right: atomic writes on a file system,
temp files, and keys that a directory tree cannot hold side by side."""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from precalc_assets.stores.errors import StoreError
from precalc_assets.stores.local import LocalObjectStore
from precalc_assets_tests.store_data import keys


def test_local_writes_are_atomic(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "s")
    old, new = b"a" * 2_000_000, b"b" * 2_000_000
    store.put_bytes("k.bin", old)
    stop = threading.Event()
    seen: set[bytes] = set()

    def reader() -> None:
        while not stop.is_set():
            data = store.get_bytes("k.bin")
            seen.add(data[:1] + data[-1:] + str(len(data)).encode())
            assert data in (old, new)

    with ThreadPoolExecutor(2) as pool:
        fut = pool.submit(reader)
        for i in range(20):
            store.put_bytes("k.bin", new if i % 2 == 0 else old)
        stop.set()
        fut.result()
    assert seen <= {b"aa2000000", b"bb2000000"}
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["k.bin"]  # no temp files


def test_local_failed_write_keeps_old_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalObjectStore(tmp_path / "s")
    store.put_bytes("dir/k", b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        store.put_bytes("dir/k", b"new")
    monkeypatch.undo()
    assert store.get_bytes("dir/k") == b"old"
    assert [p.name for p in (tmp_path / "s" / "dir").iterdir()] == ["k"]


def test_local_list_skips_in_progress_temp_files(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "s")
    store.put_bytes("x/done.parquet", b"1")
    (tmp_path / "s" / "x" / ".part.parquet.0123abcd.precalc-tmp").write_bytes(b"half")
    assert keys(store.list("x/")) == ["x/done.parquet"]


def test_local_key_and_directory_conflict_is_a_store_error(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "s")
    store.put_bytes("a/b", b"1")
    with pytest.raises(StoreError, match="share a path"):
        store.put_bytes("a/b/c", b"2")
    store.put_bytes("x/y/z", b"1")
    with pytest.raises(StoreError, match="share a path"):
        store.put_bytes("x/y", b"2")
    assert keys(store.list("")) == ["a/b", "x/y/z"]


def test_local_etag_follows_content(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "s")
    store.put_bytes("k", b"one")
    first = store.head("k")
    store.put_bytes("k", b"two")
    second = store.head("k")
    assert first is not None and second is not None
    assert first.etag != second.etag == hashlib.md5(b"two").hexdigest()
