"""Ranged run requests, and how a run's tags read to people."""

from __future__ import annotations

import dagster as dg

from precalc_assets import keys
from precalc_assets.batches import plan_batches


def run_requests_for(
    plan: dict[str, list[str]],
    models: list[str],
    slices: list[str],
    run_key: str,
    versions: dict[str, str] | None = None,
) -> list[dg.RunRequest]:
    """Ranged `precalculate` run requests covering `plan`; the run key names the batch
    (and the models' code versions, when given), so a batch is never launched twice."""
    requests = []
    for batch in plan_batches(plan, models, slices, keys.PARTITIONS_PER_RUN):
        start, end = batch.range
        key = f"{run_key}:{start}:{end}"
        if versions is not None:
            key += ":" + "+".join(sorted({versions[m] for m in batch.models}))
        requests.append(dg.RunRequest(run_key=key, tags=keys.run_tags(start, end)))
    return requests


def run_span(tags: dict[str, str]) -> str:
    """What a run covers, as people read it: `first .. last`, or its one partition."""
    if keys.RANGE_START_TAG in tags:
        return keys.partition_span(tags[keys.RANGE_START_TAG], tags[keys.RANGE_END_TAG])
    return tags.get(keys.PARTITION_TAG, "")
