"""`precalc serve`: the lookup over HTTP (FastAPI), with OpenAPI docs and per-model metadata.

`POST /lookup` takes the JSON request of every HTTP face (`serving.requests`) and answers
with exactly what `serving.requests.answer` says, status and body: the body is read raw and
parsed there, so a bad request gets the same 4xx and message here as from the Lambda (never
FastAPI's 422). The pydantic models below only document the shapes in `/openapi.json`.

It has no authentication, so it guards what a browser can make it do: `POST /lookup` takes
`Content-Type: application/json` only (a cross-site page cannot send that without a CORS
preflight, which this API does not grant), `computeMissing` runs models only when the server
was started with `--allow-compute`, and a request whose `Host` is not a name the server
answers to (its loopback names, or `--allowed-host`) is refused, which defeats DNS
rebinding. No answer names the storage behind it.

`GET /models` is what the ledger says of each model: molecules served, slices done of
total, last update, the runs that published it, complete or not. The ledger comes in
through a callable (the CLI builds it from Dagster), cached for a few seconds: reading it
costs queries of the event log, and a dashboard may poll.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from precalc_assets.ledger.rows import LedgerRow
from precalc_assets.ledger.summary import ModelSummary, summarize
from precalc_assets.models.spec import ModelError
from precalc_assets.serving.computed import compute_missing
from precalc_assets.serving.deployment import Serving
from precalc_assets.serving.lookup import STATUSES, Answer, UnknownModelError, check_models
from precalc_assets.serving.requests import (
    BAD_REQUEST,
    FIELDS,
    MAX_BODY_BYTES,
    MAX_INPUTS,
    NOT_FOUND,
    UNAVAILABLE,
    Compute,
    answer,
)
from precalc_assets.stores.errors import StoreError

log = logging.getLogger(__name__)

UNSUPPORTED_MEDIA_TYPE = 415
JSON_MEDIA_TYPE = "application/json"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
ANY_ADDRESS = ("0.0.0.0", "::", "")  # a bind to every interface: no one name is "ours"
ANY_HOST = "*"
COMPUTE_OFF = (
    "computeMissing is off on this server: it only reads the serving table. Ask again "
    "without it, or start the server with `precalc serve --allow-compute` to let lookups "
    "run models on the molecules the table does not hold"
)
LEDGER_FAILED = "the ledger could not be read; the server logged the detail"
MODELS_TTL_S = 5.0
LATEST_RUNS = 10  # runs listed per model in /models (all are counted)
SLICE_STATES = ("done", "stale", "failed", "missing", "in_progress", "blocked")
GET_PARAMS = ("model", "key", "smiles")


# --- Shapes, for the OpenAPI docs (validation stays `serving.requests`') -----------------


class LookupRequestBody(BaseModel):
    """A lookup: Ersilia's `{"modelId", "inputKeyArray"}`, and more."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"modelId": "eos3b5e", "inputKeyArray": ["BSYNRYMUTXBXSQ-UHFFFAOYSA-N"]},
                {"modelIds": ["eos3b5e"], "smilesArray": ["CCO"], "computeMissing": True},
            ]
        },
    )

    modelId: str | SkipJsonSchema[None] = Field(None, description="A model ID (or `modelIds`).")
    modelIds: list[str] = Field(default_factory=list, description="More model IDs.")
    inputKeyArray: list[str] = Field(default_factory=list, description="Standard InChIKeys.")
    smilesArray: list[str] = Field(
        default_factory=list, description="SMILES, canonicalised and keyed by InChIKey."
    )
    computeMissing: bool = Field(
        False,
        description="Run the model on SMILES the table does not hold; they come back "
        "`computed`, and are served from then on (a 400 unless the server was started with "
        "`--allow-compute`).",
    )


class LookupRow(BaseModel):
    input: str = Field(description="The input as given.")
    key: str = Field(description="Its InChIKey ('' when invalid).")
    smiles: str = Field(description="The canonical SMILES served ('' when unknown).")
    status: str = Field(json_schema_extra={"enum": list(STATUSES)})
    value: list[Any] | None = Field(description="The model's values, flat, as stored.")
    outputs: dict[str, Any] | None = Field(description="The same values by column name.")
    reason: str | None = Field(None, description="Why it is invalid or was not computed.")


