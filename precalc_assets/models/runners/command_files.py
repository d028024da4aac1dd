"""The files a `command` model reads and writes, one pair per batch: the input CSV (the
header `input`, one SMILES per row) and the output CSV (a header of column names, one
row per input, in input order). The SMILES only ever reach the program through that
file, never through a shell."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
from pyarrow import csv as pacsv

from precalc_assets.models.runners.batched import BatchFailed

INPUT_HEADER = "input"
# The most of an output CSV read in one block (pyarrow's CSV reader needs a row in one).
MAX_BLOCK_BYTES = (1 << 31) - 1


def write_input(path: Path, smiles: Sequence[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([INPUT_HEADER])
        writer.writerows([s] for s in smiles)


def read_output(path: Path, columns: Sequence[str]) -> pa.Table:
    """The output CSV's `columns` by name, as text (cast later by column type); a
    `BatchFailed` for a file that cannot be read. Its other columns are parsed past,
    never kept: a cell of any size in a column nobody asked for costs nothing (the csv
    module refuses fields over 128 KiB)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = [name.strip() for name in next(csv.reader(handle), [])]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BatchFailed(f"the output CSV's header cannot be read ({exc})") from exc
    if not header:
        raise BatchFailed("the output CSV is empty (no header row of column names)")
    wanted = [name for name in columns if name in header]
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                skip_rows=1,
                column_names=header,
                block_size=min(max(path.stat().st_size + 1, 1 << 20), MAX_BLOCK_BYTES),
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted,
                column_types=dict.fromkeys(wanted, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, OSError) as exc:
        raise BatchFailed(f"the output CSV cannot be read ({exc})") from exc
    return table
