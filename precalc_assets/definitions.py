"""Assembles the code location: assets, jobs and the resources of the deployment."""

from __future__ import annotations

import dagster as dg

from precalc_assets.assets import ALL_ASSETS
from precalc_assets.checks import CHECKS
from precalc_assets.jobs import JOBS
from precalc_assets.registration import register_library_job
from precalc_assets.resources import resources_for
from precalc_assets.sensors import SENSORS
from precalc_assets.settings import Settings


def build_definitions(deployment: str | None = None) -> dg.Definitions:
    return dg.Definitions(
        assets=ALL_ASSETS,
        asset_checks=CHECKS,
        jobs=[*JOBS, register_library_job],
        sensors=SENSORS,
        resources=resources_for(deployment or Settings.from_env().deployment),
        # A run's steps form a chain (predict -> validate -> publish, checks after each);
        # one process per step would re-import Dagster, RDKit and Evidently eight times
        # per run. Parallelism comes from runs (ranged batches, the run queue), not steps.
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by Dagster tools; PRECALC_DEPLOYMENT is read here, not at import."""
    return build_definitions()
