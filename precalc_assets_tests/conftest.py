"""Shared fixtures: one moto server per test session (per xdist worker), speaking the AWS
protocol over loopback HTTP, so S3/DynamoDB code paths (and subprocesses such as Dagster
CLI runs, through ``aws_env``) are exercised without an AWS account or ``mock_aws``.

Every bucket/table gets a unique name, so tests may run in parallel (``pytest -n auto``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from precalc_assets.stores.aws import client_config
from precalc_assets_tests.alert_receivers import Receiver, SnsTopic
from precalc_assets_tests.project import AWS_SETTINGS, PRECALC_SETTINGS, Project
from precalc_assets_tests.store_data import unique_name


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Endpoint URL (``http://127.0.0.1:<port>``) of a moto server started on a free port."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3's default chain (in this process and in subprocesses) at the moto server.

    Also hides the developer's ``~/.aws`` config and profile so they cannot leak in.
    """
    for name in AWS_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    return moto_server


@pytest.fixture
def s3_client(aws_env: str) -> Any:
    """S3 client from the default chain, with the retry config production uses."""
    return boto3.client("s3", config=client_config())


@pytest.fixture
def dynamodb_client(aws_env: str) -> Any:
    """DynamoDB client from the default chain, with the retry config production uses."""
    return boto3.client("dynamodb", config=client_config())


@pytest.fixture
def s3_bucket(s3_client: Any) -> str:
    """A freshly created, uniquely named bucket on the moto server."""
    name = unique_name("bucket")
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def dynamodb_table_name(aws_env: str) -> str:
    """A unique DynamoDB table name (the table is not created)."""
    return unique_name("serving")


# Dagster-level: a project in a temporary home, on each backend.


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch) -> None:
    """Every test gets its own PRECALC_HOME and DAGSTER_HOME (embedded default), so
    nothing reads or writes the developer's ./.precalc or a configured cloud store."""
    for name in PRECALC_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PRECALC_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    (tmp_path / "home" / "dagster").mkdir(parents=True)


@pytest.fixture
def local_project(tmp_path) -> Project:
    return Project("local", tmp_path)


@pytest.fixture
def aws_project(tmp_path, monkeypatch, s3_bucket, dynamodb_table_name) -> Project:
    bucket = s3_bucket
    monkeypatch.setenv("PRECALC_STORAGE_URL", f"s3://{bucket}/precalc")
    monkeypatch.setenv("PRECALC_SERVING_URL", f"dynamodb://{dynamodb_table_name}")
    return Project("aws", tmp_path)


@pytest.fixture(params=["local", "aws"])
def project(request) -> Iterator[Project]:
    """The same test against the embedded default and against S3 + DynamoDB (moto)."""
    yield request.getfixturevalue(f"{request.param}_project")


# Alert sinks: a Slack-like webhook receiver on loopback, SNS on moto.


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


@pytest.fixture
def sns_topic(aws_env: str) -> SnsTopic:
    return SnsTopic()
