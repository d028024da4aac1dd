"""The models and slices registered in storage (their requests and manifests), read
without Dagster: a command checks the IDs it is given before it loads anything heavy."""

from __future__ import annotations

from collections.abc import Sequence

from precalc_assets import layout
from precalc_assets.ids import not_registered
from precalc_assets.inputs.manifests import library_manifests
from precalc_assets.stores.object_store import ObjectStore


class NotRegistered(ValueError):
    """A model or slice named on the command line that was never registered."""


def stored_models(store: ObjectStore) -> list[str]:
    """The models with a request in storage, sorted."""
    return layout.registered_model_ids(i.key for i in store.list(layout.MODEL_REQUESTS))


def stored_slices(store: ObjectStore) -> list[str]:
    """The slices of every library with a manifest in storage, in library order."""
    return [s.key for manifest in library_manifests(store) for s in manifest.slices]


def check_named(store: ObjectStore, models: Sequence[str], slices: Sequence[str] = ()) -> None:
    """Every named model and slice is registered here, else `NotRegistered` naming the
    closest registered one of each and the registered ones."""
    for what, named, known, fix in (
        ("model", models, stored_models(store) if models else [], "precalc add-model"),
        ("slice", slices, stored_slices(store) if slices else [], "precalc add-library"),
    ):
        unknown = [name for name in named if name not in known]
        if unknown:
            raise NotRegistered(not_registered(what, unknown, known, fix))
