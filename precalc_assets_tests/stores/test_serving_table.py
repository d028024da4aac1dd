"""One contract, two backends: every test taking ``table`` runs on SQLite and on DynamoDB
(moto server over loopback HTTP)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from precalc_assets.stores.errors import StoreError
from precalc_assets.stores.factory import open_serving_table
from precalc_assets.stores.serving_table import ServingItem, ServingTable, utc_timestamp
from precalc_assets_tests.store_data import MODEL, ikey, make_items


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


# -- the shared contract -------------------------------------------------------------------


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
    assert isinstance(rec, ServingItem)
    assert rec.outputs == (
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
    )
    assert {
        k: getattr(rec, k) for k in ("inchikey", "model_id", "smiles", "slice_key", "run_id")
    } == {
        "inchikey": item.inchikey,
        "model_id": MODEL,
        "smiles": "CCO",
        "slice_key": "demo-0000",
        "run_id": "run-1",
    }
    assert rec.code_version == "abc123" and rec.timestamp == item.timestamp
    assert rec.timestamp.endswith("Z")


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
    assert got[ikey(0)].outputs == (1000.0,)
    assert got[ikey(299)].outputs == (1299.0,)

    table.upsert(make_items(10, model="eos4wt0"))  # same molecules, another model
    assert table.count() == 310
    assert table.count("eos4wt0") == 10
    assert table.count(MODEL) == 300
    assert table.count("never-published") == 0


def test_duplicate_keys_in_one_call_last_wins(table: ServingTable) -> None:
    first, second = make_items(1, value=1.0)[0], make_items(1, value=2.0)[0]
    written = table.upsert([first, *make_items(30, start=1), second])
    assert written == (32 if table.counts_what_it_stores else 31)  # SQLite: rows it wrote
    assert table.get_many(MODEL, [ikey(0)])[ikey(0)].outputs == (2.0,)


def in_slice(items: list[ServingItem], slice_key: str) -> list[ServingItem]:
    return [dataclasses.replace(i, slice_key=slice_key, run_id=f"run-{slice_key}") for i in items]


def test_a_later_slice_never_replaces_an_earlier_slices_item(table: ServingTable) -> None:
    """First row wins across slices, enforced in the write itself: a run that looked
    before the earlier slice wrote still cannot replace its item."""
    table.upsert(in_slice(make_items(30), "lib-0002"))
    table.upsert(in_slice(make_items(10, value=100.0), "lib-0001"))  # earlier: replaces
    later = table.upsert(in_slice(make_items(40, value=500.0), "lib-0003"))
    assert later == (10 if table.counts_what_it_stores else 40)  # SQLite: the 30 left out
    table.upsert(in_slice(make_items(5, value=900.0), "lib-0002"))  # its own slice again
    table.upsert(in_slice(make_items(3, value=700.0), "lib-x-0009"))  # another library
    table.upsert(in_slice(make_items(2, value=800.0), "computed"))  # a lookup's item
    got = table.get_many(MODEL, [ikey(i) for i in range(40)])
    assert [got[ikey(i)].slice_key for i in (0, 2, 3, 4, 9, 10, 29, 30, 39)] == [
        "computed", "lib-x-0009", "lib-0001", "lib-0001", "lib-0001",
        "lib-0002", "lib-0002", "lib-0003", "lib-0003",
    ]  # fmt: skip
    outputs = {i: got[ikey(i)].outputs[0] for i in (3, 10, 29, 30)}
    assert outputs == {3: 103.0, 10: 11.0, 29: 30.0, 30: 530.0}


def test_get_many_over_100_keys_with_missing_and_duplicates(table: ServingTable) -> None:
    table.upsert(make_items(250))
    wanted = [ikey(i) for i in range(290)] + [ikey(5), ikey(5)]  # 40 missing, duplicates
    got = table.get_many(MODEL, wanted)
    assert set(got) == {ikey(i) for i in range(250)}
    assert got[ikey(249)].outputs == (250.0,)
    assert table.get_many("other-model", wanted) == {}


def test_reading_without_outputs_gives_every_other_attribute(table: ServingTable) -> None:
    """Publication's read-back: who wrote each item, without its values."""
    items = make_items(150)
    table.upsert(items)
    wanted = [ikey(i) for i in range(160)]
    whole = table.get_many(MODEL, wanted, consistent_read=True)
    bare = table.get_many(MODEL, wanted, consistent_read=True, outputs=False)
    assert set(bare) == set(whole) == {item.inchikey for item in items}
    for key, item in whole.items():
        assert bare[key] == dataclasses.replace(item, outputs=())
        assert item.outputs != ()


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


def test_delete_takes_out_one_models_items_of_the_keys_given(table: ServingTable) -> None:
    items = make_items(60)  # more than one DynamoDB batch of 25
    other = [dataclasses.replace(i, model_id="other-model") for i in items[:5]]
    table.upsert(items + other)
    gone = [ikey(i) for i in range(40)] + [ikey(999)]  # an absent key is no error
    table.delete(MODEL, gone)
    assert table.count(MODEL) == 20 and table.count("other-model") == 5
    assert set(table.get_many(MODEL, [i.inchikey for i in items])) == {
        i.inchikey for i in items[40:]
    }
    table.delete(MODEL, gone)  # again: nothing left to delete, no error
    assert table.count(MODEL) == 20
