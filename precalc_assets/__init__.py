"""precalc_assets: precalculated model predictions over a molecule library, on Dagster."""

from precalc_assets.definitions import defs

__all__ = ["defs"]
