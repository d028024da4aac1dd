"""The serving table: one item per (molecule, model), Ersilia-compatible (DESIGN §4).

Item layout (DynamoDB attribute names; SQLite keeps the same logical rows):

- ``PK`` (S, hash) = ``INPUTKEY#<InChIKey>``; ``SK`` (S, range) = ``MODELID#<model_id>``
- ``Smiles`` (S), ``Precalculation`` (L, outputs in the model's declared column order),
  ``Timestamp`` (S, ISO-8601 UTC), ``Slice``, ``RunId``, ``CodeVersion`` (S)

Writes are idempotent upserts (a re-run overwrites, never duplicates). Non-finite numbers
(NaN, +/-inf) are stored as NULL because DynamoDB rejects them; so are finite floats
beyond DynamoDB's number range (|x| >= 1e126), and |x| < 1e-130 is stored as 0.

Numbers read back from DynamoDB come back as ``int`` when their text has no ``.``/exponent
(DynamoDB normalises ``2.0`` to ``2``); cast by the model's declared column types.
"""

from __future__ import annotations

import json
import math
import numbers
import random
import re
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, WaiterError

from precalc_assets.stores.errors import StoreError
from precalc_assets.stores.object_store import _path_from_url_rest, aws_error_code

__all__ = [
    "DynamoServingTable",
    "ServingItem",
    "ServingTable",
    "SqliteServingTable",
    "dynamodb_client_config",
    "open_serving_table",
    "utc_timestamp",
]

PK_PREFIX = "INPUTKEY#"
SK_PREFIX = "MODELID#"
BATCH_WRITE_MAX = 25  # DynamoDB limit per BatchWriteItem
BATCH_GET_MAX = 100  # DynamoDB limit per BatchGetItem
_ACCEPTED_FORMS = "sqlite:///absolute/path.db or dynamodb://table-name"
_TABLE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# DynamoDB numbers: 38 significant digits, magnitude in [1e-130, 1e126).
_N_MAX = 1e126
_N_MIN = 1e-130


