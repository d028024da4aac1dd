"""A stand-in for a served hub model, for tests and benchmarks. By default it is the
molecular weight model (`eos3b5e`); `repo=` serves a template-layout repository instead.

It speaks the protocol of the hub's own server (ersilia-pack), as measured against it:

- ``GET /`` -> ``{"eos3b5e": "molecular-weight"}`` (any 2xx-4xx means "ready");
  ``HEAD /`` -> 405.
- ``GET /run/columns/output`` -> the output column names.
- ``GET /card`` -> metadata: ``Identifier``, ``Slug``, ``Output Consistency``, and an
  ``Output Type`` collapsed to one type (float + integer -> ``["Float"]``) with
  ``Output Shape: "List"`` when there are several columns.
- ``GET /run/example/input`` / ``GET /run/example/output`` -> a few SMILES and their
  outputs (records, same order), every value as the collapsed type.
- ``POST /run?fetch_cache=False&save_cache=False`` with a JSON list of SMILES (or of
  ``{"key", "input"}`` objects) -> ``[{"mol_weight": 46.069}, ...]``, input order, every
  value as the collapsed type (``3.0`` for an integer 3), ``null`` for an output the
  model could not compute. A batch holding a SMILES the model cannot handle fails whole:
  500 with ``{"detail": "Internal processing error", "traceback": "..."}``, the model's
  own error on the traceback's last line. ``[]`` or a body that is not a JSON list ->
  422.

The built-in model's columns (``columns``): ``mol_weight`` (Float, RDKit's MolWt; the
empty string gives 0.0, as the real model does), ``heavy_atoms`` (Integer,
``GetNumHeavyAtoms``) and ``max_gasteiger_charge`` (Float, RDKit's MaxPartialCharge: null
for a metal complex, whose Gasteiger charges are NaN).

``repo=<template-layout repository>, python=<interpreter>``: serves that repository as
the hub's server does: its columns are the header of its example output, its card its
``metadata.yml``/``metadata.json`` with the type of ``run_columns.csv`` collapsed, and a
POST runs ``bash run.sh <framework> <in.csv> <out.csv> <repo>`` with ``python``'s folder
first on PATH (500 with its stderr as the traceback when it fails).

Modes that keep what earlier tests relied on: ``per_column_types`` (the card has one
type per column, values keep their own types) and ``plain_500`` (a failed batch answers
500 ``text/plain`` "Internal Server Error").

Faults, attributes to set on a running server (a test sets them between calls):
- ``delay_s``: fixed cost of every POST, seconds (the real model starts a process per
  request, ~0.5 s).
- ``workers``: at most this many POSTs processed at once (a semaphore; ``None``:
  unlimited). Set it before the first POST. A POST waiting for a worker is not busy.
- ``fail_on``: a substring; a batch holding a SMILES that contains it answers 500.
- ``every_nth_429``: every Nth POST answers 429 with ``Retry-After: <retry_after>``
  (``retry_after`` is sent as written: ``"0.2"``, ``"1"`` or an HTTP date).
- ``unavailable``: the next N POSTs answer 503 (an open circuit breaker).
- ``reset``: the next N POSTs close the connection without an answer.
- ``fewer_rows``: the next N POSTs answer one row fewer than they were given.
- ``drop_on``: a substring; the rows of SMILES containing it are left out of the answer
  (a model that skips what it cannot handle: the answer is short).
- ``reorder_keys``: each record's keys in reverse order (mapping by name must still work;
  use ``columns=("mol_weight", "heavy_atoms")`` to make the order matter).
- ``extra_key``: each record also has an undeclared key, ``"units": "g/mol"``.
- ``html``: POSTs answer 200 ``text/html`` (a proxy's error page).
- ``hang_s``: sleep that long before answering a POST (``stop()`` ends the sleep).
- ``redirect_to``: POSTs answer 307 with ``Location: <redirect_to>/run``.
- ``not_ready_s``: every route answers 503 until this long after the server started
  (a model still loading).
- ``examples``: ``False`` makes the example routes answer 404.

Counters: ``requests`` (POSTs to /run), ``batch_sizes`` (molecules of each POST, in
order of arrival), ``post_times`` (``time.monotonic()`` of each POST's arrival),
``busy_seconds`` (wall time during which at least one POST was being processed),
``gets`` (GETs, any route). ``reset_counters()`` zeroes them.

Run it by hand for a walkthrough::

    python -m precalc_assets_tests.model_server --port 8080 --delay 0.5
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from rdkit import Chem, RDLogger
from rdkit.Chem import Descriptors

IDENTIFIER = "eos3b5e"
SLUG = "molecular-weight"
COLUMN_TYPES = {"mol_weight": "Float", "heavy_atoms": "Integer", "max_gasteiger_charge": "Float"}
EXAMPLE_INPUTS = (
    "CCO",
    "c1ccccc1",
    "CC(=O)Oc1ccccc1C(=O)O",
    "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
    "OC(=O)c1ccccc1Br",
)
SERVER_ERROR = "Internal processing error"
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def _value(column: str, mol: Chem.Mol) -> Any:
    if column == "mol_weight":
        return Descriptors.MolWt(mol)
    if column == "heavy_atoms":
        return mol.GetNumHeavyAtoms()
    charge = Descriptors.MaxPartialCharge(mol)
    return None if math.isnan(charge) else charge


def predict(smiles: Sequence[str], columns: Sequence[str]) -> list[dict[str, Any]] | None:
    """The records the model answers, or None when one SMILES cannot be parsed."""
    records = []
    for text in smiles:
        mol = Chem.MolFromSmiles(text)
        if mol is None:
            return None
        records.append({column: _value(column, mol) for column in columns})
    return records


def collapse(types: Sequence[str]) -> str:
    """The one `Output Type` the hub's server gives a model of these column types."""
    kinds = {t.lower() for t in types}
    if kinds <= {"float", "integer"}:
        return "Float" if "float" in kinds else "Integer"
    return "String"


