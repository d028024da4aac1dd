"""Registering a library file: it is cut into raw slices in object storage and its
manifest written last, so a re-run after a failure completes the registration. A file
that cannot be read to its end (a truncated `.gz`, text that is not UTF-8) registers
nothing: the raw slices written before the error are deleted again."""

from __future__ import annotations

import gzip
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import pyarrow as pa
from rdkit import Chem

from precalc_assets import layout
from precalc_assets.chem import (
    DEFAULT_MAX_SMILES_LENGTH,
    MAX_SMILES_LENGTH_CEILING,
    Molecule,
    canonicalize_rows,
)
from precalc_assets.ids import InvalidIdError, validate_id
from precalc_assets.inputs.library_files import (
    DEFAULT_SLICE_SIZE,
    LibraryError,
    chunked,
    iter_smiles,
    library_format,
    library_name,
    open_text,
    plan_slices,
)
from precalc_assets.inputs.manifests import (
    LibraryManifest,
    file_sha256,
    load_manifest,
    manifest_for_slice,
)
from precalc_assets.keys import slice_key
from precalc_assets.stores.errors import StoreError
from precalc_assets.stores.object_store import ObjectStore


def _rows(path: Path, fmt: str, gz: bool, shown: str) -> Iterator[str]:
    """The file's rows; a file that cannot be read to its end is a `LibraryError`."""
    try:
        with path.open("rb") as raw, open_text(raw, gz) as text:
            yield from iter_smiles(text, fmt, shown)
    except UnicodeDecodeError as exc:
        raise LibraryError(f"{shown}: not UTF-8 text ({exc}); save it as UTF-8") from None
    except EOFError as exc:
        raise LibraryError(
            f"{shown}: the gzip file ends before its end of stream ({exc}): it is truncated; "
            "upload the complete file again (`gzip -t FILE` checks one)"
        ) from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise LibraryError(
            f"{shown}: not a valid gzip file ({exc}); compress it again with gzip, or drop "
            "the .gz suffix if it is plain text"
        ) from None
    except OSError as exc:
        raise LibraryError(f"{shown}: the file cannot be read ({exc})") from None


def _delete_quietly(store: ObjectStore, keys: list[str]) -> None:
    """Best effort: a raw slice left behind is never used without a manifest, and the
    next registration under the name overwrites it."""
    for key in keys:
        with suppress(StoreError):
            store.delete(key)


def register_library(
    store: ObjectStore,
    path: Path,
    name: str | None = None,
    slice_size: int = DEFAULT_SLICE_SIZE,
    source_key: str | None = None,
    max_smiles_length: int = DEFAULT_MAX_SMILES_LENGTH,
    display_name: str | None = None,
) -> tuple[LibraryManifest, bool]:
    """Cut a library file into raw slices in storage; (manifest, newly registered).

    Re-registering the same content under the same name, slice size and maximum SMILES
    length is a no-op with the same slice keys; different content under a registered
    name is refused. Messages name the file as `display_name` (default: `path`), e.g.
    its storage URI when `path` is a downloaded copy.
    """
    path = Path(path)
    shown = display_name or str(path)
    if not path.is_file():
        raise LibraryError(f"{shown}: no such file")
    fmt, gz = library_format(path.name, shown)
    name = name or library_name(path.name)
    try:
        validate_id(name, "library name")
    except InvalidIdError as exc:
        raise LibraryError(f"{shown}: {exc}; pass --name to choose a valid one") from None
    if not 1 <= max_smiles_length <= MAX_SMILES_LENGTH_CEILING:
        raise LibraryError(
            f"{shown}: the maximum SMILES length must be 1 to {MAX_SMILES_LENGTH_CEILING:,} "
            f"characters, got {max_smiles_length:,}"
        )
    sha = file_sha256(path)
    existing = _registered_as_asked(store, name, sha, slice_size, max_smiles_length, shown)
    if existing is not None:
        return existing, False
    total, key = _write_raw_slices(store, path, (fmt, gz), name, slice_size, source_key, shown)
    manifest = LibraryManifest(
        name=name,
        source_key=key,
        sha256=sha,
        size=path.stat().st_size,
        format=fmt,
        slice_size=slice_size,
        rows=total,
        slices=plan_slices(name, total, slice_size),
        registered_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        max_smiles_length=max_smiles_length,
    )
    # Written last: the commit point. Its raw slices are never deleted once it is
    # attempted, since a write that raised may still have landed.
    store.put_bytes(layout.library_manifest(name), manifest.to_json())
    return manifest, True


