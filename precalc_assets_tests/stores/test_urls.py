"""Store URLs: split once, local paths resolved the same way for file:// and sqlite://."""

from __future__ import annotations

from pathlib import Path

import pytest

from precalc_assets.stores.urls import path_from_url, split_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("S3://Bucket/p/", ("s3", "Bucket/p/")),
        ("file:///abs/x", ("file", "/abs/x")),
        ("dynamodb://t", ("dynamodb", "t")),
        ("sqlite://", ("sqlite", "")),
        ("/plain/path", ("", "/plain/path")),
        ("rel/path", ("", "rel/path")),
        ("C:\\data", ("", "C:\\data")),
    ],
)
def test_split_url(url: str, expected: tuple[str, str]) -> None:
    assert split_url(url) == expected


def test_path_from_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert path_from_url(f"{tmp_path}/abs") == tmp_path / "abs"
    assert path_from_url(f"//{tmp_path}/abs") == tmp_path / "abs"
    assert path_from_url(f"{tmp_path}/with%20space") == tmp_path / "with space"
    monkeypatch.chdir(tmp_path)
    assert path_from_url("/./rel") == tmp_path / "rel"
    assert path_from_url("./.precalc/storage") == tmp_path / ".precalc" / "storage"
    assert path_from_url("rel") == tmp_path / "rel"
