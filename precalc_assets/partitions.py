"""Model x slice dynamic partitions (DESIGN §2) and their keys in both forms."""

from __future__ import annotations

import dagster as dg

from precalc_assets.ids import ID_PATTERN, InvalidIdError, validate_id

__all__ = [
    "ID_PATTERN",
    "InvalidIdError",
    "model_partitions",
    "model_slice_partitions",
    "partition_key",
    "slice_partitions",
    "split_partition_key",
    "validate_id",
]

model_partitions = dg.DynamicPartitionsDefinition(name="model")
slice_partitions = dg.DynamicPartitionsDefinition(name="slice")
model_slice_partitions = dg.MultiPartitionsDefinition(
    {"model": model_partitions, "slice": slice_partitions}
)


def partition_key(model_id: str, slice_key: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"model": model_id, "slice": slice_key})


def split_partition_key(key: str | dg.MultiPartitionKey) -> tuple[str, str]:
    """(model, slice) from a MultiPartitionKey or its string form `"model|slice"`.

    `dagster job execute --tags '{"dagster/partition": "m|s"}'` hands assets a plain
    string, so both forms are accepted (DESIGN §4).
    """
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
        return dims["model"], dims["slice"]
    model_id, sep, slice_key = str(key).partition("|")
    if not sep or "|" in slice_key:
        raise InvalidIdError(
            f"partition key {key!r} is not of the form '<model>|<slice>' (e.g. 'eos3b5e|lib-0000')"
        )
    return validate_id(model_id, "model ID"), validate_id(slice_key, "slice key")