def as_type(value: Any, hub_type: str) -> Any:
    """A value as the server sends it: every value as the one type; empty -> null."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    if hub_type == "Float":
        return float(value)
    if hub_type == "Integer":
        return int(float(value))
    return str(value)


def traceback_of(error: str, where: str = "main.py") -> str:
    """A Python traceback whose last line is the model's own error, as a 500 body holds."""
    return (
        "Traceback (most recent call last):\n"
        f'  File "/repo/model/framework/code/{where}", line 42, in <module>\n'
        "    main(sys.argv[1], sys.argv[2])\n"
        f"{error}\n"
    )


class BuiltinModel:
    """The molecular weight model, computed in this process."""

    def __init__(self, columns: Sequence[str]):
        unknown = [c for c in columns if c not in COLUMN_TYPES]
        if unknown or not columns:
            raise ValueError(f"columns must be some of {sorted(COLUMN_TYPES)}, got {columns}")
        self.columns = tuple(columns)
        self.types = [COLUMN_TYPES[c] for c in columns]
        self.identifier, self.slug = IDENTIFIER, SLUG
        self.example_inputs = EXAMPLE_INPUTS

    def card(self) -> dict[str, Any]:
        return {
            "Identifier": IDENTIFIER,
            "Slug": SLUG,
            "Status": "Ready",
            "Title": "Molecular weight",
            "Description": "The molecular weight of a molecule, RDKit's MolWt (a stand-in).",
            "Task": ["Representation"],
            "Input": ["Compound"],
            "Input Shape": "Single",
            "Output": ["Other value"],
            "Output Consistency": "Fixed",
            "Interpretation": "Molecular weight in g/mol",
            "License": "MIT",
        }

    def example_outputs(self) -> list[dict[str, Any]]:
        return predict(EXAMPLE_INPUTS, self.columns) or []

    def compute(self, smiles: list[str], fail_on: str | None) -> list[dict[str, Any]] | str:
        """The records, or the traceback of the model's failure."""
        if fail_on and any(fail_on in s for s in smiles):
            return traceback_of(f"ValueError: cannot handle a molecule containing {fail_on!r}")
        records = predict(smiles, self.columns)
        if records is None:
            bad = next(s for s in smiles if Chem.MolFromSmiles(s) is None)
            return traceback_of(f"ValueError: RDKit cannot read the SMILES {bad!r}")
        return records


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    return rows[0], rows[1:]


class RepositoryModel:
    """A template-layout repository, run by its `run.sh` as the hub's server runs it."""

    def __init__(self, repo: Path, python: str):
        self.repo, self.python = Path(repo), python
        framework = self.repo / "model" / "framework"
        self.framework = framework
        self.columns, self.example_rows = _read_csv(framework / "examples" / "run_output.csv")
        _, inputs = _read_csv(framework / "examples" / "run_input.csv")
        self.example_inputs = tuple(row[0] for row in inputs)
        _, typed = _read_csv(framework / "columns" / "run_columns.csv")
        self.types = [row[1].capitalize() for row in typed]
        card = next(
            self.repo / n for n in ("metadata.yml", "metadata.json") if (self.repo / n).exists()
        )
        self.metadata = yaml.safe_load(card.read_text())
        self.identifier, self.slug = self.metadata["Identifier"], self.metadata.get("Slug", "")

    def card(self) -> dict[str, Any]:
        return dict(self.metadata)

    def example_outputs(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.example_rows]

    def compute(self, smiles: list[str], fail_on: str | None) -> list[dict[str, Any]] | str:
        with tempfile.TemporaryDirectory(prefix="stand-in-server-") as tmp:
            folder = Path(tmp)
            with (folder / "in.csv").open("w", newline="") as handle:
                csv.writer(handle).writerows([["input"], *([s] for s in smiles)])
            environ = {
                "PATH": f"{Path(self.python).parent}:{SYSTEM_PATH}",
                "HOME": tmp,
                "LANG": "C.UTF-8",
            }
            argv = ["bash", str(self.framework / "run.sh"), str(self.framework)]
            argv += [str(folder / "in.csv"), str(folder / "out.csv"), str(self.repo)]
            done = subprocess.run(argv, cwd=tmp, env=environ, capture_output=True, text=True)
            if done.returncode != 0 or not (folder / "out.csv").exists():
                return done.stderr or f"run.sh exited with status {done.returncode}"
            header, rows = _read_csv(folder / "out.csv")
        return [dict(zip(header, row, strict=True)) for row in rows]


