"""Fixtures for Dagster-level tests: a project on each backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from precalc_assets_tests.conftest import unique_name
from precalc_assets_tests.project import Project


@pytest.fixture
def local_project(tmp_path, monkeypatch) -> Project:
    for name in ("PRECALC_STORAGE_URL", "PRECALC_SERVING_URL", "PRECALC_DEPLOYMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PRECALC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    return Project("local", tmp_path)


@pytest.fixture
def aws_project(tmp_path, monkeypatch, aws_env, s3_client) -> Project:
    bucket = unique_name("precalc")
    s3_client.create_bucket(Bucket=bucket)
    monkeypatch.setenv("PRECALC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    monkeypatch.setenv("PRECALC_STORAGE_URL", f"s3://{bucket}/precalc")
    monkeypatch.setenv("PRECALC_SERVING_URL", f"dynamodb://{unique_name('serving')}")
    return Project("aws", tmp_path)


@pytest.fixture(params=["local", "aws"])
def project(request) -> Iterator[Project]:
    """The same test against the embedded default and against S3 + DynamoDB (moto)."""
    yield request.getfixturevalue(f"{request.param}_project")
