"""The deployment's stores and trust policy, opened from its settings (`PRECALC_*`, and
AWS through boto3's own chain), without Dagster: the one way the CLI, `precalc serve`
and the Lambda open them. Dagster's runs open the same URLs through their resources."""

from __future__ import annotations

from dataclasses import dataclass

from precalc_assets.models.trust import ModelPolicy
from precalc_assets.settings import Settings, store_urls
from precalc_assets.stores.factory import open_object_store, open_serving_table
from precalc_assets.stores.object_store import ObjectStore
from precalc_assets.stores.serving_table import ServingTable


def open_storage(settings: Settings | None = None) -> ObjectStore:
    """Object storage (`PRECALC_STORAGE_URL`, or the embedded default)."""
    settings = settings or Settings.from_env()
    return open_object_store(store_urls(settings)[0])


def open_table(settings: Settings | None = None) -> ServingTable:
    """The serving table (`PRECALC_SERVING_URL`, or the embedded default)."""
    settings = settings or Settings.from_env()
    return open_serving_table(store_urls(settings)[1])


def open_policy(settings: Settings | None = None) -> ModelPolicy:
    """The trust policy: the models file, the http allow-list, the environments folder."""
    settings = settings or Settings.from_env()
    return ModelPolicy.load(settings.models_file, settings.http_allow, settings.environments)


@dataclass(frozen=True)
class Deployment:
    """A face's object storage, serving table and trust policy, opened together."""

    store: ObjectStore
    table: ServingTable
    policy: ModelPolicy


def open_deployment(settings: Settings | None = None) -> Deployment:
    """Everything a lookup face needs, from the settings alone (fast: no Dagster)."""
    settings = settings or Settings.from_env()
    return Deployment(open_storage(settings), open_table(settings), open_policy(settings))
