"""Remove: a model's or a library's precalculations, out of serving and storage (a hub's
outdated precalculations). What goes is counted first, so it can be shown and confirmed;
carrying it out is safe to repeat, and the registration goes last, so a removal that
was stopped halfway can be run again by the same name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from precalc_assets import layout
from precalc_assets.inputs.manifests import LibraryManifest
from precalc_assets.stores.object_store import ObjectStore
from precalc_assets.stores.serving_table import ServingTable


@dataclass
class Removal:
    """What a removal takes away, in the order it goes."""

    what: str  # "model 'x'", "library 'y'"
    items: dict[str, list[str]] = field(default_factory=dict)  # model -> InChIKeys served
    objects: list[str] = field(default_factory=list)  # storage keys (registration last)
    partitions: list[str] = field(default_factory=list)  # model IDs or slice keys

    def summary(self) -> str:
        served = sum(len(keys) for keys in self.items.values())
        return (
            f"{self.what}: {served:,} served item(s), {len(self.objects):,} object(s) in "
            f"storage, {len(self.partitions):,} partition key(s)"
        )


def _partition_objects(model_id: str, slice_key: str) -> list[str]:
    return [
        layout.predictions(model_id, slice_key),
        layout.previous_predictions(model_id, slice_key),
        layout.validated(model_id, slice_key),
        layout.quarantined(model_id, slice_key),
        layout.drift_report(model_id, slice_key),
    ]


def _served_from(
    store: ObjectStore, table: ServingTable, model_id: str, slices: list[str]
) -> list[str]:
    """The model's items served from `slices` (the keys of their validated files)."""
    keys: list[str] = []
    for slice_key in slices:
        key = layout.validated(model_id, slice_key)
        if store.exists(key):
            keys += store.read_parquet(key, columns=["inchikey"]).column(0).to_pylist()
    found = table.get_many(model_id, keys, consistent_read=True, outputs=False)
    return sorted(k for k, item in found.items() if item.slice_key in set(slices))


def model_removal(
    store: ObjectStore, table: ServingTable, model_id: str, slices: list[str]
) -> Removal:
    """Everything of one model: its items, files, computed lookups, baselines, card."""
    served = _served_from(store, table, model_id, slices)
    computed = [i.key for i in store.list(layout.computed_folder(model_id))]
    for key in computed:
        keys = store.read_parquet(key, columns=["inchikey"]).column(0).to_pylist()
        served += list(table.get_many(model_id, keys, consistent_read=True, outputs=False))
    objects = [k for s in slices for k in _partition_objects(model_id, s) if store.exists(k)]
    objects += computed + [i.key for i in store.list(layout.drift_baselines(model_id))]
    registration = [
        layout.model_card(model_id),
        layout.served_columns(model_id),
        layout.model_request(model_id),
    ]
    objects += [k for k in registration if store.exists(k)]
    items = {model_id: sorted(set(served))} if served else {}
    return Removal(f"model {model_id!r}", items, objects, [model_id])


def library_removal(
    store: ObjectStore, table: ServingTable, manifest: LibraryManifest, models: list[str]
) -> Removal:
    """Everything of one library: the items its slices serve for every model, their
    files, its slices and its source file."""
    slices = [s.key for s in manifest.slices]
    items = {m: keys for m in models if (keys := _served_from(store, table, m, slices))}
    objects = [k for m in models for s in slices for k in _partition_objects(m, s)]
    objects += [layout.drift_baseline(m, manifest.name) for m in models]
    for slice_key in slices:
        objects += [
            layout.library_slice(slice_key),
            layout.rejected_library_rows(slice_key),
            layout.raw_slice(slice_key),
        ]
    objects = [k for k in objects if store.exists(k)]
    objects += [manifest.source_key, layout.library_manifest(manifest.name)]
    return Removal(f"library {manifest.name!r}", items, objects, slices)


def carry_out(
    store: ObjectStore, table: ServingTable, removal: Removal, then: Callable[[], None]
) -> None:
    """Serving first (nothing is served from what goes), `then` (the caller drops the
    partition keys from Dagster), then the files, registration last."""
    for model_id, keys in removal.items.items():
        table.delete(model_id, keys)
    then()
    for key in removal.objects:
        store.delete(key)