def utc_timestamp() -> str:
    """Now as ISO-8601 UTC with a ``Z`` suffix, the ``Timestamp`` format of items."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ServingItem:
    """One (molecule, model) prediction as published to the serving table."""

    inchikey: str
    model_id: str
    smiles: str
    outputs: tuple
    slice_key: str
    run_id: str
    code_version: str
    timestamp: str


def _keys(item: ServingItem, url: str) -> tuple[str, str]:
    if not item.inchikey or not item.model_id:
        raise StoreError(
            f"Serving item has an empty InChIKey or model ID (inchikey={item.inchikey!r}, "
            f"model_id={item.model_id!r}, slice={item.slice_key!r}) for {url}; every item "
            "needs both."
        )
    return PK_PREFIX + item.inchikey, SK_PREFIX + item.model_id


def _unsupported(value: Any) -> StoreError:
    return StoreError(
        f"Cannot store output value {value!r} of type {type(value).__name__}: outputs must be "
        "numbers, strings, booleans, None or lists of them."
    )


def _is_na(value: Any) -> bool:
    return type(value).__name__ in ("NAType", "NaTType")


# -- JSON (SQLite) -----------------------------------------------------------------------


def _json_float(v: float) -> float | None:
    """Same mapping as ``_float_attr`` so both backends hold the same logical rows."""
    if not math.isfinite(v):
        return None
    a = abs(v)
    if a >= _N_MAX:
        return None
    return 0.0 if a < _N_MIN else v


def _to_json(v: Any) -> Any:
    """Plain JSON value; NaN/inf -> None (JSON has no NaN; parity with DynamoDB)."""
    t = type(v)
    if t is float:
        return _json_float(v)
    if t is int or t is str or t is bool or v is None:
        return v
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, Decimal):
        return _json_float(float(v)) if v.is_finite() else None
    if isinstance(v, numbers.Real):
        return _json_float(float(v))
    if isinstance(v, list | tuple | np.ndarray):
        return [_to_json(x) for x in v]
    if _is_na(v):
        return None
    raise _unsupported(v)


# -- AttributeValue (DynamoDB) -----------------------------------------------------------

_NULL: dict[str, Any] = {"NULL": True}
_TRUE: dict[str, Any] = {"BOOL": True}
_FALSE: dict[str, Any] = {"BOOL": False}
_ZERO: dict[str, Any] = {"N": "0"}


def _float_attr(v: float) -> dict[str, Any]:
    if not math.isfinite(v):
        return _NULL
    a = abs(v)
    if a >= _N_MAX:
        return _NULL
    if a < _N_MIN:
        return _ZERO
    return {"N": repr(v)}


def _to_attr(v: Any) -> dict[str, Any]:
    """AttributeValue straight from Python (no TypeSerializer/Decimal: this is the hot loop)."""
    t = type(v)
    if t is float:
        return _float_attr(v)
    if t is int:
        return {"N": str(v)}
    if t is str:
        return {"S": v}
    if v is None:
        return _NULL
    if t is bool:
        return _TRUE if v else _FALSE
    if isinstance(v, np.bool_):
        return _TRUE if v else _FALSE
    if isinstance(v, numbers.Integral):
        return {"N": str(int(v))}
    if isinstance(v, Decimal):
        return _float_attr(float(v)) if v.is_finite() else _NULL
    if isinstance(v, numbers.Real):
        return _float_attr(float(v))
    if isinstance(v, list | tuple | np.ndarray):
        return {"L": [_to_attr(x) for x in v]}
    if _is_na(v):
        return _NULL
    raise _unsupported(v)


def _from_attr(a: dict[str, Any]) -> Any:
    if "N" in a:
        s = a["N"]
        return float(s) if ("." in s or "e" in s or "E" in s) else int(s)
    if "S" in a:
        return a["S"]
    if "NULL" in a:
        return None
    if "BOOL" in a:
        return bool(a["BOOL"])
    if "L" in a:
        return [_from_attr(x) for x in a["L"]]
    if "M" in a:
        return {k: _from_attr(x) for k, x in a["M"].items()}
    raise StoreError(f"Unexpected DynamoDB attribute value {a!r} in Precalculation.")


def _record(
    pk: str,
    sk: str,
    smiles: str,
    outputs: list,
    timestamp: str,
    slice_key: str,
    run_id: str,
    code_version: str,
) -> dict[str, Any]:
    return {
        "inchikey": pk[len(PK_PREFIX) :] if pk.startswith(PK_PREFIX) else pk,
        "model_id": sk[len(SK_PREFIX) :] if sk.startswith(SK_PREFIX) else sk,
        "smiles": smiles,
        "outputs": outputs,
        "slice_key": slice_key,
        "run_id": run_id,
        "code_version": code_version,
        "timestamp": timestamp,
    }


class ServingTable(ABC):
    """Idempotent upserts and batched lookups of (molecule, model) predictions."""

    url: str

    @abstractmethod
    def ensure_table(self) -> None:
        """Create the table if it is missing; safe to call any number of times."""

    @abstractmethod
    def upsert(self, items: Iterable[ServingItem]) -> int:
        """Write items (same PK/SK overwritten, last one wins); returns distinct items written."""

    @abstractmethod
    def get_many(
        self, model_id: str, inchikeys: Sequence[str], *, consistent_read: bool = False
    ) -> dict[str, dict]:
        """InChIKey -> record for the keys present; missing keys are absent from the result.

        ``consistent_read=True`` for read-back checks right after a write (DynamoDB reads
        are eventually consistent by default; SQLite is always consistent).
        """

    @abstractmethod
    def count(self, model_id: str | None = None) -> int:
        """Number of items (of one model); for tests and the CLI, not for hot paths."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


# -- SQLite --------------------------------------------------------------------------------

