"""Helpers shared by the tests (fixtures live in conftest.py).

`Project` is a precalc project in a temporary home, on the local or the AWS (moto)
backend: tests drive it the way users do (register inputs, execute the Definitions'
jobs on a real Dagster instance under DAGSTER_HOME, read stores through the resources).
The rest: real molecules, expected identities, unique AWS names, alert receivers.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import dagster as dg
import rdkit
from botocore.awsrequest import AWSResponse
from click.testing import CliRunner, Result
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from precalc_assets import layout
from precalc_assets.chem import identify
from precalc_assets.dagster_defs.resources import resources_for
from precalc_assets.definitions import build_definitions
from precalc_assets.inputs.libraries import register_library
from precalc_assets.inputs.manifests import LibraryManifest
from precalc_assets.inputs.model_requests import register_model
from precalc_assets.ledger.rows import LedgerRow
from precalc_assets.models.trust import ModelPolicy
from precalc_assets.orchestration.ledger_reads import build_ledger
from precalc_assets.orchestration.partitions import partition_key
from precalc_assets.settings import Settings, ensure_dagster_home
from precalc_assets.stores.object_store import ObjectInfo, ObjectStore
from precalc_assets.stores.s3 import S3ObjectStore
from precalc_assets.stores.serving_table import ServingItem, ServingTable

NCI_SAMPLE = Path(rdkit.__file__).parent / "Data" / "NCI" / "first_5K.smi"
# Settings a test home must not inherit from the developer's shell: the project's own,
# and the AWS ones that could point boto3 at a real account.
PRECALC_SETTINGS = (
    "PRECALC_STORAGE_URL",
    "PRECALC_SERVING_URL",
    "PRECALC_DEPLOYMENT",
    "PRECALC_MODELS_FILE",
    "PRECALC_HTTP_ALLOW",
    "PRECALC_ENVS_DIR",
)
AWS_SETTINGS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_DYNAMODB",
)


def write_library(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def nci_lines(count: int, start: int = 0) -> list[str]:
    """Real molecules: lines of RDKit's NCI sample (SMILES + id)."""
    with NCI_SAMPLE.open() as handle:
        return [line.rstrip("\n") for line in handle][start : start + count]


@dataclass
class Project:
    backend: str
    home: Path
    defs: dg.Definitions = field(default_factory=build_definitions)

    @property
    def instance(self) -> dg.DagsterInstance:
        ensure_dagster_home(Settings.from_env())
        return dg.DagsterInstance.get()

    def store(self) -> ObjectStore:
        with dg.build_resources(resources_for("local")) as resources:
            return resources.storage.open()

    def policy(self) -> ModelPolicy:
        with dg.build_resources(resources_for("local")) as resources:
            return resources.models.open()

    def ledger(self, models: list[str] | None = None) -> list[LedgerRow]:
        return build_ledger(self.instance, self.store(), self.policy(), models)

    def serving(self) -> ServingTable:
        with dg.build_resources(resources_for("local")) as resources:
            return resources.serving.open()

    def add_library(self, path: Path, name: str, slice_size: int = 100) -> LibraryManifest:
        manifest, _ = register_library(self.store(), path, name=name, slice_size=slice_size)
        self.instance.add_dynamic_partitions("slice", [s.key for s in manifest.slices])
        return manifest

    def add_model(self, model_id: str, spec: dict | None = None) -> None:
        spec_path = None
        if spec is not None:
            spec_path = self.home / f"{model_id}.spec.json"
            spec_path.write_text(json.dumps(spec))
        register_model(self.store(), model_id, self.policy(), spec_path)
        self.instance.add_dynamic_partitions("model", [model_id])

    def precalculate(self, model_id: str, slice_key: str, **kwargs) -> dg.ExecuteInProcessResult:
        return self.defs.resolve_job_def("precalculate").execute_in_process(
            partition_key=partition_key(model_id, slice_key),
            instance=self.instance,
            raise_on_error=kwargs.pop("raise_on_error", False),
            **kwargs,
        )

    def predictions_parquet(self, model_id: str, slice_key: str):
        return self.store().read_parquet(layout.predictions(model_id, slice_key)).to_pandas()

    def latest_metadata(self, asset: str, key: str) -> dict:
        record = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[key]), limit=1
        ).records[0]
        return {k: v.value for k, v in record.asset_materialization.metadata.items()}


