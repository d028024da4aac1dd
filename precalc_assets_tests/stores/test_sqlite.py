"""What only the SQLite serving table has to get right: the row layout, all-or-nothing
upserts and concurrent writers."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from precalc_assets.stores.errors import StoreError
from precalc_assets.stores.serving_table import ServingItem
from precalc_assets.stores.sqlite import SqliteServingTable
from precalc_assets_tests.store_data import MODEL, ikey, make_items


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
    assert table.get_many(MODEL, [ikey(0)])[ikey(0)].outputs == (1.0,)


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


def test_sqlite_precalculation_is_json(tmp_path: Path) -> None:
    table = SqliteServingTable(tmp_path / "s.db")
    table.upsert([ServingItem(ikey(1), MODEL, "C", (float("nan"), 1), "s", "r", "c", "t")])
    (pre,) = (
        sqlite3.connect(tmp_path / "s.db").execute("SELECT precalculation FROM serving").fetchone()
    )
    assert json.loads(pre) == [None, 1]
