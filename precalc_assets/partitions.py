"""Model x slice partitions (DESIGN §2) and the ID rules that keep their keys safe.

Dagster joins multi-partition dimensions sorted by name, so a key reads
`"<model>|<slice>"`; an ID holding `|` would be silently dropped, hence the rules.
"""

from __future__ import annotations

import re

import dagster as dg

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

model_partitions = dg.DynamicPartitionsDefinition(name="model")
slice_partitions = dg.DynamicPartitionsDefinition(name="slice")
model_slice_partitions = dg.MultiPartitionsDefinition(
    {"model": model_partitions, "slice": slice_partitions}
)


class InvalidIdError(ValueError):
    """An ID that cannot be a partition key; the message says how to fix it."""


def validate_id(value: str, what: str = "ID") -> str:
    """Return `value` if it is a valid model/slice/library ID, else raise InvalidIdError."""
    # fullmatch, not match: `$` also matches before a trailing newline ("eos3b5e\n").
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        problems = []
        text = str(value)
        for char, name in (("|", "'|'"), ("/", "'/'"), (" ", "a space")):
            if char in text:
                problems.append(name)
        if text != text.lower():
            problems.append("upper-case letters")
        if len(text) > 64:
            problems.append("more than 64 characters")
        detail = f" (it contains {', '.join(problems)})" if problems else ""
        if not isinstance(value, str):
            detail = f" (it is a {type(value).__name__}, not a string)"
        elif not text:
            detail = " (it is empty)"
        raise InvalidIdError(
            f"invalid {what} {text!r}{detail}: use 1-64 characters of a-z, 0-9, '.', '_' "
            "or '-', starting with a letter or digit"
        )
    return value


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
