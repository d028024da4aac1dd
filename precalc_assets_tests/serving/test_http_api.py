"""`precalc serve`'s HTTP API over a real project run (`precalc run`), on both backends:
the same answer as every other face, 4xx with the lookup's own messages, partial hits
computed, `/models` from the ledger, OpenAPI docs; what a browser cannot make it do (a
Content-Type other than JSON, computeMissing without --allow-compute, another Host); and
`precalc serve` for real."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import uvicorn
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient
from rdkit import Chem
from rdkit.Chem import Descriptors

from precalc_assets.cli import main
from precalc_assets.cli.serve import ledger_reader
from precalc_assets.deployment import open_deployment
from precalc_assets.orchestration.instance import open_instance
from precalc_assets.serving.http_api import create_app
from precalc_assets.serving.requests import FIELDS, MAX_BODY_BYTES, answer
from precalc_assets.stores.errors import StoreError
from precalc_assets_tests.molecules import expected_molecules, nci_lines, write_library
from precalc_assets_tests.project import AWS_SETTINGS, PRECALC_SETTINGS, Project
from precalc_assets_tests.store_data import unique_name

MODEL = "eos3b5e"
ABSENT = "AAAAAAAAAAAAAA-AAAAAAAAAA-N"
LIBRARY = nci_lines(60)
UNSET = (*PRECALC_SETTINGS, *AWS_SETTINGS)  # not inherited from the shell or the session
BASE_URL = "http://localhost:8000"  # a Host the app answers to (not TestClient's "testserver")
JSON_HEADERS = {"Content-Type": "application/json"}


def precalc(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@dataclass
class Served:
    """A project whose library (60 NCI molecules, 2 slices) `precalc run` published."""

    backend: str
    home: Path
    env: dict[str, str]
    expected: dict[str, str]  # InChIKey -> canonical SMILES
    app: FastAPI


def _backend_env(backend: str, home: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    env = {"PRECALC_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    if backend == "aws":
        env |= {
            "AWS_ENDPOINT_URL": request.getfixturevalue("moto_server"),
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        bucket = unique_name("bucket")
        env["PRECALC_STORAGE_URL"] = f"s3://{bucket}/precalc"
        env["PRECALC_SERVING_URL"] = f"dynamodb://{unique_name('serving')}"
    return env


@pytest.fixture(scope="module", params=["local", "aws"])
def served_project(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One `precalc run` per backend for the whole module: it is the slow part."""
    root = tmp_path_factory.mktemp(f"serve-{request.param}")
    env = _backend_env(request.param, root / "home", request)
    with pytest.MonkeyPatch.context() as patch:
        for name in UNSET:
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        (root / "home" / "dagster").mkdir(parents=True)
        if request.param == "aws":
            bucket = env["PRECALC_STORAGE_URL"].removeprefix("s3://").split("/")[0]
            boto3.client("s3").create_bucket(Bucket=bucket)
        library = write_library(root / "library.smi", LIBRARY)
        precalc("add-library", str(library), "--slice-size", "30")
        precalc("add-model", MODEL)
        precalc("run", "--workers", "1")
        # The app as `precalc serve` builds it, its ledger read on every request.
        instance = open_instance()
        deployment = open_deployment()
        reader = ledger_reader(instance, deployment)
        app = create_app(deployment, reader, allow_compute=True, models_ttl=0)
        yield Served(request.param, root / "home", env, expected_molecules(LIBRARY), app)


@pytest.fixture
def served(served_project: Served, monkeypatch: pytest.MonkeyPatch) -> Served:
    """The module's project, as this test's environment (over conftest's empty home)."""
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in served_project.env.items():
        monkeypatch.setenv(name, value)
    return served_project


@pytest.fixture
def client(served: Served) -> TestClient:
    return TestClient(served.app, base_url=BASE_URL)


def local_client(app: FastAPI) -> TestClient:
    return TestClient(app, base_url=BASE_URL)


def mol_weight(smiles: str) -> float:
    return Descriptors.MolWt(Chem.MolFromSmiles(smiles))


