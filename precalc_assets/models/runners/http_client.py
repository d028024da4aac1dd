"""The client of one served hub model: a session sized to the batches in flight, the
server's readiness, and requests retried on 429, 503 and lost connections.

What it does with an answer:
- 429, 503, a refused or reset connection: retried with backoff, honouring
  `Retry-After` (each wait capped), `MAX_ATTEMPTS` times at most;
- a read timeout, a TLS failure or another request error: a `ModelError` at once;
- any other status: the response, for the runner to read (`refused` says why one that is
  neither a success nor a model failure stops the partition).
"""

from __future__ import annotations

import email.utils
import math
import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError

from precalc_assets.models.runners.base import Log
from precalc_assets.models.shown_text import SHOWN_CHARS, excerpt, redact
from precalc_assets.models.spec import ModelError

CONNECT_TIMEOUT_S = 10.0
DESCRIBE_TIMEOUT_S = 30.0  # a route of the model's own metadata: no model runs
READY_POLL_S = 0.5
MAX_ATTEMPTS = 8  # of one request answered 429/503 or not connected
FIRST_BACKOFF_S = 0.5  # doubled each attempt when the server does not say how long
MAX_WAIT_S = 60.0  # the longest wait between two attempts, whatever Retry-After says
RETRIED_STATUSES = (429, 503)


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


def _is_retried(exc: requests.RequestException) -> bool:
    """A connection refused or reset (not a TLS failure): the server may come back."""
    return not isinstance(exc, requests.exceptions.SSLError) and isinstance(
        exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError
    )


class HttpClient:
    """One model server: a session sized to the batches in flight, retries, readiness."""

    def __init__(
        self,
        model_id: str,
        url: str,
        timeout_s: float,
        ready_timeout_s: float,
        pool: int,
        log: Log,
    ):
        self.model_id, self.log = model_id, log
        self.base = url.strip().rstrip("/")
        self.shown = redact(self.base)
        self.timeout_s = float(timeout_s)
        self.ready_timeout_s = float(ready_timeout_s)
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(pool, 1), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._ready = False
        self._ready_error = ""
        self._ready_lock = threading.Lock()

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpClient:
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
                    method, url, timeout=(CONNECT_TIMEOUT_S, read_s), allow_redirects=False, **kw
                )
            except requests.RequestException as exc:
                if _is_read_timeout(exc) or not _is_retried(exc):
                    raise self._failed(exc, what, read_s) from None
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

    def _failed(self, exc: requests.RequestException, what: str, read_s: float) -> ModelError:
        """The error of a request that is not retried: a read timeout, TLS, the rest."""
        if _is_read_timeout(exc):
            return ModelError(
                f"model {self.model_id!r} at {self.shown} did not answer {what} "
                f"within {read_s:g} s: the model hangs, or is slower than that; "
                "raise the model's 'timeout_s' (seconds per request) or lower its "
                "'batch_size' if it is only slow"
            )
        hint = (
            "; check the server's TLS certificate, or its 'url' scheme"
            if isinstance(exc, requests.exceptions.SSLError)
            else ""
        )
        return ModelError(
            f"model {self.model_id!r} at {self.shown}: {what} failed: "
            f"{type(exc).__name__}: {redact(str(exc))[-SHOWN_CHARS:]}{hint}"
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
            f"{excerpt(response.text)}; check that 'url' is the model server's address and "
            "that it serves a hub model"
        )

    def json_of(self, response: Any, what: str) -> Any:
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type")
            raise ModelError(
                f"model {self.model_id!r} at {self.shown} answered {what} with something "
                f"that is not JSON ({kind}): {excerpt(response.text)}; is 'url' the model "
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
