"""`precalc demo`: the whole pipeline on real molecules that RDKit ships."""

from __future__ import annotations

import json
from pathlib import Path

import click
import rdkit

from precalc_assets.chem import fragment_smiles
from precalc_assets.cli.inputs import add_library, add_model
from precalc_assets.cli.reports import alerts, checks
from precalc_assets.cli.runs import run
from precalc_assets.models.catalog import builtin_ids
from precalc_assets.settings import Settings

REFERENCE = "nci-first5k-0000"  # the demo's reference slice for drift


@click.command("demo")
@click.option("--slice-size", type=click.IntRange(min=1), default=1000, show_default=True)
def demo(slice_size: int) -> None:
    """Register RDKit's NCI sample (4,999 real molecules), a library of a different
    chemical space (small BRICS fragments of the same molecules) and the built-in models; run
    everything missing, then show the checks and the alerts they raised."""
    library = Path(rdkit.__file__).parent / "Data" / "NCI" / "first_5K.smi"
    fragments = Settings.from_env().home / "demo" / "fragments.smi"
    if not fragments.exists():
        fragments.parent.mkdir(parents=True, exist_ok=True)
        smiles = (line.split()[0] for line in library.read_text().splitlines() if line.strip())
        small = fragment_smiles(smiles, slice_size, max_heavy_atoms=10)  # fragment-like
        fragments.write_text("".join(f"{s}\n" for s in small))
    ctx = click.get_current_context()
    ctx.invoke(add_library, path=library, name="nci-first5k", slice_size=slice_size)
    ctx.invoke(add_library, path=fragments, name="fragments", slice_size=slice_size)
    # Each library is its own drift baseline by default; here NCI is the reference library
    # the fragments are compared with, so their drift shows (one alert per model).
    reference = fragments.parent / "reference-library.json"
    reference.write_text(json.dumps({"checks": {"drift": {"baseline_slice": REFERENCE}}}))
    for model_id in builtin_ids():
        ctx.invoke(add_model, model_id=model_id, spec=reference)
    # One worker: the two libraries share a few InChIKeys, and concurrent runs publishing
    # the same key at the same moment can both count it (README, known limitations).
    ctx.invoke(run, models=(), slices=(), workers=1)
    click.echo("\nChecks (latest result per model x slice):")
    ctx.invoke(checks)
    click.echo(f"\nAlerts (also in {Settings.from_env().home / 'alerts.jsonl'}):")
    ctx.invoke(alerts)
