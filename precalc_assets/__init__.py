"""precalc_assets: precalculated model predictions over a molecule library, on Dagster."""

import warnings

import dagster as dg

# Multi-partition backfill policies are what keeps backfills cheap; Dagster still
# flags the parameter as beta at every load, which would drown the CLI's output.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy`", category=dg.BetaWarning)

from precalc_assets.definitions import defs  # noqa: E402

__all__ = ["defs"]