class ModelLookup(BaseModel):
    """The answer for one model (its fields are also Ersilia's response)."""

    model_id: str
    output: list[LookupRow] = Field(description="One row per input, in input order.")
    missing: list[str] = Field(description="The inputs the table does not hold.")


class SeveralModelsLookup(BaseModel):
    """The answer when several models were asked for: one `ModelLookup` per model."""

    results: list[ModelLookup]


class ErrorBody(BaseModel):
    error: str = Field(description="What is wrong with the request, and what to do.")


class RunInfo(BaseModel):
    run_id: str
    slices: int = Field(description="Slices of this model it published that are served now.")
    started_at: str | None
    ended_at: str | None
    seconds: float | None = Field(description="Wall time of the whole run (None if unended).")


class RunsInfo(BaseModel):
    """The Dagster runs that published the model's current slices. A run may have
    published other models' slices too: its wall time is the run's, not this model's."""

    count: int
    seconds_total: float
    seconds_max: float | None
    latest: list[RunInfo] = Field(description=f"Up to {LATEST_RUNS}, latest start first.")


class ModelInfo(BaseModel):
    model_id: str
    complete: bool = Field(description="Every registered slice published under its version.")
    molecules_served: int = Field(description="Precalculated molecules the table serves.")
    molecules_computed: int = Field(description="Molecules lookups computed on demand.")
    rows_rejected: int
    slices_done: int
    slices_total: int
    slices: dict[str, int] = Field(description="Slices per state: " + ", ".join(SLICE_STATES))
    last_updated: str | None = Field(description="When a slice of it was last published.")
    last_run_id: str | None
    runs: RunsInfo
    error: str | None = Field(description="Why the model cannot be run, if it cannot.")


# --- /models: the ledger, per model --------------------------------------------------------


@dataclass(frozen=True)
class RunTimes:
    """When a Dagster run started and ended (epoch seconds; None until it does)."""

    started: float | None = None
    ended: float | None = None

    @property
    def seconds(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return round(self.ended - self.started, 3)


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def models_document(
    models: Sequence[str],
    rows: Sequence[LedgerRow],
    computed: Mapping[str, int],
    runs: Mapping[str, RunTimes],
) -> list[dict[str, Any]]:
    """What `/models` shows, from the ledger's rows, the lookups' computed counts and the
    times of the runs named in the rows; a model with no slice yet is listed too."""
    summaries = {s.model: s for s in summarize(list(rows), computed)}
    slices_of: dict[str, dict[str, int]] = {}  # model -> run -> its slices published now
    for row in rows:
        if row.run_id:
            counts = slices_of.setdefault(row.model, {})
            counts[row.run_id] = counts.get(row.run_id, 0) + 1
    infos = []
    for model_id in models:
        summary = summaries.get(model_id) or ModelSummary(
            model_id, rows_computed=computed.get(model_id, 0)
        )
        infos.append(_model_info(summary, slices_of.get(model_id, {}), runs).model_dump())
    return infos


def _model_info(
    summary: ModelSummary, slices_of: Mapping[str, int], runs: Mapping[str, RunTimes]
) -> ModelInfo:
    listed = []
    for run_id, count in slices_of.items():
        times = runs.get(run_id, RunTimes())
        listed.append(
            RunInfo(
                run_id=run_id,
                slices=count,
                started_at=_iso(times.started),
                ended_at=_iso(times.ended),
                seconds=times.seconds,
            )
        )
    listed.sort(key=lambda r: r.started_at or "", reverse=True)
    durations = [r.seconds for r in listed if r.seconds is not None]
    return ModelInfo(
        model_id=summary.model,
        complete=summary.complete,
        molecules_served=summary.rows_published,
        molecules_computed=summary.rows_computed,
        rows_rejected=summary.rows_rejected,
        slices_done=len(summary.done),
        slices_total=summary.slices,
        slices={state: len(getattr(summary, state)) for state in SLICE_STATES},
        last_updated=summary.last_materialized_at or None,
        last_run_id=summary.last_run_id or None,
        runs=RunsInfo(
            count=len(listed),
            seconds_total=round(sum(durations), 3),
            seconds_max=max(durations, default=None),
            latest=listed[:LATEST_RUNS],
        ),
        error=summary.error or None,
    )


class _Cached:
    """The last value of a slow read, for `ttl` seconds; one read at a time (a burst of
    requests reads the ledger once). A failed read is not kept."""

    def __init__(self, read: Callable[[], list[dict[str, Any]]], ttl: float) -> None:
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


# --- The app ---------------------------------------------------------------------------------


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _raw_body(request: Request) -> bytes:
    """The body, read no further than one byte over the limit: `answer` says it is too
    large (413, its message), and a huge body is never held in memory."""
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            break
    return b"".join(chunks)


LOOKUP_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ModelLookup | SeveralModelsLookup,
        "description": "One row per input x model, in input order.",
    },
    400: {
        "model": ErrorBody,
        "description": "Not JSON, a malformed key or field, computeMissing on a server "
        "started without --allow-compute, a Host the server does not answer to.",
    },
    404: {"model": ErrorBody, "description": "A model that is not registered (named)."},
    413: {"model": ErrorBody, "description": f"Over {MAX_INPUTS:,} inputs x models."},
    503: {"model": ErrorBody, "description": "The serving table or storage failed."},
}


