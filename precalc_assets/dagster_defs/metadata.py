"""Dagster metadata from step results: counts, paths, timings and markdown tables."""

from __future__ import annotations

import dagster as dg

from precalc_assets import keys
from precalc_assets.models.examples import ExampleCheck
from precalc_assets.steps.results import StepResult


def _path_value(uri: str) -> dg.MetadataValue:
    """A local file as a path, an object in S3 as its `s3://` URI (a link in the UI),
    anything else (a serving table's URL) as text."""
    if uri.startswith("file://"):
        return dg.MetadataValue.path(uri.removeprefix("file://"))
    if uri.startswith("s3://"):
        return dg.MetadataValue.url(uri)
    return dg.MetadataValue.text(uri)


def counts_table(
    counts: dict[str, int],
    label: str,
    details: dict[str, str] | None = None,
    unit: str = "rows",
) -> dg.MetadataValue:
    """Rows (or another `unit`) by reason code, most first; with `details`, one row's
    detail of each."""
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    if details:
        lines = [f"| {label} | {unit} | e.g. |", "|---|---:|---|"]
        lines += [f"| {name} | {n:,} | {_cell(details.get(name, ''))} |" for name, n in ranked]
    else:
        lines = [f"| {label} | {unit} |", "|---|---:|"]
        lines += [f"| {name} | {n:,} |" for name, n in ranked]
    return dg.MetadataValue.md("\n".join(lines) if counts else f"no {label}s")


def _cell(text: str) -> str:
    """Text as one markdown table cell."""
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= keys.DETAIL_CHARS else text[: keys.DETAIL_CHARS - 3] + "..."


def interpreters_table(interpreters: dict[str, str]) -> dg.MetadataValue:
    """Which interpreter each repository model of the run ran with (its own environment)."""
    lines = ["| model | interpreter |", "|---|---|"]
    lines += [f"| {model} | `{python}` |" for model, python in sorted(interpreters.items())]
    return dg.MetadataValue.md("\n".join(lines))


def examples_table(checks: list[ExampleCheck]) -> dg.MetadataValue:
    lines = ["| model | examples | result |", "|---|---:|---|"]
    lines += [f"| {c.model_id} | {c.compared} | {c.summary()} |" for c in checks]
    return dg.MetadataValue.md("\n".join(lines))


def step_metadata(result: StepResult, rows_label: str, rejected_label: str) -> dict:
    """One partition's own figures, paths and reasons."""
    metadata: dict[str, object] = {
        keys.ROWS_IN: dg.MetadataValue.int(result.rows_in),
        rows_label: dg.MetadataValue.int(result.rows_out),
        rejected_label: dg.MetadataValue.int(result.rejected),
        "seconds": dg.MetadataValue.float(round(result.seconds, 3)),
        keys.MOLECULES_PER_SECOND: dg.MetadataValue.float(
            round(result.rows_in / result.seconds, 1) if result.seconds else 0.0
        ),
    }
    metadata.update({name: _path_value(uri) for name, uri in result.paths.items()})
    if result.code_version:
        metadata[keys.CODE_VERSION] = dg.MetadataValue.text(result.code_version)
    if result.reasons or result.rejected:
        metadata[f"{rejected_label}_by_reason"] = counts_table(
            result.reasons, "reason", result.reason_details
        )
    if result.nulled:  # never a silent null: the values the serving table cannot hold
        metadata[keys.NULLED_VALUES] = counts_table(
            result.nulled, "column", unit="values made null"
        )
    if result.target:
        metadata[keys.TARGET] = dg.MetadataValue.text(result.target)
    if result.taken_over:
        metadata[keys.TAKEN_OVER] = dg.MetadataValue.json(result.taken_over)
    return metadata


def record_partitions(
    context: dg.AssetExecutionContext,
    results: list[StepResult],
    rows_label: str,
    rejected_label: str,
) -> None:
    """Each partition of a (ranged) run gets its own figures on its own materialisation;
    what the run returns as `MaterializeResult` metadata is shown on every one of them."""
    for result in results:
        context.add_asset_metadata(
            step_metadata(result, rows_label, rejected_label), partition_key=partition_id(result)
        )


def partition_id(result: StepResult) -> str:
    """The partition a result is of: `"<model>|<slice>"`, or the slice alone."""
    return (
        keys.partition_id(result.model_id, result.slice_key)
        if result.model_id
        else result.slice_key
    )
