"""Publishing wide items to DynamoDB: the project's `DynamoServingTable.upsert` against a
plain boto3 `Table.batch_writer()` writing the same items, on moto's server (its own
process, loopback).

The items are a wide model's: `--columns` integer counts (Morgan counts of real NCI
molecules, as `wide_model.py`'s model answers them), one item per molecule, with the
serving table's attributes. Both sides write the same items to empty tables of the same
key schema, taking turns (`--repeats` each, the project first then the plain writer,
then the other way round), in one invocation.

    python benchmarks/dynamodb_publish.py                      # 2,000 items x 2,048
    python benchmarks/dynamodb_publish.py --items 500 --repeats 1

moto serves a request in Python, so the figures are moto's throughput, not DynamoDB's;
both sides pay it. What differs is the client: encoding, requests in flight, retries.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.append(str(REPO / "benchmarks"))

import boto3  # noqa: E402
from http_runner import molecules  # noqa: E402
from lookup_speed import free_port, wait_for  # noqa: E402
from rdkit import Chem  # noqa: E402
from rdkit.Chem import rdFingerprintGenerator  # noqa: E402
from results import write_result  # noqa: E402

from precalc_assets.stores.aws import client_config  # noqa: E402
from precalc_assets.stores.dynamodb import DynamoServingTable  # noqa: E402
from precalc_assets.stores.serving_table import (  # noqa: E402
    ServingItem,
    partition_key,
    sort_key,
    utc_timestamp,
)

MODEL = "morgan-counts"


def wide_items(count: int, columns: int) -> list[ServingItem]:
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=columns)
    items = []
    for i, text in enumerate(molecules(count)):
        counts = generator.GetCountFingerprintAsNumPy(Chem.MolFromSmiles(text)).tolist()
        items.append(
            ServingItem(
                inchikey=f"{i:014d}-UHFFFAOYSA-N",
                model_id=MODEL,
                smiles=text,
                outputs=tuple(int(c) for c in counts),
                slice_key="nci-0000",
                run_id="bench",
                code_version=f"{MODEL}-v1-000000000000",
                timestamp=utc_timestamp(),
            )
        )
    return items


def project(client, name: str, items: list[ServingItem]) -> float:
    table = DynamoServingTable(client, name)
    table.ensure_table()
    started = time.perf_counter()
    table.upsert(items)
    return time.perf_counter() - started


def plain(resource, client, name: str, items: list[ServingItem]) -> float:
    """What a user writes by hand: the resource's batch writer, numbers as Decimal."""
    DynamoServingTable(client, name).ensure_table()  # the same key schema, untimed
    table = resource.Table(name)
    started = time.perf_counter()
    with table.batch_writer() as writer:
        for item in items:
            writer.put_item(
                Item={
                    "PK": partition_key(item.inchikey),
                    "SK": sort_key(item.model_id),
                    "Smiles": item.smiles,
                    "Precalculation": [Decimal(v) for v in item.outputs],
                    "Timestamp": item.timestamp,
                    "Slice": item.slice_key,
                    "RunId": item.run_id,
                    "CodeVersion": item.code_version,
                }
            )
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--columns", type=int, default=2_048)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    items = wide_items(args.items, args.columns)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    host, port = "127.0.0.1", free_port()
    moto = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", host, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://{host}:{port}/moto-api/", moto)
        endpoint = f"http://{host}:{port}"
        client = boto3.client("dynamodb", endpoint_url=endpoint, config=client_config())
        resource = boto3.resource("dynamodb", endpoint_url=endpoint)
        ours, theirs = [], []
        for turn in range(args.repeats * 2):
            sides = [("ours", ours), ("plain", theirs)]
            for side, times in sides if turn % 2 == 0 else reversed(sides):
                name = f"publish-{side}-{turn}"
                if side == "ours":
                    times.append(project(client, name, items))
                else:
                    times.append(plain(resource, client, name, items))
                print(f"{side}: {times[-1]:.2f} s", file=sys.stderr)
    finally:
        moto.terminate()
        moto.wait(timeout=30)
    result = {
        "benchmark": "dynamodb_publish",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "items": len(items),
        "columns": args.columns,
        "ours_s": [round(t, 2) for t in ours],
        "plain_batch_writer_s": [round(t, 2) for t in theirs],
        "ours_items_per_s": round(len(items) / statistics.median(ours), 1),
        "plain_items_per_s": round(len(items) / statistics.median(theirs), 1),
        "ours_over_plain_speed": round(statistics.median(theirs) / statistics.median(ours), 2),
    }
    write_result("dynamodb-publish", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
