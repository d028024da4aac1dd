"""`precalc ledger`, `checks` and `alerts`: what is done, what the checks say, and
the notifications they call for."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime

import click

from precalc_assets import keys
from precalc_assets.cli.user_errors import user_errors
from precalc_assets.dagster_defs.sensors.alerts import alerts_once
from precalc_assets.definitions import build_definitions
from precalc_assets.deployment import open_policy, open_storage, open_table
from precalc_assets.inputs.rejected import load_rejected_inputs
from precalc_assets.ledger.computed import computed_counts
from precalc_assets.ledger.summary import (
    failure_lines,
    in_progress_lines,
    other_target_lines,
    summarize,
    summary_markdown,
)
from precalc_assets.orchestration.check_executions import latest_check_results
from precalc_assets.orchestration.instance import open_instance, registered
from precalc_assets.orchestration.ledger_reads import build_ledger
from precalc_assets.quality.report import checks_markdown
from precalc_assets.settings import Settings
from precalc_assets.stores.urls import history_target


@click.command("ledger")
@click.option("--model", "models", multiple=True, help="Only this model (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
def ledger(models: tuple[str, ...], fmt: str) -> None:
    """What is done, stale, failed or missing, per model (from materialisation history)."""
    inst = open_instance()
    with user_errors():
        chosen = registered(inst, keys.MODEL, models)
    with user_errors():
        store, policy, table_url = open_storage(), open_policy(), open_table().url
        rows = build_ledger(inst, store, policy, table_url, chosen)
        rejected = load_rejected_inputs(store)
        computed = computed_counts(store, chosen)
    summaries = summarize(rows, computed)
    if fmt == "json":
        payload = {"models": [s.to_dict() for s in summaries], "rejected_inputs": rejected}
        click.echo(json.dumps(payload, indent=2))
    elif fmt == "csv":
        writer = csv.DictWriter(
            sys.stdout, fieldnames=list(rows[0].__dict__) if rows else ["model"]
        )
        writer.writeheader()
        for row in rows:
            writer.writerow(row.__dict__)
    else:
        click.echo(summary_markdown(summaries))
        for line in in_progress_lines(rows, datetime.now(UTC)) + failure_lines(rows):
            click.echo(line)
        for line in other_target_lines(rows, history_target(store.url, table_url)):
            click.echo(f"warning: {line}", err=True)
        for key, why in rejected.items():
            click.echo(f"rejected input {store.uri(key)}: {why}")


@click.command("checks")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def checks(fmt: str = "table") -> None:
    """The latest check result of every model x slice: counts per check, then failures."""
    results = latest_check_results(open_instance())
    if fmt == "json":
        click.echo(json.dumps([asdict(r) for r in results], indent=2))
        return
    click.echo(checks_markdown(results) if results else "no check has run yet")


@click.command("alerts")
def alerts() -> None:
    """Send notifications for new check failures and failed runs now, and print them:
    what `check_alerts_sensor` does every 30 s under the daemon, for setups without one.
    Its cursor is $PRECALC_HOME/alerts.cursor.json (the daemon keeps its own)."""
    cursor_file = Settings.from_env().home / "alerts.cursor.json"
    cursor = cursor_file.read_text() if cursor_file.exists() else None
    with user_errors():
        said, cursor = alerts_once(open_instance(), build_definitions().resources, cursor)
        cursor_file.write_text(cursor)
    click.echo(said)
