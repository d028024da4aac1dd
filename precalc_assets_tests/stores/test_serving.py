"""One contract, two backends: every test taking ``table`` runs on SQLite and on DynamoDB
(moto server over loopback HTTP)."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from precalc_assets.stores import (
    DynamoServingTable,
    ServingItem,
    ServingTable,
    SqliteServingTable,
    StoreError,
    open_serving_table,
    utc_timestamp,
)

MODEL = "eos3b5e"


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


def dynamo_table(client: Any, name: str, **kwargs: Any) -> DynamoServingTable:
    kwargs.setdefault("backoff_base_s", 0.001)
    return DynamoServingTable(client, name, **kwargs)


@pytest.fixture(params=["sqlite", "dynamodb"])
def table(request: pytest.FixtureRequest, tmp_path: Path) -> ServingTable:
    if request.param == "sqlite":
        t = open_serving_table(f"sqlite:///{tmp_path}/serving.db")
    else:
        client = request.getfixturevalue("dynamodb_client")
        t = open_serving_table(
            f"dynamodb://{request.getfixturevalue('dynamodb_table_name')}",
            dynamodb_client=client,
        )
    t.ensure_table()
    return t


# -- the shared contract ---------------------------------------------------------------------


def test_ensure_table_is_idempotent(table: ServingTable) -> None:
    table.ensure_table()
    table.ensure_table()
    assert table.count() == 0
    assert table.get_many(MODEL, []) == {}
    assert table.get_many(MODEL, [ikey(1)]) == {}


def test_round_trip_of_every_value_kind(table: ServingTable) -> None:
    item = ServingItem(
        inchikey="LFQSCWFLJHTTHZ-UHFFFAOYSA-N",
        model_id=MODEL,
        smiles="CCO",
        outputs=(
            46.069,
            3,
            None,
            float("nan"),
            float("inf"),
            -float("inf"),
            "active",
            True,
            False,
            np.float32(0.5),
            np.int64(7),
            np.bool_(True),
            1e-300,
            1e300,
            0.0,
            -2.5e-7,
        ),
        slice_key="demo-0000",
        run_id="run-1",
        code_version="abc123",
        timestamp=utc_timestamp(),
    )
    assert table.upsert([item]) == 1

    got = table.get_many(MODEL, [item.inchikey])
    assert set(got) == {item.inchikey}
    rec = got[item.inchikey]
    assert rec["outputs"] == [
        46.069,
        3,
        None,
        None,
        None,
        None,
        "active",
        True,
        False,
        0.5,
        7,
        True,
        0,
        None,
        0,
        -2.5e-7,
    ]
    assert {k: rec[k] for k in ("inchikey", "model_id", "smiles", "slice_key", "run_id")} == {
        "inchikey": item.inchikey,
        "model_id": MODEL,
        "smiles": "CCO",
        "slice_key": "demo-0000",
        "run_id": "run-1",
    }
    assert rec["code_version"] == "abc123" and rec["timestamp"] == item.timestamp
    assert rec["timestamp"].endswith("Z")


def test_upsert_is_idempotent_and_overwrites(table: ServingTable) -> None:
    items = make_items(300)
    assert table.upsert(items) == 300
    assert table.upsert(items) == 300
    assert table.count() == 300
    assert table.count(MODEL) == 300

    changed = make_items(300, value=1000.0)
    table.upsert(changed)
    assert table.count() == 300
    got = table.get_many(MODEL, [ikey(0), ikey(299)])
    assert got[ikey(0)]["outputs"] == [1000.0]
    assert got[ikey(299)]["outputs"] == [1299.0]

    table.upsert(make_items(10, model="eos4wt0"))  # same molecules, another model
    assert table.count() == 310
    assert table.count("eos4wt0") == 10
    assert table.count(MODEL) == 300
    assert table.count("never-published") == 0


def test_duplicate_keys_in_one_call_last_wins(table: ServingTable) -> None:
    first, second = make_items(1, value=1.0)[0], make_items(1, value=2.0)[0]
    assert table.upsert([first, *make_items(30, start=1), second]) == 31
    assert table.get_many(MODEL, [ikey(0)])[ikey(0)]["outputs"] == [2.0]


def test_get_many_over_100_keys_with_missing_and_duplicates(table: ServingTable) -> None:
    table.upsert(make_items(250))
    wanted = [ikey(i) for i in range(290)] + [ikey(5), ikey(5)]  # 40 missing, duplicates
    got = table.get_many(MODEL, wanted)
    assert set(got) == {ikey(i) for i in range(250)}
    assert got[ikey(249)]["outputs"] == [250.0]
    assert table.get_many("other-model", wanted) == {}


def test_generator_input_and_empty_upsert(table: ServingTable) -> None:
    assert table.upsert([]) == 0
    assert table.upsert(item for item in make_items(40)) == 40
    assert table.count() == 40


def test_bad_output_value_is_named(table: ServingTable) -> None:
    bad = ServingItem(ikey(1), MODEL, "C", (object(),), "s", "r", "c", "t")
    with pytest.raises(StoreError, match=f"{MODEL}/{ikey(1)}"):
        table.upsert([bad])
    with pytest.raises(StoreError, match="empty InChIKey"):
        table.upsert([ServingItem("", MODEL, "C", (1.0,), "s", "r", "c", "t")])


# -- SQLite ------------------------------------------------------------------------------------


def test_sqlite_rows_match_the_dynamodb_layout(tmp_path: Path) -> None:
    table = SqliteServingTable(tmp_path / "s.db")
    table.upsert(make_items(1))
    con = sqlite3.connect(tmp_path / "s.db")
    (mode,) = con.execute("PRAGMA journal_mode").fetchone()
    row = con.execute("SELECT pk, sk, smiles, precalculation, slice FROM serving").fetchone()
    assert mode == "wal"
    assert row == (f"INPUTKEY#{ikey(0)}", f"MODELID#{MODEL}", "C", "[1.0]", "demo-0000")


def test_sqlite_upsert_is_all_or_nothing(tmp_path: Path) -> None:
    table = SqliteServingTable(tmp_path / "s.db")
    table.upsert(make_items(5))
    bad = ServingItem(ikey(99), MODEL, "C", ({"a": 1},), "s", "r", "c", "t")
    with pytest.raises(StoreError):
        table.upsert([*make_items(5, value=50.0), bad])
    assert table.count() == 5
    assert table.get_many(MODEL, [ikey(0)])[ikey(0)]["outputs"] == [1.0]


def test_sqlite_concurrent_writers(tmp_path: Path) -> None:
    """Two writers (separate connections, as two processes would have) do not collide."""
    path = tmp_path / "s.db"
    writers = [SqliteServingTable(path), SqliteServingTable(path)]
    writers[0].ensure_table()
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(
                lambda w=w, k=k: [w.upsert(make_items(200, start=k * 200)) for _ in range(5)]
            )
            for k, w in enumerate(writers)
        ]
        for f in futures:
            f.result()
    assert writers[0].count() == 400


# -- DynamoDB ----------------------------------------------------------------------------------


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
    assert table.get_many(MODEL, [ikey(0)])[ikey(0)]["outputs"] == [-5.0]
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
        assert "ensure_table()" in message and "aws dynamodb create-table" in message
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
    assert len(got) == 120 and got[ikey(119)]["outputs"] == [120.0]


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


def test_attribute_values_are_built_directly() -> None:
    """The hot path emits AttributeValue dicts without TypeSerializer/Decimal."""
    from precalc_assets.stores.serving import _to_attr

    assert _to_attr(0.1) == {"N": "0.1"}
    assert _to_attr(float("nan")) == {"NULL": True}
    assert _to_attr([1, "a", None]) == {"L": [{"N": "1"}, {"S": "a"}, {"NULL": True}]}
    assert math.isclose(float(_to_attr(np.float64(1 / 3))["N"]), 1 / 3)


# -- URLs --------------------------------------------------------------------------------------


def test_open_serving_table_url_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    t = open_serving_table(f"sqlite:///{tmp_path}/x/serving.db")
    assert isinstance(t, SqliteServingTable) and t.path == tmp_path / "x" / "serving.db"
    assert t.url == f"sqlite://{tmp_path}/x/serving.db"
    assert open_serving_table(t.url).path == t.path  # url round-trips

    monkeypatch.chdir(tmp_path)
    # DESIGN §3 default with a relative PRECALC_HOME: sqlite:///./.precalc/serving.db
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


def test_sqlite_precalculation_is_json(tmp_path: Path) -> None:
    table = SqliteServingTable(tmp_path / "s.db")
    table.upsert([ServingItem(ikey(1), MODEL, "C", (float("nan"), 1), "s", "r", "c", "t")])
    (pre,) = (
        sqlite3.connect(tmp_path / "s.db").execute("SELECT precalculation FROM serving").fetchone()
    )
    assert json.loads(pre) == [None, 1]
