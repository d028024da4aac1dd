"""Library files: every input format, deterministic slicing."""

from __future__ import annotations

import gzip
import io
import math
from collections import Counter
from pathlib import Path

import pytest
import rdkit

from precalc_assets.chem import (
    REJECT_DUPLICATE,
    REJECT_NO_INCHIKEY,
    REJECT_UNPARSEABLE,
    canonicalize_rows,
)
from precalc_assets.ids import InvalidIdError, validate_id
from precalc_assets.inputs.library_files import (
    DEFAULT_SLICE_SIZE,
    LibraryError,
    SliceRange,
    chunked,
    iter_smiles,
    library_format,
    library_name,
    open_text,
    parse_slice_key,
    plan_slices,
)
from precalc_assets.keys import MAX_SLICES_PER_LIBRARY, slice_key

RDKIT_DATA = Path(rdkit.__file__).parent / "Data"
FIRST_5K = RDKIT_DATA / "NCI" / "first_5K.smi"
WEHI_CSV = RDKIT_DATA / "Pains" / "test_data" / "wehi_mols.csv"


def read(content: str | bytes, filename: str) -> list[str]:
    """What the registry does: pick the format from the name, then iterate the rows."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    fmt, gz = library_format(filename)
    if gz:
        data = gzip.compress(data)
    return list(iter_smiles(open_text(io.BytesIO(data), gz), fmt, filename))


def with_gz(name: str) -> list[str]:
    return [name, f"{name}.gz"]


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("lib.csv", ("csv", False)),
        ("lib.csv.gz", ("csv", True)),
        ("LIB.CSV.GZ", ("csv", True)),
        ("lib.smi", ("smi", False)),
        ("lib.smi.gz", ("smi", True)),
        ("lib.txt", ("txt", False)),
        ("lib.txt.gz", ("txt", True)),
        ("inputs/library/reference_library.csv", ("csv", False)),
        ("s3://bucket/inputs/library/x.smi.gz", ("smi", True)),
        ("dir.csv/lib.smi", ("smi", False)),
    ],
)
def test_library_format(filename: str, expected: tuple[str, bool]) -> None:
    assert library_format(filename) == expected


@pytest.mark.parametrize("filename", ["lib.tsv", "lib.gz", "lib.parquet", "lib", "lib.csv.bz2"])
def test_unsupported_library_format_names_the_file_and_the_fix(filename: str) -> None:
    with pytest.raises(LibraryError) as info:
        library_format(filename)
    assert filename in str(info.value)
    assert ".csv, .smi or .txt" in str(info.value)


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("reference_library.csv", "reference_library"),
        ("inputs/library/Reference_Library.csv.gz", "reference_library"),
        ("chembl-33.smi", "chembl-33"),
        ("x.txt.gz", "x"),
        ("v1.2.smi", "v1.2"),
    ],
)
def test_library_name(filename: str, expected: str) -> None:
    assert library_name(filename) == expected


@pytest.mark.parametrize(
    ("name", "index", "key"),
    [
        ("lib", 0, "lib-0000"),
        ("lib", 7, "lib-0007"),
        ("my-lib-2", 139, "my-lib-2-0139"),
        ("lib", MAX_SLICES_PER_LIBRARY - 1, "lib-9999"),
    ],
)
def test_slice_key_round_trip(name: str, index: int, key: str) -> None:
    assert slice_key(name, index) == key
    assert parse_slice_key(key) == (name, index)
    assert validate_id(key) == key


@pytest.mark.parametrize("key", ["lib", "lib-", "-0001", "lib-abc", "lib-00x1", ""])
def test_parse_slice_key_rejects_malformed_keys(key: str) -> None:
    with pytest.raises(LibraryError):
        parse_slice_key(key)


# --------------------------------------------------------------------------- slicing


def test_more_slices_than_keys_sort_by_is_refused_with_the_slice_size_to_use() -> None:
    rows = MAX_SLICES_PER_LIBRARY * 10 + 1
    assert len(plan_slices("lib", rows - 1, 10)) == MAX_SLICES_PER_LIBRARY
    with pytest.raises(LibraryError, match="use a larger slice size \\(at least 11\\)"):
        plan_slices("lib", rows, 10)


def assert_exact_cover(slices: list[SliceRange], name: str, total: int, size: int) -> None:
    assert len(slices) == math.ceil(total / size)
    assert slices[0].first_row == 0
    assert slices[-1].stop == total  # the remainder is never dropped
    assert sum(s.rows for s in slices) == total
    for i, s in enumerate(slices):
        assert s.index == i
        assert s.key == slice_key(name, i)
        assert 1 <= s.rows <= size  # never empty, never oversized
        assert s.stop == s.first_row + s.rows
        if i:
            assert s.first_row == slices[i - 1].stop  # no gap, no overlap
        if i < len(slices) - 1:
            assert s.rows == size  # only the last slice may be short
    assert len({s.key for s in slices}) == len(slices)
    covered = [row for s in slices for row in range(s.first_row, s.stop)]
    assert covered == list(range(total))


@pytest.mark.parametrize(
    ("total", "size"),
    [
        (1, 1),
        (1, DEFAULT_SLICE_SIZE),
        (2, 1),
        (9_999, DEFAULT_SLICE_SIZE),
        (10_000, DEFAULT_SLICE_SIZE),
        (10_001, DEFAULT_SLICE_SIZE),
        (20_000, DEFAULT_SLICE_SIZE),
        (20_001, DEFAULT_SLICE_SIZE),
        (4_999, 1_000),
        (100, 1),
        (7, 3),
        (49, 50),  # 50 workers over 49 rows: the old `total // n` gave empty slices
        (1_300_001, DEFAULT_SLICE_SIZE),  # Ersilia scale, 131 slices
        (1_999_999, DEFAULT_SLICE_SIZE),
    ],
)
def test_plan_slices_covers_every_row_exactly_once(total: int, size: int) -> None:
    slices = plan_slices("lib", total, size)
    assert_exact_cover(slices, "lib", total, size)
    assert plan_slices("lib", total, size) == slices  # deterministic


def test_plan_slices_exhaustively_for_small_files() -> None:
    for total in range(1, 80):
        for size in range(1, 25):
            assert_exact_cover(plan_slices("lib", total, size), "lib", total, size)


def test_plan_slices_keeps_the_remainder_that_floor_division_dropped() -> None:
    # 50 workers x (1_000_003 // 50) rows would lose 3 rows; slices of a fixed size don't.
    slices = plan_slices("ref", 1_000_003, 20_000)
    assert len(slices) == 51
    assert slices[-1] == SliceRange("ref-0050", 50, 1_000_000, 3)


def test_plan_slices_keys_are_stable_and_name_scoped() -> None:
    a = [s.key for s in plan_slices("chembl", 25_000, DEFAULT_SLICE_SIZE)]
    assert a == ["chembl-0000", "chembl-0001", "chembl-0002"]
    assert [s.key for s in plan_slices("chembl", 25_000, DEFAULT_SLICE_SIZE)] == a
    assert {s.key for s in plan_slices("zinc", 25_000, DEFAULT_SLICE_SIZE)}.isdisjoint(a)


@pytest.mark.parametrize("total", [0, -1])
def test_plan_slices_of_an_empty_file_is_an_error(total: int) -> None:
    with pytest.raises(LibraryError, match="no data rows"):
        plan_slices("lib", total, 10)


@pytest.mark.parametrize("size", [0, -5])
def test_plan_slices_rejects_a_non_positive_slice_size(size: int) -> None:
    with pytest.raises(LibraryError, match="slice size"):
        plan_slices("lib", 10, size)


def test_plan_slices_rejects_a_bad_library_name() -> None:
    with pytest.raises(InvalidIdError, match="library name"):
        plan_slices("My Library", 10, 5)


@pytest.mark.parametrize("total", [0, 1, 2, 9, 10, 11, 99, 100, 101, 1_000])
@pytest.mark.parametrize("size", [1, 3, 10, 100])
def test_chunked_agrees_with_plan_slices(total: int, size: int) -> None:
    """The registry cuts a file with chunked(); the plan must describe the same cut."""
    rows = [f"row{i}" for i in range(total)]
    chunks = list(chunked(iter(rows), size))
    assert all(chunks)  # none empty
    assert [row for chunk in chunks for row in chunk] == rows
    if total:
        slices = plan_slices("lib", total, size)
        assert [len(c) for c in chunks] == [s.rows for s in slices]
        assert [c[0] for c in chunks] == [rows[s.first_row] for s in slices]
    else:
        assert chunks == []


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize("filename", with_gz("lib.csv"))
@pytest.mark.parametrize(
    "content",
    [
        "id,smiles,name\n1,CCO,ethanol\n2,c1ccccc1,benzene\n3,CC(=O)O,acetic acid\n",
        "id,SMILES,name\n1,CCO,ethanol\n2,c1ccccc1,benzene\n3,CC(=O)O,acetic acid\n",
        "key,input\nk1,CCO\nk2,c1ccccc1\nk3,CC(=O)O\n",  # Ersilia's input CSV
        "ID, Smiles \r\n1,CCO\r\n2,c1ccccc1\r\n3,CC(=O)O\r\n",  # CRLF, padded header
        "\ufeffsmiles\nCCO\nc1ccccc1\nCC(=O)O\n",  # UTF-8 BOM
        'name,smiles\n"ethanol, absolute",CCO\n"benzene",c1ccccc1\nacid,"CC(=O)O"\n',
        "input,smiles\nx,CCO\ny,c1ccccc1\nz,CC(=O)O\n",  # 'smiles' wins over 'input'
        "smiles\nCCO\nc1ccccc1\nCC(=O)O",  # no final newline
    ],
)
def test_csv_with_a_smiles_column(content: str, filename: str) -> None:
    assert read(content, filename) == ["CCO", "c1ccccc1", "CC(=O)O"]


@pytest.mark.parametrize("filename", with_gz("reference_library.csv"))
def test_headerless_csv_one_smiles_per_line(filename: str) -> None:
    # Ersilia's reference_library.csv: no header, the first line is data
    content = "CCO\nc1ccccc1\nCC(=O)O\n"
    assert read(content, filename) == ["CCO", "c1ccccc1", "CC(=O)O"]


def test_csv_rows_are_never_skipped() -> None:
    """Blank lines and short rows stay rows (as ""), so row numbers are the file's."""
    content = "id,name,smiles\n1,a,CCO\n\n2,b\n3,c,c1ccccc1\n"
    assert read(content, "lib.csv") == ["CCO", "", "", "c1ccccc1"]


