"""`http`: a served hub model, `{"runner": "http", "url": "http://host:port"}`.

The model answers `POST {url}/run` with a JSON list of SMILES by one record per input
(`{column: value}`, input order), and describes itself on `GET /run/columns/output`,
`/card`, `/run/example/input` and `/run/example/output`. Every request costs the model a
fixed ~0.5 s, so molecules go in batches (`batch_size`, default 1,000), `concurrency`
(default 2) at a time: one batch is computed while the next one travels.

What an answer means:
- 200 with a JSON list: the records (`BatchedRunner` maps them by column name);
- 5xx but 503: the model failed on the batch: it is halved until the molecules it fails
  on are isolated (`model_failed`);
- 429, 503, a refused or reset connection: retried, honouring `Retry-After`, a bounded
  number of times;
- a read timeout (`timeout_s`), a redirect (never followed), another 4xx, a 200 that is
  not a JSON list: the partition stops with a `ModelError` saying what to fix.
"""

from __future__ import annotations

import email.utils
import math
import os
import random
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError

from precalc_assets.models.card import HUB_DTYPES, ModelCard
from precalc_assets.models.casting import cast_records
from precalc_assets.models.isolation import error_line
from precalc_assets.models.repository import read_run_columns
from precalc_assets.models.runners.base import Log, no_log
from precalc_assets.models.runners.batched import BatchedRunner, BatchFailed
from precalc_assets.models.spec import ModelError, ModelSpec, OutputColumn
from precalc_assets.models.trust import redact

OPTIONS = (
    "url",
    "run_columns",
    "input_smiles",
    "batch_size",
    "concurrency",
    "timeout_s",
    "ready_timeout_s",
)
DEFAULT_TIMEOUT_S = 600.0  # one batch; a hub model pays ~0.5 s + its compute per request
DEFAULT_READY_TIMEOUT_S = 30.0
MAX_READY_TIMEOUT_S = 3_600
CONNECT_TIMEOUT_S = 10.0
DESCRIBE_TIMEOUT_S = 30.0  # a route of the model's own metadata: no model runs
READY_POLL_S = 0.5
MAX_ATTEMPTS = 8  # of one request answered 429/503 or not connected
FIRST_BACKOFF_S = 0.5  # doubled each attempt when the server does not say how long
MAX_WAIT_S = 60.0  # the longest wait between two attempts, whatever Retry-After says
RETRIED_STATUSES = (429, 503)
RUN_PARAMS = {"fetch_cache": "False", "save_cache": "False"}
SHOWN_CHARS = 200


def _piece(text: str) -> str:
    """A short, one-line piece of an answer's body, for messages."""
    return repr(" ".join(text.split())[:SHOWN_CHARS])


def _url_problem(url: Any) -> str:
    """What is wrong with `url` as a model server's address, or ""."""
    if not isinstance(url, str) or not url.strip():
        return (
            f"needs 'url', the address of its model server, e.g. \"http://localhost:8080\", "
            f"got {url!r}"
        )
    shown = redact(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"has an ill-formed 'url' {shown!r} ({redact(str(exc))})"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return f"'url' must be an http:// or https:// address with a host, got {shown!r}"
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        return f"'url' must have no query or fragment, got {shown!r}"
    if any(c.isspace() or ord(c) < 32 for c in url) or port == 0:
        return f"'url' is not a usable address, got {shown!r}"
    return ""


def _ready_timeout(options: Mapping[str, Any]) -> float:
    value = options.get("ready_timeout_s", DEFAULT_READY_TIMEOUT_S)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value <= MAX_READY_TIMEOUT_S
    ):
        raise ValueError(
            f"'ready_timeout_s' must be a number in (0, {MAX_READY_TIMEOUT_S:,}], got {value!r}"
        )
    return float(value)


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for (seconds or an HTTP date), capped at
    `MAX_WAIT_S`; None when it is absent or unreadable."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_WAIT_S)


def _backoff_s(attempt: int) -> float:
    base = min(FIRST_BACKOFF_S * 2 ** (attempt - 1), MAX_WAIT_S)
    return base * random.uniform(0.8, 1.0)  # spread the retries of concurrent batches


def _is_read_timeout(exc: requests.RequestException) -> bool:
    """A timeout while reading: requests raises ConnectionError for one in the body."""
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return True
    return any(isinstance(arg, ReadTimeoutError) for arg in exc.args)


