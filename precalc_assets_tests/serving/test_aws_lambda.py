"""The Lambda face (`serving.aws_lambda.handler`) with API-Gateway-shaped events, REST (v1)
and HTTP API (v2), against the moto server's DynamoDB and S3, configured as the template
configures the function (`PRECALC_DEPLOYMENT=aws` and the two URLs).

The requests Ersilia's Lambda answered with a 500 (over 100 keys, duplicates, an empty
list) are answered here; every bad request is a 4xx with a message.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from precalc_assets import layout
from precalc_assets.chem import REJECT_TOO_COMPLEX, identify
from precalc_assets.deployment import Deployment, open_deployment
from precalc_assets.models.published_columns import columns_document
from precalc_assets.models.spec import OutputColumn
from precalc_assets.serving import aws_lambda
from precalc_assets.serving.requests import MAX_BODY_BYTES
from precalc_assets.stores.serving_table import ServingItem
from precalc_assets_tests.store_data import MODEL

OTHER = "eos4e40"
UNKNOWN_KEY = "ZZZZZZZZZZZZZZ-UHFFFAOYSA-N"
# 100 fused adamantane cages: 1,800 characters, 300 ring closures; its InChI takes seconds.
ADAMANTANES = "C1C2CC3CC1CC(C2)C3" * 100
VALUE = 0.25  # item i holds VALUE + i: never integral, so a float must come back a float


def ikey(i: int) -> str:
    """A well-formed, unique InChIKey: 14 upper-case letters counting `i` in base 26."""
    letters = ""
    for _ in range(14):
        i, digit = divmod(i, 26)
        letters = chr(ord("A") + digit) + letters
    return f"{letters}-UHFFFAOYSA-N"


def make_items(n: int, model_id: str, value: float) -> list[ServingItem]:
    """Items of keys 0..n-1: SMILES C, CC, ... CCCCC, C, ...; one output, `value + i`."""
    return [
        ServingItem(
            ikey(i), model_id, "C" * (1 + i % 5), (value + i,), "demo-0000", "run-1", "v1", "t"
        )
        for i in range(n)
    ]


@dataclass
class Context:
    """What the handler reads of Lambda's context object."""

    aws_request_id: str = "c0ffee00-1111-2222-3333-444455556666"
    function_name: str = "precalc-lookup"


def event_body(body: Any, encode: bool) -> str | None:
    """A request body as API Gateway hands it over: text, or base64 when `encode`."""
    text = body if body is None or isinstance(body, str) else json.dumps(body)
    if encode and text is not None:
        text = base64.b64encode(text.encode()).decode()
    return text


def rest_event(body: Any, method: str = "POST", encode: bool = False) -> dict[str, Any]:
    """An API Gateway REST API (payload 1.0) proxy event, as the template's API sends it."""
    text = event_body(body, encode)
    return {
        "resource": "/lookup",
        "path": "/lookup",
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", "x-api-key": "test-key"},
        "multiValueHeaders": {"Content-Type": ["application/json"], "x-api-key": ["test-key"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/lookup",
            "httpMethod": method,
            "path": "/v1/lookup",
            "stage": "v1",
            "requestId": "req-1",
            "identity": {"apiKey": "test-key", "sourceIp": "192.0.2.1"},
        },
        "body": text,
        "isBase64Encoded": encode,
    }


def http_api_event(body: Any, method: str = "POST", encode: bool = False) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event."""
    text = event_body(body, encode)
    return {
        "version": "2.0",
        "routeKey": f"{method} /lookup",
        "rawPath": "/lookup",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": "/lookup", "protocol": "HTTP/1.1"},
            "routeKey": f"{method} /lookup",
            "stage": "$default",
            "requestId": "req-2",
        },
        "body": text,
        "isBase64Encoded": encode,
    }


def invoke(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(status, decoded body) of one invocation; the response is what API Gateway takes."""
    result = aws_lambda.handler(event, Context())
    assert set(result) == {"statusCode", "headers", "body"}
    assert result["headers"]["Content-Type"] == "application/json"
    assert isinstance(result["body"], str)
    return result["statusCode"], json.loads(result["body"])


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, s3_bucket: str, dynamodb_table_name: str):
    """The function's environment (template.yaml) on the moto server; a fresh container."""
    monkeypatch.setenv("PRECALC_DEPLOYMENT", "aws")
    monkeypatch.setenv("PRECALC_STORAGE_URL", f"s3://{s3_bucket}/precalc")
    monkeypatch.setenv("PRECALC_SERVING_URL", f"dynamodb://{dynamodb_table_name}")
    aws_lambda.serving.cache_clear()
    yield
    aws_lambda.serving.cache_clear()


