"""`precalc serve`: the lookup over HTTP (FastAPI), with OpenAPI docs and per-model metadata.

The app is assembled here from one router per concern: `lookup_routes` (`POST` and
`GET /lookup`: the JSON request of every HTTP face, answered exactly as the Lambda answers
it), `models_routes` (`GET /models`: the ledger's view, `models_view`) and `/health`.

It has no authentication, so it guards what a browser can make it do: `POST /lookup` takes
JSON only, `computeMissing` runs models only with `--allow-compute`, and a request whose
`Host` is not a name the server answers to is refused (`host_check`, against DNS
rebinding). Every error is `{"error": ...}`, a bad request a 400 (`http_errors`). No
answer names the storage behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from precalc_assets.deployment import Deployment
from precalc_assets.serving.host_check import LOOPBACK_HOSTS, HostCheck
from precalc_assets.serving.http_errors import answer_errors_as_json
from precalc_assets.serving.lookup_routes import lookup_router
from precalc_assets.serving.models_routes import MODELS_TTL_S, ModelsView, models_router


def create_app(
    serving: Deployment,
    models_info: ModelsView,
    *,
    allow_compute: bool = False,
    allowed_hosts: Sequence[str] = LOOPBACK_HOSTS,
    models_ttl: float = MODELS_TTL_S,
) -> FastAPI:
    """The HTTP API over this deployment's serving table (`serving`); `models_info` reads
    the ledger (`models_view.models_document`'s list), at most once per `models_ttl`
    seconds. `computeMissing` runs models only with `allow_compute`; requests for a `Host`
    not in `allowed_hosts` (`host_check.allowed_hosts_for` the bound address) are refused."""
    app = FastAPI(
        title="precalc lookups",
        summary="Precalculated model predictions by InChIKey or SMILES.",
        version="1",
    )
    app.add_middleware(HostCheck, allowed=list(allowed_hosts))
    app.include_router(lookup_router(serving, allow_compute))
    app.include_router(models_router(serving, models_info, models_ttl))

    @app.get("/health", summary="Whether the server is up")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "compute_missing": allow_compute}

    answer_errors_as_json(app)
    return app
