"""Serving table in DynamoDB, with the Ersilia key schema (PK/SK strings).

- the table is created on demand (``ensure_table``: PAY_PER_REQUEST, PK hash + SK range;
  an existing table with another key schema is refused);
- writes are parallel ``BatchWriteItem`` requests of 25 items, in rounds run one after
  another so a key repeated across rounds still ends with its last value; an item that
  must not replace one of an earlier slice (``earlier_slices``) goes alone, as a
  ``PutItem`` with that condition (``BatchWriteItem`` takes no conditions; a conditional
  put costs the same write units), ``CONDITIONAL_PUTS_IN_FLIGHT`` at a time;
- reads are ``BatchGetItem`` requests of 100 keys, several in parallel;
- ``attribute_item`` is the item layout; ``item_size_bound`` bounds an item's size as
  DynamoDB counts it, against ``ITEM_SIZE_LIMIT`` (models are checked against it when
  they are registered).

Request-level throttling and 5xx are retried by botocore (``aws.client_config``);
item-level throttling (``UnprocessedItems``/``UnprocessedKeys``) is retried here with
exponential backoff and full jitter, up to ``max_unprocessed_attempts`` requests.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from precalc_assets.stores.aws import (
    AwsService,
    aws_error_code,
    aws_errors,
    client_location,
    endpoint_option,
    translate_aws_error,
)
from precalc_assets.stores.errors import StoreError
from precalc_assets.stores.serving_table import (
    EarlierSlices,
    ServingItem,
    ServingTable,
    earlier_slices,
    encode_outputs,
    item_keys,
    partition_key,
    read_item,
    sort_key,
)
from precalc_assets.stores.values import attr_list, from_attr, to_attr

__all__ = [
    "BATCH_GET_MAX",
    "BATCH_WRITE_MAX",
    "ITEM_SIZE_LIMIT",
    "DynamoServingTable",
    "attribute_item",
    "item_size_bound",
    "list_element_size_bound",
    "valid_table_name",
]

BATCH_WRITE_MAX = 25  # DynamoDB limit per BatchWriteItem
BATCH_GET_MAX = 100  # DynamoDB limit per BatchGetItem
# Conditional PutItem requests at once: one item each, so more than batches (the client's
# connection pool, `aws.client_config`, holds 32).
CONDITIONAL_PUTS_IN_FLIGHT = 32
# Writes only where no earlier slice of the item's library holds the key (`EarlierSlices`).
_NOT_OVER_AN_EARLIER_SLICE = (
    "attribute_not_exists(PK) OR NOT "
    "(begins_with(#slice, :prefix) AND size(#slice) = :length AND #slice < :slice)"
)
# BatchGetItem requests at once: a 1,000-key lookup (the API's limit) in one round trip.
READS_IN_FLIGHT = 10
# Every attribute of an item but its values (`get_many(outputs=False)`), by placeholder:
# `Timestamp` is a reserved word of DynamoDB's expressions.
_WITHOUT_OUTPUTS = ("PK", "SK", "Smiles", "Timestamp", "Slice", "RunId", "CodeVersion")
WITHOUT_OUTPUTS = {
    "ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(_WITHOUT_OUTPUTS))),
    "ExpressionAttributeNames": {f"#a{i}": name for i, name in enumerate(_WITHOUT_OUTPUTS)},
}
# DynamoDB's maximum item size (400 KB), attribute names included. Every backend is held
# to it, so a model served locally also serves on AWS: a model whose items cannot fit is
# refused when it is registered (`models.catalog`).
ITEM_SIZE_LIMIT = 400 * 1024
# Most bytes a number takes in an item: 1 byte per 2 significant digits (38 at most),
# plus 1, plus 1 to be safe (the sign). Every number is counted at this size.
NUMBER_SIZE_MAX = 21
_TABLE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_DYNAMODB = AwsService(
    name="DynamoDB",
    local_alternative="a sqlite:/// PRECALC_SERVING_URL",
    permissions=(
        "dynamodb:DescribeTable, CreateTable, BatchWriteItem, PutItem, BatchGetItem and Scan"
    ),
)


def valid_table_name(name: str) -> bool:
    """DynamoDB's rule: 3-255 characters of letters, digits, '_', '.', '-'."""
    return bool(_TABLE_NAME_RE.fullmatch(name or ""))


