"""`precalc lookup`: predictions of one or more models, by InChIKey or SMILES."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import click

from precalc_assets.cli.user_errors import user_errors
from precalc_assets.deployment import open_deployment
from precalc_assets.serving.formats import to_csv, to_json
from precalc_assets.serving.lookup import Answer, lookup

INPUT_COLUMNS = {"smiles": "smiles", "input": "smiles", "key": "key", "inchikey": "key"}


def read_input_file(path: Path) -> tuple[list[str], list[str]]:
    """(keys, SMILES) of a CSV whose header has a `smiles` (or `input`) or a `key`
    (or `inchikey`) column, case-insensitive."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [h.strip().lower() for h in next(reader, [])]
        found = [(i, INPUT_COLUMNS[h]) for i, h in enumerate(header) if h in INPUT_COLUMNS]
        if not found:
            raise click.ClickException(
                f"{path}: the header {header} has no smiles, input, key or inchikey column; "
                "name the column holding the molecules"
            )
        index, kind = found[0]
        values = []
        for line, row in enumerate(reader, start=2):
            if index >= len(row):
                raise click.ClickException(f"{path}, line {line}: no value in column {index + 1}")
            values.append(row[index])
    return (values, []) if kind == "key" else ([], values)


@click.command("lookup")
@click.option("--model", "models", multiple=True, required=True, help="Model ID (repeatable).")
@click.option("--key", "keys", multiple=True, help="InChIKey (repeatable).")
@click.option("--smiles", "smiles", multiple=True, help="SMILES (repeatable).")
@click.option(
    "--input",
    "input_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV with a smiles or key column.",
)
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File.")
@click.option(
    "--compute-missing",
    is_flag=True,
    help="Run the model on SMILES the table does not hold; serve and keep the results.",
)
def lookup_command(
    models: tuple[str, ...],
    keys: tuple[str, ...],
    smiles: tuple[str, ...],
    input_file: Path | None,
    fmt: str,
    output: Path | None,
    compute_missing: bool,
) -> None:
    """Look molecules up in the serving table: one row per input and model, in input
    order, each `found`, `missing`, `invalid` (with a reason) or `computed`.

    The models must be registered: a mistyped model ID is an error, not a page of misses.
    """
    all_keys, all_smiles = list(keys), list(smiles)
    if input_file is not None:
        file_keys, file_smiles = read_input_file(input_file)
        all_keys += file_keys
        all_smiles += file_smiles
    with user_errors():
        serving = open_deployment()
        answer = lookup(serving.store, serving.table, models, all_keys, all_smiles)
        if compute_missing:
            # The model's runner and RDKit are imported only when misses are computed.
            from precalc_assets.serving.compute_missing import compute_missing as compute

            compute(serving.store, serving.table, answer, serving.policy)
    text = render(answer, fmt)
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        output.write_text(text, encoding="utf-8")
        counts = ", ".join(f"{n} {s}" for s, n in status_counts(answer).items())
        click.echo(f"{len(answer.rows)} row(s) written to {output} ({counts})", err=True)


def render(answer: Answer, fmt: str) -> str:
    return to_csv(answer) if fmt == "csv" else to_json(answer, indent=2)


def status_counts(answer: Answer) -> Counter[str]:
    return Counter(row.status for row in answer.rows)
