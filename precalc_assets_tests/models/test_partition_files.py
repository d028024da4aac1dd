"""The steps' files when they are damaged: a prepared slice is prepared again from its
raw slice; a damaged predictions or validated file names the command that rebuilds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from precalc_assets import keys, layout
from precalc_assets.inputs.libraries import register_library
from precalc_assets.inputs.model_requests import resolve_spec
from precalc_assets.models.partition_files import (
    read_library_slice,
    read_upstream_table,
    rebuild_command,
)
from precalc_assets.steps.predict import compute_predictions
from precalc_assets.steps.prepare import prepare_slice
from precalc_assets.steps.publish import publish_predictions
from precalc_assets.steps.validate import validate_predictions
from precalc_assets.stores.errors import StoreError
from precalc_assets.stores.local import LocalObjectStore
from precalc_assets.stores.sqlite import SqliteServingTable
from precalc_assets_tests.molecules import expected_molecules, nci_lines, write_library

SLICE = "lib-0000"
EOS = resolve_spec("eos3b5e")
COMMAND = (
    "dagster job execute -m precalc_assets -j precalculate "
    """--tags '{"dagster/partition": "eos3b5e|lib-0000"}'"""
)


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    store = LocalObjectStore(tmp_path / "storage")
    register_library(store, write_library(tmp_path / "lib.smi", nci_lines(60)), slice_size=60)
    return store


def truncate(store: LocalObjectStore, key: str) -> None:
    """Cut a stored file in half, as an interrupted copy or a full disk does."""
    path = store.root / key
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_the_rebuild_command_is_the_precalculate_job_of_the_partition() -> None:
    assert rebuild_command("eos3b5e", SLICE) == COMMAND
    assert keys.partition_id("eos3b5e", SLICE) in COMMAND


def test_a_damaged_prepared_slice_is_prepared_again_from_its_raw_slice(store) -> None:
    """It used to fail the predictions step the same way for ever."""
    prepare_slice(store, SLICE)
    truncate(store, layout.library_slice(SLICE))
    assert read_library_slice(store, SLICE) is None  # unreadable counts as missing

    predicted = compute_predictions(store, [EOS], SLICE)
    results, prepared = predicted.results, predicted.prepared
    assert prepared is not None and prepared.slice_key == SLICE  # says it prepared it
    expected = expected_molecules(nci_lines(60))
    assert results[0].rows_out == prepared.rows_out == len(expected)
    assert read_library_slice(store, SLICE).num_rows == len(expected)  # the file is whole again
    predictions = store.read_parquet(layout.predictions("eos3b5e", SLICE)).to_pandas()
    assert set(predictions["inchikey"]) == set(expected)


def test_a_missing_prepared_slice_is_prepared_as_before(store) -> None:
    predicted = compute_predictions(store, [EOS], SLICE)
    assert predicted.prepared is not None
    assert predicted.results[0].rows_out == predicted.prepared.rows_out


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_validate_names_the_command_that_rebuilds_damaged_predictions(store, damage) -> None:
    key = layout.predictions("eos3b5e", SLICE)
    if damage == "truncated":
        compute_predictions(store, [EOS], SLICE)
        truncate(store, key)
    with pytest.raises(StoreError) as info:
        validate_predictions(store, EOS, SLICE)
    message = str(info.value)
    assert store.uri(key) in message
    assert f"`{COMMAND}`" in message
    if damage == "truncated":
        assert "cannot be read" in message and "Parquet" in message


def test_publish_names_the_command_that_rebuilds_damaged_validated_rows(store, tmp_path) -> None:
    compute_predictions(store, [EOS], SLICE)
    validate_predictions(store, EOS, SLICE)
    truncate(store, layout.validated("eos3b5e", SLICE))
    serving = SqliteServingTable(tmp_path / "serving.db")
    with pytest.raises(StoreError) as info:
        publish_predictions(store, serving, EOS, SLICE, "run-1")
    message = str(info.value)
    assert message.startswith(
        f"the validated_predictions file {store.uri(layout.validated('eos3b5e', SLICE))} "
        "cannot be read"
    )
    assert f"`{COMMAND}`" in message
    serving.ensure_table()
    assert serving.count("eos3b5e") == 0  # nothing half-published

    # The command's steps, run again, complete the partition.
    compute_predictions(store, [EOS], SLICE)
    validate_predictions(store, EOS, SLICE)
    result = publish_predictions(store, serving, EOS, SLICE, "run-2")
    assert result.rows_out == serving.count("eos3b5e") > 0


def test_read_upstream_table_without_a_partition_still_works(store) -> None:
    """A file named by its key only still gets a way to make it again."""
    compute_predictions(store, [EOS], SLICE)
    key = layout.predictions("eos3b5e", SLICE)
    assert len(read_upstream_table(store, key, keys.PREDICTIONS)) > 0
    with pytest.raises(StoreError, match="the `precalculate` job for this partition"):
        read_upstream_table(store, layout.predictions("eos3b5e", "lib-0009"), keys.PREDICTIONS)


def test_a_damaged_predictions_file_is_not_kept_as_the_previous_one(store) -> None:
    """The reproducibility check compares with `history/`; a damaged file there would
    make it fail after the partition was rebuilt."""
    compute_predictions(store, [EOS], SLICE)
    compute_predictions(store, [EOS], SLICE)
    history = layout.previous_predictions("eos3b5e", SLICE)
    good = store.get_bytes(history)
    truncate(store, layout.predictions("eos3b5e", SLICE))
    compute_predictions(store, [EOS], SLICE)
    assert store.get_bytes(history) == good
    assert store.read_parquet(history).num_rows > 0


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_damaged_raw_slice_says_how_to_register_the_library_again(store, damage) -> None:
    key = layout.raw_slice(SLICE)
    if damage == "missing":
        store.delete(key)
    else:
        truncate(store, key)
    with pytest.raises(StoreError) as info:
        prepare_slice(store, SLICE)
    message = str(info.value)
    assert message.startswith(store.uri(key))
    assert f"register library 'lib' again: delete {store.uri(layout.library_manifest('lib'))}" in (
        message
    )
    assert "same name and slice size (60)" in message
