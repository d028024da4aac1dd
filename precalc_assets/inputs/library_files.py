"""Library files: read every accepted input format and cut them into slices.

Pure functions, no Dagster and no storage. A slice is a fixed range of data rows of
one file; the union of a file's slices is the whole file, no row twice, no empty slice.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO

from rdkit import Chem

from precalc_assets import keys
from precalc_assets.chem import MAX_SMILES_LENGTH_CEILING  # also silences RDKit logging
from precalc_assets.ids import validate_id

DEFAULT_SLICE_SIZE = 10_000
SMILES_COLUMNS = ("smiles", "input")
SUFFIXES = (".csv", ".smi", ".txt")


class LibraryError(ValueError):
    """A library file that cannot be registered; the message says which file and why."""


@dataclass(frozen=True)
class SliceRange:
    key: str
    index: int
    first_row: int
    rows: int

    @property
    def stop(self) -> int:
        return self.first_row + self.rows


def library_format(filename: str, shown: str | None = None) -> tuple[str, bool]:
    """(format, gzipped) from a file name: format is 'csv', 'smi' or 'txt'. The error
    names the file as `shown` (default: `filename`)."""
    name = PurePosixPath(filename).name.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return suffix[1:], gz
    raise LibraryError(
        f"{shown or filename}: unsupported library file type; use .csv, .smi or .txt "
        "(optionally .gz)"
    )


def library_name(filename: str) -> str:
    """Default library name: the file name without its suffixes, lower-cased."""
    name = PurePosixPath(filename).name.lower()
    for suffix in (".gz", *SUFFIXES):
        name = name.removesuffix(suffix)
    return name


def parse_slice_key(key: str) -> tuple[str, int]:
    """`<library-name>-<NNNN>` -> (library name, slice index)."""
    position = keys.slice_position(key)
    if position is None:
        raise LibraryError(f"slice key {key!r} is not of the form <library-name>-<NNNN>")
    return position


def plan_slices(name: str, total_rows: int, slice_size: int) -> list[SliceRange]:
    """Deterministic ranges covering rows [0, total_rows) exactly once, none empty."""
    validate_id(name, what="library name")
    if slice_size < 1:
        raise LibraryError(f"slice size must be at least 1, got {slice_size}")
    if total_rows < 1:
        raise LibraryError(f"library {name!r} has no data rows")
    slices = -(-total_rows // slice_size)
    if slices > keys.MAX_SLICES_PER_LIBRARY:
        raise LibraryError(
            f"library {name!r}: {total_rows} rows in slices of {slice_size} make {slices} "
            f"slices, more than {keys.MAX_SLICES_PER_LIBRARY}; use a larger slice size "
            f"(at least {-(-total_rows // keys.MAX_SLICES_PER_LIBRARY)})"
        )
    return [
        SliceRange(keys.slice_key(name, i), i, start, min(slice_size, total_rows - start))
        for i, start in enumerate(range(0, total_rows, slice_size))
    ]


def open_text(raw: IO[bytes], gz: bool) -> IO[str]:
    stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if gz else raw
    return io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")


def _looks_like_smiles(text: str) -> bool:
    text = text.strip()
    if len(text) > MAX_SMILES_LENGTH_CEILING:
        return True  # no header is this long: a data row (rejected as too long), unparsed
    mol = Chem.MolFromSmiles(text) if text else None
    return mol is not None and mol.GetNumAtoms() > 0


def iter_smiles(text: IO[str], fmt: str, filename: str) -> Iterator[str]:
    """Yield one SMILES string per data row, header removed; rows are never skipped
    here (empty ones too), so row numbers stay those of the file."""
    if fmt == "csv":
        yield from _iter_csv(text, filename)
    else:
        yield from _iter_whitespace(text, fmt, filename)


def _iter_csv(text: IO[str], filename: str) -> Iterator[str]:
    reader = csv.reader(text)
    try:
        yield from _csv_rows(reader, filename)
    except csv.Error as exc:  # e.g. a field longer than csv.field_size_limit()
        raise LibraryError(
            f"{filename}: line {reader.line_num} cannot be read as CSV ({exc}); fix or "
            "remove that row"
        ) from None


def _csv_rows(reader: Iterator[list[str]], filename: str) -> Iterator[str]:
    header = next(reader, None)
    if header is None:
        raise LibraryError(f"{filename}: the file is empty; it needs SMILES, one per row")
    lowered = [h.strip().lower() for h in header]
    column = next((lowered.index(c) for c in SMILES_COLUMNS if c in lowered), None)
    if column is None:
        if len(header) == 1 and _looks_like_smiles(header[0]):
            # Headerless one-SMILES-per-line file (Ersilia's reference_library.csv).
            column = 0
            yield header[0]
        else:
            raise LibraryError(
                f"{filename}: no SMILES column in header {header!r}; name the column "
                "'smiles' (or 'input'), or give one SMILES per line with no header"
            )
    for row in reader:
        yield row[column] if column < len(row) else ""


def _iter_whitespace(text: IO[str], fmt: str, filename: str) -> Iterator[str]:
    first = True
    for line in text:
        line = line.rstrip("\r\n")
        token = line.split(None, 1)[0] if line.strip() else ""
        if first:
            first = False
            if token.lower() in SMILES_COLUMNS and not _looks_like_smiles(token):
                continue
        yield token


def chunked(rows: Iterable[str], size: int) -> Iterator[list[str]]:
    """Group rows into lists of `size` (the last may be shorter, never empty)."""
    chunk: list[str] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