@pytest.mark.parametrize("filename", with_gz("lib.csv"))
def test_csv_header_only_has_no_rows(filename: str) -> None:
    assert read("id,smiles\n", filename) == []


@pytest.mark.parametrize("filename", with_gz("lib.csv"))
def test_empty_csv_is_an_error_naming_the_file(filename: str) -> None:
    with pytest.raises(LibraryError) as info:
        read("", filename)
    assert filename in str(info.value)
    assert "empty" in str(info.value)


@pytest.mark.parametrize("filename", with_gz("lib.smi") + with_gz("lib.txt"))
def test_empty_smi_or_txt_has_no_rows_and_cannot_be_sliced(filename: str) -> None:
    rows = read("", filename)
    assert rows == []
    with pytest.raises(LibraryError, match="no data rows"):
        plan_slices(library_name(filename), len(rows), DEFAULT_SLICE_SIZE)


@pytest.mark.parametrize("filename", with_gz("inputs/library/mols.csv"))
def test_csv_without_a_smiles_column_names_the_file_and_the_fix(filename: str) -> None:
    with pytest.raises(LibraryError) as info:
        read("id,name,mw\n1,ethanol,46.07\n", filename)
    message = str(info.value)
    assert filename in message
    assert "'smiles'" in message and "'input'" in message
    assert "one SMILES per line" in message


