"""Dagster metadata from step results: counts, paths, timings and markdown tables."""

from __future__ import annotations

import dagster as dg

from precalc_assets.pipeline import StepResult


def _path_value(uri: str) -> dg.MetadataValue:
    return dg.MetadataValue.path(uri.removeprefix("file://"))


def counts_table(counts: dict[str, int], label: str) -> dg.MetadataValue:
    lines = [f"| {label} | rows |", "|---|---:|"]
    lines += [f"| {name} | {n:,} |" for name, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    return dg.MetadataValue.md("\n".join(lines) if counts else f"no {label}s")


def step_metadata(results: list[StepResult], rows_label: str, rejected_label: str) -> dict:
    """One partition: its own figures; several (a ranged run): totals plus a table."""
    total_in = sum(r.rows_in for r in results)
    total_out = sum(r.rows_out for r in results)
    seconds = sum(r.seconds for r in results)
    metadata: dict[str, object] = {
        "rows_in": dg.MetadataValue.int(total_in),
        rows_label: dg.MetadataValue.int(total_out),
        rejected_label: dg.MetadataValue.int(sum(r.rejected for r in results)),
        "seconds": dg.MetadataValue.float(round(seconds, 3)),
        "rows_per_second": dg.MetadataValue.float(round(total_in / seconds, 1) if seconds else 0.0),
    }
    if len(results) == 1:
        result = results[0]
        metadata.update({name: _path_value(uri) for name, uri in result.paths.items()})
        if result.reasons or result.rejected:
            metadata[f"{rejected_label}_by_reason"] = counts_table(result.reasons, "reason")
    else:
        lines = [
            f"| model | slice | rows in | {rows_label} | {rejected_label} | s |",
            "|---|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r.model_id or '-'} | {r.slice_key} | {r.rows_in:,} | {r.rows_out:,} | "
            f"{r.rejected:,} | {r.seconds:.2f} |"
            for r in results
        ]
        metadata["partitions"] = dg.MetadataValue.md("\n".join(lines))
    return metadata
