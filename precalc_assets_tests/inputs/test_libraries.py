"""Registering library files: faults leave nothing behind, and messages name the file as
the user knows it (its path, or its storage URI when the sensor registers it)."""

from __future__ import annotations

import gzip
import json
import re
import tempfile
from pathlib import Path

import pytest

from precalc_assets import layout
from precalc_assets.chem import DEFAULT_MAX_SMILES_LENGTH, REJECT_TOO_LONG, REJECT_UNPARSEABLE
from precalc_assets.inputs.libraries import register_library, register_stored_library
from precalc_assets.inputs.library_files import LibraryError, iter_smiles, open_text
from precalc_assets.inputs.manifests import LibraryManifest, load_manifest
from precalc_assets.steps.prepare import prepare_slice
from precalc_assets.stores.local import LocalObjectStore
from precalc_assets_tests.molecules import NCI_SAMPLE, nci_lines, write_library
from precalc_assets_tests.store_data import keys


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "storage")


def truncated_gzip(path: Path, lines: list[str]) -> Path:
    """A real gzip file of `lines`, cut at two thirds (an interrupted upload)."""
    data = gzip.compress("".join(f"{line}\n" for line in lines).encode())
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def names_a_temp_dir(message: str) -> bool:
    """Whether `message` names a `tempfile.TemporaryDirectory()` (the downloaded copy)."""
    return re.search(rf"{re.escape(tempfile.gettempdir())}/tmp\w{{8}}/", message) is not None


def assert_nothing_registered(store, name: str) -> None:
    assert keys(store.list("library/")) == []  # no raw slice, no manifest
    assert load_manifest(store, name) is None


# --------------------------------------------------------------------------- gzip faults


def test_a_truncated_gz_registers_nothing_and_names_the_file(store, tmp_path) -> None:
    """The first slices are read and written before the end of the file is found."""
    path = truncated_gzip(tmp_path / "lib.smi.gz", nci_lines(3_000))
    with pytest.raises(LibraryError) as info:
        register_library(store, path, slice_size=100)
    message = str(info.value)
    assert message.startswith(f"{path}: the gzip file ends before its end of stream")
    assert "truncated" in message and "upload the complete file again" in message
    assert_nothing_registered(store, "lib")
    assert keys(store.list(layout.LIBRARY_INPUTS)) == []  # no source copy either


def test_a_truncated_gz_in_storage_names_its_uri_and_leaves_nothing(project) -> None:
    """What `register_library_job` does with a file the sensor found."""
    store = project.store()
    key = "inputs/library/lib.smi.gz"
    store.put_file(key, truncated_gzip(project.home / "lib.smi.gz", nci_lines(3_000)))
    with pytest.raises(LibraryError) as info:
        register_stored_library(store, key, slice_size=100)
    message = str(info.value)
    assert message.startswith(f"{store.uri(key)}: the gzip file ends before its end of stream")
    assert not names_a_temp_dir(message)
    assert_nothing_registered(store, "lib")
    assert keys(store.list(layout.LIBRARY_INPUTS)) == [key]  # the user's file stays


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"smiles\nCCO\n", "not a valid gzip file"),  # plain text named .gz
        (gzip.compress(b"smiles\nCCO\n" * 5_000)[:20] + b"\x00" * 500, "not a valid gzip"),
    ],
    ids=["not-gzip", "corrupt-data"],
)
def test_a_bad_gz_names_the_file(store, tmp_path, data: bytes, says: str) -> None:
    path = tmp_path / "lib.csv.gz"
    path.write_bytes(data)
    with pytest.raises(LibraryError) as info:
        register_library(store, path)
    assert str(info.value).startswith(f"{path}: {says}")
    assert_nothing_registered(store, "lib")


# --------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    "data",
    [
        "smiles\nCCO\nc1ccccc1\n".encode("utf-16"),
        NCI_SAMPLE.read_bytes()[:200] + "caf\u00e9 1\n".encode("latin-1"),
        bytes(range(256)) * 40,  # a binary file
    ],
    ids=["utf-16", "latin-1", "binary"],
)
def test_text_that_is_not_utf8_is_refused(store, tmp_path, data: bytes) -> None:
    path = tmp_path / "lib.smi"
    path.write_bytes(data)
    with pytest.raises(LibraryError) as info:
        register_library(store, path, slice_size=2)
    message = str(info.value)
    assert message.startswith(f"{path}: not UTF-8 text") and "save it as UTF-8" in message
    assert_nothing_registered(store, "lib")


def test_nul_bytes_are_data_and_rejected_as_unparseable(store, tmp_path) -> None:
    path = tmp_path / "lib.csv"
    path.write_bytes(b"smiles\nCCO\nC\x00C\nc1ccccc1\n")
    manifest, _ = register_library(store, path)
    prepare_slice(store, manifest.slices[0].key)
    rejects = store.read_parquet(layout.rejected_library_rows("lib-0000")).to_pylist()
    assert rejects == [{"row": 1, "input": "C\x00C", "reason": REJECT_UNPARSEABLE, "detail": ""}]


def test_a_csv_field_over_the_csv_module_limit_names_the_line(store, tmp_path) -> None:
    path = write_library(tmp_path / "lib.csv", ["smiles", "CCO", "C" * 200_000, "CC"])
    with pytest.raises(LibraryError) as info:
        register_library(store, path, slice_size=1)
    message = str(info.value)
    assert message.startswith(f"{path}: line 3 cannot be read as CSV")
    assert "field larger than field limit" in message
    assert_nothing_registered(store, "lib")


