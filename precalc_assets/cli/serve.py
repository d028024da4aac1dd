"""`precalc serve`: the lookup as a local HTTP API (`serving.http_api`), with OpenAPI docs
and `/models` from the ledger."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any

import click

from precalc_assets import keys
from precalc_assets.deployment import Deployment, open_deployment
from precalc_assets.ledger.computed import computed_counts
from precalc_assets.orchestration.instance import open_instance, registered
from precalc_assets.orchestration.ledger_reads import build_ledger


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port."
)
@click.option(
    "--allow-compute/--no-allow-compute",
    default=False,
    show_default=True,
    help="Let `computeMissing` run the model on SMILES the table does not hold (and write "
    "the results). Off: the server only reads, and such a request is a 400.",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    metavar="NAME",
    help="A host name (or address) clients may send as `Host`, besides the bound address "
    "(loopback: 127.0.0.1, localhost, [::1]): the public name behind a proxy. Repeatable; "
    "`*` accepts any.",
)
def serve(host: str, port: int, allow_compute: bool, allowed_hosts: tuple[str, ...]) -> None:
    """Serve lookups over HTTP: POST /lookup (the JSON request of every face), GET /lookup,
    /models (the ledger per model), /health; OpenAPI docs at /docs. Ctrl-C stops it."""
    try:
        import uvicorn

        from precalc_assets.serving.host_check import LOOPBACK_HOSTS, allowed_hosts_for
        from precalc_assets.serving.http_api import create_app
    except ImportError as exc:
        raise click.ClickException(
            f"precalc serve needs FastAPI and uvicorn ({exc}); install them with "
            "pip install 'precalc_assets[serve]'"
        ) from exc
    hosts = allowed_hosts_for(host, allowed_hosts)
    instance = open_instance()
    deployment = open_deployment()
    app = create_app(
        deployment,
        ledger_reader(instance, deployment),
        allow_compute=allow_compute,
        allowed_hosts=hosts,
    )
    base = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    click.echo(f"serving lookups at {base} (API docs: {base}/docs)")
    click.echo(f"answering requests for Host: {', '.join(hosts)} (--allowed-host adds one)")
    if host not in LOOPBACK_HOSTS:
        more = " and run models (--allow-compute)" if allow_compute else ""
        click.echo(
            f"warning: {host} is not loopback and this API has no authentication: anyone "
            f"who can reach port {port} can look molecules up{more}",
            err=True,
        )
    sys.stdout.flush()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port))
    # uvicorn shuts down gracefully on Ctrl-C, then raises it again: it ends here.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    click.echo("stopped")


def ledger_reader(instance: Any, deployment: Deployment) -> Callable[[], list[dict[str, Any]]]:
    """What `/models` shows (`models_view`), read from the ledger of the Dagster `instance`
    when called (`models_routes` caches it for a few seconds)."""
    from precalc_assets.serving.models_view import RunTimes, models_document

    ended: dict[str, RunTimes] = {}  # an ended run's times never change: read them once

    def times(run_id: str) -> RunTimes:
        if run_id in ended:
            return ended[run_id]
        record = instance.get_run_record_by_id(run_id)
        found = RunTimes(record.start_time, record.end_time) if record else RunTimes()
        if found.ended is not None:
            ended[run_id] = found
        return found

    def read() -> list[dict[str, Any]]:
        models = registered(instance, keys.MODEL)
        store = deployment.store
        rows = build_ledger(instance, store, deployment.policy, deployment.table.url, models)
        runs = {run_id: times(run_id) for run_id in {row.run_id for row in rows if row.run_id}}
        return models_document(models, rows, computed_counts(store, models), runs)

    return read
