"""`GET /models` and `/models/{id}` of `precalc serve`: the ledger's view per model
(`serving.models_view`), as the callable the app is given returns it.

Reading the ledger costs queries of Dagster's event log and a dashboard may poll, so the
view is kept for a few seconds, read once however many requests come meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from precalc_assets.deployment import Deployment
from precalc_assets.models.spec import ModelError
from precalc_assets.serving.http_errors import error_response
from precalc_assets.serving.lookup import UnknownModelError, check_models
from precalc_assets.serving.lookup_json import ErrorBody
from precalc_assets.serving.models_view import ModelInfo
from precalc_assets.serving.requests import NOT_FOUND, UNAVAILABLE
from precalc_assets.stores.errors import StoreError

log = logging.getLogger(__name__)

LEDGER_FAILED = "the ledger could not be read; the server logged the detail"
MODELS_TTL_S = 5.0

ModelsView = Callable[[], list[dict[str, Any]]]  # `models_view.models_document`'s list


class CachedView:
    """The last value of a slow read, for `ttl` seconds; one read at a time (a burst of
    requests reads the ledger once). A failed read is not kept."""

    def __init__(self, read: ModelsView, ttl: float) -> None:
        self._read, self._ttl = read, ttl
        self._lock = threading.Lock()
        self._value: list[dict[str, Any]] = []
        self._at: float | None = None

    def get(self) -> list[dict[str, Any]]:
        with self._lock:
            now = time.monotonic()
            if self._at is None or now - self._at >= self._ttl:
                self._value, self._at = self._read(), now
            return self._value


def models_router(serving: Deployment, models_info: ModelsView, ttl: float) -> APIRouter:
    """The two routes; `models_info` reads the ledger's view, at most once per `ttl` s."""
    router = APIRouter()
    ledger = CachedView(models_info, ttl)

    @router.get("/models", response_model=list[ModelInfo], summary="Every model, from the ledger")
    async def list_models() -> Any:
        """Per registered model: molecules served, slices done of total, last update, the
        runs that published it and whether it is complete (cached a few seconds)."""
        try:
            return await run_in_threadpool(ledger.get)
        except (StoreError, ValueError) as exc:
            log.warning("/models: the ledger could not be read: %s", exc)
            return error_response(UNAVAILABLE, LEDGER_FAILED)

    @router.get(
        "/models/{model_id}",
        response_model=ModelInfo,
        summary="One model, from the ledger",
        responses={404: {"model": ErrorBody}, 503: {"model": ErrorBody}},
    )
    async def one_model(model_id: str) -> Any:
        """What `/models` says of one model; a 404 names the registered ones."""
        try:
            infos = await run_in_threadpool(ledger.get)
        except (StoreError, ValueError) as exc:
            log.warning("/models/%s: the ledger could not be read: %s", model_id, exc)
            return error_response(UNAVAILABLE, LEDGER_FAILED)
        for info in infos:
            if info["model_id"] == model_id:
                return info
        return error_response(
            NOT_FOUND, await run_in_threadpool(_unknown, serving, model_id, infos)
        )

    return router


def _unknown(serving: Deployment, model_id: str, infos: list[dict[str, Any]]) -> str:
    """The lookup's own message for an unregistered model (it names the registered ones,
    never the storage)."""
    try:
        check_models(serving.store, [model_id])
    except UnknownModelError as exc:
        return exc.public
    except (StoreError, ModelError) as exc:
        log.warning("/models/%s: the registered models could not be read: %s", model_id, exc)
        return f"model {model_id!r} is not in the ledger"
    ledger = ", ".join(i["model_id"] for i in infos) or "none"
    return (
        f"model {model_id!r} is registered in storage but has no partition in the ledger "
        f"(models in the ledger: {ledger}); register it again with `precalc add-model`"
    )
