"""Storage behind small interfaces: object storage (local | S3) and the serving table
(SQLite | DynamoDB). See DESIGN §3-4 for the URL forms and the item contract."""

from precalc_assets.stores.errors import ObjectNotFound, StoreError
from precalc_assets.stores.object_store import (
    LocalObjectStore,
    ObjectInfo,
    ObjectStore,
    S3ObjectStore,
    open_object_store,
    s3_client_config,
)
from precalc_assets.stores.serving import (
    DynamoServingTable,
    ServingItem,
    ServingTable,
    SqliteServingTable,
    dynamodb_client_config,
    open_serving_table,
    utc_timestamp,
)

__all__ = [
    "DynamoServingTable",
    "LocalObjectStore",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "S3ObjectStore",
    "ServingItem",
    "ServingTable",
    "SqliteServingTable",
    "StoreError",
    "dynamodb_client_config",
    "open_object_store",
    "open_serving_table",
    "s3_client_config",
    "utc_timestamp",
]