def expected_molecules(lines: list[str]) -> dict[str, str]:
    """InChIKey -> canonical SMILES of the first row holding it (the contract)."""
    expected: dict[str, str] = {}
    for line in lines:
        token = line.split()[0] if line.strip() else ""
        mol, canonical, key, reason = identify(token)
        if not reason and key not in expected:
            expected[key] = canonical
    return expected


def unique_name(prefix: str = "test") -> str:
    """A lowercase name valid as an S3 bucket and a DynamoDB table, unique per call."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


SECRET_PATH = "/services/T0SECRET/B0SECRET/xoxSECRETTOKEN"


class Receiver:
    """Records each POST; answers with the scripted statuses, then 200 "ok"."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append(
                        {"path": self.path, "body": body, "headers": dict(self.headers)}
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                answer = b"ok" if status == 200 else b"server_error"
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{SECRET_PATH}"

    def texts(self) -> list[str]:
        return [json.loads(r["body"])["text"] for r in self.requests]


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{SECRET_PATH}"


# --- SNS on moto, read back through a subscribed SQS queue -------------------------------


class SnsTopic:
    def __init__(self) -> None:
        self.sns = boto3.client("sns")
        self.sqs = boto3.client("sqs")
        self.arn = self.sns.create_topic(Name=unique_name("alerts"))["TopicArn"]
        self.queue_url = self.sqs.create_queue(QueueName=unique_name("alerts"))["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=self.arn, Protocol="sqs", Endpoint=queue_arn)

    def received(self) -> list[dict[str, Any]]:
        """Every SNS envelope delivered so far (Subject, Message, MessageAttributes)."""
        envelopes = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                return envelopes
            for message in messages:
                envelopes.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


def alerts_file(tmp_path: Path) -> Path:
    return tmp_path / "home" / "alerts.jsonl"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# Stores: items, keys and scripted AWS answers.

MODEL = "eos3b5e"


def keys(infos: Iterable[ObjectInfo]) -> list[str]:
    return [info.key for info in infos]


def ikey(i: int) -> str:
    """A syntactically InChIKey-like, unique key."""
    return f"{i:014d}-UHFFFAOYSA-N"


def make_items(n: int, model: str = MODEL, value: float = 1.0, start: int = 0) -> list[ServingItem]:
    return [
        ServingItem(
            inchikey=ikey(i),
            model_id=model,
            smiles="C" * (1 + i % 5),
            outputs=(value + i,),
            slice_key="demo-0000",
            run_id="run-1",
            code_version="v1",
            timestamp="2025-01-01T00:00:00.000Z",
        )
        for i in range(start, start + n)
    ]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def s3_error_response(request: Any, status: int, code: str) -> AWSResponse:
    """What a ``before-send`` handler returns to fake an S3 error reply."""
    body = f"<Error><Code>{code}</Code><Message>injected {code}</Message></Error>".encode()
    return AWSResponse(request.url, status, {"Content-Type": "application/xml"}, _Raw(body))


def dynamodb_error_response(request: Any, status: int, code: str) -> AWSResponse:
    """What a ``before-send`` handler returns to fake a DynamoDB error reply."""
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": code})
    headers = {"Content-Type": "application/x-amz-json-1.0"}
    return AWSResponse(request.url, status, headers, _Raw(body.encode()))


def seed_objects(store: ObjectStore, names: list[str]) -> None:
    """Create many tiny objects fast.

    moto's server takes ~8 ms per PutObject, so on S3 the objects go straight into the
    in-process moto backend; listing them still goes over HTTP, page by page.
    """
    if not isinstance(store, S3ObjectStore):
        for name in names:
            store.put_bytes(name, b"x")
        return
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    store.put_bytes(names[0], b"x")  # one through the real API
    for name in names[1:]:
        backend.put_object(store.bucket, f"{store.prefix}/{name}", b"x")


def precalc(*args: str, ok: bool = True) -> Result:
    """The `precalc` console script, in this process, as a user runs it."""
    from precalc_assets.cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result