class ModelServer:
    """The stand-in server on 127.0.0.1, a free port, in a daemon thread; see the module
    docstring for its routes, faults and counters. Use as a context manager or call
    `stop()`."""

    def __init__(
        self,
        columns: Sequence[str] = ("mol_weight",),
        port: int = 0,
        repo: Path | None = None,
        python: str = sys.executable,
        **faults: Any,
    ):
        RDLogger.DisableLog("rdApp.*")
        self.model = RepositoryModel(repo, python) if repo else BuiltinModel(columns)
        self.columns = tuple(self.model.columns)
        self.per_column_types = False
        self.plain_500 = False
        self.delay_s = 0.0
        self.workers: int | None = None
        self.fail_on: str | None = None
        self.every_nth_429 = 0
        self.retry_after = "1"
        self.unavailable = 0
        self.reset = 0
        self.fewer_rows = 0
        self.drop_on: str | None = None
        self.reorder_keys = False
        self.extra_key = False
        self.html = False
        self.hang_s = 0.0
        self.redirect_to: str | None = None
        self.not_ready_s = 0.0
        self.examples = True
        for name, value in faults.items():
            if not hasattr(self, name):
                raise TypeError(f"unknown fault {name!r}")
            setattr(self, name, value)
        self._lock = threading.Lock()
        self._semaphore: threading.Semaphore | None = None
        self._semaphore_size: int | None = None
        self._stopping = threading.Event()
        self.reset_counters()
        self.started = time.monotonic()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._server.daemon_threads = True
        self._server.model = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def reset_counters(self) -> None:
        with self._lock:
            self.requests = 0
            self.gets = 0
            self.batch_sizes: list[int] = []
            self.post_times: list[float] = []
            self.busy_seconds = 0.0
            self._active = 0
            self._busy_since = 0.0

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ModelServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ the model

    def output_type(self) -> list[str]:
        """The card's `Output Type`: collapsed to one type, as the hub's server does."""
        if self.per_column_types and len(self.model.types) > 1:
            return list(self.model.types)
        return [collapse(self.model.types)]

    def card(self) -> dict[str, Any]:
        types = self.output_type()
        shape = "Single" if len(self.columns) == 1 else "List"
        return {**self.model.card(), "Output Type": types, "Output Shape": shape}

    def typed(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Records as sent: each value as its column's card type, empty -> null."""
        types = self.output_type()
        types = types * len(self.columns) if len(types) == 1 else types
        by_column = dict(zip(self.columns, types, strict=True))
        return [
            {k: as_type(v, by_column[k]) if k in by_column else v for k, v in r.items()}
            for r in records
        ]

    def example_outputs(self) -> list[dict[str, Any]]:
        return self.typed(self.model.example_outputs())

    def not_ready(self) -> bool:
        return time.monotonic() - self.started < self.not_ready_s

    def _worker(self) -> threading.Semaphore | contextlib.nullcontext[None]:
        with self._lock:
            if self.workers is None:
                return contextlib.nullcontext()
            if self._semaphore is None or self._semaphore_size != self.workers:
                self._semaphore = threading.Semaphore(self.workers)
                self._semaphore_size = self.workers
            return self._semaphore

    def _busy(self, started: bool) -> None:
        with self._lock:
            now = time.monotonic()
            if started:
                self._active += 1
                if self._active == 1:
                    self._busy_since = now
            else:
                self._active -= 1
                if self._active == 0:
                    self.busy_seconds += now - self._busy_since

    def _count_post(self, size: int) -> int:
        with self._lock:
            self.requests += 1
            self.batch_sizes.append(size)
            self.post_times.append(time.monotonic())
            return self.requests

    def _take(self, name: str) -> bool:
        """Whether a counted fault (`unavailable`, `reset`, `fewer_rows`) applies to this
        POST."""
        with self._lock:
            if getattr(self, name) > 0:
                setattr(self, name, getattr(self, name) - 1)
                return True
            return False

    def answer_run(self, body: bytes) -> tuple[int, dict[str, str], bytes] | None:
        """(status, headers, body) of a POST to /run; None: close without answering."""
        try:
            items = json.loads(body or b"null")
        except ValueError:
            items = None
        if not isinstance(items, list) or not items:
            return _json(422, {"detail": "the body must be a non-empty JSON list of inputs"})
        smiles = [item.get("input", "") if isinstance(item, dict) else item for item in items]
        if not all(isinstance(s, str) for s in smiles):
            return _json(422, {"detail": "every input must be a SMILES string"})
        number = self._count_post(len(smiles))
        if self._take("reset"):
            return None
        if self.redirect_to:
            return 307, {"Location": f"{self.redirect_to}/run", "Content-Length": "0"}, b""
        if self.every_nth_429 and number % self.every_nth_429 == 0:
            status, headers, payload = _json(429, {"detail": "Too Many Requests"})
            return status, {**headers, "Retry-After": str(self.retry_after)}, payload
        if self._take("unavailable"):
            return _json(503, {"detail": "circuit breaker open"})
        if self.hang_s:
            self._stopping.wait(self.hang_s)
        with self._worker():
            self._busy(True)
            try:
                return self._compute(smiles)
            finally:
                self._busy(False)

    def _compute(self, smiles: list[str]) -> tuple[int, dict[str, str], bytes]:
        if self.delay_s:
            time.sleep(self.delay_s)
        records = self.model.compute(smiles, self.fail_on)
        if isinstance(records, str):
            if self.plain_500:
                return _text(500, "text/plain", "Internal Server Error")
            return _json(500, {"detail": SERVER_ERROR, "traceback": records})
        records = self.typed(records)
        if self.html:
            return _text(200, "text/html", "<html><body><h1>Bad Gateway</h1></body></html>")
        if self.drop_on:
            records = [r for s, r in zip(smiles, records, strict=True) if self.drop_on not in s]
        if self._take("fewer_rows"):
            records = records[:-1]
        if self.extra_key:
            records = [{**r, "units": "g/mol"} for r in records]
        if self.reorder_keys:
            records = [dict(reversed(r.items())) for r in records]
        return _json(200, records)


def _json(status: int, payload: Any) -> tuple[int, dict[str, str], bytes]:
    return _text(status, "application/json", json.dumps(payload))


def _text(status: int, content_type: str, text: str) -> tuple[int, dict[str, str], bytes]:
    body = text.encode()
    return status, {"Content-Type": content_type, "Content-Length": str(len(body))}, body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn serves it
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stalls
    server_version = "stand-in-model/1"

    @property
    def model(self) -> ModelServer:
        return self.server.model  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests and benchmarks read the counters instead."""

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._send(405, {"Allow": "GET", "Content-Length": "0"}, b"")

    def do_GET(self) -> None:
        model = self.model
        with model._lock:
            model.gets += 1
        if model.not_ready():
            return self._send(*_json(503, {"detail": "model is starting"}))
        path = urlsplit(self.path).path.rstrip("/") or "/"
        routes: dict[str, Any] = {
            "/": {model.model.identifier: model.model.slug},
            "/card": model.card(),
            "/run/columns/output": list(model.columns),
        }
        if model.examples:
            routes["/run/example/input"] = list(model.model.example_inputs)
            routes["/run/example/output"] = model.example_outputs()
        if path in routes:
            return self._send(*_json(200, routes[path]))
        if path == "/run":
            return self._send(*_json(405, {"detail": "Method Not Allowed"}))
        return self._send(*_json(404, {"detail": "Not Found"}))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        model = self.model
        if model.not_ready():
            return self._send(*_json(503, {"detail": "model is starting"}))
        if urlsplit(self.path).path.rstrip("/") != "/run":
            return self._send(*_json(404, {"detail": "Not Found"}))
        answer = model.answer_run(body)
        if answer is None:
            self.close_connection = True
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
            self._send(*answer)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A stand-in hub model server (eos3b5e).")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per POST")
    parser.add_argument("--workers", type=int, default=None, help="POSTs processed at once")
    parser.add_argument("--repo", type=Path, help="serve this template-layout repository")
    parser.add_argument("--python", default=sys.executable, help="its environment's python")
    args = parser.parse_args(argv)
    server = ModelServer(
        port=args.port,
        repo=args.repo,
        python=args.python,
        delay_s=args.delay,
        workers=args.workers,
    )
    model = server.model
    print(f"serving {model.identifier} ({model.slug}) at {server.url}; Ctrl-C to stop", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
