"""Registering inputs in object storage: library files (cut into raw slices) and
model requests. The manifest is written last: it is the commit point, so a failed
registration leaves nothing that counts as registered, and a re-run completes it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from precalc_assets import layout
from precalc_assets.ids import InvalidIdError, validate_id
from precalc_assets.library import (
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
    slice_key,
)
from precalc_assets.models import ModelError, ModelSpec, parse_request
from precalc_assets.stores import ObjectNotFound, ObjectStore


@dataclass
class LibraryManifest:
    name: str
    source_key: str
    sha256: str
    size: int
    format: str
    slice_size: int
    rows: int
    slices: list[SliceRange] = field(default_factory=list)
    registered_at: str = ""

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> LibraryManifest:
        data = json.loads(payload)
        data["slices"] = [SliceRange(**s) for s in data["slices"]]
        return cls(**data)

    def slice(self, slice_key: str) -> SliceRange:
        for item in self.slices:
            if item.key == slice_key:
                return item
        raise LibraryError(f"slice {slice_key!r} is not part of library {self.name!r}")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(store: ObjectStore, name: str) -> LibraryManifest | None:
    try:
        return LibraryManifest.from_json(store.get_bytes(layout.library_manifest(name)))
    except ObjectNotFound:
        return None


def manifest_for_slice(store: ObjectStore, slice_key: str) -> LibraryManifest:
    name, _ = parse_slice_key(slice_key)
    manifest = load_manifest(store, name)
    if manifest is None:
        raise LibraryError(
            f"slice {slice_key!r}: library {name!r} is not registered in {store.url}; "
            "register it with `precalc add-library PATH --name NAME`"
        )
    return manifest


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


def register_model(store: ObjectStore, model_id: str, spec_path: Path | None = None) -> ModelSpec:
    """Validate a model request and store it at `inputs/models/<id>.json`."""
    payload = spec_path.read_bytes() if spec_path else b"{}"
    spec = parse_request(model_id, payload, str(spec_path or f"model {model_id!r}"))
    store.put_bytes(layout.model_request(model_id), payload if spec_path else b"{}\n")
    return spec


def load_model_spec(store: ObjectStore, model_id: str) -> ModelSpec:
    key = layout.model_request(model_id)
    try:
        payload = store.get_bytes(key)
    except ObjectNotFound:
        raise ModelError(
            f"model {model_id!r} is not registered in {store.url} (no {key}); register it "
            f"with `precalc add-model {model_id}`"
        ) from None
    return parse_request(model_id, payload, store.uri(key))
