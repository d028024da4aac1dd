"""Model x slice dynamic partitions, and their keys in both forms Dagster hands out."""

from __future__ import annotations

import dagster as dg

from precalc_assets import keys

model_partitions = dg.DynamicPartitionsDefinition(name=keys.MODEL)
slice_partitions = dg.DynamicPartitionsDefinition(name=keys.SLICE)
model_slice_partitions = dg.MultiPartitionsDefinition(
    {keys.MODEL: model_partitions, keys.SLICE: slice_partitions}
)


def partition_key(model_id: str, slice_key: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({keys.MODEL: model_id, keys.SLICE: slice_key})


def split_partition_key(key: str | dg.MultiPartitionKey) -> tuple[str, str]:
    """(model, slice) from a MultiPartitionKey or its string form `"model|slice"`.

    `dagster job execute --tags '{"dagster/partition": "m|s"}'` hands assets a plain
    string, so both forms are accepted.
    """
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
        return dims[keys.MODEL], dims[keys.SLICE]
    return keys.split_partition_id(key)
