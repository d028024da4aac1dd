"""What only the DynamoDB serving table has to get right: the Ersilia item layout, the
table created on demand, write rounds and item-level throttling (moto server over
loopback HTTP)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from precalc_assets.stores.dynamodb import DynamoServingTable
from precalc_assets.stores.errors import StoreError
from precalc_assets.stores.serving_table import ServingItem
from precalc_assets_tests.store_data import MODEL, ikey, make_items


def dynamo_table(client: Any, name: str, **kwargs: Any) -> DynamoServingTable:
    kwargs.setdefault("backoff_base_s", 0.001)
    return DynamoServingTable(client, name, **kwargs)


def test_dynamodb_item_layout_is_ersilia_compatible(
    dynamodb_client: Any, dynamodb_table_name: str
) -> None:
    table = dynamo_table(dynamodb_client, dynamodb_table_name)
    table.ensure_table()
    item = ServingItem(ikey(1), MODEL, "CCO", (46.069, float("nan"), 2), "demo-0000", "r", "v", "t")
    table.upsert([item])
    raw = dynamodb_client.get_item(
        TableName=dynamodb_table_name,
        Key={"PK": {"S": f"INPUTKEY#{ikey(1)}"}, "SK": {"S": f"MODELID#{MODEL}"}},
    )["Item"]
    assert raw["Smiles"] == {"S": "CCO"}
    assert raw["Precalculation"] == {"L": [{"N": "46.069"}, {"NULL": True}, {"N": "2"}]}
    assert raw["Timestamp"] == {"S": "t"}
    assert {raw["Slice"]["S"], raw["RunId"]["S"], raw["CodeVersion"]["S"]} == {
        "demo-0000",
        "r",
        "v",
    }
    desc = dynamodb_client.describe_table(TableName=dynamodb_table_name)["Table"]
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"]: k["KeyType"] for k in desc["KeySchema"]} == {
        "PK": "HASH",
        "SK": "RANGE",
    }


def test_dynamodb_last_wins_across_write_rounds(
    dynamodb_client: Any, dynamodb_table_name: str
) -> None:
    table = dynamo_table(dynamodb_client, dynamodb_table_name, max_workers=1)  # 200-item rounds
    table.ensure_table()
    items = make_items(450)
    items[-1] = make_items(1, value=-5.0)[0]  # same key as items[0], in a later round
    assert table.upsert(items) == 449
    assert table.get_many(MODEL, [ikey(0)])[ikey(0)].outputs == (-5.0,)
    assert table.count() == 449


def test_dynamodb_missing_table_says_how_to_create_it(
    dynamodb_client: Any, dynamodb_table_name: str
) -> None:
    table = dynamo_table(dynamodb_client, dynamodb_table_name)
    ops: list[Callable[[], Any]] = [
        lambda: table.upsert(make_items(3)),
        lambda: table.get_many(MODEL, [ikey(1)]),
        lambda: table.count(),
    ]
    for op in ops:
        with pytest.raises(StoreError) as err:
            op()
        message = str(err.value)
        assert f"DynamoDB table '{dynamodb_table_name}' does not exist" in message
        assert "`precalc run` creates it" in message and "aws dynamodb create-table" in message
        assert f"PAY_PER_REQUEST --endpoint-url {dynamodb_client.meta.endpoint_url};" in message
        assert "us-east-1" in message and "http://127.0.0.1:" in message


def test_dynamodb_existing_table_with_wrong_keys_is_rejected(
    dynamodb_client: Any, dynamodb_table_name: str
) -> None:
    dynamodb_client.create_table(
        TableName=dynamodb_table_name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    with pytest.raises(StoreError, match="key schema"):
        dynamo_table(dynamodb_client, dynamodb_table_name).ensure_table()


class ThrottlingClient:
    """A real client whose first ``throttled_calls`` BatchWriteItem/BatchGetItem calls only
    process half of the request and hand the rest back as Unprocessed*, like DynamoDB under
    item-level throttling. ``throttled_calls=None`` never lets anything through."""

    def __init__(self, real: Any, throttled_calls: int | None) -> None:
        self._real = real
        self._throttled_calls = throttled_calls
        self._lock = threading.Lock()
        self.write_calls = 0
        self.get_calls = 0
        self.unprocessed_returned = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def _throttle(self, counter: str) -> bool:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)
            n = getattr(self, counter)
        return self._throttled_calls is None or n <= self._throttled_calls

    def batch_write_item(self, RequestItems: dict[str, Any], **kwargs: Any) -> dict[str, Any]:  # noqa: N803
        if not self._throttle("write_calls"):
            return self._real.batch_write_item(RequestItems=RequestItems, **kwargs)
        ((name, requests),) = RequestItems.items()
        keep = [] if self._throttled_calls is None else requests[: len(requests) // 2]
        rest = requests[len(keep) :]
        if keep:
            self._real.batch_write_item(RequestItems={name: keep}, **kwargs)
        with self._lock:
            self.unprocessed_returned += len(rest)
        return {"UnprocessedItems": {name: rest} if rest else {}}

    def batch_get_item(self, RequestItems: dict[str, Any], **kwargs: Any) -> dict[str, Any]:  # noqa: N803
        if not self._throttle("get_calls"):
            return self._real.batch_get_item(RequestItems=RequestItems, **kwargs)
        ((name, request),) = RequestItems.items()
        half = 0 if self._throttled_calls is None else len(request["Keys"]) // 2
        response: dict[str, Any] = {"Responses": {}}
        if half:
            response = self._real.batch_get_item(
                RequestItems={name: {**request, "Keys": request["Keys"][:half]}}, **kwargs
            )
        response["UnprocessedKeys"] = {name: {**request, "Keys": request["Keys"][half:]}}
        return response


def test_dynamodb_unprocessed_items_are_resent(
    dynamodb_client: Any, dynamodb_table_name: str
) -> None:
    flaky = ThrottlingClient(dynamodb_client, throttled_calls=6)
    table = dynamo_table(flaky, dynamodb_table_name, max_workers=2)
    table.ensure_table()

    assert table.upsert(make_items(120)) == 120  # 5 requests of <= 25 items

    assert flaky.unprocessed_returned > 0
    assert flaky.write_calls > 5  # unprocessed items went out again
    assert table.count() == 120
    got = table.get_many(MODEL, [ikey(i) for i in range(120)])
    assert len(got) == 120 and got[ikey(119)].outputs == (120.0,)


def test_dynamodb_unprocessed_keys_are_reread(
    dynamodb_client: Any, dynamodb_table_name: str
) -> None:
    table = dynamo_table(dynamodb_client, dynamodb_table_name)
    table.ensure_table()
    table.upsert(make_items(150))

    flaky = ThrottlingClient(dynamodb_client, throttled_calls=3)
    reader = dynamo_table(flaky, dynamodb_table_name)
    got = reader.get_many(MODEL, [ikey(i) for i in range(150)], consistent_read=True)
    assert len(got) == 150
    assert flaky.get_calls > 2


def test_dynamodb_never_draining_unprocessed_items_raise_with_count(
    dynamodb_client: Any, dynamodb_table_name: str
) -> None:
    flaky = ThrottlingClient(dynamodb_client, throttled_calls=None)
    table = dynamo_table(flaky, dynamodb_table_name, max_unprocessed_attempts=3)
    table.ensure_table()
    with pytest.raises(StoreError) as err:
        table.upsert(make_items(60))
    message = str(err.value)
    assert "60 of 60 items" in message and dynamodb_table_name in message
    assert "re-running is safe" in message
    assert flaky.write_calls == 3 * 3  # 3 requests x 3 attempts each

    with pytest.raises(StoreError, match="keys could not be read"):
        table.get_many(MODEL, [ikey(1), ikey(2)])