def attribute_item(item: ServingItem, pk: str, sk: str) -> dict[str, Any]:
    """The item as DynamoDB stores it: attribute name -> AttributeValue."""
    return {
        "PK": {"S": pk},
        "SK": {"S": sk},
        "Smiles": {"S": item.smiles},
        "Precalculation": {"L": encode_outputs(item, attr_list)},
        "Timestamp": {"S": item.timestamp},
        "Slice": {"S": item.slice_key},
        "RunId": {"S": item.run_id},
        "CodeVersion": {"S": item.code_version},
    }


def _value_size_bound(value: dict[str, Any]) -> int:
    """Bytes an AttributeValue takes (DynamoDB's rules), every number at its maximum."""
    ((kind, content),) = value.items()
    if kind in ("S", "B"):
        return len(content.encode()) if kind == "S" else len(content)
    if kind == "N":
        return NUMBER_SIZE_MAX
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":  # 3 bytes of overhead, then each element and 1 byte per element
        return 3 + sum(_value_size_bound(v) + 1 for v in content)
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size_bound(v) + 1 for k, v in content.items())
    raise StoreError(f"Unexpected DynamoDB attribute value {value!r}: cannot size it.")


def list_element_size_bound(value: Any) -> int:
    """Bytes one output value adds to the item's `Precalculation` list, at most."""
    return _value_size_bound(to_attr(value)) + 1


def item_size_bound(item: ServingItem) -> int:
    """An upper bound of the item's size as DynamoDB counts it (names + values, each
    number at its maximum size), to compare with ``ITEM_SIZE_LIMIT``."""
    pk, sk = item_keys(item, "size bound")
    return sum(
        len(name.encode()) + _value_size_bound(value)
        for name, value in attribute_item(item, pk, sk).items()
    )


def _text(row: dict[str, Any], name: str) -> str:
    return row.get(name, {}).get("S", "")


def _pending(request: Any) -> int:
    """Items (BatchWriteItem: a list of requests) or keys (BatchGetItem: KeysAndAttributes)
    in a request; 0 for None."""
    if isinstance(request, dict):
        return len(request.get("Keys") or ())
    return len(request or ())


