"""`http`: a served hub model, `{"runner": "http", "url": "http://host:port"}`.

The model answers `POST {url}/run` with a JSON list of SMILES by one record per input
(`{column: value}`, input order), and describes itself on its routes
(`models.served_card`). Every request costs the model a fixed ~0.5 s, so molecules go in
batches (`batch_size`, default 1,000), `concurrency` (default 2) at a time: one batch is
computed while the next one travels. The client (`runners.http_client`) waits for the
server and retries what is worth retrying.

What an answer to a batch means:
- 200 with a JSON list: the records (`BatchedRunner` maps them by column name);
- 5xx but 503: the model failed on the batch: it is halved until the molecules it fails
  on are isolated (`model_failed`);
- a redirect (never followed), another 4xx, a 200 that is not a JSON list: the partition
  stops with a `ModelError` saying what to fix.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from precalc_assets.models.card import ModelCard
from precalc_assets.models.isolation import error_line
from precalc_assets.models.options import (
    Reach,
    RunnerOptions,
    existing_path,
    number_in,
    option,
)
from precalc_assets.models.repository import read_run_columns
from precalc_assets.models.runners.base import Log, Stream, no_log
from precalc_assets.models.runners.batched import (
    BatchedRunner,
    BatchFailed,
    batch_size_option,
    concurrency_option,
    input_smiles_option,
    timeout_option,
)
from precalc_assets.models.runners.http_client import HttpClient
from precalc_assets.models.served_card import (
    CARD_ROUTE,
    COLUMNS_ROUTE,
    EXAMPLE_INPUT_ROUTE,
    EXAMPLE_OUTPUT_ROUTE,
    RouteAnswers,
    served_card,
)
from precalc_assets.models.shown_text import excerpt, redact
from precalc_assets.models.spec import ModelError, ModelSpec

MAX_READY_TIMEOUT_S = 3_600
RUN_PARAMS = {"fetch_cache": "False", "save_cache": "False"}


def _url_problem(name: str, url: Any) -> str:
    """What is wrong with `url` as a model server's address, or ""."""
    if not isinstance(url, str) or not url.strip():
        return (
            f"needs {name!r}, the address of its model server, e.g. "
            f'"http://localhost:8080", got {url!r}'
        )
    shown = redact(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"has an ill-formed {name!r} {shown!r} ({redact(str(exc))})"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return f"{name!r} must be an http:// or https:// address with a host, got {shown!r}"
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        return f"{name!r} must have no query or fragment, got {shown!r}"
    if any(c.isspace() or ord(c) < 32 for c in url) or port == 0:
        return f"{name!r} is not a usable address, got {shown!r}"
    return ""


@dataclass(frozen=True, kw_only=True)
class HttpOptions(RunnerOptions):
    """How a served hub model is reached, and which text it is given."""

    url: str = option(
        check=_url_problem,
        reach=Reach.LOCATION,
        fix="give the address its model server answers on (`ersilia serve {model_id}`, or "
        "`docker run -p 8080:80 ersiliaos/{model_id}`, serves it at http://localhost:8080)",
    )
    # The model repository's run_columns.csv: each column's own type (the server
    # collapses them to one).
    run_columns: str | None = option(
        None,
        check=existing_path(
            Path.is_file,
            "the model's run_columns.csv (name,type,... per column, from its repository)",
        ),
        reach=Reach.LOCATION | Reach.LOCAL_FILE,
    )
    input_smiles: str = input_smiles_option()
    batch_size: int = batch_size_option()
    concurrency: int = concurrency_option(2)
    timeout_s: float = timeout_option(600.0)  # a batch: ~0.5 s + the model's compute
    ready_timeout_s: float = option(30.0, check=number_in(MAX_READY_TIMEOUT_S), reach=Reach.TUNING)


def _client(model_id: str, options: HttpOptions, pool: int, log: Log) -> HttpClient:
    return HttpClient(model_id, options.url, options.timeout_s, options.ready_timeout_s, pool, log)


class HttpRunner(BatchedRunner):
    """A served hub model: batches POSTed to `{url}/run`, `concurrency` in flight."""

    name = "http"
    options_class = HttpOptions

    @classmethod
    def describes_itself(cls, options: Mapping[str, Any]) -> bool:
        return True

    def __init__(self, spec: ModelSpec, log: Log = no_log):
        settings = self.check_options(spec.model_id, spec.options, "runner 'http'")
        super().__init__(spec, settings, log)
        self.client = _client(spec.model_id, settings, self.concurrency, log)

    @classmethod
    def check_options(cls, model_id: str, options: Mapping[str, Any], source: str) -> HttpOptions:
        return cast(HttpOptions, cls.parse_options(model_id, options, source))

    @classmethod
    def describe(cls, model_id: str, options: Mapping[str, Any]) -> ModelCard:
        """What the served model says of itself: columns and their types, examples."""
        settings = cls.check_options(model_id, options, "runner 'http'")
        with _client(model_id, settings, 1, no_log) as client:
            client.ensure_ready()
            answers = RouteAnswers(
                names=client.get_json(COLUMNS_ROUTE),
                card=client.get_json(CARD_ROUTE, missing={}),
                inputs=client.get_json(EXAMPLE_INPUT_ROUTE, missing=[]),
                outputs=client.get_json(EXAMPLE_OUTPUT_ROUTE, missing=[]),
            )
            typed = settings.run_columns
            columns = read_run_columns(Path(typed), model_id) if typed else None
            return served_card(model_id, client.shown, answers, columns)

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
                    f"{excerpt(response.text)}"
                )
            return records
        if status >= 500:
            raise BatchFailed(f"HTTP {status}: {excerpt(response.text)}", _model_error(response))
        raise self.client.refused(response, what)

    @contextmanager
    def stream(self) -> Iterator[Stream]:
        try:
            with super().stream() as stream:
                yield stream
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