def test_headerless_two_column_csv_is_refused_not_misread() -> None:
    """RDKit's wehi_mols.csv: `"SMILES","ID"` rows with no header."""
    with pytest.raises(LibraryError, match="no SMILES column"):
        read(WEHI_CSV.read_bytes(), "wehi_mols.csv")


@pytest.mark.parametrize("ext", ["smi", "txt"])
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    "content",
    [
        "CCO\nc1ccccc1\nCC(=O)O\n",  # SMILES only
        "CCO ethanol\nc1ccccc1\tbenzene\nCC(=O)O  acetic acid\n",  # with an id/name
        "smiles name\nCCO ethanol\nc1ccccc1 benzene\nCC(=O)O acid\n",  # header line
        "SMILES\tID\nCCO\t1\nc1ccccc1\t2\nCC(=O)O\t3\n",
        "input\nCCO\nc1ccccc1\nCC(=O)O\n",
        "CCO\r\nc1ccccc1\r\nCC(=O)O",  # CRLF, no final newline
        "  CCO  1\nc1ccccc1\nCC(=O)O\n",  # leading blanks
    ],
)
def test_smi_and_txt(content: str, ext: str, gz: bool) -> None:
    filename = f"lib.{ext}" + (".gz" if gz else "")
    assert read(content, filename) == ["CCO", "c1ccccc1", "CC(=O)O"]


