"""Group missing model x slice partitions into runs (pure; no Dagster).

A Dagster run over a multi-partition range covers a rectangle: a contiguous range of
models (in registration order) x a contiguous range of slices. Packing the missing
partitions into few such rectangles amortises the run start-up over many partitions,
and lets a slice be parsed once for all the models of the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from precalc_assets.keys import PARTITIONS_PER_RUN, partition_id


@dataclass(frozen=True)
class Batch:
    models: tuple[str, ...]
    slices: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.models) * len(self.slices)

    def partition_keys(self) -> list[str]:
        return [partition_id(m, s) for s in self.slices for m in self.models]

    @property
    def range(self) -> tuple[str, str]:
        """Dagster's range tags: first and last `"model|slice"` of the rectangle."""
        return (
            partition_id(self.models[0], self.slices[0]),
            partition_id(self.models[-1], self.slices[-1]),
        )


def contiguous_runs(items: list[str], order: list[str]) -> list[tuple[str, ...]]:
    """Split `items` into runs that are contiguous in `order` (e.g. [a, b, d] -> ab, d)."""
    position = {key: i for i, key in enumerate(order)}
    ranked = sorted(items, key=position.__getitem__)
    runs: list[list[str]] = []
    for item in ranked:
        if runs and position[item] == position[runs[-1][-1]] + 1:
            runs[-1].append(item)
        else:
            runs.append([item])
    return [tuple(run) for run in runs]


def run_size(partitions: int, workers: int, max_per_run: int = PARTITIONS_PER_RUN) -> int:
    """Partitions per run, so that each round gives every worker an equal share: 10
    partitions for 2 workers are 2 runs of 5, not 8 + 2; 40 are 6 runs of 7 or 5 (3
    rounds), not 5 runs of 8, whose last one would run while the other worker idles."""
    rounds = max(1, math.ceil(partitions / (workers * max_per_run)))
    return max(1, math.ceil(partitions / (workers * rounds)))


def plan_batches(
    missing: dict[str, list[str]],
    model_order: list[str],
    slice_order: list[str],
    max_partitions: int = PARTITIONS_PER_RUN,
) -> list[Batch]:
    """Rectangles covering exactly the missing partitions, each at most `max_partitions`
    (a model range wider than that still gets one slice per batch)."""
    if max_partitions < 1:
        raise ValueError(f"max_partitions must be at least 1, got {max_partitions}")
    slice_position = {key: i for i, key in enumerate(slice_order)}
    open_batches: dict[tuple[str, ...], list[str]] = {}
    batches: list[Batch] = []

    def close(models: tuple[str, ...]) -> None:
        batches.append(Batch(models, tuple(open_batches.pop(models))))

    for slice_key in sorted(missing, key=slice_position.__getitem__):
        for models in contiguous_runs(missing[slice_key], model_order):
            if len(models) > max_partitions:
                # Too many models for one run: chunk the model range, one slice each.
                for i in range(0, len(models), max_partitions):
                    batches.append(Batch(models[i : i + max_partitions], (slice_key,)))
                continue
            current = open_batches.get(models)
            if current is not None and (
                slice_position[slice_key] != slice_position[current[-1]] + 1
                or len(models) * (len(current) + 1) > max_partitions
            ):
                close(models)
                current = None
            if current is None:
                open_batches[models] = [slice_key]
            else:
                current.append(slice_key)
    for models in list(open_batches):
        close(models)
    return batches
