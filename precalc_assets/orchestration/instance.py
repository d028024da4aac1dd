"""The Dagster instance as the CLI opens it, and the models and slices registered in it."""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from precalc_assets import keys
from precalc_assets.ids import not_registered
from precalc_assets.inputs.registered import NotRegistered
from precalc_assets.settings import Settings, ensure_dagster_home


def open_instance() -> dg.DagsterInstance:
    """The instance of DAGSTER_HOME (the embedded one under PRECALC_HOME by default)."""
    ensure_dagster_home(Settings.from_env())
    return dg.DagsterInstance.get()


def registered(
    instance: dg.DagsterInstance, dimension: str, chosen: Iterable[str] = ()
) -> list[str]:
    """The registered models or slices (`dimension`), or the chosen ones if all are."""
    registered_keys = instance.get_dynamic_partitions(dimension)
    chosen = list(chosen)
    unknown = [c for c in chosen if c not in registered_keys]
    if unknown:
        fix = "precalc add-model" if dimension == keys.MODEL else "precalc add-library"
        raise NotRegistered(not_registered(dimension, unknown, registered_keys, fix))
    return [k for k in registered_keys if not chosen or k in chosen]


def add_partitions(instance: dg.DagsterInstance, dimension: str, names: Iterable[str]) -> None:
    """Register models or slices as dynamic partitions; those already there are kept."""
    new = [n for n in names if not instance.has_dynamic_partition(dimension, n)]
    if new:
        instance.add_dynamic_partitions(dimension, new)


def remove_partitions(instance: dg.DagsterInstance, dimension: str, names: Iterable[str]) -> None:
    """Drop models or slices from the dynamic partitions; absent ones are no error."""
    for name in names:
        if instance.has_dynamic_partition(dimension, name):
            instance.delete_dynamic_partition(dimension, name)
