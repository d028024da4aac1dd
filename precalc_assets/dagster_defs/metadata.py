"""Dagster metadata from step results: counts, paths, timings and markdown tables."""

from __future__ import annotations

import dagster as dg

from precalc_assets import keys
from precalc_assets.models.examples import ExampleCheck
from precalc_assets.steps.results import StepResult

# Metadata names other code reads back (the ledger, tests): each defined once.
BY_PARTITION = "by_partition"
CODE_VERSION = "code_version"
TAKEN_OVER = "taken_over"  # later slice -> items of it that an earlier slice took over
ROWS_IN = "rows_in"
MODEL_EXAMPLES = "model_examples"  # how served/repository models did on their examples
# (rows out, rejected) labels of each asset's step metadata.
MOLECULES, REJECTED_ROWS = "molecules", "rejected_rows"  # library_slices
ROWS, REJECTED = "rows", "rejected"  # predictions
VALID_ROWS, QUARANTINED_ROWS = "valid_rows", "quarantined_rows"  # validated_predictions
ITEMS_PUBLISHED, NOT_PUBLISHED = "items_published", "not_published"  # published_predictions


def _path_value(uri: str) -> dg.MetadataValue:
    return dg.MetadataValue.path(uri.removeprefix("file://"))


def counts_table(counts: dict[str, int], label: str) -> dg.MetadataValue:
    lines = [f"| {label} | rows |", "|---|---:|"]
    lines += [f"| {name} | {n:,} |" for name, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    return dg.MetadataValue.md("\n".join(lines) if counts else f"no {label}s")


def examples_table(checks: list[ExampleCheck]) -> dg.MetadataValue:
    lines = ["| model | examples | result |", "|---|---:|---|"]
    lines += [f"| {c.model_id} | {c.compared} | {c.summary()} |" for c in checks]
    return dg.MetadataValue.md("\n".join(lines))


def step_metadata(results: list[StepResult], rows_label: str, rejected_label: str) -> dict:
    """One partition: its own figures; several (a ranged run): totals plus a table."""
    total_in = sum(r.rows_in for r in results)
    total_out = sum(r.rows_out for r in results)
    seconds = sum(r.seconds for r in results)
    metadata: dict[str, object] = {
        ROWS_IN: dg.MetadataValue.int(total_in),
        rows_label: dg.MetadataValue.int(total_out),
        rejected_label: dg.MetadataValue.int(sum(r.rejected for r in results)),
        "seconds": dg.MetadataValue.float(round(seconds, 3)),
        "rows_per_second": dg.MetadataValue.float(round(total_in / seconds, 1) if seconds else 0.0),
    }
    if len(results) == 1:
        result = results[0]
        metadata.update({name: _path_value(uri) for name, uri in result.paths.items()})
        if result.code_version:
            metadata[CODE_VERSION] = dg.MetadataValue.text(result.code_version)
        if result.reasons or result.rejected:
            metadata[f"{rejected_label}_by_reason"] = counts_table(result.reasons, "reason")
        if result.taken_over:
            metadata[TAKEN_OVER] = dg.MetadataValue.json(result.taken_over)
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
        # Dagster copies a batched run's metadata to every partition it materialises;
        # this keeps each partition's own figures readable (see `partition_figure`).
        metadata[BY_PARTITION] = dg.MetadataValue.json(
            {
                partition_id(r): {
                    ROWS_IN: r.rows_in,
                    rows_label: r.rows_out,
                    rejected_label: r.rejected,
                    "seconds": round(r.seconds, 3),
                    CODE_VERSION: r.code_version,
                    TAKEN_OVER: r.taken_over,
                }
                for r in results
            }
        )
    return metadata


def partition_id(result: StepResult) -> str:
    """The partition a result is of: `"<model>|<slice>"`, or the slice alone."""
    return (
        keys.partition_id(result.model_id, result.slice_key)
        if result.model_id
        else result.slice_key
    )


def partition_value(metadata: dict | None, partition: str, name: str) -> object:
    """A partition's own value from its latest materialisation, batched or not."""
    metadata = metadata or {}
    by_partition = metadata.get(BY_PARTITION)
    if by_partition is not None:
        return by_partition.value.get(partition, {}).get(name)
    value = metadata.get(name)
    return value.value if value is not None else None


def partition_figure(metadata: dict | None, partition: str, name: str) -> int:
    return int(partition_value(metadata, partition, name) or 0)
