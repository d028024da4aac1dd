"""Resources by deployment: one table picks local or AWS (DESIGN §3).

`local` resolves URLs from PRECALC_HOME with env overrides, at run time; `aws` makes
PRECALC_STORAGE_URL and PRECALC_SERVING_URL mandatory through `dg.EnvVar`.
"""

import boto3
import dagster as dg
from dagster_aws.s3 import S3Resource

from precalc_assets.alerts import notifier_resource_for
from precalc_assets.settings import Settings
from precalc_assets.stores import (
    DynamoServingTable,
    ObjectStore,
    ServingTable,
    dynamodb_client_config,
    open_object_store,
    open_serving_table,
)


class ObjectStorageResource(dg.ConfigurableResource):
    """Object storage by URL: `file://...` (default under PRECALC_HOME) or `s3://bucket/prefix`."""

    url: str | None = None
    s3: S3Resource

    def resolved_url(self) -> str:
        return self.url or Settings.from_env().storage_url

    def open(self) -> ObjectStore:
        url = self.resolved_url()
        client = self.s3.get_client() if url.startswith("s3://") else None
        return open_object_store(url, s3_client=client)


class ServingTableResource(dg.ConfigurableResource):
    """Serving table by URL: `sqlite:///path.db` (default) or `dynamodb://table-name`."""

    url: str | None = None
    max_attempts: int = 10
    write_threads: int = 8

    def resolved_url(self) -> str:
        return self.url or Settings.from_env().serving_url

    def open(self) -> ServingTable:
        url = self.resolved_url()
        client = None
        if url.startswith("dynamodb://"):
            # Region, endpoint and credentials come from boto3's own chain.
            config = dynamodb_client_config(max_attempts=self.max_attempts)
            client = boto3.client("dynamodb", config=config)
        table = open_serving_table(url, dynamodb_client=client)
        if isinstance(table, DynamoServingTable):
            table.max_workers = self.write_threads
        return table


def resources_for(deployment: str) -> dict[str, object]:
    s3 = S3Resource(max_attempts=10)
    table = {
        "local": {
            "storage": ObjectStorageResource(s3=s3),
            "serving": ServingTableResource(),
        },
        "aws": {
            "storage": ObjectStorageResource(url=dg.EnvVar("PRECALC_STORAGE_URL"), s3=s3),
            "serving": ServingTableResource(url=dg.EnvVar("PRECALC_SERVING_URL")),
        },
    }
    if deployment not in table:
        raise ValueError(
            f"PRECALC_DEPLOYMENT={deployment!r} is not a deployment; use one of {sorted(table)}"
        )
    return {**table[deployment], "notifier": notifier_resource_for(deployment)}
