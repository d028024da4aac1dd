"""What the model x slice assets share: their declaration, and a run's partitions
grouped by slice (a slice is parsed once for every model of the run)."""

from collections import defaultdict
from collections.abc import Callable, Iterator

import dagster as dg

from precalc_assets import keys
from precalc_assets.inputs.model_requests import load_model_spec
from precalc_assets.models.spec import ModelSpec
from precalc_assets.models.trust import ModelPolicy
from precalc_assets.orchestration.partitions import model_slice_partitions, split_partition_key
from precalc_assets.stores.object_store import ObjectStore

MODEL_BACKFILL = dg.BackfillPolicy.multi_run(max_partitions_per_run=keys.PARTITIONS_PER_RUN)


def model_slice_asset(
    name: str,
    upstream: dg.AssetsDefinition,
    kinds: set[str],
    description: str,
    pool: str | None = None,
) -> Callable[[Callable[..., dg.MaterializeResult]], dg.AssetsDefinition]:
    """A model x slice asset of the precalculation group, ranged runs of up to
    `keys.PARTITIONS_PER_RUN` partitions; `pool` is the Dagster concurrency pool its
    steps claim a slot of."""
    return dg.asset(
        name=name,
        partitions_def=model_slice_partitions,
        deps=[upstream],
        group_name="precalculation",
        kinds=kinds,
        backfill_policy=MODEL_BACKFILL,
        description=description,
        pool=pool,
    )


def partitions_by_slice(context: dg.AssetExecutionContext) -> dict[str, list[str]]:
    """Slice -> models of this run; accepts the string form of keys too."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for key in context.partition_keys:
        model_id, slice_key = split_partition_key(key)
        grouped[slice_key].append(model_id)
    return dict(grouped)


def specs_by_slice(
    context: dg.AssetExecutionContext, store: ObjectStore, policy: ModelPolicy
) -> Iterator[tuple[str, list[ModelSpec]]]:
    """(slice, model specs) for the partitions of this run, specs read from storage
    through the deployment's policy."""
    for slice_key, model_ids in partitions_by_slice(context).items():
        yield slice_key, [load_model_spec(store, m, policy) for m in model_ids]