@pytest.fixture
def served(lambda_env) -> Deployment:
    """Two registered, published models; MODEL serves keys 0..299, OTHER keys 0..9."""
    stores = open_deployment()
    columns = (OutputColumn("score"),)
    for model_id in (MODEL, OTHER):
        stores.store.put_bytes(layout.model_request(model_id), b"{}\n")
        stores.store.put_bytes(
            layout.served_columns(model_id), columns_document(model_id, "v1", columns)
        )
    stores.table.ensure_table()
    stores.table.upsert(make_items(300, MODEL, VALUE) + make_items(10, OTHER, 100 + VALUE))
    return stores


def test_ersilias_request_as_is_gets_the_superset_of_its_response(served):
    keys = [ikey(0), UNKNOWN_KEY, ikey(7)]
    status, body = invoke(rest_event({"modelId": MODEL, "inputKeyArray": keys}))

    assert status == 200
    assert body["model_id"] == MODEL
    assert [row["key"] for row in body["output"]] == keys
    assert [row["status"] for row in body["output"]] == ["found", "missing", "found"]
    assert [row["smiles"] for row in body["output"]] == ["C", "", "CCC"]
    assert [row["value"] for row in body["output"]] == [[VALUE], None, [VALUE + 7]]
    assert body["output"][2]["outputs"] == {"score": VALUE + 7}
    assert body["missing"] == [UNKNOWN_KEY]
    # Plain JSON numbers, read back as floats (Ersilia's Lambda could not serialise
    # DynamoDB's Decimal at all).
    assert all(type(row["value"][0]) is float for row in body["output"] if row["value"])


def test_http_api_event_with_a_base64_body_gets_the_same_answer(served):
    request = {"modelId": MODEL, "inputKeyArray": [ikey(1), UNKNOWN_KEY]}
    expected = invoke(rest_event(request))

    assert invoke(http_api_event(request, encode=True)) == expected
    assert invoke(rest_event(request, encode=True)) == expected
    assert expected[0] == 200 and expected[1]["missing"] == [UNKNOWN_KEY]


def test_duplicate_keys_and_an_empty_list_are_answered(served):
    status, body = invoke(rest_event({"modelId": MODEL, "inputKeyArray": [ikey(3)] * 3}))
    assert status == 200
    assert [(r["key"], r["status"], r["value"]) for r in body["output"]] == [
        (ikey(3), "found", [VALUE + 3])
    ] * 3

    status, body = invoke(rest_event({"modelId": MODEL, "inputKeyArray": []}))
    assert (status, body["model_id"], body["output"], body["missing"]) == (200, MODEL, [], [])


def test_more_than_100_keys_are_all_found(served):
    """250 keys: three BatchGetItem chunks (DynamoDB takes 100 keys per request)."""
    keys = [ikey(i) for i in range(250)]
    status, body = invoke(rest_event({"modelId": MODEL, "inputKeyArray": keys}))

    assert status == 200
    assert body["missing"] == []
    assert [(r["key"], r["status"], r["value"]) for r in body["output"]] == [
        (ikey(i), "found", [VALUE + i]) for i in range(250)
    ]


def test_smiles_are_looked_up_by_their_inchikey(served):
    _, canonical, key, reason = identify("OCC")
    assert not reason
    item = ServingItem(key, MODEL, canonical, (0.5,), "demo-0000", "run-1", "v1", "2025-01-01")
    served.table.upsert([item])

    request = {"modelId": MODEL, "inputKeyArray": [ikey(2)], "smilesArray": ["OCC", "C1CC"]}
    status, body = invoke(rest_event(request))

    assert status == 200
    rows = body["output"]
    assert [(r["input"], r["status"]) for r in rows] == [
        (ikey(2), "found"),
        ("OCC", "found"),
        ("C1CC", "invalid"),  # an unclosed ring: a row with its reason, not a 4xx
    ]
    assert (rows[1]["key"], rows[1]["smiles"], rows[1]["value"]) == (key, canonical, [0.5])
    assert rows[2]["reason"].startswith("SMILES rejected")


