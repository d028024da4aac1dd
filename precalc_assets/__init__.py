"""precalc_assets: precalculated model predictions over a molecule library, on Dagster.

`defs` is resolved on first use: the plain modules (chem, inputs, steps, stores, ...)
import no Dagster, so a tool that needs only them (a lookup, a benchmark) does not pay
for loading every asset. Dagster's module loader (`-m precalc_assets`) finds `defs`
through `dir()` like any module attribute.
"""

from __future__ import annotations

import warnings

# Dagster flags at every load features this project relies on deliberately
# (multi-partition backfill policies, partitioned asset checks, sensors' owners); the
# notices would drown the CLI's output.
for _notice in (
    r"Parameter `backfill_policy`",
    r"Specifying a partitions_def on an AssetCheckSpec",
    r"Parameter `owners`",
):
    warnings.filterwarnings("ignore", message=_notice)

__all__ = ["defs"]


def __getattr__(name: str):
    if name == "defs":
        # Imported here, not at the top: Dagster and every asset are heavy, and only
        # Dagster's tools ask for `defs`.
        from precalc_assets.definitions import defs

        return defs
    raise AttributeError(f"module 'precalc_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "defs"])