def library_smiles(count: int) -> list[str]:
    """Input texts of the library's first valid, distinct molecules."""
    texts, seen = [], set()
    for line in LIBRARY:
        text = line.split()[0]
        key = next(iter(expected_molecules([text])), None)
        if key and key not in seen:
            seen.add(key)
            texts.append(text)
    return texts[:count]


def direct(body: Any) -> tuple[int, dict[str, Any]]:
    serving = open_deployment()
    raw = body if isinstance(body, bytes) else json.dumps(body)
    return answer(raw, serving.store, serving.table)


def test_found_rows_and_every_face_gives_the_same_answer(served, client):
    keys = list(served.expected)[:3]
    smiles = library_smiles(5)[3:]
    body = {"modelId": MODEL, "inputKeyArray": [*keys, ABSENT], "smilesArray": smiles}
    response = client.post("/lookup", json=body)
    assert response.status_code == 200, response.text
    got = response.json()
    rows = got["output"]
    assert [r["status"] for r in rows] == ["found"] * 3 + ["missing"] + ["found"] * 2
    assert [r["input"] for r in rows] == [*keys, ABSENT, *smiles]
    for row in (r for r in rows if r["status"] == "found"):
        assert row["smiles"] == served.expected[row["key"]]
        assert row["outputs"]["mol_weight"] == pytest.approx(mol_weight(row["smiles"]))
    assert got["missing"] == [ABSENT]

    assert direct(body) == (200, got)
    cli = ["lookup", "--model", MODEL, *(f"--key={k}" for k in body["inputKeyArray"])]
    assert json.loads(precalc(*cli, *(f"--smiles={s}" for s in smiles))) == got
    query = {"model": MODEL, "key": body["inputKeyArray"], "smiles": smiles}
    by_get = client.get("/lookup", params=query)
    assert (by_get.status_code, by_get.json()) == (200, got)


KEY = "BSYNRYMUTXBXSQ-UHFFFAOYSA-N"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"modelId": MODEL, "inputKeyArray": [KEY] * 1001}, 413, "1,001 inputs x models"),
        ({"modelId": MODEL, "inputKeyArray": [KEY, "aspirin"]}, 400, "input 1: 'aspirin' is no"),
        ({"modelId": "eos9zzz", "inputKeyArray": [KEY]}, 404, "registered models: eos3b5e"),
        (b'{"modelId": "eos3b5e", "inputKeyArray": [', 400, "the body is not JSON"),
        (b"modelId=eos3b5e", 400, "the body is not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "the body is nested too deeply"),
        (b'{"modelId": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", 400, "nested too deeply"),
        (b'{"modelId": "eos3b5e", "smilesArray": ["\\ud800C"]}', 400, "lone surrogate"),
        (b" " * (MAX_BODY_BYTES + 1), 413, "the body is over 1,048,576 bytes"),
        (b"", 400, "the body must be a JSON object"),
        ([MODEL], 400, "the body must be a JSON object"),
        ({"model": MODEL}, 400, "unknown field(s) ['model']"),
        ({"modelId": MODEL, "smilesArray": "CCO"}, 400, "'smilesArray' must be a list"),
        ({"modelId": MODEL, "computeMissing": "yes"}, 400, "must be true or false"),
    ],
    ids=[
        "1001-keys",
        "bad-key",
        "unknown-model",
        "cut-json",
        "form",
        "nested-100k",
        "nested-in-a-field",
        "lone-surrogate",
        "over-1-mib",
        "empty",
        "array",
        "unknown-field",
        "string-not-list",
        "compute-not-bool",
    ],
)
def test_bad_requests_get_the_lookups_4xx_and_message(served, client, body, status, message):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post("/lookup", content=content, headers=JSON_HEADERS)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert direct(content) == (status, response.json())  # the Lambda's answer, too


