"""How fast the one lookup answers, on each backend and through the HTTP API.

    python benchmarks/lookup_speed.py                 # all three parts, ~1 min
    python benchmarks/lookup_speed.py --parts sqlite,dynamodb

- **sqlite**: a serving table of 20,000 real MOSES molecules x eos3b5e (published by
  the package's own upsert, with the model registered and its columns document in a
  local object store); `serving.lookup.lookup` of 1,000 and 10,000 keys, each in a
  fresh child process: wall time of the call (best of 5 calls in that process) and the
  process's peak RSS before and after (`ru_maxrss`), so the lookup's own memory shows.
  Also `precalc lookup --input keys.csv` end to end (process start-up included).
- **dynamodb**: moto's server on loopback behind a proxy that adds 10 ms to every
  request (about a real region's round trip from inside it); 1,000 keys through
  `lookup` (BatchGetItem of 100, several in flight) against a loop of `GetItem`, same
  keys, same run.
- **http**: `precalc serve` over the SQLite table; p50 / p99 of `POST /lookup` with 10
  and with 1,000 keys over one kept-alive connection.

Prints a table and writes `benchmarks/out/lookup-<stamp>.json`.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import http.client
import importlib.metadata
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
MOLSETS_FILE = "moses/dataset/data/train.csv.gz"
MODEL = "eos3b5e"
TABLE_ROWS = 20_000


def moses_smiles(count: int) -> list[str]:
    files = importlib.metadata.files("molsets") or []
    path = next(f.locate() for f in files if str(f).endswith(MOLSETS_FILE))
    with gzip.open(path, "rt") as handle:
        next(handle)
        return [next(handle).split(",")[0].strip() for _ in range(count)]


def build_items(count: int) -> list[Any]:
    """Serving items of `count` real molecules for eos3b5e, as the pipeline writes them."""
    from rdkit.Chem import Descriptors

    from precalc_assets.chem import canonicalize_rows
    from precalc_assets.stores.serving_table import ServingItem, utc_timestamp

    accepted, mols, _ = canonicalize_rows(list(enumerate(moses_smiles(count))))
    stamp = utc_timestamp()
    return [
        ServingItem(
            m.inchikey, MODEL, m.smiles, (Descriptors.MolWt(mol),), "lib-0000", "r", "v", stamp
        )
        for m, mol in zip(accepted, mols, strict=True)
    ]


def register(store: Any) -> None:
    """What `precalc add-model` and a publish leave behind for the lookup to read."""
    from precalc_assets import layout
    from precalc_assets.models.builtin import BUILTIN_SPECS
    from precalc_assets.models.published_columns import columns_document

    spec = BUILTIN_SPECS[MODEL]
    store.put_bytes(layout.model_request(MODEL), b"{}")
    store.put_bytes(
        layout.served_columns(MODEL),
        columns_document(MODEL, spec.code_version, spec.columns),
    )


# -- sqlite --------------------------------------------------------------------------


def vm_kb(field: str) -> int:
    """A /proc/self/status figure (VmHWM: this process's peak RSS; reset by exec, unlike
    ru_maxrss, which a child inherits from the parent that forked it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child_sqlite(home: Path, keys_file: Path, count: int) -> dict[str, Any]:
    """In a fresh process: import, then time `lookup` of the first `count` keys."""
    from precalc_assets.serving.lookup import lookup
    from precalc_assets.stores.factory import open_object_store, open_serving_table

    keys = keys_file.read_text().split()[:count]
    store = open_object_store((home / "storage").as_uri())
    table = open_serving_table(f"sqlite:///{home / 'serving.db'}")
    before = vm_kb("VmHWM") / 1024
    times = []
    for _ in range(5):
        started = time.perf_counter()
        answer = lookup(store, table, [MODEL], keys)
        times.append(time.perf_counter() - started)
    after = vm_kb("VmHWM") / 1024
    found = sum(r.status == "found" for r in answer.rows)
    return {
        "keys": count,
        "found": found,
        "best_s": min(times),
        "median_s": statistics.median(times),
        "rss_before_mb": before,
        "rss_peak_mb": after,
    }


def bench_sqlite(work: Path, items: list[Any]) -> dict[str, Any]:
    from precalc_assets.stores.factory import open_object_store, open_serving_table

    home = work / "home"
    store = open_object_store((home / "storage").as_uri())
    table = open_serving_table(f"sqlite:///{home / 'serving.db'}")
    table.ensure_table()
    table.upsert(items)
    register(store)
    keys_file = work / "keys.txt"
    keys_file.write_text("\n".join(i.inchikey for i in items))
    out: dict[str, Any] = {"table_items": len(items), "calls": []}
    for count in (1_000, 10_000):
        args = [sys.executable, __file__, "--child-sqlite", str(home), str(keys_file), str(count)]
        result = subprocess.run(args, capture_output=True, text=True, check=True)
        out["calls"].append(json.loads(result.stdout.strip().splitlines()[-1]))
    csv_file = work / "keys.csv"
    with csv_file.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["key"])
        writer.writerows([i.inchikey] for i in items[:10_000])
    env = {**os.environ, "PRECALC_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    precalc = str(Path(sys.executable).parent / "precalc")
    started = time.perf_counter()
    subprocess.run(
        [precalc, "lookup", "--model", MODEL, "--input", str(csv_file), "--format", "csv",
         "-o", str(work / "answer.csv")],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    out["cli_10000_keys_s"] = time.perf_counter() - started
    return out


# -- dynamodb ------------------------------------------------------------------------


class DelayProxy(ThreadingHTTPServer):
    """Forwards every request to `target` after `delay` seconds (a region's round trip)."""

    daemon_threads = True

    def __init__(self, target: str, delay: float) -> None:
        self.target, self.delay, self.requests = target, delay, 0
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One send per reply: headers and body written apart would wait out Nagle's algorithm
    # and the client's delayed ACK (~40 ms a reply), which is no region's latency.
    disable_nagle_algorithm = True
    wbufsize = 1 << 16

    def do_POST(self) -> None:
        server: DelayProxy = self.server  # type: ignore[assignment]
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(server.delay)
        server.requests += 1
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        request = urllib.request.Request(server.target + self.path, body, headers, method="POST")
        try:
            with urllib.request.urlopen(request) as response:
                status, data, reply_headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            status, data, reply_headers = exc.code, exc.read(), exc.headers
        self.send_response(status)
        for key, value in reply_headers.items():
            if key.lower() not in (
                "content-length",
                "connection",
                "transfer-encoding",
                "server",
                "date",
            ):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


def bench_dynamodb(work: Path, items: list[Any]) -> dict[str, Any]:
    import boto3

    from precalc_assets.serving.lookup import lookup
    from precalc_assets.stores.aws import client_config
    from precalc_assets.stores.dynamodb import DynamoServingTable
    from precalc_assets.stores.factory import open_object_store
    from precalc_assets.stores.serving_table import partition_key, sort_key

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1")  # fmt: skip
    # moto in a process of its own, as DynamoDB is: in this one it would share the GIL
    # with the client's reading threads.
    host, port = "127.0.0.1", free_port()
    moto = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", host, "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for(f"http://{host}:{port}/moto-api/", moto)
    proxy = DelayProxy(f"http://{host}:{port}", 0.010)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{proxy.server_address[1]}"
    try:
        client = boto3.client("dynamodb", endpoint_url=endpoint, config=client_config())
        table = DynamoServingTable(client, "lookup-bench")
        table.ensure_table()
        sample = items[:1_000]
        table.upsert(sample)
        store = open_object_store((work / "ddb-storage").as_uri())
        register(store)
        keys = [i.inchikey for i in sample]
        lookup(store, table, [MODEL], keys[:10])  # connections warm, table described
        batched = []
        client_cpu = []
        for _ in range(5):
            before, cpu = proxy.requests, time.process_time()
            started = time.perf_counter()
            answer = lookup(store, table, [MODEL], keys)
            batched.append((time.perf_counter() - started, proxy.requests - before))
            client_cpu.append(time.process_time() - cpu)  # this process: client and proxy
        found = sum(r.status == "found" for r in answer.rows)
        direct = boto3.client(
            "dynamodb", endpoint_url=f"http://{host}:{port}", config=client_config()
        )
        floor = []
        for _ in range(5):  # the same lookup straight to moto: its own processing time
            started = time.perf_counter()
            lookup(store, DynamoServingTable(direct, "lookup-bench"), [MODEL], keys)
            floor.append(time.perf_counter() - started)
        before = proxy.requests
        started = time.perf_counter()
        for key in keys:
            client.get_item(
                TableName="lookup-bench",
                Key={"PK": {"S": partition_key(key)}, "SK": {"S": sort_key(MODEL)}},
            )
        loop_s = time.perf_counter() - started
        best = min(batched)
        return {
            "keys": len(keys), "found": found, "added_latency_ms": 10,
            "batched_best_s": best[0], "batched_requests": best[1],
            "batched_median_s": statistics.median(t for t, _ in batched),
            "batched_without_proxy_best_s": min(floor),
            "client_and_proxy_cpu_s": min(client_cpu),
            "getitem_loop_s": loop_s, "getitem_requests": proxy.requests - before,
            "speedup": loop_s / best[0],
        }  # fmt: skip
    finally:
        proxy.shutdown()
        moto.terminate()
        moto.wait(timeout=30)


# -- http ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen) -> None:
    """Until `url` answers (any status), or fail if `process` ends or a minute passes."""
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{process.args[0]} did not start") from None
            time.sleep(0.2)


def bench_http(work: Path, items: list[Any]) -> dict[str, Any]:
    home = work / "home"  # the SQLite part's table
    port = free_port()
    env = {**os.environ, "PRECALC_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    precalc = str(Path(sys.executable).parent / "precalc")
    server = subprocess.Popen(
        [precalc, "serve", "--port", str(port)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/health", server)
        keys = [i.inchikey for i in items]
        out = {}
        for size, repeats in ((10, 300), (1_000, 60)):
            connection = http.client.HTTPConnection("127.0.0.1", port)
            times = []
            for n in range(repeats + 5):
                body = json.dumps(
                    {"modelId": MODEL, "inputKeyArray": keys[n * size % 15_000 :][:size]}
                )
                started = time.perf_counter()
                connection.request("POST", "/lookup", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                answer = json.loads(response.read())
                elapsed = time.perf_counter() - started
                assert response.status == 200 and len(answer["output"]) == size, answer
                if n >= 5:  # the first few warm the server
                    times.append(elapsed)
            connection.close()
            times.sort()
            out[f"{size}_keys"] = {
                "requests": len(times),
                "p50_ms": 1000 * times[len(times) // 2],
                "p99_ms": 1000 * times[min(len(times) - 1, int(len(times) * 0.99))],
            }
        return out
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child-sqlite":
        print(json.dumps(child_sqlite(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="sqlite,dynamodb,http")
    args = parser.parse_args()
    parts = args.parts.split(",")
    items = build_items(TABLE_ROWS)  # (the mols are gone once this returns)
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(),
        "loadavg_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="precalc-lookup-") as tmp:
        work = Path(tmp)
        if "sqlite" in parts or "http" in parts:
            result["sqlite"] = bench_sqlite(work, items)
        if "dynamodb" in parts:
            result["dynamodb"] = bench_dynamodb(work, items)
        if "http" in parts:
            result["http"] = bench_http(work, items)
    result["loadavg_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))
    OUT.mkdir(exist_ok=True)
    path = OUT / f"lookup-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"written {path}")


if __name__ == "__main__":
    main()
