"""`precalc info MODEL`: one model as this deployment sees it: its card, columns, runner,
code version, drift baselines and ledger line."""

from __future__ import annotations

import json

import click

from precalc_assets import layout
from precalc_assets.cli.inputs import columns_summary
from precalc_assets.cli.user_errors import user_errors
from precalc_assets.deployment import open_deployment
from precalc_assets.inputs.model_requests import load_model_spec, read_card
from precalc_assets.inputs.registered import check_named
from precalc_assets.ledger.summary import summarize
from precalc_assets.models.spec import ModelSpec
from precalc_assets.models.trust import ModelPolicy
from precalc_assets.stores.object_store import ObjectStore

# The request options that say what a runner runs, in the order they are looked for.
WHAT_IT_RUNS = ("url", "repo", "callable", "command", "function")


@click.command("info")
@click.argument("model_id")
def info(model_id: str) -> None:
    """Card, columns, runner, code version, drift baselines and ledger line of a model."""
    with user_errors():
        here = open_deployment()
        check_named(here.store, [model_id])
        spec = load_model_spec(here.store, model_id, here.policy)
        lines = model_lines(here.store, here.policy, spec)
    from precalc_assets.orchestration.instance import open_instance
    from precalc_assets.orchestration.ledger_reads import build_ledger

    with user_errors():
        rows = build_ledger(open_instance(), here.store, here.policy, here.table.url, [model_id])
    (summary,) = summarize(rows)
    lines.append(
        f"ledger         {len(summary.done)}/{summary.slices} slices done, "
        f"{len(summary.stale)} stale, {len(summary.failed)} failed, "
        f"{len(summary.missing)} missing; {summary.rows_published:,} rows published, "
        f"{summary.rows_rejected:,} rejected"
        + (
            f"; last run {summary.last_run_id[:8]} at {summary.last_materialized_at}"
            if summary.last_run_id
            else ""
        )
    )
    click.echo("\n".join(lines))


def model_lines(store: ObjectStore, policy: ModelPolicy, spec: ModelSpec) -> list[str]:
    """What a model is, from its request, its card and its pinned baselines."""
    what = next((spec.options[k] for k in WHAT_IT_RUNS if k in spec.options), "")
    what = what if isinstance(what, str) else " ".join(what)  # a command's argv
    declared = f" (declared in {policy.models_file})" if spec.model_id in policy.declared else ""
    lines = [
        f"model          {spec.model_id}: {spec.description or '-'}",
        f"runner         {spec.runner} {what}{declared}",
        f"columns        {columns_summary(spec)}",
        f"code version   {spec.code_version}",
    ]
    card = read_card(store, spec.model_id)
    if card is not None:
        lines.append(
            f"card           {card.source}: {card.identifier or '-'} {card.slug or ''}, "
            f"output consistency {card.consistency or 'not said'}, "
            f"{len(card.example_inputs)} example(s)"
        )
    chosen = spec.checks.get("drift", {}).get("baseline_slice")
    pins = [
        json.loads(store.get_bytes(i.key))["slice"]
        for i in store.list(layout.drift_baselines(spec.model_id))
    ]
    baseline = f"{chosen} (checks.drift.baseline_slice)" if chosen else ", ".join(sorted(pins))
    lines.append(f"drift baseline {baseline or 'none pinned yet (per library, its first slice)'}")
    return lines
