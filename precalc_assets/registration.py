"""`register_library` job: a library file found in storage is cut into slices in a
run, never inside a sensor tick (the file may be large)."""

import tempfile
from pathlib import Path, PurePosixPath

import dagster as dg

from precalc_assets.library import DEFAULT_SLICE_SIZE, LibraryError, library_name
from precalc_assets.registry import file_sha256, load_manifest, register_library
from precalc_assets.resources import ObjectStorageResource
from precalc_assets.stores import ObjectStore

LIBRARY_KEY_TAG = "precalc/library_file"


class RegisterLibraryConfig(dg.Config):
    key: str
    slice_size: int = DEFAULT_SLICE_SIZE


def register_stored_library(
    store: ObjectStore, key: str, slice_size: int = DEFAULT_SLICE_SIZE
) -> tuple[list[str], str]:
    """Register `key` (already in storage); (slice keys, library name).

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
    return [s.key for s in manifest.slices], manifest.name


@dg.op(tags={"kind": "registration"})
def register_library_file(
    context: dg.OpExecutionContext, config: RegisterLibraryConfig, storage: ObjectStorageResource
) -> list[str]:
    from precalc_assets.sensors import record_rejected_inputs

    store = storage.open()
    try:
        slice_keys, name = register_stored_library(store, config.key, config.slice_size)
    except LibraryError as exc:
        record_rejected_inputs(store, {config.key: str(exc)}, cleared=set())
        raise dg.Failure(
            description=f"{store.uri(config.key)} was not registered: {exc}",
            metadata={"file": store.uri(config.key)},
        ) from exc
    record_rejected_inputs(store, {}, cleared={config.key})
    new = [k for k in slice_keys if not context.instance.has_dynamic_partition("slice", k)]
    if new:
        context.instance.add_dynamic_partitions("slice", new)
    context.add_output_metadata(
        {"library": name, "slices": len(slice_keys), "new_slices": len(new)}
    )
    context.log.info(f"library {name!r} from {store.uri(config.key)}: {len(slice_keys)} slices")
    return slice_keys


@dg.job(description="Cut a library file found under inputs/library/ into registered slices.")
def register_library_job() -> None:
    register_library_file()