_SQLITE_SCHEMA = """
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
_SQLITE_UPSERT = """
INSERT INTO serving (pk, sk, smiles, precalculation, timestamp, slice, run_id, code_version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (pk, sk) DO UPDATE SET
    smiles = excluded.smiles,
    precalculation = excluded.precalculation,
    timestamp = excluded.timestamp,
    slice = excluded.slice,
    run_id = excluded.run_id,
    code_version = excluded.code_version
"""
_SQLITE_COLUMNS = "pk, sk, smiles, precalculation, timestamp, slice, run_id, code_version"
_SQLITE_IN_CHUNK = 500  # well under SQLite's bound-parameter limit


class SqliteServingTable(ServingTable):
    """The embedded default: a SQLite file in WAL mode, safe for several writer processes.

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
            if not self._ready:
                with self._lock:
                    con.execute("PRAGMA journal_mode=WAL")
                    con.execute(_SQLITE_SCHEMA)
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

    def upsert(self, items: Iterable[ServingItem]) -> int:
        seen: set[tuple[str, str]] = set()

        def rows() -> Iterator[tuple]:
            for item in items:
                pk, sk = _keys(item, self.url)
                seen.add((pk, sk))
                try:
                    outputs = json.dumps(
                        [_to_json(v) for v in item.outputs], allow_nan=False, separators=(",", ":")
                    )
                except StoreError as exc:
                    raise StoreError(f"Item {item.model_id}/{item.inchikey}: {exc}") from exc
                yield (
                    pk,
                    sk,
                    item.smiles,
                    outputs,
                    item.timestamp,
                    item.slice_key,
                    item.run_id,
                    item.code_version,
                )

        with self._connect() as con:
            # All-or-nothing per call; IMMEDIATE takes the write lock up front (busy timeout).
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany(_SQLITE_UPSERT, rows())
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        return len(seen)

    def get_many(
        self, model_id: str, inchikeys: Sequence[str], *, consistent_read: bool = False
    ) -> dict[str, dict]:
        pks = list(dict.fromkeys(PK_PREFIX + k for k in inchikeys))
        out: dict[str, dict] = {}
        if not pks:
            return out
        sk = SK_PREFIX + model_id
        with self._connect() as con:
            for i in range(0, len(pks), _SQLITE_IN_CHUNK):
                chunk = pks[i : i + _SQLITE_IN_CHUNK]
                sql = (
                    f"SELECT {_SQLITE_COLUMNS} FROM serving "
                    f"WHERE sk = ? AND pk IN ({','.join('?' * len(chunk))})"
                )
                for pk, sk_, smiles, pre, ts, sl, run, code in con.execute(sql, [sk, *chunk]):
                    outputs = json.loads(pre) if pre else []
                    rec = _record(pk, sk_, smiles, outputs, ts, sl, run, code)
                    out[rec["inchikey"]] = rec
        return out

    def count(self, model_id: str | None = None) -> int:
        with self._connect() as con:
            if model_id is None:
                (n,) = con.execute("SELECT COUNT(*) FROM serving").fetchone()
            else:
                (n,) = con.execute(
                    "SELECT COUNT(*) FROM serving WHERE sk = ?", (SK_PREFIX + model_id,)
                ).fetchone()
        return int(n)


# -- DynamoDB ------------------------------------------------------------------------------

_DDB_ACCESS = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "MissingAuthenticationTokenException",
    "IncompleteSignatureException",
}


def dynamodb_client_config(
    max_attempts: int = 10, mode: str = "standard", max_pool_connections: int = 32
) -> Config:
    """Botocore config: throttling (ProvisionedThroughputExceeded) and 5xx retried by botocore.

    ``max_attempts`` has botocore's meaning (retries after the first attempt). The pool is
    larger than botocore's default 10 so the write threads never wait for a connection.
    """
    return Config(
        retries={"max_attempts": max_attempts, "mode": mode},
        max_pool_connections=max_pool_connections,
    )


