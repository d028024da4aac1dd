"""Stores from URLs: the accepted forms, and clear errors for the others."""

from __future__ import annotations

from pathlib import Path

import pytest

from precalc_assets.stores.dynamodb import DynamoServingTable
from precalc_assets.stores.errors import StoreError
from precalc_assets.stores.factory import open_object_store, open_serving_table
from precalc_assets.stores.local import LocalObjectStore
from precalc_assets.stores.s3 import S3ObjectStore
from precalc_assets.stores.sqlite import SqliteServingTable

# -- object storage ------------------------------------------------------------------------


def test_open_object_store_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = open_object_store(f"file://{tmp_path}/abs")
    assert isinstance(absolute, LocalObjectStore) and absolute.root == tmp_path / "abs"
    assert absolute.url == f"file://{tmp_path}/abs"
    assert open_object_store(str(tmp_path / "plain")).root == tmp_path / "plain"
    assert open_object_store(absolute.url).root == absolute.root  # url round-trips

    monkeypatch.chdir(tmp_path)
    # The default with a relative PRECALC_HOME (./.precalc): file://./.precalc/storage
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


# -- serving table -------------------------------------------------------------------------


def test_open_serving_table_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t = open_serving_table(f"sqlite:///{tmp_path}/x/serving.db")
    assert isinstance(t, SqliteServingTable) and t.path == tmp_path / "x" / "serving.db"
    assert t.url == f"sqlite://{tmp_path}/x/serving.db"
    assert open_serving_table(t.url).path == t.path  # url round-trips

    monkeypatch.chdir(tmp_path)
    # The default with a relative PRECALC_HOME (./.precalc): sqlite:///./.precalc/serving.db
    assert open_serving_table("sqlite:///./.precalc/serving.db").path == (
        tmp_path / ".precalc" / "serving.db"
    )

    d = open_serving_table("dynamodb://precalc-serving", dynamodb_client=object())
    assert isinstance(d, DynamoServingTable)  # no AWS call on construction
    assert (d.table_name, d.url) == ("precalc-serving", "dynamodb://precalc-serving")


@pytest.mark.parametrize(
    "url", ["postgres://db/x", "dynamodb://", "dynamodb://a", "dynamodb://t/x", "sqlite://", ""]
)
def test_unknown_serving_urls_rejected(url: str) -> None:
    with pytest.raises(StoreError) as err:
        open_serving_table(url, dynamodb_client=object())
    assert "dynamodb://table-name" in str(err.value)
    if url:
        assert url in str(err.value)


def test_write_threads_go_to_the_dynamodb_constructor() -> None:
    d = open_serving_table("dynamodb://precalc-serving", dynamodb_client=object(), write_threads=3)
    assert isinstance(d, DynamoServingTable) and d.max_workers == 3
    with pytest.raises(StoreError, match="max_workers"):
        open_serving_table("dynamodb://precalc-serving", dynamodb_client=object(), write_threads=0)