def _registered_as_asked(
    store: ObjectStore, name: str, sha: str, slice_size: int, max_smiles_length: int, shown: str
) -> LibraryManifest | None:
    """The manifest of `name` when it was registered from this content the same way; None
    when the name is free. Anything else is refused: its slices must stay as they are."""
    existing = load_manifest(store, name)
    if existing is None:
        return None
    if (existing.sha256, existing.slice_size, existing.max_smiles_length) == (
        sha,
        slice_size,
        max_smiles_length,
    ):
        return existing
    if existing.sha256 != sha:
        what = "from a different file"
    elif existing.slice_size != slice_size:
        what = f"with slice size {existing.slice_size}"
    else:
        what = f"with maximum SMILES length {existing.max_smiles_length}"
    raise LibraryError(
        f"{shown}: library {name!r} is already registered {what} "
        f"({existing.source_key}, {existing.rows} rows); give this file its own name "
        f"(--name {name}-v2) so the registered slices stay as they are"
    )


def _write_raw_slices(
    store: ObjectStore,
    path: Path,
    file_format: tuple[str, bool],
    name: str,
    slice_size: int,
    source_key: str | None,
    shown: str,
) -> tuple[int, str]:
    """Write the raw slices (and the file, unless it is already stored at `source_key`);
    (rows, the file's key). A failure deletes what this attempt wrote."""
    fmt, gz = file_format
    written: list[str] = []
    try:
        total = 0
        for index, chunk in enumerate(chunked(_rows(path, fmt, gz, shown), slice_size)):
            rows = pa.array(range(total, total + len(chunk)), type=pa.int64())
            table = pa.table({"row": rows, "input": pa.array(chunk, type=pa.string())})
            written.append(layout.raw_slice(slice_key(name, index)))  # a failed write may land
            store.write_parquet(written[-1], table)
            total += len(chunk)
        if total == 0:
            raise LibraryError(f"{shown}: the file has no data rows; it needs SMILES, one per row")
        key = source_key or layout.library_input(name, fmt + (".gz" if gz else ""))
        if source_key is None:
            store.put_file(key, path)
    except BaseException:
        _delete_quietly(store, written)  # nothing of a failed attempt stays behind
        raise
    return total, key


def register_stored_library(
    store: ObjectStore,
    key: str,
    slice_size: int = DEFAULT_SLICE_SIZE,
    max_smiles_length: int = DEFAULT_MAX_SMILES_LENGTH,
) -> LibraryManifest:
    """Register `key`, a library file already in storage (`inputs/library/`).

    The same file already registered from `key` (e.g. by `precalc add-library`, which
    copies it there, with its own slice size) is left as it is. A changed file under a
    registered name becomes a new library version, named `<name>-<sha8>`, so the slices
    already published stay as they are. Messages name the file by its storage URI, never
    by the temporary copy.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / PurePosixPath(key).name
        store.download(key, path)
        name = library_name(path.name)
        existing = load_manifest(store, name)
        if existing is not None and existing.source_key == key:
            sha = file_sha256(path)
            if existing.sha256 == sha:
                return existing
            name = f"{name}-{sha[:8]}"
        manifest, _ = register_library(
            store,
            path,
            name,
            slice_size,
            source_key=key,
            max_smiles_length=max_smiles_length,
            display_name=store.uri(key),
        )
    return manifest


def first_molecules(
    store: ObjectStore, slice_key: str, count: int
) -> tuple[list[Molecule], list[Chem.Mol]]:
    """The first `count` molecules of a slice's raw rows and their mols, identified as its
    preparation identifies them (its library's SMILES limit, the first row of each
    InChIKey), reading on only until there are `count`."""
    raw = store.read_parquet(layout.raw_slice(slice_key))
    rows = list(zip(raw.column("row").to_pylist(), raw.column("input").to_pylist(), strict=True))
    limit = manifest_for_slice(store, slice_key).max_smiles_length
    molecules: list[Molecule] = []
    mols: list[Chem.Mol] = []
    first_row: dict[str, int] = {}
    for start in range(0, len(rows), count):
        found, found_mols, _ = canonicalize_rows(rows[start : start + count], first_row, limit)
        molecules += found
        mols += found_mols
        if len(molecules) >= count:
            break
    return molecules[:count], mols[:count]