class _Client:
    """One model server: a session sized to the batches in flight, retries, readiness."""

    def __init__(self, model_id: str, options: Mapping[str, Any], pool: int, log: Log):
        self.model_id, self.log = model_id, log
        self.base = str(options["url"]).strip().rstrip("/")
        self.shown = redact(self.base)
        self.timeout_s = float(BatchedRunner.timeout(options, DEFAULT_TIMEOUT_S))
        self.ready_timeout_s = _ready_timeout(options)
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(pool, 1), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._ready = False
        self._ready_error = ""
        self._ready_lock = threading.Lock()

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> _Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ readiness

    def ensure_ready(self) -> None:
        """Wait for the server once (the first caller waits, the others block on it)."""
        with self._ready_lock:
            if self._ready:
                return
            if self._ready_error:
                raise ModelError(self._ready_error)
            try:
                self._wait_ready()
            except ModelError as exc:
                self._ready_error = str(exc)
                raise
            self._ready = True

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        last = "no answer"
        while True:
            remaining = deadline - time.monotonic()
            wait = max(min(CONNECT_TIMEOUT_S, remaining), 0.05)
            try:
                response = self.session.get(
                    self.base + "/", timeout=(wait, wait), allow_redirects=False
                )
                response.close()
                if 200 <= response.status_code < 500:
                    return
                last = f"HTTP {response.status_code}"
            except requests.RequestException as exc:
                last = type(exc).__name__
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(READY_POLL_S, remaining))
        raise ModelError(
            f"model {self.model_id!r}: no model server answered at {self.shown} after "
            f"{self.ready_timeout_s:g} s (last: {last}); start it (`ersilia serve "
            f"{self.model_id}`, or `docker run -p 8080:80 ersiliaos/{self.model_id}`), or "
            "fix 'url' in the model's request; raise 'ready_timeout_s' if it is still "
            "starting"
        )

    # ------------------------------------------------------------------ requests

    def send(self, method: str, path: str, what: str, read_s: float, **kw: Any) -> Any:
        """The response to one request, after retrying 429/503 and connection failures;
        `what` says what was asked, for messages."""
        url = self.base + path
        problem = ""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response = self.session.request(
                    method,
                    url,
                    timeout=(CONNECT_TIMEOUT_S, read_s),
                    allow_redirects=False,
                    **kw,
                )
            except requests.RequestException as exc:
                if _is_read_timeout(exc):
                    raise ModelError(
                        f"model {self.model_id!r} at {self.shown} did not answer {what} "
                        f"within {read_s:g} s: the model hangs, or is slower than that; "
                        "raise the model's 'timeout_s' (seconds per request) or lower its "
                        "'batch_size' if it is only slow"
                    ) from None
                if isinstance(exc, requests.exceptions.SSLError) or not isinstance(
                    exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError
                ):
                    hint = (
                        "; check the server's TLS certificate, or its 'url' scheme"
                        if isinstance(exc, requests.exceptions.SSLError)
                        else ""
                    )
                    raise ModelError(
                        f"model {self.model_id!r} at {self.shown}: {what} failed: "
                        f"{type(exc).__name__}: {redact(str(exc))[-SHOWN_CHARS:]}{hint}"
                    ) from None
                problem = f"no connection ({type(exc).__name__})"
                wait = _backoff_s(attempt)
            else:
                if response.status_code not in RETRIED_STATUSES:
                    return response
                problem = f"HTTP {response.status_code}"
                said = retry_after_s(response.headers.get("Retry-After"))
                wait = _backoff_s(attempt) if said is None else said
                response.close()
            if attempt == MAX_ATTEMPTS:
                break
            self.log(
                f"model {self.model_id!r}: {problem} from {self.shown} for {what}; "
                f"retry {attempt}/{MAX_ATTEMPTS - 1} in {wait:.1f} s"
            )
            time.sleep(wait)
        why = (
            "the model server went away or refuses connections; check that it is running"
            if problem.startswith("no connection")
            else "429: rate limited, 503: unavailable or its circuit breaker open; check that "
            "the model server is up and not overloaded, or lower the model's 'concurrency'"
        )
        raise ModelError(
            f"model {self.model_id!r} at {self.shown}: {problem} for {what}, "
            f"{MAX_ATTEMPTS} attempts in a row ({why}), and re-run"
        )

    def refused(self, response: Any, what: str) -> ModelError:
        """The error of an answer that is neither a success nor a model failure."""
        status = response.status_code
        if 300 <= status < 400:
            where = redact(response.headers.get("Location", "?"))
            return ModelError(
                f"model {self.model_id!r} at {self.shown} answered {what} with a redirect "
                f"(HTTP {status} to {where[:SHOWN_CHARS]!r}), which is never followed; set "
                "'url' to the model server's own address"
            )
        return ModelError(
            f"model {self.model_id!r} at {self.shown} refused {what}: HTTP {status}: "
            f"{_piece(response.text)}; check that 'url' is the model server's address and "
            "that it serves a hub model"
        )

    def json_of(self, response: Any, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type")
            raise ModelError(
                f"model {self.model_id!r} at {self.shown} answered {what} with something "
                f"that is not JSON ({kind}): {_piece(response.text)}; is 'url' the model "
                "server itself, not a proxy or a web page?"
            ) from None

    def get_json(self, path: str, missing: Any = None) -> Any:
        """A metadata route's JSON; `missing` when it answers 404 (None: required)."""
        what = f"GET {path}"
        response = self.send("GET", path, what, min(self.timeout_s, DESCRIBE_TIMEOUT_S))
        if response.status_code == 404 and missing is not None:
            return missing
        if response.status_code != 200:
            raise self.refused(response, what)
        return self.json_of(response, what)


class HttpRunner(BatchedRunner):
    """A served hub model: batches POSTed to `{url}/run`, `concurrency` in flight."""

    name = "http"
    default_concurrency = 2

    @classmethod
    def describes_itself(cls, options: Mapping[str, Any]) -> bool:
        return True

    def __init__(self, spec: ModelSpec, log: Log = no_log):
        self.check_options(spec.model_id, spec.options, "runner 'http'")
        super().__init__(spec, log)
        self.client = _Client(spec.model_id, spec.options, self.concurrency, log)

    @classmethod
    def check_options(cls, model_id: str, options: Mapping[str, Any], source: str) -> None:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise ModelError(
                f"{source}: model {model_id!r} (runner 'http') has unknown option(s) "
                f"{unknown}; it takes {', '.join(OPTIONS)}"
            )
        problem = _url_problem(options.get("url"))
        if problem:
            raise ModelError(
                f"{source}: model {model_id!r} {problem}; give the address its model server "
                f"answers on (`ersilia serve {model_id}`, or `docker run -p 8080:80 "
                f"ersiliaos/{model_id}`, serves it at http://localhost:8080)"
            )
        run_columns = options.get("run_columns")
        if run_columns is not None and (
            not isinstance(run_columns, str)
            or not os.path.isabs(run_columns)
            or not Path(run_columns).is_file()
        ):
            raise ModelError(
                f"{source}: model {model_id!r}: 'run_columns' must be the absolute path of "
                "the model's run_columns.csv (name,type,... per column, from its repository), "
                f"got {run_columns!r}"
            )
        try:
            cls.batch_settings(options)
            cls.timeout(options, DEFAULT_TIMEOUT_S)
            cls.input_form(options)
            _ready_timeout(options)
        except ValueError as exc:
            raise ModelError(f"{source}: model {model_id!r}: {exc}") from None

    @classmethod
    def describe(cls, model_id: str, options: Mapping[str, Any]) -> ModelCard:
        """What the served model says of itself: columns and their types, examples."""
        cls.check_options(model_id, options, "runner 'http'")
        with _Client(model_id, options, 1, no_log) as client:
            client.ensure_ready()
            names = client.get_json("/run/columns/output")
            card = client.get_json("/card", missing={})
            inputs = client.get_json("/run/example/input", missing=[])
            outputs = client.get_json("/run/example/output", missing=[])
            typed = options.get("run_columns")
            columns = read_run_columns(Path(typed), model_id) if typed else None
            return _card(client, names, card, inputs, outputs, columns)

    def run_batch(self, smiles: list[str]) -> list[Any]:
        self.client.ensure_ready()
        what = f"a batch of {len(smiles):,} molecules"
        response = self.client.send(
            "POST", "/run", what, self.client.timeout_s, params=RUN_PARAMS, json=smiles
        )
        status = response.status_code
        if 200 <= status < 300:
            records = self.client.json_of(response, what)
            if not isinstance(records, list):
                raise ModelError(
                    f"model {self.spec.model_id!r} at {self.client.shown} answered {what} "
                    f"with a JSON {type(records).__name__}, not a list of records: "
                    f"{_piece(response.text)}"
                )
            return records
        if status >= 500:
            raise BatchFailed(f"HTTP {status}: {_piece(response.text)}", _model_error(response))
        raise self.client.refused(response, what)

    def predict(self, smiles: list[str], mols: list[Any]) -> Any:
        try:
            return super().predict(smiles, mols)
        finally:
            self.client.close()  # its connections; a later call opens new ones


def _model_error(response: Any) -> str:
    """The model's own error in a failed batch's answer: the hub's server answers 500
    with `{"detail": ..., "traceback": ...}`, the model's error at the traceback's end."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for field in ("traceback", "detail"):
            if isinstance(body.get(field), str) and body[field].strip():
                return error_line(body[field])
    return f"HTTP {response.status_code}: {error_line(response.text) or 'no body'}"


def _typed_columns(
    client: _Client, names: list[str], typed: tuple[OutputColumn, ...]
) -> tuple[OutputColumn, ...]:
    """The server's columns with the per-column types of the model's run_columns.csv."""
    if [c.name for c in typed] != names:
        missing = [n for n in names if n not in {c.name for c in typed}]
        raise ModelError(
            f"model {client.model_id!r}: its 'run_columns' file does not list the columns "
            f"the server at {client.shown} answers, in its order (the server's first: "
            f"{names[:5]}; not in the file: {missing[:5]}); give the run_columns.csv of "
            "the model being served"
        )
    return typed


def _card(
    client: _Client,
    names: Any,
    card: Any,
    inputs: Any,
    outputs: Any,
    typed: tuple[OutputColumn, ...] | None = None,
) -> ModelCard:
    """The `ModelCard` of what the routes answered (with the per-column types of
    `typed`, the model's run_columns.csv, when given); a `ModelError` for a form it
    cannot read."""

    def wrong(route: str, expected: str, got: Any) -> ModelError:
        return ModelError(
            f"model {client.model_id!r} at {client.shown}: GET {route} answered "
            f"{_piece(str(got))}, not {expected}; is 'url' a hub model's server?"
        )

    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise wrong("/run/columns/output", "a list of column names", names)
    if not isinstance(card, dict):
        raise wrong("/card", "an object", card)
    types = card.get("Output Type") or ["Float"]
    types = [types] if isinstance(types, str) else types
    if not isinstance(types, list) or len(types) not in (1, len(names)):
        raise wrong("/card", f"an 'Output Type' of 1 or {len(names)} type(s)", types)
    dtypes = [HUB_DTYPES.get(str(t).lower()) for t in types]
    if None in dtypes:
        raise wrong("/card", f"an 'Output Type' of {', '.join(sorted(HUB_DTYPES))}", types)
    dtypes = dtypes * len(names) if len(dtypes) == 1 else dtypes
    if not isinstance(inputs, list):
        raise wrong("/run/example/input", "a list of SMILES", inputs)
    smiles = [i.get("input") if isinstance(i, dict) else i for i in inputs]
    if not all(isinstance(s, str) for s in smiles):
        raise wrong("/run/example/input", "a list of SMILES", inputs)
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise wrong("/run/example/output", "a list of records", outputs)
    if smiles and outputs and len(smiles) != len(outputs):
        raise wrong(
            "/run/example/output", f"{len(smiles)} records (one per example input)", outputs
        )
    # One type for several columns is the server's collapsed Output Type (float +
    # integer -> Float): the columns' own types are in the model's run_columns.csv.
    collapsed = len(types) == 1 and len(names) > 1
    columns = tuple(OutputColumn(name, dtype) for name, dtype in zip(names, dtypes, strict=True))
    warnings: tuple[str, ...] = ()
    if typed is not None:
        columns, collapsed = _typed_columns(client, names, typed), False
    elif collapsed:
        warnings = (
            f"model {client.model_id!r} at {client.shown} answers its {len(names)} columns "
            f"as one type ({types[0]}), so they are stored as {dtypes[0]}; for each "
            "column's own type give 'run_columns' (the model repository's "
            "run_columns.csv) in the deployment's models file, or declare 'columns'",
        )
    return ModelCard(
        source=client.shown,
        identifier=str(card.get("Identifier") or ""),
        slug=str(card.get("Slug") or ""),
        consistency=str(card.get("Output Consistency") or ""),
        columns=columns,
        example_inputs=tuple(smiles),
        example_outputs=cast_records(outputs, columns),
        collapsed_types=collapsed,
        warnings=warnings,
    )