def test_a_huge_first_line_of_a_headerless_csv_is_a_row_not_parsed() -> None:
    """Deciding whether the first line is a header must not hand RDKit a huge row."""
    lines = ["C" * 100_000, "CCO"]
    with tempfile.TemporaryFile("w+b") as raw:
        raw.write("\n".join(lines).encode())
        raw.seek(0)
        assert list(iter_smiles(open_text(raw, False), "csv", "lib.csv")) == lines


# --------------------------------------------------------------------------- names in messages


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("lib.csv", b"name,weight\naspirin,180\n", "no SMILES column in header"),
        ("lib.csv", b"", "the file is empty"),
        ("lib.smi", b"", "the file has no data rows"),
        ("lib.smi", "CCO\n".encode("utf-16"), "not UTF-8 text"),
        ("My Lib.smi", b"CCO\n", "invalid library name 'my lib'"),
    ],
)
def test_stored_file_errors_name_the_storage_uri(project, name, content, says) -> None:
    """Not the temporary copy the file was downloaded to."""
    store = project.store()
    key = f"inputs/library/{name}"
    store.put_bytes(key, content)
    with pytest.raises(LibraryError) as info:
        register_stored_library(store, key)
    message = str(info.value)
    assert message.startswith(f"{store.uri(key)}: ") and says in message
    assert not names_a_temp_dir(message)


def test_a_changed_stored_file_under_a_registered_name_is_refused_naming_its_uri(
    project,
) -> None:
    store = project.store()
    register_library(store, write_library(project.home / "lib.smi", nci_lines(5)))
    key = "inputs/library/other/lib.smi"  # another key, same default name
    store.put_bytes(key, "\n".join(nci_lines(6)).encode())
    with pytest.raises(LibraryError) as info:
        register_stored_library(store, key)
    assert str(info.value).startswith(f"{store.uri(key)}: library 'lib' is already registered")


# --------------------------------------------------------------------------- SMILES length


def test_the_maximum_smiles_length_is_recorded_and_used(store, tmp_path) -> None:
    short, long = "CCO", "C" * 41
    path = write_library(tmp_path / "lib.smi", [short, long])
    manifest, _ = register_library(store, path, max_smiles_length=40)
    assert manifest.max_smiles_length == 40
    assert load_manifest(store, "lib").max_smiles_length == 40
    result = prepare_slice(store, "lib-0000")
    assert (result.rows_out, result.reasons) == (1, {REJECT_TOO_LONG: 1})
    (reject,) = store.read_parquet(layout.rejected_library_rows("lib-0000")).to_pylist()
    assert (reject["row"], reject["reason"]) == (1, REJECT_TOO_LONG)
    assert reject["detail"].startswith("SMILES of 41 characters, more than the library's limit")


def test_a_manifest_written_before_the_limit_existed_reads_as_the_default(store, tmp_path) -> None:
    path = write_library(tmp_path / "lib.smi", ["CCO", "C" * 2_001])
    manifest, _ = register_library(store, path)
    old = json.loads(manifest.to_json())
    del old["max_smiles_length"]
    store.put_bytes(layout.library_manifest("lib"), json.dumps(old).encode())
    loaded = load_manifest(store, "lib")
    assert loaded.max_smiles_length == DEFAULT_MAX_SMILES_LENGTH
    assert loaded == LibraryManifest.from_json(manifest.to_json())
    assert prepare_slice(store, "lib-0000").reasons == {REJECT_TOO_LONG: 1}
    # ... and re-registering the same file with the default is still a no-op.
    assert register_library(store, path) == (loaded, False)


def test_the_same_file_with_another_maximum_smiles_length_is_refused(store, tmp_path) -> None:
    path = write_library(tmp_path / "lib.smi", nci_lines(5))
    register_library(store, path)
    with pytest.raises(LibraryError) as info:
        register_library(store, path, max_smiles_length=500)
    assert "already registered with maximum SMILES length 2000" in str(info.value)
    assert "--name lib-v2" in str(info.value)


@pytest.mark.parametrize("limit", [0, -1, 10_001])
def test_a_maximum_smiles_length_out_of_range_is_refused(store, tmp_path, limit: int) -> None:
    path = write_library(tmp_path / "lib.smi", nci_lines(5))
    with pytest.raises(LibraryError, match="maximum SMILES length must be 1 to 10,000"):
        register_library(store, path, max_smiles_length=limit)
    assert_nothing_registered(store, "lib")


def test_register_stored_library_takes_a_maximum_smiles_length(project) -> None:
    store = project.store()
    key = "inputs/library/lib.smi"
    store.put_bytes(key, b"CCO\nCCCCCCCCCC\n")
    manifest = register_stored_library(store, key, max_smiles_length=5)
    assert manifest.max_smiles_length == 5
    assert prepare_slice(store, "lib-0000").reasons == {REJECT_TOO_LONG: 1}


def test_a_file_registered_with_its_own_slice_size_is_left_as_it_is_when_seen_again(
    project,
) -> None:
    """`precalc add-library --slice-size 100` copies the file to inputs/library/; the
    library-files sensor then sees it and registers it with the default slice size: that
    is the same file, already registered, not a conflict."""
    store = project.store()
    manifest, _ = register_library(
        store, write_library(project.home / "lib.smi", nci_lines(250)), slice_size=100
    )
    again = register_stored_library(store, manifest.source_key)
    assert again == manifest and [s.key for s in again.slices] == [
        "lib-0000", "lib-0001", "lib-0002",
    ]  # fmt: skip
