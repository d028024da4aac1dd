"""Ranged `precalculate` run requests, and the partitions a run's tags cover."""

from __future__ import annotations

import dagster as dg

from precalc_assets import keys
from precalc_assets.batches import plan_batches
from precalc_assets.ids import InvalidIdError


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
        requests.append(
            dg.RunRequest(run_key=key, tags={keys.RANGE_START_TAG: start, keys.RANGE_END_TAG: end})
        )
    return requests


def partitions_of_run(tags: dict[str, str], models: list[str], slices: list[str]) -> set[str]:
    """The model x slice partitions a run targets, from its partition or range tags."""
    if keys.PARTITION_TAG in tags:
        return {tags[keys.PARTITION_TAG]}
    if keys.RANGE_START_TAG not in tags or keys.RANGE_END_TAG not in tags:
        return set()
    try:
        m0, s0 = keys.split_partition_id(tags[keys.RANGE_START_TAG])
        m1, s1 = keys.split_partition_id(tags[keys.RANGE_END_TAG])
    except InvalidIdError:  # a run launched by hand with other tags: not ours to count
        return set()
    if not ({m0, m1} <= set(models) and {s0, s1} <= set(slices)):
        return set()
    return {
        keys.partition_id(m, s)
        for m in models[models.index(m0) : models.index(m1) + 1]
        for s in slices[slices.index(s0) : slices.index(s1) + 1]
    }


def run_span(tags: dict[str, str]) -> str:
    """What a run covers, as people read it: `first .. last`, or its one partition."""
    if keys.RANGE_START_TAG in tags:
        return f"{tags[keys.RANGE_START_TAG]} .. {tags[keys.RANGE_END_TAG]}"
    return tags.get(keys.PARTITION_TAG, "")