class DynamoServingTable(ServingTable):
    """DynamoDB table with the Ersilia key schema, written with parallel BatchWriteItem.

    ``max_workers`` requests run in parallel; ``max_unprocessed_attempts`` bounds the
    requests per batch while DynamoDB hands items back as unprocessed, with backoff
    between ``backoff_base_s * 2**attempt`` (capped at ``backoff_max_s``) and 0.
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
        if not valid_table_name(table_name):
            raise StoreError(
                f"Invalid DynamoDB table name {table_name!r}: 3-255 characters of letters, "
                "digits, '_', '.', '-'."
            )
        if max_workers < 1 or max_unprocessed_attempts < 1:
            raise StoreError(
                f"max_workers ({max_workers}) and max_unprocessed_attempts "
                f"({max_unprocessed_attempts}) must be at least 1 (DynamoDB table "
                f"'{table_name}')."
            )
        self._client = client
        self.table_name = table_name
        self.url = f"dynamodb://{table_name}"
        self.max_workers = max_workers
        self.max_unprocessed_attempts = max_unprocessed_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        # Items held per round of parallel requests.
        self._round_items = BATCH_WRITE_MAX * max_workers * 8

    # -- errors ---------------------------------------------------------------------------

    def _context(self) -> str:
        return f"serving URL {self.url}, {client_location(self._client)}"

    def _missing_table(self) -> StoreError:
        t = self.table_name
        return StoreError(
            f"DynamoDB table '{t}' does not exist ({self._context()}). `precalc run` creates "
            "it when it first publishes; or create it: aws dynamodb create-table --table-name "
            f"{t} --attribute-definitions AttributeName=PK,AttributeType=S "
            "AttributeName=SK,AttributeType=S --key-schema AttributeName=PK,KeyType=HASH "
            "AttributeName=SK,KeyType=RANGE --billing-mode PAY_PER_REQUEST"
            f"{endpoint_option(self._client)}; or point PRECALC_SERVING_URL at an existing table."
        )

    def _translate(self, exc: ClientError | BotoCoreError, action: str) -> StoreError:
        if isinstance(exc, ClientError) and aws_error_code(exc)[0] == "ResourceNotFoundException":
            return self._missing_table()
        name = f"DynamoDB table '{self.table_name}'"
        return translate_aws_error(
            exc, _DYNAMODB, action=action, target=name, resource=name, context=self._context()
        )

    def _errors(self, action: str) -> AbstractContextManager[None]:
        return aws_errors(partial(self._translate, action=action))

    def _call(self, action: str, method: str, **kwargs: Any) -> dict[str, Any]:
        with self._errors(action):
            return getattr(self._client, method)(**kwargs)

    def _backoff(self, attempt: int) -> None:
        cap = min(self.backoff_max_s, self.backoff_base_s * (2**attempt))
        time.sleep(random.uniform(0, cap))

    def _send(
        self, action: str, method: str, request: Any, unprocessed: str
    ) -> tuple[list[dict[str, Any]], Any]:
        """Send a batch ``request``, then re-send what comes back under ``unprocessed``.

        Item-level throttling: re-sends back off exponentially with full jitter, and there
        are at most ``max_unprocessed_attempts`` requests in all. Returns the responses and
        what was still unprocessed after the last one (see ``_pending``).
        """
        responses: list[dict[str, Any]] = []
        for attempt in range(self.max_unprocessed_attempts):
            if attempt:
                self._backoff(attempt)
            response = self._call(action, method, RequestItems={self.table_name: request})
            responses.append(response)
            request = (response.get(unprocessed) or {}).get(self.table_name)
            if not _pending(request):
                break
        return responses, request

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
                    f"({self._context()}): {exc}. Check it in the console and re-run."
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

    def _write_batch(self, batch: list[tuple[str, str, ServingItem]]) -> int:
        """One BatchWriteItem, then re-sends of its UnprocessedItems.

        Returns how many items were still unprocessed after the last attempt.
        """
        requests = [{"PutRequest": {"Item": attribute_item(i, pk, sk)}} for pk, sk, i in batch]
        _, left = self._send("write to", "batch_write_item", requests, "UnprocessedItems")
        return _pending(left)

    def _put_unless_earlier(
        self, pk: str, sk: str, item: ServingItem, earlier: EarlierSlices
    ) -> int:
        """One conditional PutItem; an item of an earlier slice keeps the key (not an
        error: the caller reads back). Returns 0, as ``_write_batch`` does when done."""
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=attribute_item(item, pk, sk),
                ConditionExpression=_NOT_OVER_AN_EARLIER_SLICE,
                ExpressionAttributeNames={"#slice": "Slice"},
                ExpressionAttributeValues={
                    ":prefix": {"S": earlier.prefix},
                    ":length": {"N": str(earlier.length)},
                    ":slice": {"S": earlier.slice_key},
                },
            )
        except ClientError as exc:
            if aws_error_code(exc)[0] != "ConditionalCheckFailedException":
                raise self._translate(exc, "write to") from exc
        except BotoCoreError as exc:
            raise self._translate(exc, "write to") from exc
        return 0

    def upsert(self, items: Iterable[ServingItem]) -> int:
        seen: set[tuple[str, str]] = set()
        pending: dict[tuple[str, str], ServingItem] = {}
        with (
            ThreadPoolExecutor(self.max_workers, thread_name_prefix="ddb-write") as pool,
            ThreadPoolExecutor(CONDITIONAL_PUTS_IN_FLIGHT, thread_name_prefix="ddb-put") as puts,
        ):
            for item in items:
                key = item_keys(item, self.url)
                pending[key] = item  # de-duplicate: last wins (DynamoDB rejects dup keys)
                seen.add(key)
                if len(pending) >= self._round_items:
                    self._write_round(pool, puts, pending, len(seen))
                    pending = {}
            if pending:
                self._write_round(pool, puts, pending, len(seen))
        return len(seen)

    def _write_round(
        self,
        pool: ThreadPoolExecutor,
        puts: ThreadPoolExecutor,
        pending: dict[tuple[str, str], ServingItem],
        total: int,
    ) -> int:
        entries = [(pk, sk, item) for (pk, sk), item in pending.items()]
        guarded = [(pk, sk, i, earlier_slices(i.slice_key)) for pk, sk, i in entries]
        free = [(pk, sk, i) for pk, sk, i, earlier in guarded if earlier is None]
        futures: list[Future[int]] = [
            pool.submit(self._write_batch, free[i : i + BATCH_WRITE_MAX])
            for i in range(0, len(free), BATCH_WRITE_MAX)
        ]
        futures += [
            puts.submit(self._put_unless_earlier, pk, sk, item, earlier)
            for pk, sk, item, earlier in guarded
            if earlier is not None
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

    def delete(self, model_id: str, inchikeys: Sequence[str]) -> None:
        sk = sort_key(model_id)
        requests = [
            {"DeleteRequest": {"Key": {"PK": {"S": partition_key(k)}, "SK": {"S": sk}}}}
            for k in dict.fromkeys(inchikeys)
        ]
        with ThreadPoolExecutor(self.max_workers, thread_name_prefix="ddb-delete") as pool:
            batches = [
                requests[i : i + BATCH_WRITE_MAX] for i in range(0, len(requests), BATCH_WRITE_MAX)
            ]
            sends = [
                pool.submit(self._send, "delete from", "batch_write_item", b, "UnprocessedItems")
                for b in batches
            ]
            left = sum(_pending(f.result()[1]) for f in sends)
        if left:
            raise StoreError(
                f"{left} items of model {model_id!r} could not be deleted from DynamoDB table "
                f"'{self.table_name}' (UnprocessedItems: the table is throttling); deleting "
                "again is safe."
            )

    # -- reads ----------------------------------------------------------------------------

    def _get_chunk(
        self, keys: list[dict[str, Any]], consistent: bool, outputs: bool
    ) -> list[dict[str, Any]]:
        """One BatchGetItem, then re-reads of its UnprocessedKeys; the rows found."""
        request: dict[str, Any] = {"Keys": keys, "ConsistentRead": consistent}
        if not outputs:
            request.update(WITHOUT_OUTPUTS)
        responses, left = self._send("read from", "batch_get_item", request, "UnprocessedKeys")
        if _pending(left):
            raise StoreError(
                f"{_pending(left)} keys could not be read from DynamoDB table "
                f"'{self.table_name}' after {self.max_unprocessed_attempts} attempts "
                "(UnprocessedKeys: the table is throttling). Re-running the lookup is safe."
            )
        return [
            row for r in responses for row in (r.get("Responses") or {}).get(self.table_name, [])
        ]

    def get_many(
        self,
        model_id: str,
        inchikeys: Sequence[str],
        *,
        consistent_read: bool = False,
        outputs: bool = True,
    ) -> dict[str, ServingItem]:
        """Batched lookup: 100 keys per request, several requests in parallel."""
        sk = sort_key(model_id)
        keys = [{"PK": {"S": partition_key(k)}, "SK": {"S": sk}} for k in dict.fromkeys(inchikeys)]
        chunks = [keys[i : i + BATCH_GET_MAX] for i in range(0, len(keys), BATCH_GET_MAX)]
        if len(chunks) <= 1:
            results = [self._get_chunk(c, consistent_read, outputs) for c in chunks]
        else:
            with ThreadPoolExecutor(
                min(READS_IN_FLIGHT, len(chunks)), thread_name_prefix="ddb-read"
            ) as pool:
                results = list(
                    pool.map(lambda c: self._get_chunk(c, consistent_read, outputs), chunks)
                )
        out: dict[str, ServingItem] = {}
        for rows in results:
            for row in rows:
                item = read_item(
                    row["PK"]["S"],
                    row["SK"]["S"],
                    smiles=_text(row, "Smiles"),
                    outputs=(from_attr(a) for a in row.get("Precalculation", {}).get("L", [])),
                    slice_key=_text(row, "Slice"),
                    run_id=_text(row, "RunId"),
                    code_version=_text(row, "CodeVersion"),
                    timestamp=_text(row, "Timestamp"),
                )
                out[item.inchikey] = item
        return out

    def count(self, model_id: str | None = None) -> int:
        """Paginated ``Scan`` with ``Select=COUNT``: reads the whole table, so it is slow."""
        kwargs: dict[str, Any] = {"TableName": self.table_name, "Select": "COUNT"}
        if model_id is not None:
            kwargs["FilterExpression"] = "SK = :sk"
            kwargs["ExpressionAttributeValues"] = {":sk": {"S": sort_key(model_id)}}
        total = 0
        with self._errors("count items of"):
            for page in self._client.get_paginator("scan").paginate(**kwargs):
                total += int(page.get("Count", 0))
        return total
