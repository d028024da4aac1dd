"""ID rules and partition-key parsing."""

from __future__ import annotations

import dagster as dg
import pytest

from precalc_assets.ids import InvalidIdError, validate_id
from precalc_assets.orchestration.partitions import (
    model_slice_partitions,
    partition_key,
    split_partition_key,
)

VALID_IDS = [
    "eos3b5e",
    "a",
    "0",
    "morgan-fp2048",
    "rdkit-physchem",
    "lib_1.v2",
    "reference_library-0139",
    "a" * 64,
]


@pytest.mark.parametrize("value", VALID_IDS)
def test_valid_ids_are_returned_unchanged(value: str) -> None:
    assert validate_id(value) == value


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("eos|3b5e", "'|'"),
        ("models/eos3b5e", "'/'"),
        ("eos 3b5e", "a space"),
        ("Eos3b5e", "upper-case letters"),
        ("a" * 65, "more than 64 characters"),
        ("", "it is empty"),
        (None, "not a string"),
        (42, "not a string"),
    ],
)
def test_invalid_ids_say_what_is_wrong(value: object, says: str) -> None:
    with pytest.raises(InvalidIdError) as info:
        validate_id(value, what="model ID")  # type: ignore[arg-type]
    message = str(info.value)
    assert says in message
    assert "invalid model ID" in message
    assert "1-64 characters" in message  # ... and how to fix it


def test_several_problems_are_all_named() -> None:
    with pytest.raises(InvalidIdError) as info:
        validate_id("My Model|v2")
    message = str(info.value)
    for part in ("'|'", "a space", "upper-case letters"):
        assert part in message


@pytest.mark.parametrize(
    "value",
    [
        "eos3b5e\n",  # `$` alone would accept a trailing newline
        "\neos3b5e",
        "eos3b5e\t",
        "-lib",
        "_lib",
        ".lib",
        "lib:1",
        "lib#1",
        "lïb",
        "lib\\1",
    ],
)
def test_other_bad_characters_are_rejected(value: str) -> None:
    with pytest.raises(InvalidIdError):
        validate_id(value)


def test_invalid_id_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        validate_id("UPPER")


def test_dagster_joins_dimensions_sorted_by_name() -> None:
    """The documented string form "<model>|<slice>" is what Dagster itself produces."""
    key = dg.MultiPartitionKey({"slice": "lib-0000", "model": "eos3b5e"})
    assert str(key) == "eos3b5e|lib-0000"
    assert str(partition_key("eos3b5e", "lib-0000")) == "eos3b5e|lib-0000"
    assert [d.name for d in model_slice_partitions.partitions_defs] == ["model", "slice"]


@pytest.mark.parametrize(
    ("model_id", "slice_key"),
    [
        ("eos3b5e", "lib-0000"),
        ("morgan-fp2048", "reference_library-0139"),
        ("m", "s"),
        ("a.b_c-d", "x" * 64),
    ],
)
def test_split_partition_key_accepts_both_forms(model_id: str, slice_key: str) -> None:
    key = partition_key(model_id, slice_key)
    assert isinstance(key, dg.MultiPartitionKey)
    assert split_partition_key(key) == (model_id, slice_key)
    # `dagster job execute --tags '{"dagster/partition": "m|s"}'` hands over a plain str
    assert split_partition_key(f"{model_id}|{slice_key}") == (model_id, slice_key)
    assert split_partition_key(str(key)) == (model_id, slice_key)


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("lib-0000", "'<model>|<slice>'"),
        ("", "'<model>|<slice>'"),
        ("a|b|c", "'<model>|<slice>'"),
        ("|lib-0000", "invalid model ID"),
        ("Eos3b5e|lib-0000", "invalid model ID"),
        ("eos3b5e|", "invalid slice key"),
        ("eos3b5e|Lib 0000", "invalid slice key"),
        ("eos3b5e|lib-0000\n", "invalid slice key"),
    ],
)
def test_split_partition_key_rejects_malformed_strings(key: str, says: str) -> None:
    with pytest.raises(InvalidIdError) as info:
        split_partition_key(key)
    assert says in str(info.value)
