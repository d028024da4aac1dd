"""Errors raised by the stores.

Every message names the store URL (and bucket/table/key where relevant) and says what
to do, because these errors surface in Dagster run logs read by people who did not
write the code.
"""

from __future__ import annotations


class StoreError(Exception):
    """A storage or serving-table operation failed; the message says where and what to do."""


class ObjectNotFound(StoreError):
    """The requested key does not exist in the object store."""

    def __init__(self, key: str, store_url: str) -> None:
        self.key = key
        self.store_url = store_url
        super().__init__(
            f"Object '{key}' not found in object store {store_url}. "
            "Check the key, or materialize the asset that writes it first."
        )

    def __reduce__(self):  # keep picklable across process boundaries (Dagster runs)
        return (type(self), (self.key, self.store_url))