def test_an_unknown_model_is_404_naming_the_registered_models_but_never_the_storage(served, client):
    """The API has no authentication: its answers name no bucket, prefix or path. The CLI
    (a trusted local user) still says where it looked."""
    storage = open_deployment().store.url
    bucket_or_path = storage.split("://", 1)[1].split("/")[0] or storage.split("://", 1)[1]
    answers = [
        client.post("/lookup", json={"modelId": "nope", "inputKeyArray": [KEY]}),
        client.get("/lookup", params={"model": "nope", "key": KEY}),
        client.get("/models/nope"),
    ]
    for response in answers:
        assert response.status_code == 404
        error = response.json()["error"]
        assert "model 'nope': not registered; registered models: eos3b5e" in error
        for leak in ("file://", "s3://", storage, bucket_or_path, str(served.home)):
            assert leak not in error
    assert direct({"modelId": "nope", "inputKeyArray": [KEY]}) == (404, answers[0].json())

    cli = CliRunner().invoke(main, ["lookup", "--model", "nope", "--key", KEY])
    assert cli.exit_code != 0 and f"not registered in {storage}" in cli.output


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x", "json"],
)
def test_post_lookup_takes_only_json_content_type(served, client, content_type):
    """A cross-site page can POST text/plain or a form without a CORS preflight; it cannot
    send application/json. So nothing else is read (415), and nothing is computed."""
    body = json.dumps({"modelId": MODEL, "smilesArray": ["CCO"], "computeMissing": True})
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/lookup", content=body.encode(), headers=headers)
    assert response.status_code == 415
    assert "POST /lookup takes Content-Type: application/json" in response.json()["error"]


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
def test_post_lookup_takes_json_with_or_without_a_charset(served, client, content_type):
    body = json.dumps({"modelId": MODEL, "inputKeyArray": [KEY]}).encode()
    response = client.post("/lookup", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"model": MODEL, "key": "aspirin"}, 400, "is not an InChIKey"),
        ({"model": "eos9zzz", "key": KEY}, 404, "registered models: eos3b5e"),
        ({"key": KEY}, 400, "name a model"),
        ({"model": MODEL, "inchikey": KEY}, 400, "unknown parameter(s) ['inchikey']"),
    ],
    ids=["bad-key", "unknown-model", "no-model", "unknown-parameter"],
)
def test_get_lookup_answers_bad_queries_with_4xx(served, client, query, status, message):
    response = client.get("/lookup", params=query)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_compute_missing_serves_computed_rows_then_finds_them(served, client):
    stored = library_smiles(5)
    new = [line.split()[0] for line in nci_lines(5, start=len(LIBRARY))]
    new_keys = expected_molecules(new)
    assert len(new_keys) == 5 and not set(new_keys) & set(served.expected)
    before = client.get(f"/models/{MODEL}").json()["molecules_computed"]
    body = {"modelId": MODEL, "smilesArray": stored + new, "computeMissing": True}

    first = client.post("/lookup", json=body)
    assert first.status_code == 200, first.text
    rows = first.json()["output"]
    assert [r["status"] for r in rows] == ["found"] * 5 + ["computed"] * 5
    for row in rows:
        assert row["outputs"]["mol_weight"] == pytest.approx(mol_weight(row["smiles"]))
    assert {r["key"]: r["smiles"] for r in rows[5:]} == new_keys
    assert first.json()["missing"] == []

    again = client.post("/lookup", json=body).json()["output"]
    assert [r["status"] for r in again] == ["found"] * 10
    assert [(r["key"], r["value"]) for r in again] == [(r["key"], r["value"]) for r in rows]
    assert client.get(f"/models/{MODEL}").json()["molecules_computed"] == before + 5

    read_only = local_client(create_app(open_deployment(), lambda: []))  # the default
    refused = read_only.post("/lookup", json=body)
    assert refused.status_code == 400
    assert "start the server with `precalc serve --allow-compute`" in refused.json()["error"]