def _host_name(header: str | None) -> str | None:
    """The name of a `Host` header ("localhost:8000" -> "localhost", "[::1]:8000" -> "::1",
    lower-case), or None if it is not one (userinfo, a path, a bad port)."""
    if not header or re.search(r"[@/?#\\\s]", header):
        return None
    try:
        parts = urlsplit(f"//{header}")
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return None
    return parts.hostname or None


def _allowed_name(name: str) -> str:
    """An allowed host as `_host_name` reads headers: "[::1]" or "::1" -> "::1",
    "Example.org:443" -> "example.org"."""
    if name.count(":") > 1:  # an IPv6 address, bracketed or not
        return name.strip("[]").lower()
    return _host_name(name) or name.lower()


def allowed_hosts_for(bind: str, extra: Sequence[str] = ()) -> list[str]:
    """The `Host` names a server bound to `bind` answers to: the loopback names for a
    loopback or every-interface bind, else the bound address; then `extra` (the public
    names of a deployment behind a proxy, `--allowed-host`)."""
    own = list(LOOPBACK_HOSTS) if bind in LOOPBACK_HOSTS or bind in ANY_ADDRESS else [bind]
    return list(dict.fromkeys([*own, *extra]))


class HostCheck:
    """ASGI middleware: a request whose `Host` header is not one of `allowed` (any port) is
    a 400 with a message. A web page whose DNS name was rebound to 127.0.0.1 reaches a
    loopback server with its own name as `Host`; this refuses it. `*` allows any host.

    Starlette's `TrustedHostMiddleware` does the same check but answers "Invalid host
    header" in plain text; this answers like every other error here, `{"error": ...}`,
    saying which names are served and how to add one."""

    def __init__(self, app: ASGIApp, allowed: Sequence[str]) -> None:
        self.app = app
        self.any = ANY_HOST in allowed
        self.allowed = frozenset(_allowed_name(name) for name in allowed)
        self.shown = ", ".join(f"[{n}]" if ":" in n else n for n in allowed if n != ANY_HOST)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("host")
        if _host_name(header) in self.allowed:
            await self.app(scope, receive, send)
            return
        given = "no Host header" if header is None else f"Host {header[:100]!r}"
        message = (
            f"{given} is not a name this server answers to ({self.shown}): a request for "
            "another name may come from a web page that pointed its DNS name at this "
            "server. Behind a proxy, name the public host: "
            "`precalc serve --allowed-host NAME`"
        )
        await _error(BAD_REQUEST, message)(scope, receive, send)


