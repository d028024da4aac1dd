"""Serving table in a SQLite file: the embedded default.

WAL mode and ``BEGIN IMMEDIATE`` (the write lock taken up front, waited for up to the
busy timeout) make it safe for several writer processes; each ``upsert`` call is
all-or-nothing. Outputs are stored as a JSON list (``values.to_json``).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from precalc_assets.stores.errors import StoreError
from precalc_assets.stores.serving_table import (
    ServingItem,
    ServingTable,
    earlier_slices,
    encode_outputs,
    item_keys,
    partition_key,
    read_item,
    sort_key,
)
from precalc_assets.stores.values import json_text

__all__ = ["SqliteServingTable"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS serving (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    smiles TEXT,
    precalculation TEXT,
    timestamp TEXT,
    slice TEXT,
    run_id TEXT,
    code_version TEXT,
    PRIMARY KEY (pk, sk)
)
"""
_COLUMNS = "pk, sk, smiles, precalculation, timestamp, slice, run_id, code_version"
_UPSERT = f"""
INSERT INTO serving ({_COLUMNS})
VALUES (:pk, :sk, :smiles, :outputs, :timestamp, :slice, :run_id, :code_version)
ON CONFLICT (pk, sk) DO UPDATE SET
    smiles = excluded.smiles,
    precalculation = excluded.precalculation,
    timestamp = excluded.timestamp,
    slice = excluded.slice,
    run_id = excluded.run_id,
    code_version = excluded.code_version
WHERE NOT (
    substr(coalesce(serving.slice, ''), 1, length(:prefix)) = :prefix
    AND length(serving.slice) = :length
    AND serving.slice < :slice
)
"""
_IN_CHUNK = 500  # well under SQLite's bound-parameter limit


class SqliteServingTable(ServingTable):
    """A SQLite file in WAL mode, safe for several writer processes.

    The table is created on first use (there is nothing to provision locally), so
    ``ensure_table`` only matters for parity with DynamoDB.
    """

    def __init__(self, path: Path | str, busy_timeout_s: float = 60.0) -> None:
        self.path = Path(path).expanduser().resolve()
        self.url = "sqlite://" + str(self.path)
        self.busy_timeout_s = busy_timeout_s
        self._ready = False
        self._lock = threading.Lock()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(str(self.path), timeout=self.busy_timeout_s, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"Cannot open serving database {self.url}: {exc}. Check that the directory is "
                "writable or set PRECALC_SERVING_URL / PRECALC_HOME."
            ) from exc
        try:
            # WAL's own durability: a commit is safe from a killed process, and the file
            # from corruption, without an fsync per transaction (~35 ms each here); only
            # a power loss may undo the last commits.
            con.execute("PRAGMA synchronous=NORMAL")
            if not self._ready:
                with self._lock:
                    con.execute("PRAGMA journal_mode=WAL")
                    con.execute(_SCHEMA)
                    self._ready = True
            yield con
        except sqlite3.Error as exc:
            raise StoreError(
                f"SQLite serving table {self.url} failed: {exc}. Nothing from this call was "
                "committed; re-running is safe (another process may hold the write lock for "
                "longer than the busy timeout)."
            ) from exc
        finally:
            con.close()

    def ensure_table(self) -> None:
        with self._connect():
            pass

    counts_what_it_stores = True  # the transaction's own count of the rows it changed

    def upsert(self, items: Iterable[ServingItem]) -> int:
        def rows() -> Iterator[dict[str, object]]:
            for item in items:
                pk, sk = item_keys(item, self.url)
                outputs = encode_outputs(item, json_text)
                earlier = earlier_slices(item.slice_key)
                yield {
                    "pk": pk,
                    "sk": sk,
                    "smiles": item.smiles,
                    "outputs": outputs,
                    "timestamp": item.timestamp,
                    "slice": item.slice_key,
                    "run_id": item.run_id,
                    "code_version": item.code_version,
                    # No earlier slice: a prefix no slice key has (keys never start with "-").
                    "prefix": earlier.prefix if earlier else "-",
                    "length": earlier.length if earlier else 0,
                }

        with self._connect() as con:
            # All-or-nothing per call; IMMEDIATE takes the write lock up front (busy timeout).
            con.execute("BEGIN IMMEDIATE")
            before = con.total_changes
            try:
                con.executemany(_UPSERT, rows())
            except BaseException:
                con.execute("ROLLBACK")
                raise
            stored = con.total_changes - before  # an earlier slice's item kept: not counted
            con.execute("COMMIT")
        return stored

    def get_many(
        self,
        model_id: str,
        inchikeys: Sequence[str],
        *,
        consistent_read: bool = False,
        outputs: bool = True,
    ) -> dict[str, ServingItem]:
        pks = list(dict.fromkeys(partition_key(k) for k in inchikeys))
        out: dict[str, ServingItem] = {}
        if not pks:
            return out
        columns = _COLUMNS if outputs else _COLUMNS.replace("precalculation", "NULL")
        with self._connect() as con:
            for i in range(0, len(pks), _IN_CHUNK):
                chunk = pks[i : i + _IN_CHUNK]
                sql = (
                    f"SELECT {columns} FROM serving "
                    f"WHERE sk = ? AND pk IN ({','.join('?' * len(chunk))})"
                )
                for pk, sk, smiles, pre, ts, sl, run, code in con.execute(
                    sql, [sort_key(model_id), *chunk]
                ):
                    item = read_item(
                        pk,
                        sk,
                        smiles=smiles,
                        outputs=json.loads(pre) if pre else (),
                        slice_key=sl,
                        run_id=run,
                        code_version=code,
                        timestamp=ts,
                    )
                    out[item.inchikey] = item
        return out

    def delete(self, model_id: str, inchikeys: Sequence[str]) -> None:
        pks = list(dict.fromkeys(partition_key(k) for k in inchikeys))
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            for i in range(0, len(pks), _IN_CHUNK):
                chunk = pks[i : i + _IN_CHUNK]
                con.execute(
                    f"DELETE FROM serving WHERE sk = ? AND pk IN ({','.join('?' * len(chunk))})",
                    [sort_key(model_id), *chunk],
                )
            con.execute("COMMIT")

    def count(self, model_id: str | None = None) -> int:
        with self._connect() as con:
            if model_id is None:
                (n,) = con.execute("SELECT COUNT(*) FROM serving").fetchone()
            else:
                (n,) = con.execute(
                    "SELECT COUNT(*) FROM serving WHERE sk = ?", (sort_key(model_id),)
                ).fetchone()
        return int(n)