def test_models_route_is_the_ledger_per_model(served, client):
    ledger = Project(served.backend, served.home).ledger()
    response = client.get("/models")
    assert response.status_code == 200, response.text
    (info,) = response.json()
    assert info["model_id"] == MODEL
    assert info["molecules_served"] == sum(r.rows_published for r in ledger)
    assert info["molecules_served"] == len(served.expected)
    assert (info["slices_done"], info["slices_total"], info["complete"]) == (2, 2, True)
    assert info["slices"] == dict.fromkeys(
        ("stale", "failed", "missing", "in_progress", "blocked"), 0
    ) | {"done": 2}
    assert info["last_updated"] == max(r.materialized_at for r in ledger)
    assert info["error"] is None
    runs = info["runs"]
    assert runs["count"] == len({r.run_id for r in ledger}) >= 1
    assert sum(run["slices"] for run in runs["latest"]) == 2
    assert info["last_run_id"] in {run["run_id"] for run in runs["latest"]}
    for run in runs["latest"]:
        assert run["seconds"] > 0 and run["started_at"] <= run["ended_at"]
    assert runs["seconds_total"] == pytest.approx(sum(r["seconds"] for r in runs["latest"]))

    assert client.get(f"/models/{MODEL}").json() == info
    unknown = client.get("/models/eos9zzz")
    assert unknown.status_code == 404
    assert "registered models: eos3b5e" in unknown.json()["error"]


def test_models_info_is_cached_and_a_failed_read_is_a_503(caplog):
    calls = []
    detail = "s3://secret-bucket/prefix: the bucket is gone"

    def read() -> list[dict[str, Any]]:
        calls.append(1)
        if len(calls) == 3:
            raise StoreError(detail)
        return []

    cached = local_client(create_app(open_deployment(), read, models_ttl=60))
    assert [cached.get("/models").json() for _ in range(3)] == [[], [], []]
    assert len(calls) == 1
    uncached = local_client(create_app(open_deployment(), read, models_ttl=0))
    assert uncached.get("/models").json() == []
    with caplog.at_level(logging.WARNING):
        failed = uncached.get("/models")
    assert failed.status_code == 503
    assert failed.json()["error"] == "the ledger could not be read; the server logged the detail"
    assert detail in caplog.text  # the detail is in the server's log, not in the answer
    assert uncached.get("/models").status_code == 200  # a failure is not cached
    assert len(calls) == 4


def test_a_failing_store_is_a_503_that_names_no_storage(served, client, monkeypatch, caplog):
    detail = "s3://secret-bucket/prefix: AccessDenied"

    def failing(*args: Any, **kwargs: Any) -> None:
        raise StoreError(detail)

    monkeypatch.setattr(type(open_deployment().table), "get_many", failing)
    with caplog.at_level(logging.WARNING):
        response = client.post("/lookup", json={"modelId": MODEL, "inputKeyArray": [KEY]})
    assert response.status_code == 503
    assert "secret-bucket" not in response.text and detail in caplog.text