def test_smi_rows_are_never_skipped() -> None:
    # only the first line can be a header; a blank line stays a (rejected) row
    content = "smiles id\nCCO 1\n\nsmiles 3\nC 4\n"
    assert read(content, "lib.smi") == ["CCO", "", "smiles", "C"]


def test_smi_first_line_molecule_is_not_taken_for_a_header() -> None:
    assert read("C methane\nCC ethane\n", "lib.smi") == ["C", "CC"]


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def first_5k() -> list[str]:
    with FIRST_5K.open("rb") as raw:
        return list(iter_smiles(open_text(raw, False), "smi", str(FIRST_5K)))


def test_first_5k_figures(first_5k: list[str]) -> None:
    """RDKit's NCI sample: 4,999 rows, 8 unparseable (RDKit 2026.09)."""
    assert len(first_5k) == 4_999
    assert first_5k[0] == "CC1=CC(=O)C=CC1=O"
    accepted, mols, rejected = canonicalize_rows(list(enumerate(first_5k)))
    reasons = Counter(r.reason for r in rejected)
    assert reasons[REJECT_UNPARSEABLE] == 8
    assert reasons == {REJECT_UNPARSEABLE: 8, REJECT_NO_INCHIKEY: 1, REJECT_DUPLICATE: 99}
    assert len(accepted) == len(mols) == 4_999 - 108
    assert len(accepted) + len(rejected) == len(first_5k)
    assert len({m.inchikey for m in accepted}) == len(accepted)


def test_first_5k_reads_the_same_in_every_format(first_5k: list[str]) -> None:
    text = FIRST_5K.read_text()
    as_csv = "smiles,nci_id\n" + "".join(
        f"{line.split()[0]},{line.split()[1]}\n" for line in text.splitlines()
    )
    headerless = "".join(f"{line.split()[0]}\n" for line in text.splitlines())
    assert read(text, "first_5k.smi.gz") == first_5k
    assert read(text, "first_5k.txt") == first_5k
    assert read(as_csv, "first_5k.csv") == first_5k
    assert read(as_csv, "first_5k.csv.gz") == first_5k
    assert read(headerless, "first_5k.csv") == first_5k


@pytest.mark.parametrize("size", [1_000, 4_998, 4_999, 5_000, DEFAULT_SLICE_SIZE, 333])
def test_first_5k_slices_cover_the_file(first_5k: list[str], size: int) -> None:
    slices = plan_slices(library_name(FIRST_5K.name), len(first_5k), size)
    chunks = list(chunked(iter(first_5k), size))
    assert [len(c) for c in chunks] == [s.rows for s in slices]
    assert [first_5k[s.first_row : s.stop] for s in slices] == chunks
    assert slices[0].key == "first_5k-0000"
