"""`predictions`: a model over a slice, written as Parquet in object storage."""

import dagster as dg

from precalc_assets import keys
from precalc_assets.dagster_defs.assets.library import library_slice_materialization, library_slices
from precalc_assets.dagster_defs.assets.model_slices import model_slice_asset, partitions_by_slice
from precalc_assets.dagster_defs.metadata import (
    examples_table,
    interpreters_table,
    record_partitions,
)
from precalc_assets.dagster_defs.resources import ModelPolicyResource, ObjectStorageResource
from precalc_assets.inputs.model_requests import probe_model
from precalc_assets.models.runners.command import CommandRunner
from precalc_assets.orchestration.progress import ProgressFile
from precalc_assets.orchestration.run_processes import record_run_process
from precalc_assets.steps.predict import compute_predictions


@model_slice_asset(
    keys.PREDICTIONS,
    library_slices,
    {"rdkit", "parquet"},
    "A model's outputs for every molecule of a slice: "
    "predictions/model=<m>/slice=<s>.parquet (keys first, declared columns in order).",
)
def predictions(
    context: dg.AssetExecutionContext,
    storage: ObjectStorageResource,
    models: ModelPolicyResource,
) -> dg.MaterializeResult:
    record_run_process(context)
    store = storage.open()
    policy = models.open()
    by_slice = partitions_by_slice(context)
    # A served model or a repository is asked what it is and run on its own examples
    # once per run, before any slice: a changed model gets a new code version here.
    probes = {
        m: probe_model(store, m, policy, context.log.info)
        for m in dict.fromkeys(m for ms in by_slice.values() for m in ms)
    }
    progress = ProgressFile.from_tags(context.run.tags, context.run.run_id)
    results = []
    for slice_key, model_ids in by_slice.items():
        specs = [probes[m].spec for m in model_ids]

        def answered(model_id: str, molecules: int, slice_key: str = slice_key) -> None:
            progress.computed(keys.partition_id(model_id, slice_key), molecules)

        predicted = compute_predictions(store, specs, slice_key, context.log.info, answered)
        if predicted.prepared is not None:
            # The slice was canonicalised in this step, on the same parse as the models:
            # record it as a materialisation of `library_slices`, so history stays true.
            context.log.info(
                f"slice {slice_key} was not prepared, or its file could not be read: "
                "prepared it here"
            )
            context.log_event(library_slice_materialization(predicted.prepared))
        results += predicted.results
    record_partitions(context, results, keys.ROWS, keys.REJECTED)
    checked = [p.examples for p in probes.values() if p.examples is not None]
    # How the run's models did on their examples, and which environment each repository
    # model ran in: shown on each partition of the run.
    metadata = {keys.MODEL_EXAMPLES: examples_table(checked)} if checked else {}
    interpreters = {
        m: CommandRunner.interpreter(m, p.spec.options)
        for m, p in probes.items()
        if p.spec.runner == CommandRunner.name
    }
    if any(interpreters.values()):
        metadata[keys.MODEL_INTERPRETERS] = interpreters_table(interpreters)
    return dg.MaterializeResult(metadata=metadata)