def test_openapi_documents_lookup_and_models():
    client = local_client(create_app(open_deployment(), lambda: []))
    schema = client.get("/openapi.json").json()
    post = schema["paths"]["/lookup"]["post"]
    request = post["requestBody"]["content"]["application/json"]["schema"]
    assert set(request["properties"]) == set(FIELDS)
    assert {"200", "400", "404", "413", "415"} <= set(post["responses"])
    assert "get" in schema["paths"]["/lookup"]
    assert "422" not in json.dumps(schema["paths"])  # bad requests are 400s here
    components = schema["components"]["schemas"]
    assert {"status", "outputs", "value", "key", "smiles"} <= set(
        components["LookupRow"]["properties"]
    )
    info = set(components["ModelInfo"]["properties"])
    assert {"molecules_served", "slices_done", "slices_total", "last_updated", "runs"} <= info
    assert {"/models", "/models/{model_id}", "/health"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, body, {**JSON_HEADERS, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("served_project", ["local"], indirect=True)
def test_precalc_serve_runs_and_stops_on_ctrl_c(served):
    """Started as a user starts it: read-only, answering only its loopback names, JSON only."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "precalc_assets.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(
        command, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, server.communicate()
            try:
                if http(f"{base}/health") == (200, {"status": "ok", "compute_missing": False}):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "precalc serve did not come up"
            time.sleep(0.2)
        body = {"modelId": MODEL, "inputKeyArray": list(served.expected)[:2]}
        assert http(f"{base}/lookup", json.dumps(body).encode()) == direct(body)
        for host in (f"localhost:{port}", "localhost", f"[::1]:{port}"):
            assert http(f"{base}/health", headers={"Host": host})[0] == 200
        rebound = http(f"{base}/lookup", json.dumps(body).encode(), {"Host": "evil.example"})
        assert rebound[0] == 400 and "--allowed-host" in rebound[1]["error"]
        plain = http(f"{base}/lookup", json.dumps(body).encode(), {"Content-Type": "text/plain"})
        assert plain[0] == 415
        compute = json.dumps({**body, "computeMissing": True}).encode()
        refused = http(f"{base}/lookup", compute)
        assert refused[0] == 400 and "--allow-compute" in refused[1]["error"]
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, err
    assert f"serving lookups at {base} (API docs: {base}/docs)" in out
    assert "answering requests for Host: 127.0.0.1, localhost, ::1" in out
    assert "stopped" in out and "Traceback" not in err


def serve_app(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[TestClient, str]:
    """The app `precalc serve ARGS` builds (uvicorn is not started), and what it printed."""
    built: list[Any] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda server: built.append(server.config.app))
    output = precalc("serve", *args)
    (app,) = built
    return TestClient(app, base_url=BASE_URL), output


@pytest.mark.parametrize("served_project", ["local"], indirect=True)
def test_precalc_serve_computes_only_with_allow_compute(served, monkeypatch):
    request = {"modelId": MODEL, "smilesArray": library_smiles(2), "computeMissing": True}
    default, _ = serve_app(monkeypatch)
    assert default.get("/health").json()["compute_missing"] is False
    refused = default.post("/lookup", json=request)
    assert refused.status_code == 400 and "--allow-compute" in refused.json()["error"]

    allowed, _ = serve_app(monkeypatch, "--allow-compute")
    assert allowed.get("/health").json()["compute_missing"] is True
    computed = allowed.post("/lookup", json=request)  # all found: nothing to run
    assert computed.status_code == 200, computed.text
    assert [r["status"] for r in computed.json()["output"]] == ["found", "found"]


@pytest.mark.parametrize("served_project", ["local"], indirect=True)
@pytest.mark.parametrize(
    ("args", "accepted", "refused"),
    [
        (
            (),
            ["127.0.0.1", "127.0.0.1:8000", "localhost", "LOCALHOST:8000", "[::1]", "[::1]:8000"],
            ["evil.example", "evil.example:8000", "localhost.evil.example", "10.0.0.1", ""],
        ),
        (
            ("--allowed-host", "lookup.example.org", "--allowed-host", "Lookups.Example.net"),
            ["lookup.example.org", "lookup.example.org:443", "lookups.example.net", "localhost"],
            ["example.org", "evil.example", "lookup.example.org@evil.example"],
        ),
        (
            ("--host", "0.0.0.0", "--allowed-host", "lookup.example.org"),
            ["localhost:8000", "lookup.example.org"],
            ["evil.example", "192.0.2.1"],
        ),
    ],
    ids=["loopback", "behind-a-proxy", "every-interface"],
)
def test_precalc_serve_answers_only_the_hosts_it_is_bound_to(
    served, monkeypatch, args, accepted, refused
):
    """A page on evil.example whose DNS name was rebound to 127.0.0.1 reaches a loopback
    server with `Host: evil.example`; it is refused, whatever the route."""
    client, output = serve_app(monkeypatch, *args)
    body = {"modelId": MODEL, "inputKeyArray": [KEY]}
    for host in accepted:
        assert client.get("/health", headers={"Host": host}).status_code == 200, host
        assert client.post("/lookup", json=body, headers={"Host": host}).status_code == 200
    for host in refused:
        for response in (
            client.get("/health", headers={"Host": host}),
            client.post("/lookup", json=body, headers={"Host": host}),
            client.get("/docs", headers={"Host": host}),
        ):
            assert response.status_code == 400, host
            error = response.json()["error"]
            assert "is not a name this server answers to" in error
            assert "`precalc serve --allowed-host NAME`" in error
    assert "answering requests for Host:" in output
