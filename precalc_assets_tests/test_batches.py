"""Packing missing partitions into run rectangles: exact cover, bounded, contiguous."""

from __future__ import annotations

import itertools
import random

import pytest

from precalc_assets.batches import Batch, contiguous_runs, plan_batches, run_size

MODELS = ["m0", "m1", "m2", "m3"]
SLICES = [f"lib-{i:04d}" for i in range(10)]


def covered(batches: list[Batch]) -> list[str]:
    return [key for batch in batches for key in batch.partition_keys()]


def assert_valid(batches, missing, max_partitions):
    keys = covered(batches)
    assert len(keys) == len(set(keys)), "a partition is in two batches"
    assert set(keys) == {f"{m}|{s}" for s, ms in missing.items() for m in ms}
    for batch in batches:
        assert batch.size <= max(max_partitions, 1) or len(batch.slices) == 1
        for order, items in ((MODELS, batch.models), (SLICES, batch.slices)):
            idx = [order.index(i) for i in items]
            assert idx == list(range(idx[0], idx[0] + len(idx))), "not contiguous"


def test_new_library_for_one_model_packs_slices():
    missing = {s: ["m0"] for s in SLICES}
    batches = plan_batches(missing, MODELS, SLICES, max_partitions=4)
    assert [b.slices for b in batches] == [
        tuple(SLICES[0:4]),
        tuple(SLICES[4:8]),
        tuple(SLICES[8:]),
    ]
    assert batches[0].range == ("m0|lib-0000", "m0|lib-0003")


def test_all_models_missing_share_a_slice_parse():
    missing = {s: list(MODELS) for s in SLICES[:3]}
    batches = plan_batches(missing, MODELS, SLICES, max_partitions=8)
    assert [(b.models, b.slices) for b in batches] == [
        (tuple(MODELS), tuple(SLICES[:2])),
        (tuple(MODELS), (SLICES[2],)),
    ]


def test_gaps_split_batches():
    missing = {SLICES[0]: ["m0", "m2"], SLICES[1]: ["m0"], SLICES[3]: ["m0"]}
    batches = plan_batches(missing, MODELS, SLICES, max_partitions=8)
    assert_valid(batches, missing, 8)
    assert Batch(("m0",), (SLICES[0], SLICES[1])) in batches
    assert Batch(("m0",), (SLICES[3],)) in batches


def test_more_models_than_a_batch_holds():
    missing = {SLICES[0]: list(MODELS)}
    batches = plan_batches(missing, MODELS, SLICES, max_partitions=3)
    assert [b.models for b in batches] == [("m0", "m1", "m2"), ("m3",)]


@pytest.mark.parametrize("seed", range(40))
def test_random_plans_are_covered_exactly(seed):
    rng = random.Random(seed)
    missing = {}
    for s in SLICES:
        models = [m for m in MODELS if rng.random() < 0.6]
        if models:
            missing[s] = models
    for max_partitions in (1, 2, 5, 8, 40):
        assert_valid(plan_batches(missing, MODELS, SLICES, max_partitions), missing, max_partitions)


def test_contiguous_runs_follow_the_given_order():
    assert contiguous_runs(["m3", "m0", "m1"], MODELS) == [("m0", "m1"), ("m3",)]
    assert list(itertools.chain(*contiguous_runs(MODELS, MODELS))) == MODELS


def test_rejects_zero_batch():
    with pytest.raises(ValueError, match="at least 1"):
        plan_batches({}, MODELS, SLICES, 0)


@pytest.mark.parametrize(
    "partitions, workers, most, size",
    [(10, 2, 8, 5), (40, 2, 8, 7), (159, 2, 8, 8), (6, 2, 2, 2), (8, 3, 8, 3), (1, 4, 8, 1)],
)
def test_each_round_gives_every_worker_an_equal_share(partitions, workers, most, size):
    """Runs are sized so that no worker idles through a last, lone run of a round."""
    assert run_size(partitions, workers, most) == size
