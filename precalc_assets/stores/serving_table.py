"""The serving-table interface: one item per (molecule, model), Ersilia-compatible.

Item layout (DynamoDB attribute names; SQLite keeps the same logical rows; the contract
is in ``docs/contracts.md``):

- ``PK`` (S, hash) = ``INPUTKEY#<InChIKey>``; ``SK`` (S, range) = ``MODELID#<model_id>``
- ``Smiles`` (S), ``Precalculation`` (L, outputs in the model's declared column order),
  ``Timestamp`` (S, ISO-8601 UTC with milliseconds and ``Z``, see ``utc_timestamp``),
  ``Slice``, ``RunId``, ``CodeVersion`` (S)

Writes are idempotent upserts (a re-run overwrites, never duplicates), with one rule
checked by the store in the same write (so concurrent runs cannot race past it): an item
never replaces an item of an *earlier* slice of the same library. A molecule in several
slices of a library is served from its first row, whatever order the slices publish in
(see ``earlier_slices``). Output values are
stored as ``values`` says (non-finite and out-of-range numbers as NULL). Reads return the
same ``ServingItem`` the writes take.

Backends: ``sqlite.SqliteServingTable`` (embedded default), ``dynamodb.DynamoServingTable``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from precalc_assets import keys
from precalc_assets.stores.errors import StoreError

__all__ = [
    "PK_PREFIX",
    "SK_PREFIX",
    "ServingItem",
    "ServingTable",
    "EarlierSlices",
    "earlier_slices",
    "encode_outputs",
    "item_keys",
    "partition_key",
    "read_item",
    "sort_key",
    "utc_timestamp",
]

PK_PREFIX = "INPUTKEY#"
SK_PREFIX = "MODELID#"

_T = TypeVar("_T")


def utc_timestamp() -> str:
    """Now as ISO-8601 UTC with milliseconds and a ``Z`` suffix: the ``Timestamp`` format
    of items, e.g. ``2025-01-01T00:00:00.000Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ServingItem:
    """One (molecule, model) prediction as published to, and read from, the serving table."""

    inchikey: str
    model_id: str
    smiles: str
    outputs: tuple[Any, ...]
    slice_key: str
    run_id: str
    code_version: str
    timestamp: str


@dataclass(frozen=True)
class EarlierSlices:
    """How the slice keys before ``slice_key`` in its library look: they start with
    ``prefix``, have ``length`` characters and sort before ``slice_key`` (four-digit
    indices, `keys.MAX_SLICES_PER_LIBRARY`)."""

    prefix: str
    length: int
    slice_key: str

    def holds(self, other_slice: str) -> bool:
        """Whether an item of ``other_slice`` must be kept rather than replaced."""
        return (
            other_slice.startswith(self.prefix)
            and len(other_slice) == self.length
            and other_slice < self.slice_key
        )


def earlier_slices(slice_key: str) -> EarlierSlices | None:
    """The slices an item of ``slice_key`` must not replace; None when there are none
    (a library's first slice, or an item not from a library slice, e.g. a lookup's)."""
    position = keys.slice_position(slice_key)
    if position is None or position[1] == 0:
        return None
    return EarlierSlices(f"{position[0]}-", len(slice_key), slice_key)


def partition_key(inchikey: str) -> str:
    return PK_PREFIX + inchikey


def sort_key(model_id: str) -> str:
    return SK_PREFIX + model_id


def item_keys(item: ServingItem, url: str) -> tuple[str, str]:
    """(PK, SK) of an item; both parts must be non-empty."""
    if not item.inchikey or not item.model_id:
        raise StoreError(
            f"Serving item has an empty InChIKey or model ID (inchikey={item.inchikey!r}, "
            f"model_id={item.model_id!r}, slice={item.slice_key!r}) for {url}; every item "
            "needs both."
        )
    return partition_key(item.inchikey), sort_key(item.model_id)


def encode_outputs(item: ServingItem, encode: Callable[[Sequence[Any]], _T]) -> _T:
    """An item's outputs encoded as a backend stores them; the error of a bad value
    names the item."""
    try:
        return encode(item.outputs)
    except StoreError as exc:
        raise StoreError(f"Item {item.model_id}/{item.inchikey}: {exc}") from exc


def read_item(
    pk: str,
    sk: str,
    *,
    smiles: str,
    outputs: Iterable[Any],
    slice_key: str,
    run_id: str,
    code_version: str,
    timestamp: str,
) -> ServingItem:
    """The item stored under (PK, SK)."""
    return ServingItem(
        inchikey=pk.removeprefix(PK_PREFIX),
        model_id=sk.removeprefix(SK_PREFIX),
        smiles=smiles,
        outputs=tuple(outputs),
        slice_key=slice_key,
        run_id=run_id,
        code_version=code_version,
        timestamp=timestamp,
    )


class ServingTable(ABC):
    """Idempotent upserts and batched lookups of (molecule, model) predictions."""

    url: str
    # Whether `upsert` counts the items it stored in its own committed transaction
    # (SQLite): then that count, not a read-back of every key, says they all landed.
    counts_what_it_stores: ClassVar[bool] = False

    @abstractmethod
    def ensure_table(self) -> None:
        """Create the table if it is missing; safe to call any number of times."""

    @abstractmethod
    def upsert(self, items: Iterable[ServingItem]) -> int:
        """Write items (same PK/SK overwritten, last one wins), except over an item of an
        earlier slice of the same library (``earlier_slices``), which is left as it is:
        read back to see which. Returns the distinct items handled; a table that
        `counts_what_it_stores`, the items it stored (those left as they were not
        counted)."""

    @abstractmethod
    def get_many(
        self,
        model_id: str,
        inchikeys: Sequence[str],
        *,
        consistent_read: bool = False,
        outputs: bool = True,
    ) -> dict[str, ServingItem]:
        """InChIKey -> item for the keys present; missing keys are absent from the result.

        ``consistent_read=True`` for read-back checks right after a write (DynamoDB reads
        are eventually consistent by default; SQLite is always consistent).
        ``outputs=False`` leaves the values out (empty ``outputs``): what publication
        reads back is who wrote each item, not thousands of values it just wrote.
        """

    @abstractmethod
    def delete(self, model_id: str, inchikeys: Sequence[str]) -> None:
        """Delete the model's items of these keys (absent ones are no error): what
        `precalc remove-model` / `remove-library` take out of serving."""

    @abstractmethod
    def count(self, model_id: str | None = None) -> int:
        """Number of items (of one model); for tests and the CLI, not for hot paths."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