class DynamoServingTable(ServingTable):
    """DynamoDB table with the Ersilia key schema, written with parallel BatchWriteItem.

    Request-level throttling and 5xx are retried by botocore (``dynamodb_client_config``);
    item-level throttling (``UnprocessedItems``/``UnprocessedKeys``) is retried here with
    exponential backoff and full jitter, up to ``max_unprocessed_attempts`` requests.
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        max_workers: int = 8,
        max_unprocessed_attempts: int = 10,
        backoff_base_s: float = 0.05,
        backoff_max_s: float = 5.0,
    ) -> None:
        if not _TABLE_NAME_RE.fullmatch(table_name or ""):
            raise StoreError(
                f"Invalid DynamoDB table name {table_name!r}: 3-255 characters of letters, "
                "digits, '_', '.', '-'."
            )
        if max_workers < 1 or max_unprocessed_attempts < 1:
            raise StoreError("max_workers and max_unprocessed_attempts must be at least 1.")
        self._client = client
        self.table_name = table_name
        self.url = f"dynamodb://{table_name}"
        self.max_workers = max_workers
        self.max_unprocessed_attempts = max_unprocessed_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        # Items held per round of parallel requests; rounds run one after another so a key
        # repeated across rounds still ends with its last value.
        self._round_items = BATCH_WRITE_MAX * max_workers * 8

    @property
    def client(self) -> Any:
        return self._client

    # -- errors ---------------------------------------------------------------------------

    def _where(self) -> str:
        meta = self._client.meta
        return (
            f"serving URL {self.url}, region {getattr(meta, 'region_name', None)}, "
            f"endpoint {getattr(meta, 'endpoint_url', None)}"
        )

    def _missing_table(self) -> StoreError:
        t = self.table_name
        return StoreError(
            f"DynamoDB table '{t}' does not exist ({self._where()}). Call ensure_table() "
            "(the publish step does) or create it: aws dynamodb create-table --table-name "
            f"{t} --attribute-definitions AttributeName=PK,AttributeType=S "
            "AttributeName=SK,AttributeType=S --key-schema AttributeName=PK,KeyType=HASH "
            "AttributeName=SK,KeyType=RANGE --billing-mode PAY_PER_REQUEST; or point "
            "PRECALC_SERVING_URL at an existing table."
        )

    def _translate(self, exc: Exception, action: str) -> StoreError:
        if isinstance(exc, NoCredentialsError):
            return StoreError(
                f"No AWS credentials found to {action} DynamoDB table '{self.table_name}' "
                f"({self._where()}). Set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                "or use a sqlite:/// PRECALC_SERVING_URL for local runs."
            )
        if isinstance(exc, BotoCoreError):
            return StoreError(
                f"Could not {action} DynamoDB table '{self.table_name}' ({self._where()}): {exc}. "
                "Check AWS_ENDPOINT_URL/AWS_REGION and the network; re-running is safe."
            )
        if not isinstance(exc, ClientError):  # pragma: no cover - defensive
            return StoreError(f"Could not {action} DynamoDB table '{self.table_name}': {exc}")
        code, status, message = aws_error_code(exc)
        if code == "ResourceNotFoundException":
            return self._missing_table()
        if code in _DDB_ACCESS or status == 403:
            return StoreError(
                f"Access denied to DynamoDB table '{self.table_name}' ({code}; {self._where()}). "
                "Check the AWS credentials boto3 uses (AWS_PROFILE, AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY, or the instance/task role) and that they allow "
                "dynamodb:DescribeTable, CreateTable, BatchWriteItem, BatchGetItem and Scan on it."
            )
        return StoreError(
            f"Could not {action} DynamoDB table '{self.table_name}' ({code or status}: "
            f"{message}; {self._where()}). botocore already retried throttling and 5xx; "
            "re-running is safe (writes are idempotent)."
        )

    def _call(self, action: str, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self._client, method)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, action) from exc

    def _backoff(self, attempt: int) -> None:
        cap = min(self.backoff_max_s, self.backoff_base_s * (2**attempt))
        time.sleep(random.uniform(0, cap))

    # -- table ----------------------------------------------------------------------------

    def ensure_table(self) -> None:
        try:
            desc = self._client.describe_table(TableName=self.table_name)["Table"]
        except ClientError as exc:
            if aws_error_code(exc)[0] != "ResourceNotFoundException":
                raise self._translate(exc, "describe") from exc
            desc = self._create()
        except BotoCoreError as exc:
            raise self._translate(exc, "describe") from exc
        self._check_schema(desc)
        if desc.get("TableStatus") != "ACTIVE":
            try:
                self._client.get_waiter("table_exists").wait(
                    TableName=self.table_name, WaiterConfig={"Delay": 2, "MaxAttempts": 150}
                )
            except WaiterError as exc:
                raise StoreError(
                    f"DynamoDB table '{self.table_name}' did not become ACTIVE within 5 minutes "
                    f"({self._where()}): {exc}. Check it in the console and re-run."
                ) from exc

    def _create(self) -> dict[str, Any]:
        try:
            return self._client.create_table(
                TableName=self.table_name,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[
                    {"AttributeName": "PK", "AttributeType": "S"},
                    {"AttributeName": "SK", "AttributeType": "S"},
                ],
                KeySchema=[
                    {"AttributeName": "PK", "KeyType": "HASH"},
                    {"AttributeName": "SK", "KeyType": "RANGE"},
                ],
            )["TableDescription"]
        except ClientError as exc:
            if aws_error_code(exc)[0] == "ResourceInUseException":  # created concurrently
                return self._call("describe", "describe_table", TableName=self.table_name)["Table"]
            raise self._translate(exc, "create") from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "create") from exc

    def _check_schema(self, desc: dict[str, Any]) -> None:
        keys = {k["AttributeName"]: k["KeyType"] for k in desc.get("KeySchema", [])}
        types = {
            a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])
        }
        key_types = (types.get("PK"), types.get("SK"))
        if keys != {"PK": "HASH", "SK": "RANGE"} or key_types != ("S", "S"):
            raise StoreError(
                f"DynamoDB table '{self.table_name}' exists but its key schema is {keys} "
                f"(types {types}); the serving table needs PK (S, HASH) and SK (S, RANGE). "
                "Point PRECALC_SERVING_URL at another table name."
            )

    # -- writes ---------------------------------------------------------------------------

    def _attr_item(self, item: ServingItem, pk: str, sk: str) -> dict[str, Any]:
        try:
            pre = [_to_attr(v) for v in item.outputs]
        except StoreError as exc:
            raise StoreError(f"Item {item.model_id}/{item.inchikey}: {exc}") from exc
        return {
            "PK": {"S": pk},
            "SK": {"S": sk},
            "Smiles": {"S": item.smiles},
            "Precalculation": {"L": pre},
            "Timestamp": {"S": item.timestamp},
            "Slice": {"S": item.slice_key},
            "RunId": {"S": item.run_id},
            "CodeVersion": {"S": item.code_version},
        }

    def _write_batch(self, batch: list[tuple[str, str, ServingItem]]) -> int:
        """One BatchWriteItem, then re-sends of its UnprocessedItems.

        Returns how many items were still unprocessed after the last attempt.
        """
        requests = [{"PutRequest": {"Item": self._attr_item(i, pk, sk)}} for pk, sk, i in batch]
        attempt = 0
        while True:
            response = self._call(
                "write to", "batch_write_item", RequestItems={self.table_name: requests}
            )
            requests = (response.get("UnprocessedItems") or {}).get(self.table_name) or []
            if not requests:
                return 0
            attempt += 1
            if attempt >= self.max_unprocessed_attempts:
                return len(requests)
            self._backoff(attempt)

    def upsert(self, items: Iterable[ServingItem]) -> int:
        seen: set[tuple[str, str]] = set()
        pending: dict[tuple[str, str], ServingItem] = {}
        with ThreadPoolExecutor(self.max_workers, thread_name_prefix="ddb-write") as pool:
            for item in items:
                key = _keys(item, self.url)
                pending[key] = item  # de-duplicate: last wins (DynamoDB rejects dup keys)
                seen.add(key)
                if len(pending) >= self._round_items:
                    self._write_round(pool, pending, len(seen))
                    pending = {}
            if pending:
                self._write_round(pool, pending, len(seen))
        return len(seen)

    def _write_round(
        self, pool: ThreadPoolExecutor, pending: dict[tuple[str, str], ServingItem], total: int
    ) -> int:
        entries = [(pk, sk, item) for (pk, sk), item in pending.items()]
        futures: list[Future[int]] = [
            pool.submit(self._write_batch, entries[i : i + BATCH_WRITE_MAX])
            for i in range(0, len(entries), BATCH_WRITE_MAX)
        ]
        wait(futures)
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]  # type: ignore[misc]
        unwritten = sum(f.result() for f in futures)
        if unwritten:
            raise StoreError(
                f"{unwritten} of {len(entries)} items in this round (of {total} seen so far) "
                f"were not written to DynamoDB table '{self.table_name}': they stayed in "
                f"UnprocessedItems after {self.max_unprocessed_attempts} attempts (the table is "
                "throttling). Items already written are complete; re-running is safe "
                "(upserts are idempotent)."
            )
        return len(entries)

    # -- reads ----------------------------------------------------------------------------

    def _get_chunk(self, keys: list[dict[str, Any]], consistent: bool) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {"Keys": keys, "ConsistentRead": consistent}
        attempt = 0
        while True:
            response = self._call(
                "read from", "batch_get_item", RequestItems={self.table_name: request}
            )
            found.extend((response.get("Responses") or {}).get(self.table_name, []))
            request = (response.get("UnprocessedKeys") or {}).get(self.table_name) or {}
            if not request.get("Keys"):
                return found
            attempt += 1
            if attempt >= self.max_unprocessed_attempts:
                raise StoreError(
                    f"{len(request['Keys'])} keys could not be read from DynamoDB table "
                    f"'{self.table_name}' after {attempt} attempts (UnprocessedKeys: the table "
                    "is throttling). Re-running the lookup is safe."
                )
            self._backoff(attempt)

    def get_many(
        self, model_id: str, inchikeys: Sequence[str], *, consistent_read: bool = False
    ) -> dict[str, dict]:
        """Batched lookup: 100 keys per request, several requests in parallel."""
        sk = SK_PREFIX + model_id
        keys = [{"PK": {"S": PK_PREFIX + k}, "SK": {"S": sk}} for k in dict.fromkeys(inchikeys)]
        chunks = [keys[i : i + BATCH_GET_MAX] for i in range(0, len(keys), BATCH_GET_MAX)]
        if len(chunks) <= 1:
            results = [self._get_chunk(c, consistent_read) for c in chunks]
        else:
            with ThreadPoolExecutor(
                min(self.max_workers, len(chunks)), thread_name_prefix="ddb-read"
            ) as pool:
                results = list(pool.map(lambda c: self._get_chunk(c, consistent_read), chunks))
        out: dict[str, dict] = {}
        for rows in results:
            for row in rows:
                rec = _record(
                    row["PK"]["S"],
                    row["SK"]["S"],
                    row.get("Smiles", {}).get("S", ""),
                    [_from_attr(a) for a in row.get("Precalculation", {}).get("L", [])],
                    row.get("Timestamp", {}).get("S", ""),
                    row.get("Slice", {}).get("S", ""),
                    row.get("RunId", {}).get("S", ""),
                    row.get("CodeVersion", {}).get("S", ""),
                )
                out[rec["inchikey"]] = rec
        return out

    def count(self, model_id: str | None = None) -> int:
        """Paginated ``Scan`` with ``Select=COUNT``: reads the whole table, so it is slow."""
        kwargs: dict[str, Any] = {"TableName": self.table_name, "Select": "COUNT"}
        if model_id is not None:
            kwargs["FilterExpression"] = "SK = :sk"
            kwargs["ExpressionAttributeValues"] = {":sk": {"S": SK_PREFIX + model_id}}
        total = 0
        try:
            for page in self._client.get_paginator("scan").paginate(**kwargs):
                total += int(page.get("Count", 0))
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc, "count items of") from exc
        return total


def open_serving_table(url: str, dynamodb_client: Any = None) -> ServingTable:
    """Serving table for a URL: ``sqlite:///abs/path.db`` or ``dynamodb://table-name``."""
    if not isinstance(url, str) or not url.strip():
        raise StoreError(f"Empty serving URL. Accepted forms: {_ACCEPTED_FORMS}.")
    url = url.strip()
    match = _SCHEME_RE.match(url)
    scheme = match.group(1).lower() if match else ""
    rest = url[match.end() :] if match else ""
    if scheme == "sqlite":
        if not rest.strip("/"):
            raise StoreError(f"Serving URL {url!r} has no path. Accepted forms: {_ACCEPTED_FORMS}.")
        return SqliteServingTable(_path_from_url_rest(rest))
    if scheme == "dynamodb":
        if not _TABLE_NAME_RE.fullmatch(rest):
            raise StoreError(
                f"Serving URL {url!r} does not name a valid DynamoDB table (3-255 characters of "
                f"letters, digits, '_', '.', '-'). Accepted forms: {_ACCEPTED_FORMS}."
            )
        if dynamodb_client is None:
            import boto3

            dynamodb_client = boto3.client("dynamodb", config=dynamodb_client_config())
        return DynamoServingTable(dynamodb_client, rest)
    raise StoreError(
        f"Unsupported serving URL {url!r}. Accepted forms: {_ACCEPTED_FORMS}. "
        "Set PRECALC_SERVING_URL accordingly."
    )