def create_app(
    serving: Serving,
    models_info: Callable[[], list[dict[str, Any]]],
    *,
    allow_compute: bool = False,
    allowed_hosts: Sequence[str] = LOOPBACK_HOSTS,
    models_ttl: float = MODELS_TTL_S,
) -> FastAPI:
    """The HTTP API over this deployment's serving table (`serving`); `models_info` reads
    the ledger (`models_document`'s list), at most once per `models_ttl` seconds.
    `computeMissing` runs models only with `allow_compute`; requests for a `Host` not in
    `allowed_hosts` (`allowed_hosts_for` the bound address) are refused."""
    app = FastAPI(
        title="precalc lookups",
        summary="Precalculated model predictions by InChIKey or SMILES.",
        version="1",
    )
    app.add_middleware(HostCheck, allowed=list(allowed_hosts))
    compute = _computer(serving) if allow_compute else None
    ledger = _Cached(models_info, models_ttl)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Every 4xx is a 400 with a message, as from the other faces; never a 422.
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return _error(BAD_REQUEST, problems)

    async def lookup_answer(raw: bytes | dict[str, Any]) -> JSONResponse:
        status, body = await run_in_threadpool(
            answer, raw, serving.store, serving.table, compute, COMPUTE_OFF
        )
        return JSONResponse(body, status_code=status)

    @app.post(
        "/lookup",
        summary="Look molecules up (the JSON request of every HTTP face)",
        responses={
            **LOOKUP_RESPONSES,
            UNSUPPORTED_MEDIA_TYPE: {
                "model": ErrorBody,
                "description": f"A Content-Type other than {JSON_MEDIA_TYPE}.",
            },
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": LookupRequestBody.model_json_schema()}},
            }
        },
    )
    async def post_lookup(request: Request) -> JSONResponse:
        """Predictions of one or more models by InChIKey or SMILES: each row `found`,
        `missing`, `invalid` (with a reason) or `computed` (with `computeMissing`).
        The body must be sent as `Content-Type: application/json` (else 415)."""
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != JSON_MEDIA_TYPE:
            return _error(
                UNSUPPORTED_MEDIA_TYPE,
                f"POST /lookup takes Content-Type: {JSON_MEDIA_TYPE} "
                f"(got {media_type[:100] or 'none'}); send the JSON request with that header",
            )
        return await lookup_answer(await _raw_body(request))

    @app.get("/lookup", summary="Look molecules up by query string", responses=LOOKUP_RESPONSES)
    async def get_lookup(
        request: Request,
        model: Annotated[list[str] | None, Query(description="Model ID (repeatable).")] = None,
        key: Annotated[list[str] | None, Query(description="InChIKey (repeatable).")] = None,
        smiles: Annotated[list[str] | None, Query(description="SMILES (repeatable).")] = None,
    ) -> JSONResponse:
        """The same answer as `POST /lookup` of those inputs. It only reads: misses are
        computed by `POST` with `computeMissing` (a GET must be safe to repeat or prefetch)."""
        unknown = sorted(set(request.query_params) - set(GET_PARAMS))
        if unknown:
            return _error(
                BAD_REQUEST,
                f"unknown parameter(s) {unknown}; GET /lookup takes {', '.join(GET_PARAMS)} "
                f"(POST /lookup takes {', '.join(FIELDS)})",
            )
        body = {"modelIds": model or [], "inputKeyArray": key or [], "smilesArray": smiles or []}
        return await lookup_answer(body)

    @app.get("/models", response_model=list[ModelInfo], summary="Every model, from the ledger")
    async def list_models() -> Any:
        """Per registered model: molecules served, slices done of total, last update, the
        runs that published it and whether it is complete (cached a few seconds)."""
        try:
            return await run_in_threadpool(ledger.get)
        except (StoreError, ValueError) as exc:
            log.warning("/models: the ledger could not be read: %s", exc)
            return _error(UNAVAILABLE, LEDGER_FAILED)

    @app.get(
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
            return _error(UNAVAILABLE, LEDGER_FAILED)
        for info in infos:
            if info["model_id"] == model_id:
                return info
        return _error(NOT_FOUND, await run_in_threadpool(_unknown, serving, model_id, infos))

    @app.get("/health", summary="Whether the server is up")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "compute_missing": allow_compute}

    _without_422(app)
    return app


def _computer(serving: Serving) -> Compute:
    """Misses computed one request at a time: a model run takes the machine's cores and
    memory, and two at once would only compute the same molecules twice."""
    lock = threading.Lock()

    def compute(result: Answer) -> None:
        with lock:
            compute_missing(serving.store, serving.table, result, serving.policy)

    return compute


def _unknown(serving: Serving, model_id: str, infos: list[dict[str, Any]]) -> str:
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


def _without_422(app: FastAPI) -> None:
    """Drop FastAPI's default 422 from the docs: this API answers bad requests with 400."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached by FastAPI; stripping it again is cheap
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