def test_several_models_get_one_body_each(served):
    request = {"modelIds": [MODEL, OTHER], "inputKeyArray": [ikey(4), ikey(200)]}
    status, body = invoke(rest_event(request))

    assert status == 200
    first, second = body["results"]
    assert first["model_id"] == MODEL and second["model_id"] == OTHER
    assert [r["value"] for r in first["output"]] == [[VALUE + 4], [VALUE + 200]]
    assert [r["value"] for r in second["output"]] == [[100 + VALUE + 4], None]
    assert (first["missing"], second["missing"]) == ([], [ikey(200)])


@pytest.mark.parametrize(
    "request_body",
    [
        {"modelId": MODEL, "inputKeyArray": [ikey(i) for i in range(1001)]},
        {"modelIds": [MODEL, OTHER], "inputKeyArray": [ikey(i) for i in range(501)]},
    ],
    ids=["1001-keys", "2-models-x-501-keys"],
)
def test_over_1000_inputs_is_413_with_a_message(served, request_body):
    status, body = invoke(rest_event(request_body))

    assert status == 413
    assert "at most 1,000" in body["error"]


def test_a_malformed_key_is_400_naming_it(served):
    status, body = invoke(rest_event({"modelId": MODEL, "inputKeyArray": [ikey(0), "aspirin"]}))

    assert status == 400
    assert "input 1" in body["error"] and "'aspirin' is not an InChIKey" in body["error"]


@pytest.mark.parametrize("model_id", ["eos0000", "Not/A-Model"])
def test_an_unknown_model_is_404_naming_the_registered_ones(served, model_id, s3_bucket):
    status, body = invoke(rest_event({"modelId": model_id, "inputKeyArray": [ikey(0)]}))

    assert status == 404
    assert repr(model_id) in body["error"]
    assert f"registered models: {MODEL}, {OTHER}" in body["error"]
    # An unauthenticated API: the answer names no storage location.
    assert "s3://" not in body["error"] and s3_bucket not in body["error"]
    assert "precalc" not in body["error"].replace("`precalc add-model`", "")


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (rest_event("{not json"), "the body is not JSON"),
        (rest_event(b"\xff\xfe".decode("latin-1")), "the body is not JSON"),
        (rest_event(None), "must be a JSON object"),
        (rest_event('["eos3b5e"]'), "must be a JSON object"),
        (http_api_event('"eos3b5e"'), "must be a JSON object"),
        (rest_event({"modelId": MODEL, "inputKeyArray": "X"}), "must be a list of strings"),
        (rest_event({"modelId": MODEL, "keys": []}), "unknown field(s) ['keys']"),
        ({**rest_event("{}"), "body": "%%%", "isBase64Encoded": True}, "not base64"),
        (rest_event("[" * 100_000 + "]" * 100_000), "the body is nested too deeply"),
        (rest_event("[" * 100_000 + "]" * 100_000, encode=True), "the body is nested too deeply"),
        (http_api_event('{"modelIds": ' + "[" * 5_000 + "]" * 5_000 + "}"), "nested too deeply"),
        (rest_event('{"modelId": "eos3b5e", "smilesArray": ["\\udc00"]}'), "lone surrogate"),
    ],
    ids=[
        "not-json",
        "not-utf8",
        "no-body",
        "array",
        "string",
        "keys-not-list",
        "unknown",
        "b64",
        "nested-100k",
        "nested-100k-b64",
        "nested-in-a-field",
        "lone-surrogate",
    ],
)
def test_a_body_that_is_not_a_request_is_400_with_a_message(served, event, message):
    status, body = invoke(event)

    assert status == 400
    assert message in body["error"]


def test_a_body_over_1_mib_in_utf8_is_413_however_few_characters(served):
    """API Gateway hands the body over as text: its size is counted in bytes."""
    smiles = "\u00e9" * 600_000  # 600,000 characters, 1.2 MB in UTF-8
    text = json.dumps({"modelId": MODEL, "smilesArray": [smiles]}, ensure_ascii=False)
    assert len(text) < MAX_BODY_BYTES < len(text.encode())
    status, body = invoke(rest_event(text))

    assert status == 413
    assert "over 1,048,576 bytes" in body["error"]


