"""Registering a library file: it is cut into raw slices in object storage and its
manifest written last, so a re-run after a failure completes the registration."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import pyarrow as pa

from precalc_assets import layout
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
    slice_key,
)
from precalc_assets.inputs.manifests import LibraryManifest, file_sha256, load_manifest
from precalc_assets.stores.object_store import ObjectStore


def register_library(
    store: ObjectStore,
    path: Path,
    name: str | None = None,
    slice_size: int = DEFAULT_SLICE_SIZE,
    source_key: str | None = None,
) -> tuple[LibraryManifest, bool]:
    """Cut a library file into raw slices in storage; (manifest, newly registered).

    Re-registering the same content under the same name and slice size is a no-op with
    the same slice keys; different content under a registered name is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise LibraryError(f"{path}: no such file")
    fmt, gz = library_format(path.name)
    name = name or library_name(path.name)
    try:
        validate_id(name, "library name")
    except InvalidIdError as exc:
        raise LibraryError(f"{path}: {exc}; pass --name to choose a valid one") from None
    sha = file_sha256(path)
    existing = load_manifest(store, name)
    if existing is not None:
        if existing.sha256 == sha and existing.slice_size == slice_size:
            return existing, False
        what = "a different file" if existing.sha256 != sha else f"slice size {existing.slice_size}"
        raise LibraryError(
            f"{path}: library {name!r} is already registered from {what} "
            f"({existing.source_key}, {existing.rows} rows); give this file its own name "
            f"(--name {name}-v2) so the registered slices stay as they are"
        )
    total = 0
    with path.open("rb") as raw, open_text(raw, gz) as text:
        try:
            for index, chunk in enumerate(chunked(iter_smiles(text, fmt, str(path)), slice_size)):
                rows = pa.array(range(total, total + len(chunk)), type=pa.int64())
                table = pa.table({"row": rows, "input": pa.array(chunk, type=pa.string())})
                store.write_parquet(layout.raw_slice(slice_key(name, index)), table)
                total += len(chunk)
        except UnicodeDecodeError as exc:
            raise LibraryError(f"{path}: not UTF-8 text ({exc}); save it as UTF-8") from None
    if total == 0:
        raise LibraryError(f"{path}: the file has no data rows; it needs SMILES, one per row")
    slices = plan_slices(name, total, slice_size)
    key = source_key or layout.library_input(name, fmt + (".gz" if gz else ""))
    if source_key is None:
        store.put_file(key, path)
    manifest = LibraryManifest(
        name=name,
        source_key=key,
        sha256=sha,
        size=path.stat().st_size,
        format=fmt,
        slice_size=slice_size,
        rows=total,
        slices=slices,
        registered_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    store.put_bytes(layout.library_manifest(name), manifest.to_json())
    return manifest, True


def register_stored_library(
    store: ObjectStore, key: str, slice_size: int = DEFAULT_SLICE_SIZE
) -> LibraryManifest:
    """Register `key`, a library file already in storage (`inputs/library/`).

    A changed file under a registered name becomes a new library version, named
    `<name>-<sha8>`, so the slices already published stay as they are.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / PurePosixPath(key).name
        store.download(key, path)
        name = library_name(path.name)
        existing = load_manifest(store, name)
        if existing is not None and existing.source_key == key:
            sha = file_sha256(path)
            if existing.sha256 != sha:
                name = f"{name}-{sha[:8]}"
        manifest, _ = register_library(store, path, name, slice_size, source_key=key)
    return manifest
