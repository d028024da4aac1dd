"""A registered library's manifest: its source file, its hash and its slices.

The manifest is written last when a library is registered: it is the commit point, so a
failed registration leaves nothing that counts as registered.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from precalc_assets import keys, layout
from precalc_assets.chem import DEFAULT_MAX_SMILES_LENGTH
from precalc_assets.inputs.library_files import LibraryError, SliceRange, parse_slice_key
from precalc_assets.stores.errors import ObjectNotFound
from precalc_assets.stores.object_store import ObjectStore


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
    # Longer rows are rejected as `too_long` when the slices are prepared. A manifest
    # written before the field existed reads as the default.
    max_smiles_length: int = DEFAULT_MAX_SMILES_LENGTH

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


def library_manifests(store: ObjectStore) -> list[LibraryManifest]:
    """Every registered library's manifest, by name."""
    names = sorted(
        info.key.removeprefix(layout.LIBRARY_MANIFESTS).removesuffix(".json")
        for info in store.list(layout.LIBRARY_MANIFESTS)
    )
    return [manifest for name in names if (manifest := load_manifest(store, name)) is not None]


def manifest_for_slice(store: ObjectStore, slice_key: str) -> LibraryManifest:
    name, _ = parse_slice_key(slice_key)
    manifest = load_manifest(store, name)
    if manifest is None:
        raise LibraryError(
            f"slice {slice_key!r}: library {name!r} is not registered in {store.url}; "
            "register it with `precalc add-library PATH --name NAME`"
        )
    return manifest


def slice_rows(store: ObjectStore, slice_keys: list[str]) -> dict[str, int]:
    """Rows of each slice (from its library's manifest, read once per library)."""
    rows: dict[str, int] = {}
    for name in sorted({parse_slice_key(s)[0] for s in slice_keys}):
        manifest = load_manifest(store, name)
        if manifest is not None:
            rows |= {s.key: s.rows for s in manifest.slices}
    return {s: rows.get(s, 0) for s in slice_keys}


def slices_cut_from(store: ObjectStore, key: str, registered: list[str]) -> list[str]:
    """The registered slices cut from the library file at `key`."""
    names = {s.rpartition("-")[0] for s in registered}
    slices: list[str] = []
    for name in sorted(names):
        manifest = load_manifest(store, name)
        if manifest is not None and manifest.source_key == key:
            slices += [s.key for s in manifest.slices if s.key in registered]
    return slices


class SliceOrder:
    """The order of the first-row rule: libraries in registration order (the manifest's
    `registered_at`, then the name), then slices by index. A molecule held by several
    slices is served, and counted, from the first of them."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._libraries: dict[str, tuple[str, str]] = {}

    def key(self, slice_key: str) -> tuple[str, str, int] | None:
        """Where `slice_key` stands; None for an item not from a library slice (a
        lookup's). A library whose manifest is gone stands after every registered one."""
        position = keys.slice_position(slice_key)
        if position is None:
            return None
        name, index = position
        if name not in self._libraries:
            manifest = load_manifest(self.store, name)
            self._libraries[name] = (manifest.registered_at if manifest else "~", name)
        return (*self._libraries[name], index)