def test_a_too_complex_smiles_is_an_invalid_row_answered_fast(served, identified):
    """Three copies of a SMILES whose InChI takes seconds: identified once, not keyed
    (`test_chem` shows InChI is never reached)."""
    request = {"modelId": MODEL, "smilesArray": [ADAMANTANES, "CCO", ADAMANTANES, ADAMANTANES]}
    status, body = invoke(rest_event(request))

    assert status == 200
    assert [r["status"] for r in body["output"]] == ["invalid", "missing", "invalid", "invalid"]
    reason = body["output"][0]["reason"]
    assert reason.startswith(f"SMILES rejected: {REJECT_TOO_COMPLEX} (1,000 heavy atoms, ")
    assert "300 ring closures, more than the limit of 64" in reason
    assert sorted(identified) == sorted([ADAMANTANES, "CCO"])


def test_compute_missing_is_400_here(served):
    request = {"modelId": MODEL, "smilesArray": ["CCO"], "computeMissing": True}
    status, body = invoke(rest_event(request))

    assert status == 400
    assert "computeMissing is not available here" in body["error"]


@pytest.mark.parametrize("make_event", [rest_event, http_api_event])
def test_other_methods_are_405(served, make_event):
    result = aws_lambda.handler(make_event(None, method="GET"), Context())

    assert result["statusCode"] == 405
    assert result["headers"]["Allow"] == "POST"
    assert "POST" in json.loads(result["body"])["error"]


def test_an_event_that_is_not_from_api_gateway_is_400(served):
    status, body = invoke({"modelId": MODEL, "inputKeyArray": [ikey(0)]})

    assert status == 400
    assert "API Gateway" in body["error"]


def test_the_stores_are_opened_once_per_container(lambda_env, served, monkeypatch):
    opened: list[Deployment] = []

    def counting_open() -> Deployment:
        opened.append(open_deployment())
        return opened[-1]

    monkeypatch.setattr(aws_lambda, "open_deployment", counting_open)
    aws_lambda.serving.cache_clear()
    for i in range(3):
        assert invoke(rest_event({"modelId": MODEL, "inputKeyArray": [ikey(i)]}))[0] == 200

    assert len(opened) == 1


def test_an_unexpected_failure_is_a_generic_500_with_the_detail_logged(served, monkeypatch, caplog):
    detail = "boom: s3://secret-bucket AKIAEXAMPLEKEY"

    def failing(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(detail)

    monkeypatch.setattr(aws_lambda, "answer", failing)
    with caplog.at_level(logging.ERROR, logger=aws_lambda.__name__):
        status, body = invoke(rest_event({"modelId": MODEL, "inputKeyArray": []}))

    assert status == 500
    assert body == {
        "error": "internal error; the lookup service logged the detail",
        "requestId": Context.aws_request_id,
    }
    assert detail in caplog.text and Context.aws_request_id in caplog.text


def test_a_misconfigured_function_is_a_500_that_names_no_setting(lambda_env, monkeypatch):
    monkeypatch.delenv("PRECALC_SERVING_URL")
    status, body = invoke(rest_event({"modelId": MODEL, "inputKeyArray": []}))

    assert status == 500
    assert "PRECALC" not in json.dumps(body)
    # Not cached: once the setting is there, the next request opens the stores.
    assert aws_lambda.serving.cache_info().currsize == 0


def test_import_opens_nothing_and_loads_neither_rdkit_nor_pandas(tmp_path):
    """The module imports light and reads no setting: a container with no settings imports
    it, and only its first request fails (a 500)."""
    script = (
        "import json, sys\n"
        "import precalc_assets.serving.aws_lambda as m\n"
        "heavy = sorted({'rdkit', 'pandas', 'dagster', 'evidently'} & set(sys.modules))\n"
        "event = {'httpMethod': 'POST', 'body': '{}'}\n"
        "print(json.dumps([heavy, m.handler(event, None)['statusCode']]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRECALC_")}
    env.update(PRECALC_DEPLOYMENT="aws", PRECALC_HOME=str(tmp_path))
    run = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1]) == [[], 500]
