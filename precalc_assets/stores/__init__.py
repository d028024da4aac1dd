"""Storage behind small interfaces, one module per interface and per backend.

Import a name from the module that defines it (this package re-exports nothing):

- ``errors``: ``StoreError`` and ``ObjectNotFound``, raised by every store.
- ``urls``: store URLs split into scheme and rest, and the local path a URL names.
- ``aws``: botocore client config and AWS error translation, shared by S3 and DynamoDB.
- ``object_store``: the ``ObjectStore`` interface, ``ObjectInfo`` and key validation.
- ``local``: ``LocalObjectStore``, objects in a local directory (the embedded default).
- ``s3``: ``S3ObjectStore``, objects in an S3 bucket under an optional prefix.
- ``serving_table``: the ``ServingTable`` interface, ``ServingItem`` and the item keys.
- ``values``: output values as JSON (SQLite) and AttributeValues (DynamoDB).
- ``sqlite``: ``SqliteServingTable``, the serving table in a SQLite file (embedded default).
- ``dynamodb``: ``DynamoServingTable``, the serving table in DynamoDB.
- ``factory``: ``open_object_store`` and ``open_serving_table``, stores from URLs.
"""
