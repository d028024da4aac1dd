"""Assembles the code location: assets, checks, jobs, sensors and the resources of the
deployment (read from PRECALC_DEPLOYMENT when Dagster loads it, never at import)."""

from __future__ import annotations

import dagster as dg

from precalc_assets.dagster_defs.assets import ALL_ASSETS
from precalc_assets.dagster_defs.checks import CHECKS
from precalc_assets.dagster_defs.jobs import JOBS
from precalc_assets.dagster_defs.loggers import LOGGERS
from precalc_assets.dagster_defs.resources import resources_for
from precalc_assets.dagster_defs.sensors import SENSORS
from precalc_assets.processes import release_freed_memory
from precalc_assets.settings import Settings


def build_definitions(deployment: str | None = None) -> dg.Definitions:
    """The code location; every process that loads it (Dagster's, `precalc run` and its
    workers) gives freed Arrow memory back between steps."""
    release_freed_memory()
    return dg.Definitions(
        assets=ALL_ASSETS,
        asset_checks=CHECKS,
        jobs=JOBS,
        sensors=SENSORS,
        resources=resources_for(deployment or Settings.from_env().deployment),
        loggers=LOGGERS,
        # A run's steps form a chain (predict -> validate -> publish, checks after each);
        # one process per step would re-import Dagster, RDKit and Evidently eight times
        # per run. Parallelism comes from runs (ranged batches, the run queue), not steps.
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    """Loaded by Dagster tools; PRECALC_DEPLOYMENT is read here, not at import."""
    return build_definitions()
