"""One contract, two backends: every test taking ``store`` runs on a local directory and on
S3 (moto server over loopback HTTP, with a key prefix so prefix handling is exercised)."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.awsrequest import AWSResponse
from botocore.retries.standard import ExponentialBackoff

from precalc_assets.stores import (
    LocalObjectStore,
    ObjectNotFound,
    ObjectStore,
    S3ObjectStore,
    StoreError,
    open_object_store,
    s3_client_config,
)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return open_object_store(f"file://{tmp_path}/storage")
    client = request.getfixturevalue("s3_client")
    bucket = request.getfixturevalue("s3_bucket")
    return open_object_store(f"s3://{bucket}/pfx/", s3_client=client)


def keys(infos: Any) -> list[str]:
    return [info.key for info in infos]


# -- the shared contract ---------------------------------------------------------------------


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


def test_list_order_prefix_and_start_after(store: ObjectStore) -> None:
    # '-' < '/' < '0': S3 orders keys by UTF-8 bytes, the local walk must agree.
    names = ["a/b", "a-b", "a0", "a/c/d", "b/x", "ab", "a/c-e", "a/c/f/e"]
    for name in names:
        store.put_bytes(name, name.encode())

    assert keys(store.list("")) == sorted(names)
    assert keys(store.list("a/")) == ["a/b", "a/c-e", "a/c/d", "a/c/f/e"]
    assert keys(store.list("a/c")) == ["a/c-e", "a/c/d", "a/c/f/e"]
    assert keys(store.list("a")) == sorted(n for n in names if n.startswith("a"))
    assert keys(store.list("", start_after="a/c/d")) == ["a/c/f/e", "a0", "ab", "b/x"]
    assert keys(store.list("a/", start_after="a/b")) == ["a/c-e", "a/c/d", "a/c/f/e"]
    after_a_c = ["a/c-e", "a/c/d", "a/c/f/e", "a0", "ab", "b/x"]
    assert keys(store.list("", start_after="a/c")) == after_a_c
    assert keys(store.list("zzz/")) == []
    assert keys(store.list("", start_after="zzz")) == []


def _seed(store: ObjectStore, names: list[str]) -> None:
    """Create many tiny objects fast.

    moto's server takes ~8 ms per PutObject, so on S3 the objects go straight into the
    in-process moto backend; listing them still goes over HTTP, page by page.
    """
    if not isinstance(store, S3ObjectStore):
        for name in names:
            store.put_bytes(name, b"x")
        return
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    store.put_bytes(names[0], b"x")  # one through the real API
    for name in names[1:]:
        backend.put_object(store.bucket, f"{store.prefix}/{name}", b"x")


def test_list_paginates_past_1000(store: ObjectStore) -> None:
    names = [f"many/k{i:05d}" for i in range(1100)]
    _seed(store, names)

    assert keys(store.list("many/")) == names
    # The cursor form a sensor uses, crossing the 1000-key page boundary.
    assert keys(store.list("many/", start_after="many/k00050")) == names[51:]
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


# -- local backend ---------------------------------------------------------------------------


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


# -- URLs --------------------------------------------------------------------------------------


def test_open_object_store_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = open_object_store(f"file://{tmp_path}/abs")
    assert isinstance(absolute, LocalObjectStore) and absolute.root == tmp_path / "abs"
    assert absolute.url == f"file://{tmp_path}/abs"
    assert open_object_store(str(tmp_path / "plain")).root == tmp_path / "plain"
    assert open_object_store(absolute.url).root == absolute.root  # url round-trips

    monkeypatch.chdir(tmp_path)
    # DESIGN §3 default with a relative PRECALC_HOME: file://./.precalc/storage
    assert open_object_store("file://./.precalc/storage").root == tmp_path / ".precalc/storage"
    assert open_object_store("file:///./rel").root == tmp_path / "rel"

    s3 = open_object_store("s3://my-bucket/some/prefix/", s3_client=object())
    assert isinstance(s3, S3ObjectStore)  # no AWS call on construction
    assert (s3.bucket, s3.prefix, s3.url) == (
        "my-bucket",
        "some/prefix",
        "s3://my-bucket/some/prefix",
    )
    assert open_object_store("s3://my-bucket", s3_client=object()).uri("k") == "s3://my-bucket/k"


@pytest.mark.parametrize("url", ["gs://bucket/x", "https://example.com/x", "s3://", "file://", ""])
def test_unknown_storage_urls_rejected(url: str) -> None:
    with pytest.raises(StoreError) as err:
        open_object_store(url, s3_client=object())
    assert "s3://bucket[/prefix]" in str(err.value)
    if url:
        assert url in str(err.value)


# -- S3 specifics --------------------------------------------------------------------------------


def test_missing_bucket_is_named(s3_client: Any, tmp_path: Path) -> None:
    bucket = f"missing-{uuid.uuid4().hex[:16]}"
    store = open_object_store(f"s3://{bucket}/x", s3_client=s3_client)
    with pytest.raises(StoreError) as err:
        store.check()
    message = str(err.value)
    assert f"S3 bucket '{bucket}' does not exist" in message
    assert f"storage URL s3://{bucket}/x" in message
    assert f"aws s3 mb s3://{bucket}" in message and "PRECALC_STORAGE_URL" in message

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


def _error_response(request: Any, status: int, code: str) -> AWSResponse:
    body = f"<Error><Code>{code}</Code><Message>injected {code}</Message></Error>".encode()

    class _Raw:
        def stream(self, **_: Any) -> Any:
            yield body

    return AWSResponse(request.url, status, {"Content-Type": "application/xml"}, _Raw())


@pytest.fixture
def fast_botocore_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep botocore's retry decisions but shrink its sleeps (SlowDown backs off ~1-2 s)."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.01)


def test_s3_slowdown_and_5xx_are_retried_by_botocore(
    aws_env: str, s3_bucket: str, fast_botocore_backoff: None
) -> None:
    client = boto3.client("s3", config=s3_client_config(max_attempts=5))
    attempts: list[int] = []

    def flaky(request: Any, **_: Any) -> AWSResponse | None:
        attempts.append(1)
        if len(attempts) == 1:
            return _error_response(request, 503, "SlowDown")
        if len(attempts) == 2:
            return _error_response(request, 500, "InternalError")
        return None  # let the real request through

    client.meta.events.register("before-send.s3.PutObject", flaky)
    store = open_object_store(f"s3://{s3_bucket}", s3_client=client)
    store.put_bytes("retried.txt", b"ok")

    assert len(attempts) == 3
    assert store.get_bytes("retried.txt") == b"ok"


def test_s3_persistent_slowdown_becomes_store_error(
    aws_env: str, s3_bucket: str, fast_botocore_backoff: None
) -> None:
    client = boto3.client("s3", config=s3_client_config(max_attempts=3))
    calls: list[int] = []

    def always_slow(request: Any, **_: Any) -> AWSResponse:
        calls.append(1)
        return _error_response(request, 503, "SlowDown")

    client.meta.events.register("before-send.s3.PutObject", always_slow)
    store = open_object_store(f"s3://{s3_bucket}", s3_client=client)
    with pytest.raises(StoreError, match="SlowDown") as err:
        store.put_bytes("k.txt", b"x")
    assert f"s3://{s3_bucket}/k.txt" in str(err.value)
    assert len(calls) == 4  # botocore's max_attempts counts retries after the first try


def test_s3_access_denied_names_bucket_and_credentials(aws_env: str, s3_bucket: str) -> None:
    client = boto3.client("s3", config=s3_client_config())
    client.meta.events.register(
        "before-send.s3.GetObject",
        lambda request, **_: _error_response(request, 403, "AccessDenied"),
    )
    store = open_object_store(f"s3://{s3_bucket}", s3_client=client)
    with pytest.raises(StoreError) as err:
        store.get_bytes("k")
    assert f"Access denied to S3 bucket '{s3_bucket}'" in str(err.value)
    assert "AWS_ACCESS_KEY_ID" in str(err.value)
