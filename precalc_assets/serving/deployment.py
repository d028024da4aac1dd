"""The stores and trust policy of a lookup face, from the deployment's settings alone:
no Dagster, so the CLI, `precalc serve` and the Lambda start fast."""

from __future__ import annotations

from dataclasses import dataclass

from precalc_assets.models.trust import ModelPolicy
from precalc_assets.settings import Settings, model_policy, store_urls
from precalc_assets.stores.factory import open_object_store, open_serving_table
from precalc_assets.stores.object_store import ObjectStore
from precalc_assets.stores.serving_table import ServingTable


@dataclass(frozen=True)
class Serving:
    store: ObjectStore
    table: ServingTable
    policy: ModelPolicy


def open_serving(settings: Settings | None = None) -> Serving:
    """Object storage, the serving table and the model policy of this deployment
    (`PRECALC_*` settings; AWS through boto3's own chain)."""
    settings = settings or Settings.from_env()
    storage_url, serving_url = store_urls(settings)
    return Serving(
        open_object_store(storage_url),
        open_serving_table(serving_url),
        model_policy(settings),
    )
