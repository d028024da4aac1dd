"""One contract, two backends: every test taking ``store`` runs on a local directory and on
S3 (moto server over loopback HTTP, with a key prefix so prefix handling is exercised)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from precalc_assets.stores.errors import ObjectNotFound, StoreError
from precalc_assets.stores.factory import open_object_store
from precalc_assets.stores.object_store import ObjectStore
from precalc_assets.stores.s3 import S3ObjectStore
from precalc_assets_tests.store_data import keys, seed_objects


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return open_object_store(f"file://{tmp_path}/storage")
    client = request.getfixturevalue("s3_client")
    bucket = request.getfixturevalue("s3_bucket")
    return open_object_store(f"s3://{bucket}/pfx/", s3_client=client)


# -- the shared contract -------------------------------------------------------------------


def test_round_trip(store: ObjectStore) -> None:
    data = b"smiles\nCCO\nc1ccccc1\n"
    store.put_bytes("inputs/library/demo.csv", data)

    assert store.get_bytes("inputs/library/demo.csv") == data
    info = store.head("inputs/library/demo.csv")
    assert info is not None
    assert info.key == "inputs/library/demo.csv"
    assert info.size == len(data)
    assert info.etag == hashlib.md5(data).hexdigest()  # no quotes, same on both backends
    assert info.last_modified.tzinfo is not None
    assert store.exists("inputs/library/demo.csv")
    assert keys(store.list("inputs/")) == ["inputs/library/demo.csv"]
    if isinstance(store, S3ObjectStore):
        assert store.uri("inputs/library/demo.csv") == (
            f"s3://{store.bucket}/pfx/inputs/library/demo.csv"
        )
    else:
        assert store.uri("inputs/library/demo.csv").startswith("file:///")
        assert store.uri("inputs/library/demo.csv").endswith("/storage/inputs/library/demo.csv")


def test_overwrite_replaces_content(store: ObjectStore) -> None:
    store.put_bytes("a/b.txt", b"old")
    store.put_bytes("a/b.txt", b"new content")
    assert store.get_bytes("a/b.txt") == b"new content"
    assert [(i.key, i.size) for i in store.list("a/")] == [("a/b.txt", 11)]


def test_missing_objects(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(ObjectNotFound) as err:
        store.get_bytes("nope/missing.bin")
    assert "nope/missing.bin" in str(err.value) and store.url in str(err.value)
    assert store.head("nope/missing.bin") is None
    assert not store.exists("nope/missing.bin")
    store.delete("nope/missing.bin")  # idempotent
    with pytest.raises(ObjectNotFound):
        store.download("nope/missing.bin", tmp_path / "out.bin")
    with pytest.raises(ObjectNotFound):
        store.read_parquet("nope/missing.parquet")
    assert not (tmp_path / "out.bin").exists()


def test_delete(store: ObjectStore) -> None:
    store.put_bytes("d/x", b"1")
    store.delete("d/x")
    assert not store.exists("d/x")
    assert keys(store.list("d/")) == []


def test_put_file_and_download(store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    payload = os.urandom(300_000)
    src.write_bytes(payload)
    store.put_file("files/src.bin", src)

    dest = tmp_path / "nested" / "dir" / "dest.bin"
    store.download("files/src.bin", dest)
    assert dest.read_bytes() == payload
    with pytest.raises(StoreError, match="does-not-exist"):
        store.put_file("files/other.bin", tmp_path / "does-not-exist")


def test_list_order_and_prefix(store: ObjectStore) -> None:
    # '-' < '/' < '0': S3 orders keys by UTF-8 bytes, the local walk must agree.
    names = ["a/b", "a-b", "a0", "a/c/d", "b/x", "ab", "a/c-e", "a/c/f/e"]
    for name in names:
        store.put_bytes(name, name.encode())

    assert keys(store.list("")) == sorted(names)
    assert keys(store.list("a/")) == ["a/b", "a/c-e", "a/c/d", "a/c/f/e"]
    assert keys(store.list("a/c")) == ["a/c-e", "a/c/d", "a/c/f/e"]
    assert keys(store.list("a")) == sorted(n for n in names if n.startswith("a"))
    assert keys(store.list("zzz/")) == []


def test_list_paginates_past_1000(store: ObjectStore) -> None:
    names = [f"many/k{i:05d}" for i in range(1100)]
    seed_objects(store, names)

    assert keys(store.list("many/")) == names
    assert next(iter(store.list("many/"))).key == "many/k00000"  # lazy: first page only


def test_parquet_round_trip(store: ObjectStore) -> None:
    table = pa.table(
        {
            "inchikey": ["LFQSCWFLJHTTHZ-UHFFFAOYSA-N", "UHOVQNZJYSORNB-UHFFFAOYSA-N"],
            "mol_weight": [46.069, float("nan")],
            "n": pa.array([1, None], type=pa.int64()),
        }
    )
    key = "predictions/model=eos3b5e/slice=demo-0000.parquet"
    store.write_parquet(key, table)

    assert store.read_parquet(key).to_pandas().equals(table.to_pandas())  # NaN == NaN here
    assert store.read_parquet(key, columns=["n"]).column_names == ["n"]
    meta = pq.ParquetFile(pa.BufferReader(store.get_bytes(key))).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert store.uri(key).endswith("predictions/model=eos3b5e/slice=demo-0000.parquet")


def test_read_parquet_of_garbage_is_a_store_error(store: ObjectStore) -> None:
    store.put_bytes("bad.parquet", b"not parquet at all")
    with pytest.raises(StoreError, match="bad.parquet"):
        store.read_parquet("bad.parquet")


@pytest.mark.parametrize(
    "bad", ["../escape", "/etc/passwd", "a/../../b", "a//b", "", "a/", "./a", "a\\b", "x/.."]
)
def test_path_traversal_and_malformed_keys_rejected(store: ObjectStore, bad: str) -> None:
    for op in (
        lambda: store.put_bytes(bad, b"x"),
        lambda: store.get_bytes(bad),
        lambda: store.head(bad),
        lambda: store.delete(bad),
        lambda: store.uri(bad),
    ):
        with pytest.raises(StoreError) as err:
            op()
        assert not isinstance(err.value, ObjectNotFound)


def test_list_prefix_traversal_rejected(store: ObjectStore) -> None:
    with pytest.raises(StoreError):
        list(store.list("../"))
